"""``blockfsm monitor LOG...``: the spec checks real runs, from the nodes' step logs alone.

Each log (``blockfsm.adapters.engines.steplog``) is replayed, run by run (a run starts at each start
record), through the node machine under its spec (``Conformant``: every step must match one row
and keep every per-step invariant of the node and its parts) from the durable state the run
started from. The replay signs nothing: a signature is looked up among those the node recorded
for that step, by what it signs, so no key is needed. Each step must return what the log says
the node's step returned; the first step that does not is reported (the node ran other code, or
the log was altered). The chain the replay reads is the node's own: its final chain at the run's
start read from its store (final blocks never change), the non-final blocks in the start record,
and every write the log records.

The cluster invariants (``spec/cluster_rules.py``, C-1 to C-8) are checked across every log on
what the nodes recorded they did: one node that signs twice, or two nodes that finalize
different blocks, are caught from the logs even when each node's replay is faithful to its own
(planted) code.

Exit status: 0 every check held, 1 a check failed, 4 a log that cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.exits import InputError, describe
from blockfsm.machine.view import ChainWriteError
from blockfsm.spec.machines import NODE


class LogError(InputError):
    """A step log that cannot be read or replayed (not a log, truncated, its store missing)."""


@attrs.frozen
class Finding:
    log: str
    step: int
    check: str
    detail: str


@attrs.define
class ReplaySigner:
    """Signs by looking up the signature the node recorded for the same bytes in this step."""

    public_key: bytes
    table: dict[bytes, bytes] = attrs.field(factory=dict)
    missing: list[bytes] = attrs.field(factory=list)

    def sign(self, message: bytes) -> bytes:
        found = self.table.get(bytes(message))
        if found is None:
            self.missing.append(bytes(message))
            return bytes(64)
        return found


def parse_line(path: Path, number: int, line: str) -> dict[str, Any] | None:
    """One record of a step log, None for a blank line; ``LogError`` for anything else."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        raise LogError(f"{path}: line {number} is not JSON") from None
    if not isinstance(record, dict) or not ("start" in record or "step" in record):
        raise LogError(f"{path}: line {number} is neither a start nor a step record")
    return record


class LogReader:
    """Reads a step log as it grows: each call to ``new_records`` returns the records of the
    lines completed since the last (a line without its newline yet is left for later: a node
    writing it, or killed while it did, which the last read then drops)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0
        self._partial = b""

    def new_records(self, final: bool = False) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError as error:
            raise LogError(f"{self.path}: cannot read the step log ({describe(error)})") from None
        self.offset += len(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        out: list[dict[str, Any]] = []
        chunks = complete.split(b"\n") if complete else []
        if final and self._partial.strip():
            self._partial = b""  # the last line of a node killed mid-write: the run ends before it
        for raw in chunks:
            self.lines += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise LogError(f"{self.path}: line {self.lines} is not UTF-8") from None
            record = parse_line(self.path, self.lines, text)
            if record is not None:
                out.append(record)
        return out


def _config(start: dict[str, Any], signer: ReplaySigner) -> Any:
    from blockfsm.adapters.node.crypto import Ed25519Verifier
    from blockfsm.machine.node import NodeConfig
    from blockfsm.machine.types import ValidatorSet

    c = start["config"]
    return NodeConfig.make(
        chain_id=c["chain_id"],
        signer=signer,
        validators=ValidatorSet(
            members=tuple((bytes.fromhex(k), int(p)) for k, p in c["validators"])
        ),
        verifier=Ed25519Verifier(),
        seed=c["seed"],
        round_timeout=c["round_timeout"],
        round_timeout_increment=c["round_timeout_increment"],
        max_round_timeout=c["max_round_timeout"],
        advertise_time=c["advertise_time"],
        request_limit=c["request_limit"],
        trigger_timeout=c["trigger_timeout"],
    )


def _chain(path: Path, start: dict[str, Any], chain_id: int) -> Any:
    """The chain the run started with: final blocks from the node's store, the rest from the
    start record."""
    import lmdb

    from blockfsm.adapters.node.store import LmdbStore, StoreError
    from blockfsm.machine.view import InMemoryChain

    chain = InMemoryChain(chain_id)
    final = int(start["final_height"])
    if final >= 0:
        try:
            store = LmdbStore(Path(start["data_dir"]), chain_id, readonly=True)
        except (StoreError, OSError, lmdb.Error) as error:
            raise LogError(
                f"{path}: the node's store {start['data_dir']} cannot be read ({describe(error)})"
            ) from None
        try:
            for h in range(final + 1):
                block = store.block_at(h)
                if block is None:
                    raise LogError(f"{path}: the node's store lacks final height {h}")
                chain.persist(block)
        finally:
            store.close()
        chain.commit(final)
    try:
        for raw in start["pending"]:
            chain.persist(itf.decode(raw))
        chain.set_highest_certificate(itf.decode(start["certificate"]))
    except (ChainWriteError, itf.ITFError, KeyError, TypeError, AttributeError) as error:
        raise LogError(f"{path}: the start record's chain cannot be rebuilt ({error})") from None
    return chain


def _apply(chain: Any, effects: tuple[Any, ...]) -> None:
    from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

    for e in effects:
        kind = type(e)
        if kind is Persist:
            chain.persist(e.block)
        elif kind is Commit:
            chain.commit(e.height)
        elif kind is UpdateHighestCertificate:
            chain.set_highest_certificate(e.certificate)


def merged(logs: list[list[dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The records of several logs in one order: by the wall-clock time each was written (``t``,
    microseconds), each log's own order kept (a time that goes back within a log is read as the
    one before it). Across hosts this is as good as their clocks; on one host a message's
    receipt is logged after its sending step."""
    import heapq

    keyed: list[list[tuple[int, int, int, dict[str, Any]]]] = []
    for index, records in enumerate(logs):
        clock = 0
        rows = []
        for seq, record in enumerate(records):
            stamp = record.get("t")
            if isinstance(stamp, int):
                clock = max(clock, stamp)
            rows.append((clock, index, seq, record))
        keyed.append(rows)
    return [(index, record) for _, index, _, record in heapq.merge(*keyed)]


