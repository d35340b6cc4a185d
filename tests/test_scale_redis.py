"""Two ``blockfsm worker`` processes against one real Redis server: one work queue, one example
database. A sweep run by the workers gives what one process gives, and a failure one worker found
and saved is the first example the other runs.

Needs ``redis-server`` (Debian's package; .ci/run installs it). Without it the tests are skipped,
with the reason; set ``BLOCKFSM_REQUIRE_REDIS=1`` (CI does) to make that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("redis")

from planted import PLANTED_CAMPAIGN as PLANTED

from blockfsm.adapters.engines.work_queue import (
    distribute,
    exploration_item,
    run_campaign_item,
    run_exploration_item,
)

BLOCKFSM = [sys.executable, "-m", "blockfsm"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("BLOCKFSM_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed and BLOCKFSM_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    import redis

    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(200):  # bounded by tries; the test's timeout bounds the whole
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _worker(url: str, env: dict[str, str], *more: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*BLOCKFSM, "worker", "--connect", f"{url}/0", *more],
        env=env,
        stderr=subprocess.PIPE,
    )


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(timeout=60)


def _planted(seed: int, examples: int, database: str) -> dict[str, object]:
    return {
        "kind": "campaign",
        "machine": "planted",
        "seed": seed,
        "examples": examples,
        "database": database,
        "modules": ["planted_campaign"],
    }


@pytest.mark.timeout(300)
def test_two_workers_share_one_queue_and_one_database(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planted_campaign.py").write_text(textwrap.dedent(PLANTED))
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    shared = f"{redis_url}/1"
    workers = []
    try:
        # The first worker alone finds the planted failure and saves it in the shared database.
        first = _worker(redis_url, env, "--max-items", "1")
        workers.append(first)
        (found,) = distribute(f"{redis_url}/0", [_planted(1, 300, shared)])
        assert found["violated"] == "P-1", found
        assert first.wait(timeout=120) == 0
        # The second worker, from another seed and with one example, runs it first.
        second = _worker(redis_url, env)
        workers.append(second)
        (replayed,) = distribute(f"{redis_url}/0", [_planted(2, 1, shared)])
        assert replayed["violated"] == "P-1", replayed
        assert replayed["counterexample"] == found["counterexample"]
        # Without the database, the same seed and one example find nothing.
        assert run_campaign_item(_planted(2, 1, "none"))["ok"]

        # Two workers at once: a sweep and campaign batches give what one process gives.
        workers.append(_worker(redis_url, env))
        sweep = ["simulate", "--seeds", "4", "--ticks", "60", "--json"]
        sweep += ["--trace-dir", str(tmp_path / "traces")]
        alone = subprocess.run([*BLOCKFSM, *sweep], capture_output=True, timeout=240, env=env)
        spread = subprocess.run(
            [*BLOCKFSM, *sweep, "--queue", f"{redis_url}/0"],
            capture_output=True,
            timeout=240,
            env=env,
        )
        assert alone.returncode == spread.returncode == 0, spread.stderr
        assert json.loads(spread.stdout) == json.loads(alone.stdout)
        # Campaign batches are not compared with one process: Hypothesis draws constants from
        # the source of the local modules a process has loaded, so a seeded batch's draws depend
        # on the process (docs/architecture.md); fuzz rounds on the workers are run below.
        explorations = [
            exploration_item("sync", {"heights": h, "ticks": 2}, tmp_path) for h in (1, 2)
        ]

        def measured(reports: list[dict[str, object]]) -> list[dict[str, object]]:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in reports]

        spread_reports = measured(distribute(f"{redis_url}/0", explorations))
        assert spread_reports == measured([run_exploration_item(e) for e in explorations])
        assert [r["distinct"] for r in spread_reports] == [
            r["distinct"] for r in spread_reports if r["complete"]
        ]
        fuzz = ["fuzz", "--machine", "sync_server", "--machine", "attester", "--rounds", "2"]
        fuzz += ["--examples", "5", "--database", shared, "--queue", f"{redis_url}/0"]
        run = subprocess.run([*BLOCKFSM, *fuzz], capture_output=True, timeout=240, env=env)
        assert run.returncode == 0, run.stderr
        assert run.stdout.decode().startswith("2 rounds, "), run.stdout
        assert run.stdout.decode().strip().endswith("examples: every property held")
        assert run.stderr.decode().count("round ") == 2
    finally:
        _stop(workers)
    served = [w.stderr.read().decode() for w in workers if w.stderr is not None]
    assert all("worker stopped after" in text for text in served), served


@pytest.mark.timeout(120)
def test_a_bad_or_unreachable_server_is_one_line() -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    for args in (
        ["worker", "--connect", dead],
        ["worker", "--connect", "redis://host:notaport/0"],
        ["check", "--database", dead, "--examples", "1", "--no-explore"],
        ["fuzz", "--rounds", "1", "--database", "ftp://x/y"],
        ["simulate", "--seeds", "2", "--ticks", "5", "--queue", dead],
        ["check", "--machine", "sync_server", "--examples", "1", "--queue", dead],
    ):
        run = subprocess.run([*BLOCKFSM, *args], capture_output=True, timeout=60)
        assert run.returncode == 4, (args, run.stderr)
        assert len(run.stderr.decode().strip().splitlines()) == 1, (args, run.stderr)
        assert b"Traceback" not in run.stderr
