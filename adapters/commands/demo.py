"""``blockfsm demo``: a local cluster of node processes on loopback, broken on purpose, checked.

What it does, in a temporary directory:

1. generates an Ed25519 key per node and a TOML config per node;
2. starts ``nodes`` block keepers (``python -m blockfsm node``), each a sync server and sync
   client over LMDB, dialling every other keeper. Keeper 0 also runs a ``[source]`` that extends
   its chain with blocks certified by a quorum of the keepers' keys: it stands in for consensus,
   which the pure node composition will provide; the other keepers get every block through sync;
3. kills keeper ``nodes - 1`` with SIGKILL mid-run, and restarts it;
4. starts one more node late, which has nothing and catches up through block sync;
5. stops the source, waits until every node has committed the whole chain (or a deadline), stops
   every node, and checks the safety invariants over the persisted LMDB chains.

In node mode (the default) every keeper runs with ``--step-log``, and at the end
``blockfsm monitor`` replays the four logs through the node's spec and checks the cluster
invariants across them (the ``monitor`` row of the summary).

Per-node final (committed) heights are shown live; the summary lists each invariant. Exit code 0
only if every invariant held.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from blockfsm.adapters.node.crypto import Ed25519Verifier
from blockfsm.adapters.node.keys import write_key_file
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.machine.types import ZERO_HASH, ValidatorSet, certificate_is_valid

CHAIN_ID = 424242
INTERVAL_MS = 150


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Proc:
    def __init__(
        self, name: str, config: Path, data: Path, log: Path, *, step_log: bool = False
    ) -> None:
        self.name = name
        self.config = config
        self.data = data
        self.log = log
        self.step_log = step_log
        """Run with ``--step-log`` (a full node: ``blockfsm monitor`` checks its steps)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.status = "not started"
        self.starts = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blockfsm", "node", "--config", str(self.config),
             "--log-level", "WARNING", *(["--step-log"] if self.step_log else [])],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out.close()
        self.starts += 1
        self.status = "running" if self.starts == 1 else "restarted"

    def kill9(self) -> int | None:
        """SIGKILL the process; its exit status (``-9`` when the signal killed it)."""
        code = None
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            code = self.proc.wait()
        self.status = "killed (SIGKILL)"
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.status != "not started":
            self.status = "stopped"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def read_heights(data: Path) -> tuple[int, int]:
    """(committed, highest) of the chain persisted at ``data``; (-1, -1) if there is none yet."""
    if not (data / "data.mdb").exists():
        return -1, -1
    try:
        with LmdbStore(data, CHAIN_ID, readonly=True) as store, store.snapshot() as view:
            return view.committed_height(), view.highest_height()
    except Exception:
        return -1, -1


def final_hashes(data: Path) -> list[bytes]:
    """The hashes of the final chain persisted at ``data``, in height order ([] if none)."""
    if not (data / "data.mdb").exists():
        return []
    with LmdbStore(data, CHAIN_ID, readonly=True) as store, store.snapshot() as view:
        return [b.hash for b in view.blocks_from(0, view.committed_height() + 1)]


MIN_PROGRESS = 5
"""Final blocks the cluster must have made for the run to count: a run that commits nothing
proves nothing."""


