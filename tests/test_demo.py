"""The local cluster: ``blockfsm demo`` end to end, crash-restart of node processes, and the
invariant checker catching what it is named after."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from blockfsm.adapters.commands.demo import (
    CHAIN_ID,
    check_invariants,
    final_hashes,
    make_cluster,
    read_heights,
)
from blockfsm.adapters.node.runtime import BlockSource
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.types import ValidatorSet

pytestmark = pytest.mark.timeout(120)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""


def test_demo_passes_and_reports_json() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "blockfsm", "demo", "--duration", "8", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is True
    assert {r["id"] for r in report["invariants"]} == {
        "chains_valid",
        "no_fork",
        "nothing_final_lost",
        "killed",
        "progress",
        "all_caught_up",
        "monitor",
    }
    monitor = next(r for r in report["invariants"] if r["id"] == "monitor")
    assert monitor["held"] and "4 logs" in monitor["detail"], monitor  # the four keepers
    assert min(report["final_heights"].values()) > 10
    assert any("SIGKILL" in e and "exit status -9" in e for e in report["events"])
    assert any("late" in e for e in report["events"])


def _chain(path: Path, signers: list[StandInSigner], n: int, payload: int = 64) -> None:
    with LmdbStore(path, CHAIN_ID) as store:
        BlockSource(store, signers, payload_size=payload).extend(n)  # type: ignore[arg-type]


def test_the_checker_catches_a_fork_a_loss_and_a_laggard(tmp_path: Path) -> None:
    from blockfsm.machine.crypto import StandInVerifier

    signers = [StandInSigner.from_seed(i) for i in range(3)]
    validators = ValidatorSet.equal(s.public_key for s in signers)
    _chain(tmp_path / "a", signers, 10)
    _chain(tmp_path / "b", signers, 10, payload=128)  # same heights, other blocks: a fork
    _chain(tmp_path / "c", signers, 4)

    import blockfsm.adapters.commands.demo as demo

    original = demo.Ed25519Verifier
    demo.Ed25519Verifier = lambda: StandInVerifier.of(signers)  # type: ignore[assignment,misc]
    try:
        results = {
            r["id"]: r
            for r in check_invariants(
                {"a": tmp_path / "a", "b": tmp_path / "b", "c": tmp_path / "c"},
                validators,
                killed="c",
                committed_before_kill=5,
                target=8,
            )
        }
        assert results["chains_valid"]["held"]
        assert not results["no_fork"]["held"]
        assert not results["nothing_final_lost"]["held"]
        assert not results["all_caught_up"]["held"]
        chain_a = final_hashes(tmp_path / "a")
        kept = {"final_before_kill": chain_a[:9], "final_after_kill": chain_a}
        honest = check_invariants(
            {"a": tmp_path / "a"}, validators, killed="a", committed_before_kill=8, target=8, **kept
        )
        assert all(r["held"] for r in honest), honest
        # Each claim fails on its own planted fault, the end state being the honest one.
        for planted, claim in (
            ({**kept, "final_after_kill": []}, "nothing_final_lost"),  # wiped before restart
            ({**kept, "final_after_kill": chain_a[:5]}, "nothing_final_lost"),  # lost the top
            ({**kept, "kill_status": 0}, "killed"),  # a kill that was not a SIGKILL
            ({**kept, "target": 0}, "progress"),  # a run that made nothing final
        ):
            args = {"committed_before_kill": 8, "target": 8, **planted}
            found = check_invariants({"a": tmp_path / "a"}, validators, killed="a", **args)
            assert [r["id"] for r in found if not r["held"]] == [claim], (claim, found)
    finally:
        demo.Ed25519Verifier = original  # type: ignore[misc]
    # real Ed25519 checks refuse stand-in certificates
    results = {
        r["id"]: r
        for r in check_invariants(
            {"a": tmp_path / "a"}, validators, killed="a", committed_before_kill=0, target=0
        )
    }
    assert not results["chains_valid"]["held"]


def _wait_progress(data: Path, floor: int) -> None:
    """Until the restarted node has made progress (produced or synced past ``floor``)."""
    deadline = time.monotonic() + 10
    while read_heights(data)[0] <= floor and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["node"])
def test_crash_restart_during_production_and_sync_loses_nothing_final(
    tmp_path: Path, mode: str
) -> None:
    """Four full nodes producing by consensus; one at a time is killed with SIGKILL (the other
    three are a quorum) while producing, and restarted, catching up through sync, where it may be
    killed again. (``mode="sync"`` runs the same over the block source and sync-only nodes.)"""
    keepers = ["src", "k1", "k2", "k3"] if mode == "node" else ["src", "k1", "k2"]
    procs, validators = make_cluster(
        tmp_path, keepers, [], max_height=10_000, interval=40, source=mode == "sync"
    )
    rng = random.Random(5)
    for p in procs.values():
        p.start()
    kills = 0
    floor = {n: -1 for n in keepers}
    evidence: dict[str, Any] = {}
    try:
        for i in range(21 if mode == "node" else 20):
            victim = "src" if i % 3 == 0 else rng.choice(keepers[1:])
            _wait_progress(procs[victim].data, floor[victim])
            time.sleep(rng.uniform(0.05, 0.4))
            chain_before = final_hashes(procs[victim].data)
            before = len(chain_before) - 1
            status = procs[victim].kill9()
            kills += 1
            chain_after = final_hashes(procs[victim].data)  # its own store, before it restarts
            assert status == -signal.SIGKILL
            assert chain_after[: len(chain_before)] == chain_before, victim
            if victim == "src":
                evidence = {
                    "final_before_kill": chain_before,
                    "final_after_kill": chain_after,
                    "kill_status": status,
                }
            after, tip = read_heights(procs[victim].data)
            assert after >= before >= floor[victim], (victim, before, after)
            assert after <= tip
            floor[victim] = after
            procs[victim].start()
        deadline = time.monotonic() + 20
        target = read_heights(procs["src"].data)[0]
        while time.monotonic() < deadline:
            if all(read_heights(procs[n].data)[0] >= target for n in keepers):
                break
            time.sleep(0.2)
    finally:
        for p in procs.values():
            p.stop()
    assert kills >= 20
    results = check_invariants(
        {n: procs[n].data for n in keepers},
        validators,
        killed="src",
        committed_before_kill=len(evidence["final_before_kill"]) - 1,
        target=target,
        **evidence,
    )
    assert all(r["held"] for r in results), results


def test_the_sync_mode_demo_passes() -> None:
    """Regression: in ``--mode sync`` the keepers other than the source's ran consensus (they
    are validators, and three of four are a quorum) and finalized a chain of their own beside
    the source's: ``no_fork`` failed on every run. They are ``sync_only`` now."""
    run = subprocess.run(
        [sys.executable, "-m", "blockfsm", "demo", "--mode", "sync", "--duration", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["ok"] is True
