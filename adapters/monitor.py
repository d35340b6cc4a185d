"""``blockfsm monitor LOG...``: the spec checks real runs, from the nodes' step logs alone.

Each log (``blockfsm.adapters.steplog``) is replayed, run by run (a run starts at each start
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
import click

from blockfsm.adapters import itf
from blockfsm.adapters.exits import InputError, describe


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


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LogError(f"{path}: cannot read the step log ({describe(error)})") from None
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the last line of a node killed mid-write: the run ends before it
            raise LogError(f"{path}: line {number} is not JSON") from None
        if not isinstance(record, dict) or not ("start" in record or "step" in record):
            raise LogError(f"{path}: line {number} is neither a start nor a step record")
        out.append(record)
    if not out or "start" not in out[0]:
        raise LogError(f"{path}: not a step log (no start record first)")
    return out


def _config(start: dict[str, Any], signer: ReplaySigner) -> Any:
    from blockfsm.adapters.crypto import Ed25519Verifier
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

    from blockfsm.adapters.store import LmdbStore, StoreError
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
    for raw in start["pending"]:
        chain.persist(itf.decode(raw))
    chain.set_highest_certificate(itf.decode(start["certificate"]))
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


@attrs.define
class Monitor:
    """Replays logs and checks the cluster invariants across them; findings are collected."""

    findings: list[Finding] = attrs.field(factory=list)
    steps: int = 0
    runs: int = 0
    rows: set[str] = attrs.field(factory=set)
    monitors: list[Any] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        from blockfsm.spec.node import CLUSTER_SPEC

        self.monitors = [(inv, inv.monitor()) for inv in CLUSTER_SPEC.invariants if inv.monitor]

    def check(self, path: Path) -> None:
        from blockfsm.machine import node as node_machine
        from blockfsm.spec.cluster_rules import Restart
        from blockfsm.spec.conformance import ConformanceError, Conformant, InvariantViolation

        records = _records(path)
        name = path.name if path.name != "steps.jsonl" else str(path.parent.name)
        runs: list[list[dict[str, Any]]] = []
        for record in records:
            if "start" in record:
                runs.append([record])
            else:
                runs[-1].append(record)
        for run in runs:
            self.runs += 1
            start = run[0]["start"]
            try:
                signer = ReplaySigner(public_key=bytes.fromhex(start["key"]))
                config = _config(start, signer)
                guard = itf.decode(start["guard"])
                signing_guard = itf.decode(start["signing_guard"])
            except (KeyError, TypeError, ValueError, itf.ITFError) as error:
                raise LogError(f"{path}: a start record that cannot be read ({error})") from None
            chain = _chain(path, start, config.attester.chain_id)
            state = node_machine.initial(config, guard, signing_guard)
            runner = Conformant(node_machine.NODE, config)
            self._observe(config, chain, Restart(), state, (), chain.committed_height, name, 0)
            for record in run[1:]:
                n = int(record["step"])
                try:
                    event = itf.decode(record["event"])
                    logged = tuple(itf.decode(e) for e in record["effects"])
                    signer.table = {bytes.fromhex(p): bytes.fromhex(s) for p, s in record["signed"]}
                except (KeyError, TypeError, ValueError, itf.ITFError) as error:
                    raise LogError(f"{path}: step {n} cannot be read ({error})") from None
                signer.missing.clear()
                before = chain.committed_height
                try:
                    state, effects = runner.step(state, event, chain.snapshot())
                except (ConformanceError, InvariantViolation) as error:
                    detail = str(error).splitlines()[0]
                    self.findings.append(Finding(name, n, "spec", detail))
                    return
                self.steps += 1
                if signer.missing or itf.canonical(list(effects)) != itf.canonical(list(logged)):
                    self.findings.append(
                        Finding(
                            name,
                            n,
                            "replay",
                            f"the code's step returns other effects than the log's "
                            f"({type(event).__name__}: {len(effects)} effects, "
                            f"{len(logged)} logged)",
                        )
                    )
                    # Go on with what the node did: the cluster checks read the log.
                _apply(chain, logged)
                self._observe(config, chain, event, state, logged, before, name, n)
        self.rows.update(k for k, v in runner.stats.rows.items() if v)

    def _observe(
        self,
        config: Any,
        chain: Any,
        event: Any,
        state: Any,
        effects: tuple[Any, ...],
        before: int,
        name: str,
        n: int,
    ) -> None:
        from blockfsm.spec.language import Transition

        t = Transition(
            config=config,
            before=before,
            event=event,
            after=state,
            effects=effects,
            view=chain.snapshot(),
        )
        for inv, monitor in self.monitors:
            if not monitor.observe(t):
                detail = getattr(monitor, "detail", "")
                self.findings.append(Finding(name, n, inv.id, f"{inv.statement}: {detail}"))


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def monitor(logs: tuple[Path, ...], as_json: bool) -> None:
    """Replay nodes' step logs through the spec and check the cluster properties across them.

    LOGS are step logs (a node's data_dir/steps.jsonl) or data directories holding one. Exit
    status: 0 every check held, 1 a check failed (the first finding per log is shown), 4 a log
    that cannot be read.
    """
    from blockfsm.adapters.steplog import LOG_NAME

    checker = Monitor()
    for given in logs:
        path = given / LOG_NAME if given.is_dir() else given
        checker.check(path)
    report = {
        "ok": not checker.findings,
        "logs": len(logs),
        "runs": checker.runs,
        "steps": checker.steps,
        "findings": [attrs.asdict(f) for f in checker.findings[:20]],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(
            f"{len(logs)} logs, {checker.runs} runs, {checker.steps} steps replayed through the "
            "spec; cluster invariants C-1..C-8 checked across them"
        )
        for f in checker.findings[:20]:
            click.echo(f"{f.log} step {f.step}: {f.check}: {f.detail}")
        click.echo("ok" if not checker.findings else f"{len(checker.findings)} findings")
    if checker.findings:
        raise SystemExit(1)