def check_invariants(
    datas: dict[str, Path],
    validators: ValidatorSet,
    *,
    killed: str,
    committed_before_kill: int,
    target: int,
    final_before_kill: list[bytes] | None = None,
    final_after_kill: list[bytes] | None = None,
    kill_status: int | None = -signal.SIGKILL,
) -> list[dict[str, Any]]:
    """The demo's claims over the persisted chains. ``final_before_kill`` and
    ``final_after_kill`` are the killed node's final chain (hashes) read from its own store just
    before the SIGKILL and just after it, before it restarts and talks to anyone;
    ``kill_status`` is the exit status its process reported."""
    verifier = Ed25519Verifier()
    chains: dict[str, list[Any]] = {}
    committed: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    valid_problems: list[str] = []
    for name, data in datas.items():
        with LmdbStore(data, CHAIN_ID, readonly=True) as store, store.snapshot() as view:
            tip = view.highest_height()
            committed[name] = view.committed_height()
            blocks = list(view.blocks_from(0, tip + 1))
            cert = view.highest_certificate()
        chains[name] = blocks
        parent = ZERO_HASH
        for h, b in enumerate(blocks):
            if b.height != h or b.parent_hash != parent or not b.hash_is_valid():
                valid_problems.append(f"{name}: block {h} does not link or hash")
                break
            if not certificate_is_valid(b.justify, CHAIN_ID, validators, verifier):
                valid_problems.append(f"{name}: block {h} carries an invalid certificate")
                break
            parent = b.hash
        if not certificate_is_valid(cert, CHAIN_ID, validators, verifier):
            valid_problems.append(f"{name}: highest certificate invalid")
        if committed[name] > tip:
            valid_problems.append(f"{name}: committed {committed[name]} above tip {tip}")
    results.append(
        {
            "id": "chains_valid",
            "statement": "every persisted chain links, hashes and carries quorum certificates",
            "held": not valid_problems,
            "detail": "; ".join(valid_problems),
        }
    )
    forks = []
    names = list(chains)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            top = min(committed[a], committed[b])
            for h in range(top + 1):
                if chains[a][h].hash != chains[b][h].hash:
                    forks.append(f"{a} and {b} differ at committed height {h}")
                    break
    results.append(
        {
            "id": "no_fork",
            "statement": "no two nodes committed different blocks at the same height",
            "held": not forks,
            "detail": "; ".join(forks),
        }
    )
    before = final_before_kill if final_before_kill is not None else []
    after = final_after_kill if final_after_kill is not None else []
    kept = len(before) == committed_before_kill + 1 and after[: len(before)] == before
    results.append(
        {
            "id": "nothing_final_lost",
            "statement": "the SIGKILLed node's own store, read before it restarts, holds every "
            "block it had committed before the kill",
            "held": kept,
            "detail": f"final height {committed_before_kill} before the kill, "
            f"{len(after) - 1} in its store after it, before it talked to anyone",
        }
    )
    results.append(
        {
            "id": "killed",
            "statement": "the kill was a SIGKILL: the process's exit status says so",
            "held": kill_status == -signal.SIGKILL,
            "detail": f"exit status {kill_status}",
        }
    )
    results.append(
        {
            "id": "progress",
            "statement": f"the cluster made at least {MIN_PROGRESS} blocks final",
            "held": target >= MIN_PROGRESS - 1,
            "detail": f"final height {target} reached by every node that was never killed",
        }
    )
    behind = {n: c for n, c in committed.items() if c < target}
    results.append(
        {
            "id": "all_caught_up",
            "statement": "every node (the restarted and the late one too) committed the chain",
            "held": not behind,
            "detail": f"target {target}; behind: {behind}" if behind else f"target {target}",
        }
    )
    return results


