"""``blockfsm monitor``: the nodes' step logs replayed through the spec, the cluster checked.

Four full nodes run in this process over real LMDB stores and Ed25519 keys, each as
``blockfsm node --step-log`` runs it (its machine wrapped in a ``LoggedMachine``, its signer in a
``RecordingSigner``); a loop delivers every message in send order between ticks. Node 2 crashes
and restarts from its store half-way (its log holds two runs). Then the monitor reads the four
logs alone (and the stores' final chains they point at).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines.monitor import LogReader, Monitor, merged
from blockfsm.adapters.engines.steplog import LOG_NAME, LoggedMachine, RecordingSigner, StepLog
from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.store import WRITE_EFFECTS, LmdbStore
from blockfsm.machine import node as node_machine
from blockfsm.machine.core import Broadcast, Send, Tick
from blockfsm.machine.sync_client import Commit
from blockfsm.machine.types import ValidatorSet
from blockfsm.spec.machines import NODE

pytestmark = pytest.mark.timeout(120)
"""This module writes stores and logs on disk: a hang fails the test at this deadline."""

CHAIN = 7
N = 4
TICK = 50


class Node:
    def __init__(self, directory: Path, signer: Any, validators: ValidatorSet) -> None:
        self.directory = directory
        self.signer = signer
        self.validators = validators
        self.torn = False
        self.start()

    def start(self) -> None:
        self.store = LmdbStore(self.directory, CHAIN)
        self.recording = RecordingSigner(self.signer)
        self.config = node_machine.NodeConfig.make(
            chain_id=CHAIN,
            signer=self.recording,
            validators=self.validators,
            verifier=Ed25519Verifier(),
            seed=int.from_bytes(self.signer.public_key[:8], "big"),
        )
        self.state = node_machine.initial(
            self.config, self.store.attester_guard(), self.store.producer_guard()
        )
        self.log = StepLog(self.directory / LOG_NAME)
        self.log.start(self.config, self.state, self.store)
        self.machine = LoggedMachine(NODE, self.log, self.recording)

    def stop(self) -> None:
        self.log.close()
        self.store.close()

    def step(self, event: Any, *, torn: bool = False) -> tuple[Any, ...]:
        """One step, its writes applied; ``torn``: when the step commits, the process dies after
        the log took the step and before the store did (nothing written, nothing sent), and
        the node restarts. Returns the effects to route."""
        with self.store.snapshot() as view:
            self.state, effects = self.machine.step(self.config, self.state, event, view)
        if torn and any(type(e) is Commit for e in effects):
            self.stop()
            self.start()
            self.torn = True
            return ()
        writes = [e for e in effects if type(e) in WRITE_EFFECTS]
        if writes:
            self.store.apply(writes)
        return tuple(effects)


def run_cluster(
    root: Path,
    ticks: int = 160,
    restart_at: int = 80,
    final: int = 3,
    crash: Callable[[Node], None] | None = None,
    tear_from: int | None = None,
    lost: Callable[[int, Any], bool] = lambda dest, message: False,
) -> list[Path]:
    """Four nodes, node 2 restarted at tick ``restart_at`` (``crash`` does to it what the crash
    does first), every node final at ``final`` at the end; returns their data directories. From
    tick ``tear_from`` the next step of node 2 that commits is torn (``Node.step``)."""
    signers = [Ed25519Signer.from_seed(bytes([i + 1]) * 32) for i in range(N)]
    validators = ValidatorSet.equal(s.public_key for s in signers)
    index = {s.public_key: i for i, s in enumerate(signers)}
    nodes = [Node(root / f"node{i}", s, validators) for i, s in enumerate(signers)]
    from blockfsm.adapters.node.inbound import message_event

    try:
        for tick in range(1, ticks + 1):
            if tick == restart_at:
                if crash is not None:
                    crash(nodes[2])
                nodes[2].stop()
                nodes[2].start()
            queue: list[tuple[int, int, Any]] = []
            for i, node in enumerate(nodes):
                queue.extend(_routed(i, node.step(Tick(now=tick * TICK)), index))
            while queue:
                source, dest, message = queue.pop(0)
                if lost(dest, message):
                    continue
                event = message_event(signers[source].public_key, message)
                if event is not None:
                    tear = tear_from is not None and tick >= tear_from and dest == 2
                    torn = tear and not nodes[2].torn
                    queue.extend(_routed(dest, nodes[dest].step(event, torn=torn), index))
        assert min(n.store.committed_height for n in nodes) >= final, "the cluster finalized"
    finally:
        for node in nodes:
            node.stop()
    return [node.directory for node in nodes]


def _routed(
    source: int, effects: tuple[Any, ...], index: dict[bytes, int]
) -> list[tuple[int, int, Any]]:
    out = []
    for e in effects:
        if type(e) is Broadcast:
            out.extend((source, d, e.message) for d in range(N) if d != source)
        elif type(e) is Send and index.get(e.peer, source) != source:
            out.append((source, index[e.peer], e.message))
    return out


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return run_cluster(tmp_path_factory.mktemp("honest"))


def test_the_logs_of_an_honest_cluster_replay_through_the_spec(honest: list[Path]) -> None:
    result = CliRunner().invoke(main, ["monitor", "--json", *map(str, honest)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["runs"] == N + 1  # node 2's log holds two runs
    assert report["steps"] > 1_000


def test_a_node_built_with_a_planted_bug_is_caught_from_its_logs(tmp_path: Path) -> None:
    """The cluster runs with an attester that forgets its attestations (it attests twice in a
    round). The monitor, running the honest code, finds that node's steps differ from its log
    and the cluster check C-4 finds the two signatures in the logs."""
    with pytest.MonkeyPatch.context() as m:
        attester_forgets_its_attestations(m)
        dirs = run_cluster(tmp_path, ticks=60, restart_at=0, final=-1)
    checker = Monitor()
    checker.check(*(d / LOG_NAME for d in dirs))
    checks = {f.check for f in checker.findings}
    assert "replay" in checks and "C-4" in checks, checker.findings


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_text(""), "not a step log"),
        (lambda p: p.write_text('{"step": 1}\n'), "not a step log"),
        (lambda p: p.write_text(p.read_text().replace('"start"', '"x"', 1)), "neither a start"),
    ],
)
def test_a_log_that_cannot_be_read_is_one_line_and_status_4(
    honest: list[Path], tmp_path: Path, damage: Callable[[Path], Any], message: str
) -> None:
    log = tmp_path / "steps.jsonl"
    log.write_text((honest[0] / LOG_NAME).read_text())
    damage(log)
    result = CliRunner().invoke(main, ["monitor", str(log)])
    assert result.exit_code == 4 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_an_altered_log_is_caught(honest: list[Path], tmp_path: Path) -> None:
    """One logged vote's block hash changed: the replay no longer returns what the log says."""
    lines = (honest[1] / LOG_NAME).read_text().splitlines()
    for n, line in enumerate(lines):
        record = json.loads(line)
        if '.Vote"' in line and "effects" in record and '.Broadcast"' in line:
            key = '"block_hash":{"tag":"Bytes","value":"'
            lines[n] = line.replace(key, key + "ff", 1)  # a hash one byte longer
            break
    altered = tmp_path / "steps.jsonl"
    altered.write_text("\n".join(lines) + "\n")
    checker = Monitor()
    checker.check(altered)
    assert any(f.check == "replay" for f in checker.findings), checker.findings