class LogReplay:
    """One log's replay, fed its records in order (all at once, or as the log grows)."""

    def __init__(self, monitor: Monitor, path: Path) -> None:
        self.monitor = monitor
        self.path = path
        self.name = path.name if path.name != "steps.jsonl" else str(path.parent.name)
        self.started = False
        self.stopped = False
        """After a spec violation the run's state is not the node's: the rest is not replayed."""
        self.runner: Any = None
        self.state: Any = None
        self.chain: Any = None
        self.config: Any = None
        self.signer: ReplaySigner | None = None
        self.pending: tuple[Any, int, tuple[Any, ...]] | None = None
        """The last step's observation, held back from the cluster checks until it is known to
        have happened: a node writes the log record before its store, so a SIGKILL between the
        two leaves a logged last step that never became durable (nor sent anything: messages go
        after the writes). A later step, or a restart whose store holds the step's writes,
        settles it; a restart whose store does not drops it."""
        self.undone = 0
        """Last steps of a run dropped that way."""

    def feed(self, record: dict[str, Any]) -> None:
        if "start" in record:
            self._start(record["start"])
        elif not self.started:
            raise LogError(f"{self.path}: not a step log (no start record first)")
        elif not self.stopped:
            self._step(record)

    def _start(self, start: dict[str, Any]) -> None:
        from blockfsm.machine import node as node_machine
        from blockfsm.spec.cluster_rules import Restart
        from blockfsm.spec.conformance import Conformant

        self.started, self.stopped = True, False
        self.monitor.runs += 1
        try:
            self.signer = ReplaySigner(public_key=bytes.fromhex(start["key"]))
            self.config = _config(start, self.signer)
            guard = itf.decode(start["guard"])
            signing_guard = itf.decode(start["signing_guard"])
        except (KeyError, TypeError, ValueError, itf.ITFError) as error:
            raise LogError(f"{self.path}: a start record that cannot be read ({error})") from None
        chain = _chain(self.path, start, self.config.attester.chain_id)
        self._settle(chain, guard, signing_guard)
        self.chain = chain
        self.state = node_machine.initial(self.config, guard, signing_guard)
        self.runner = Conformant(NODE, self.config)
        committed = self.chain.committed_height
        self.monitor.observe_at(self, Restart(), (), committed, 0, self.state, self.chain)

    def _settle(self, chain: Any, guard: Any, signing_guard: Any) -> None:
        """At a restart: the held-back last step of the run before counts if the store the node
        restarted from holds its writes, and is dropped if not."""
        from blockfsm.machine.attester import PersistGuard
        from blockfsm.machine.producer import PersistSigningGuard
        from blockfsm.machine.sync_client import Commit, Persist

        if self.pending is None:
            return
        t, n, effects = self.pending
        self.pending = None
        durable = True
        for e in effects:
            kind = type(e)
            if kind is Commit:
                durable = durable and chain.committed_height >= e.height
            elif kind is Persist:
                durable = durable and chain.block_at(e.block.height) is not None
            elif kind is PersistGuard:
                durable = durable and guard == e.guard
            elif kind is PersistSigningGuard:
                durable = durable and signing_guard == e.guard
        if durable:
            self.monitor.feed(self, t, n)
        else:
            self.undone += 1

    def finish(self) -> None:
        """The log ended: its last step counts (the node stopped after it, or still runs)."""
        if self.pending is not None:
            t, n, _ = self.pending
            self.pending = None
            self.monitor.feed(self, t, n)

    def _step(self, record: dict[str, Any]) -> None:
        from blockfsm.spec.conformance import ConformanceError, InvariantViolation

        signer = self.signer
        assert signer is not None
        try:
            n = int(record["step"])
            event = itf.decode(record["event"])
            logged = tuple(itf.decode(e) for e in record["effects"])
            signer.table = {bytes.fromhex(p): bytes.fromhex(s) for p, s in record["signed"]}
        except (KeyError, TypeError, ValueError, itf.ITFError) as error:
            raise LogError(
                f"{self.path}: step {record.get('step')} cannot be read ({error})"
            ) from None
        signer.missing.clear()
        before = self.chain.committed_height
        try:
            self.state, effects = self.runner.step(self.state, event, self.chain.snapshot())
        except (ConformanceError, InvariantViolation) as error:
            self.monitor.found(Finding(self.name, n, "spec", str(error).splitlines()[0]))
            self.stopped = True
            return
        self.monitor.steps += 1
        if signer.missing or itf.canonical(list(effects)) != itf.canonical(list(logged)):
            self.monitor.found(
                Finding(
                    self.name,
                    n,
                    "replay",
                    f"the code's step returns other effects than the log's "
                    f"({type(event).__name__}: {len(effects)} effects, {len(logged)} logged)",
                )
            )
            # Go on with what the node did: the cluster checks read the log.
        try:
            _apply(self.chain, logged)
        except (ChainWriteError, AttributeError, TypeError) as error:
            # The node's store refused these writes too (the runtime logs that and steps on),
            # or the log was altered: either way the chain the rest replays against is unknown.
            self.monitor.found(
                Finding(self.name, n, "replay", f"the logged writes do not apply: {error}")
            )
            self.stopped = True
            return
        if self.pending is not None:
            self.monitor.feed(self, self.pending[0], self.pending[1])
        t = self.monitor.transition(self.config, event, logged, before, self.state, self.chain)
        self.pending = (t, n, logged)