def run_demo(
    *,
    nodes: int = 4,
    duration: float = 20.0,
    as_json: bool = False,
    keep: bool = False,
    mode: str = "node",
) -> int:
    console = Console(stderr=as_json)
    root = Path(tempfile.mkdtemp(prefix="blockfsm-demo-"))
    started = time.monotonic()
    try:
        return _run(root, nodes, duration, as_json, console, started, mode)
    finally:
        if keep:
            console.print(f"data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def make_cluster(
    root: Path,
    keepers: list[str],
    others: list[str],
    *,
    max_height: int,
    interval: int,
    source: bool = True,
) -> tuple[dict[str, _Proc], ValidatorSet]:
    """Keys, configs and (unstarted) processes: ``keepers`` are validators dialling each other;
    with ``source`` the first runs the block source (sync-only nodes), without it every node is
    a full node (sync and attester) and the keepers produce blocks by consensus. ``others`` dial
    the keepers and are not validators."""
    names = keepers + others
    keys = {n: write_key_file(root / f"{n}.key") for n in names}
    ports = {n: _free_port() for n in names}
    validators = ValidatorSet.equal(keys[n].public_key for n in keepers)
    quorum_keys = [root / f"{n}.key" for n in keepers[: validators.quorum]]
    procs: dict[str, _Proc] = {}
    for n in names:
        peers = [m for m in keepers if m != n]
        lines = [
            f"chain_id = {CHAIN_ID}",
            f'key_file = "{n}.key"',
            f'data_dir = "data/{n}"',
            f'listen = "127.0.0.1:{ports[n]}"',
            "validators = [" + ", ".join(f'"{keys[k].public_key.hex()}"' for k in keepers) + "]",
            "followers = [" + ", ".join(f'"{keys[k].public_key.hex()}"' for k in others) + "]",
            "[timeouts]",
            "tick = 50",
            "round = 600",
            "advertise = 250",
            "response = 1000",
            "trigger = 1500",
            "blacklist = 3000",
        ]
        if source:
            lines.insert(5, "sync_only = true")  # the chain is the source's, not consensus's
        if source and n == keepers[0]:
            lines += [
                "[source]",
                "key_files = [" + ", ".join(f'"{p.name}"' for p in quorum_keys) + "]",
                f"interval = {interval}",
                f"max_height = {max_height}",
            ]
        for m in peers:
            lines += ["[[peers]]", f'key = "{keys[m].public_key.hex()}"',
                      f'address = "127.0.0.1:{ports[m]}"']  # fmt: skip
        cfg = root / f"{n}.toml"
        cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
        full = not source and n in keepers
        procs[n] = _Proc(n, cfg, root / "data" / n, root / f"{n}.log", step_log=full)
    return procs, validators