def test_follow_replays_what_the_logs_hold_as_the_whole_replay_does(honest: list[Path]) -> None:
    """Live mode over logs the nodes finished: the same runs, steps and verdict."""
    args = ["monitor", "--json", *map(str, honest)]
    whole = json.loads(CliRunner().invoke(main, args).output)
    live = CliRunner().invoke(main, [*args, "--follow", "--idle", "0.2"])
    assert live.exit_code == 0, live.output
    assert json.loads(live.output) == whole


def test_the_reader_takes_only_whole_lines_as_a_log_grows(tmp_path: Path) -> None:
    log = tmp_path / "steps.jsonl"
    log.write_text('{"start": {}}\n{"step": 1, "ev')
    reader = LogReader(log)
    assert reader.new_records() == [{"start": {}}]
    with log.open("a") as f:
        f.write('ent": null}\n{"step": 2')
    assert reader.new_records() == [{"step": 1, "event": None}]
    assert reader.new_records(final=True) == []  # a node killed mid-line: that line is dropped
    assert reader.new_records() == []


def test_a_logged_step_a_kill_kept_out_of_the_store_is_no_finding(tmp_path: Path) -> None:
    """Regression (a demo run): keeper 3 was killed after its log took a step that committed
    height 7 and before its store did; restarted at final height 6, the monitor reported C-5
    "final height 7 -> 6". A run's last logged step counts only if the store it restarts from
    holds its writes; here it does not, so it is dropped (and nothing it would have sent left)."""
    dirs = run_cluster(tmp_path, restart_at=0, tear_from=60)
    checker = Monitor()
    checker.check(*(d / LOG_NAME for d in dirs))
    assert checker.findings == [] and checker.undone == 1 and checker.runs == N + 1