@attrs.define
class Monitor:
    """Replays logs and checks the cluster invariants across them; findings are collected (and
    passed to ``on_finding`` as they are found)."""

    findings: list[Finding] = attrs.field(factory=list)
    steps: int = 0
    runs: int = 0
    undone: int = 0
    """Logged last steps of a run that its restart shows never became durable (dropped)."""
    monitors: list[Any] = attrs.field(factory=list)
    on_finding: Any = None

    def __attrs_post_init__(self) -> None:
        from blockfsm.spec.cluster import SPEC as CLUSTER_SPEC

        self.monitors = [(inv, inv.monitor()) for inv in CLUSTER_SPEC.invariants if inv.monitor]

    def found(self, finding: Finding) -> None:
        self.findings.append(finding)
        if self.on_finding is not None:
            self.on_finding(finding)

    def check(self, *paths: Path) -> None:
        """Replay the whole of each log, the logs' records merged in the order they were
        written (``merged``): what one node did reaches the cluster checks before what another
        did after it."""
        replays = []
        logs = []
        for path in paths:
            records = LogReader(path).new_records(final=True)
            if not records or "start" not in records[0]:
                raise LogError(f"{path}: not a step log (no start record first)")
            replays.append(LogReplay(self, path))
            logs.append(records)
        for index, record in merged(logs):
            replays[index].feed(record)
        for replay in replays:
            replay.finish()
            self.undone += replay.undone

    @staticmethod
    def transition(
        config: Any, event: Any, effects: tuple[Any, ...], before: int, state: Any, chain: Any
    ) -> Any:
        from blockfsm.spec.language import Transition

        return Transition(
            config=config,
            before=before,
            event=event,
            after=state,
            effects=effects,
            view=chain.snapshot(),
        )

    def observe_at(
        self,
        replay: LogReplay,
        event: Any,
        effects: tuple[Any, ...],
        before: int,
        n: int,
        state: Any,
        chain: Any,
    ) -> None:
        self.feed(replay, self.transition(replay.config, event, effects, before, state, chain), n)

    def feed(self, replay: LogReplay, t: Any, n: int) -> None:
        """One observed step of a node to every cluster invariant."""
        for inv, monitor in self.monitors:
            if not monitor.observe(t):
                detail = getattr(monitor, "detail", "")
                self.found(Finding(replay.name, n, inv.id, f"{inv.statement}: {detail}"))


def follow_logs(checker: Monitor, paths: list[Path], idle: float, poll: float = 0.5) -> None:
    """Replay the logs as they grow, until none has grown for ``idle`` seconds (or Ctrl-C)."""
    import time

    readers = [(LogReader(p), LogReplay(checker, p)) for p in paths]
    quiet_since = time.monotonic()
    try:
        while True:
            batch = [reader.new_records() if reader.path.exists() else [] for reader, _ in readers]
            grew = any(batch)
            for index, record in merged(batch):
                readers[index][1].feed(record)
            now = time.monotonic()
            if grew:
                quiet_since = now
            elif now - quiet_since >= idle:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        pass
    batch = [
        reader.new_records(final=True) if reader.path.exists() else [] for reader, _ in readers
    ]
    for index, record in merged(batch):
        readers[index][1].feed(record)
    for _, replay in readers:
        replay.finish()
        checker.undone += replay.undone