def _run(
    root: Path,
    nodes: int,
    duration: float,
    as_json: bool,
    console: Console,
    started: float,
    mode: str,
) -> int:
    keepers = [f"keeper{i}" for i in range(nodes)]
    names = [*keepers, "late"]
    blocks_to_make = max(20, int(duration * 1000 * 0.6 / INTERVAL_MS))
    procs, validators = make_cluster(
        root,
        keepers,
        ["late"],
        max_height=blocks_to_make - 1,
        interval=INTERVAL_MS,
        source=mode == "sync",
    )

    killed = keepers[-1]
    kill_at = duration * 0.3
    restart_at = duration * 0.45
    late_at = duration * 0.5
    deadline = duration + 30.0
    committed_before_kill = -1
    final_before_kill: list[bytes] = []
    final_after_kill: list[bytes] = []
    kill_status: int | None = None
    # sync mode: the source stops at a known height; node mode: the cluster keeps producing, and
    # every node must reach what the never-killed keepers had committed at ``duration``.
    target = blocks_to_make - 2 if mode == "sync" else -1
    phase = "producing"

    def table() -> Table:
        t = Table(title=f"blockfsm demo: {nodes} keepers + 1 late node ({phase})")
        for col in ("node", "status", "final height", "tip"):
            t.add_column(col)
        for n in names:
            c, h = read_heights(procs[n].data)
            t.add_row(n, procs[n].status, str(c), str(h))
        return t

    t0 = time.monotonic()
    for n in keepers:
        procs[n].start()
    events: list[str] = []
    try:
        with Live(table(), console=console, refresh_per_second=4, transient=as_json) as live:
            while True:
                now = time.monotonic() - t0
                heights = {n: read_heights(procs[n].data)[0] for n in names}
                if (
                    procs[killed].starts == 1
                    and procs[killed].status == "running"
                    and now >= kill_at
                    and (heights[killed] >= 5 or now >= kill_at + 5)
                ):
                    final_before_kill = final_hashes(procs[killed].data)
                    committed_before_kill = len(final_before_kill) - 1
                    kill_status = procs[killed].kill9()
                    final_after_kill = final_hashes(procs[killed].data)
                    restart_at = now + max(1.0, duration * 0.1)
                    events.append(
                        f"{now:.1f}s: SIGKILL {killed} at final height {committed_before_kill}"
                        f" (exit status {kill_status}; heights {heights})"
                    )
                if procs[killed].status.startswith("killed") and now >= restart_at:
                    procs[killed].start()
                    events.append(f"{now:.1f}s: restarted {killed}")
                if procs["late"].starts == 0 and now >= late_at:
                    procs["late"].start()
                    events.append(f"{now:.1f}s: started late node")
                if target < 0 and now >= duration:
                    target = min(heights[n] for n in keepers if n != killed)
                    events.append(f"{now:.1f}s: catch-up target {target}")
                if (
                    procs["late"].starts
                    and target >= 0
                    and all(h >= target for h in heights.values())
                ):
                    phase = "all caught up"
                    break
                if now > deadline:
                    phase = "deadline"
                    break
                for n in names:
                    if (
                        procs[n].starts
                        and not procs[n].alive()
                        and not procs[n].status.startswith("killed")
                    ):
                        procs[
                            n
                        ].status = f"exited ({procs[n].proc.returncode if procs[n].proc else '?'})"
                live.update(table())
                time.sleep(0.25)
            live.update(table())
    finally:
        for p in procs.values():
            p.stop()
    elapsed = time.monotonic() - started
    results = check_invariants(
        {n: procs[n].data for n in names},
        validators,
        killed=killed,
        committed_before_kill=committed_before_kill,
        target=target,
        final_before_kill=final_before_kill,
        final_after_kill=final_after_kill,
        kill_status=kill_status,
    )
    results.append(monitor_logs([procs[n].data for n in names if procs[n].step_log]))
    ok = all(r["held"] for r in results)
    final = {n: read_heights(procs[n].data)[0] for n in names}
    if as_json:
        print(json.dumps({"ok": ok, "invariants": results, "final_heights": final,
                          "events": events, "seconds": round(elapsed, 1)}, indent=2))  # fmt: skip
    else:
        for e in events:
            console.print(e)
        summary = Table(title="invariants over the persisted LMDB chains")
        for col in ("id", "statement", "status", "detail"):
            summary.add_column(col, overflow="fold")
        for r in results:
            status = "[green]held" if r["held"] else "[red bold]violated"
            summary.add_row(r["id"], r["statement"], status, r["detail"])
        console.print(summary)
        console.print(f"final heights {final}; {elapsed:.1f} s")
        console.print("[green]all invariants held" if ok else "[red bold]an invariant was violated")
    return 0 if ok else 1


def monitor_logs(datas: list[Path]) -> dict[str, Any]:
    """``blockfsm monitor`` over the full nodes' step logs: each step of each node through its
    spec, and the cluster invariants across them."""
    from blockfsm.adapters.engines.monitor import LogError, Monitor
    from blockfsm.adapters.engines.steplog import LOG_NAME

    statement = "every step of every full node replays through its spec; C-1..C-8 across logs"
    if not datas:
        return {"id": "monitor", "statement": statement, "held": True, "detail": "no full node"}
    checker = Monitor()
    try:
        checker.check(*(data / LOG_NAME for data in datas))
    except LogError as error:
        return {"id": "monitor", "statement": statement, "held": False, "detail": str(error)}
    first = checker.findings[0] if checker.findings else None
    detail = (
        f"{len(datas)} logs, {checker.runs} runs, {checker.steps} steps"
        if first is None
        else f"{first.log} step {first.step}: {first.check}: {first.detail}"
    )
    return {
        "id": "monitor",
        "statement": statement,
        "held": first is None and checker.steps > 0,
        "detail": detail,
    }


__all__ = [
    "check_invariants",
    "final_hashes",
    "make_cluster",
    "monitor_logs",
    "read_heights",
    "run_demo",
]