def test_a_restart_that_lost_its_final_chain_is_caught_by_c5(tmp_path: Path) -> None:
    """The other side of the same rule: node 2 restarts from an emptied store, its final chain
    gone; C-5 finds it from the logs."""

    def wiped(node: Node) -> None:
        node.stop()
        for f in node.directory.glob("*.mdb"):
            f.unlink()
        node.start()

    dirs = run_cluster(tmp_path, crash=wiped)
    checker = Monitor()
    checker.check(*(d / LOG_NAME for d in dirs))
    assert any(f.check == "C-5" for f in checker.findings), checker.findings


def test_the_logs_are_checked_in_the_order_they_were_written(tmp_path: Path) -> None:
    """Regression (a demo run): keeper 0 finalized a block whose proposal it never received (it
    had the block from block sync), and the monitor, which fed the cluster checks one whole log
    after another, reported C-7 "never proposed by its producer" before it had read the
    producer's log. The logs are merged by the time each line was written; checked in any
    order of paths, the same verdict. Here node 3 never receives a proposal."""
    dirs = run_cluster(
        tmp_path, restart_at=0, lost=lambda dest, m: dest == 3 and type(m).__name__ == "Proposal"
    )
    for order in (dirs, dirs[::-1]):
        checker = Monitor()
        checker.check(*(d / LOG_NAME for d in order))
        assert checker.findings == [], checker.findings


def test_merged_keeps_each_log_in_its_order_and_interleaves_by_time() -> None:
    a = [{"t": 5, "start": 1}, {"t": 20, "step": 1}, {"t": 10, "step": 2}]  # a clock step back
    b = [{"t": 1, "start": 2}, {"t": 15, "step": 1}]
    order = [(i, r.get("step", "start")) for i, r in merged([a, b])]
    assert order == [(1, "start"), (0, "start"), (1, 1), (0, 1), (0, 2)]


def test_logged_writes_that_do_not_apply_are_a_finding_not_a_crash(
    honest: list[Path], tmp_path: Path
) -> None:
    """A Commit in the log moved far above the chain (an altered log, or a write the node's
    store refused): the monitor reports it at that step and stops replaying that run."""
    lines = (honest[0] / LOG_NAME).read_text().splitlines()
    for n, line in enumerate(lines):
        commit = '"tag":"blockfsm.machine.sync_client.effects.Commit","value":{"height":'
        if commit in line:
            lines[n] = line.replace(commit, commit + "9", 1)
            break
    altered = tmp_path / "steps.jsonl"
    altered.write_text("\n".join(lines) + "\n")
    checker = Monitor()
    checker.check(altered)
    assert any("do not apply" in f.detail for f in checker.findings), checker.findings
