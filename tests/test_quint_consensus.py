"""The consensus model (spec/quint/consensus.qnt) checked, and the attester tested against it.

Three things:

- **The model checked.** ``quint run`` over ``RUNS`` random runs (two processes, one per core,
  each with its own seed), every invariant (agreement, validity, no honest double sign) checked
  in every state; a witness that a height does finalize (``noDecision`` is violated); and each
  invariant seen failing, alone, on a bug planted in a copy of the model (``BUG``).
- **Model-based testing.** ``TRACES`` of those runs are written as ITF traces (``--mbt``: the
  action of each step and its nondeterministic picks) and replayed against the real attester,
  one ``machine/attester.py`` state machine per honest keeper under its ``Conformant`` spec, the
  Byzantine keeper played by this driver with real signatures (and forged ones where the model
  forges). After every step each honest keeper's round, signed (round, step, value) set, lock,
  valid value and decision must equal the model's. The first divergence is written as an ITF
  machine trace of that keeper, which ``blockfsm replay`` runs.
- **The fixes reverted.** With each fix of the consensus findings F1-F4 undone (the ``undone``
  helper of tests/planted.py), the model-based test finds a divergence; which step, and
  what differed, is recorded on docs/consensus-model.md.

Quint comes from the repository's pinned package.json (``npm ci``). Without it these tests are
skipped, with the reason; set ``BLOCKFSM_REQUIRE_QUINT=1`` (CI does) to make that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import consensus_projection as projection
import pytest
from planted import attester_forgets_its_attestations, undone
from quintkit import quint as find_quint

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.modeltrace import model_document
from blockfsm.adapters.engines.replay import replay_path
from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    PROPOSE,
    AttesterConfig,
    Proposal,
    ProposalReceived,
    VoteReceived,
    new_block,
    producer_for,
    round_timeout,
    rounds,
    step_timeout,
)
from blockfsm.machine.attester.state import _evolve
from blockfsm.machine.core import Broadcast, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.consensus_model import keeper_view, model_view
from blockfsm.spec.machines import ATTESTER
from blockfsm.spec.strategies.attester import signed_nil_vote, signed_proposal, signed_vote

pytestmark = pytest.mark.timeout(300)
"""This module waits on Quint processes: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "spec" / "quint" / "consensus.qnt"
RUNS = int(os.environ.get("BLOCKFSM_MODEL_RUNS", "1000"))
"""Random runs of the model. The test suite runs 1,000 (about 12 s on 2 cores); CI runs this
module again with BLOCKFSM_MODEL_RUNS=10000 and BLOCKFSM_MODEL_TRACES=1000 (``.ci/run``)."""
PROCESSES = 2
STEPS = 10
TRACES = int(os.environ.get("BLOCKFSM_MODEL_TRACES", "100"))
"""Model traces the attester is driven with: 100 in the test suite, 1,000 in CI."""
TRACE_STEPS = 25
SEED = 20261207
CHAIN = 7
N, BYZ, MAX_ROUND = 4, 1, 3  # the model's N, BYZ and MAX_ROUND
HONEST = tuple(k for k in range(N) if k != BYZ)
NIL = -1
TWIN = MAX_ROUND + 1
STEP_OF_PHASE = {PROPOSE: 0, ATTEST: 1, CONFIRM: 2}  # the attester's phases -> the model's steps
PHASE_OF_STEP = {1: ATTEST, 2: CONFIRM}


def quint() -> str:
    return find_quint("Quint consensus tests")


def quint_run(model: Path, *args: str) -> list[str]:
    return [quint(), "run", "--backend=typescript", *args, str(model)]


def run_quint(model: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        quint_run(model, *args), capture_output=True, text=True, timeout=280, cwd=ROOT
    )


@attrs.frozen
class Simulation:
    outputs: tuple[str, ...]
    returncodes: tuple[int, ...]
    traces: tuple[Path, ...]
    seconds: float


def simulate(out: Path, runs: int, steps: int, traces: int, seed: int) -> Simulation:
    """``runs`` random runs of ``steps`` steps in PROCESSES Quint processes at once (each with
    its own seed), every invariant checked in every state; ``traces`` of them written as ITF
    traces for the model-based test."""
    start = time.monotonic()
    args = ["--invariant=invariants", f"--max-steps={steps}", f"--max-samples={runs // PROCESSES}"]
    if traces:
        args += ["--mbt", f"--n-traces={traces // PROCESSES}"]
    # Each process writes to a file, not a pipe: Node.js may exit before a pipe takes its last
    # lines (the verdict), while its writes to a file are synchronous.
    logs = [out / f"quint-{n}.log" for n in range(PROCESSES)]
    processes = []
    for n, log in enumerate(logs):
        with log.open("w") as sink:
            processes.append(
                subprocess.Popen(
                    quint_run(
                        MODEL, *args, f"--seed={seed + n}", f"--out-itf={out}/p{n}_{{seq}}.itf.json"
                    )
                    if traces
                    else quint_run(MODEL, *args, f"--seed={seed + n}"),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            )
    for p in processes:
        p.wait(timeout=280)
    outputs = tuple(log.read_text() for log in logs)
    return Simulation(
        outputs=outputs,
        returncodes=tuple(p.returncode for p in processes),
        traces=tuple(sorted(out.glob("*.itf.json"))),
        seconds=time.monotonic() - start,
    )


@pytest.fixture(scope="module")
def model_traces(tmp_path_factory: pytest.TempPathFactory) -> Simulation:
    """TRACES runs of TRACE_STEPS steps, invariants checked, each written as an ITF trace."""
    out = tmp_path_factory.mktemp("consensus-traces")
    return simulate(out, TRACES, TRACE_STEPS, TRACES, SEED + 100)


# --- the model checked --------------------------------------------------------------------------


def test_the_model_invariants_hold_over_many_random_runs(tmp_path: Path) -> None:
    simulation = simulate(tmp_path, RUNS, STEPS, 0, SEED)
    for output, code in zip(simulation.outputs, simulation.returncodes, strict=True):
        assert code == 0, output
        assert "[ok] No violation found" in output, output
    print(f"{RUNS} runs of {STEPS} steps in {simulation.seconds:.1f} s")


def test_the_witness_a_height_does_finalize() -> None:
    """``noDecision`` (no honest keeper decides) is refuted: the invariants are not vacuous."""
    args = ("--invariant=noDecision", f"--max-steps={STEPS}", "--max-samples=2000", "--seed=7")
    result = run_quint(MODEL, *args)
    assert result.returncode == 1 and "[violation]" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("bug", "invariant"),
    [
        ("forgedProofCounts", "validity"),
        ("forgedProofCounts", "agreement"),
        ("forgetfulGuard", "noDoubleSign"),
    ],
)
def test_each_invariant_fails_alone_on_a_planted_model_bug(
    bug: str, invariant: str, tmp_path: Path
) -> None:
    text = MODEL.read_text()
    line = 'pure val BUG: str = "none"'
    assert text.count(line) == 1
    planted = tmp_path / "consensus.qnt"
    planted.write_text(text.replace(line, f'pure val BUG: str = "{bug}"'))
    args = (f"--invariant={invariant}", f"--max-steps={STEPS}", "--max-samples=3000", "--seed=1")
    result = run_quint(planted, *args)
    assert result.returncode == 1 and "[violation]" in result.stdout, result.stdout
    # (The model as written keeps every invariant over RUNS runs: the first test.)


# --- the driver ---------------------------------------------------------------------------------


class Divergence(AssertionError):
    def __init__(self, message: str, keeper: int, trace: dict[str, Any]) -> None:
        super().__init__(message)
        self.keeper = keeper
        self.trace = trace


class Driver:
    """One attester per honest keeper of the model, driven by one model trace's actions.

    Model keeper k is the producer of round k (at height 0 the producer of round r is the
    (r mod 4)-th of a fixed order of the four keys: the keys are named in that order)."""

    def __init__(self, conformant: bool = True) -> None:
        signers = [StandInSigner.from_seed(300 + i) for i in range(N)]
        validators = ValidatorSet.equal(s.public_key for s in signers)
        verifier = StandInVerifier.of(signers)
        by_key = {s.public_key: s for s in signers}
        keepers = tuple(k for k, _ in validators.members)
        order = [producer_for(keepers, ZERO_HASH, r) for r in range(N)]
        assert sorted(k for k in order if k is not None) == sorted(keepers)
        self.signers = [by_key[k] for k in order if k is not None]
        self.index = {s.public_key: k for k, s in enumerate(self.signers)}
        self.configs = [
            AttesterConfig(chain_id=CHAIN, signer=s, validators=validators, verifier=verifier)
            for s in self.signers
        ]
        genesis = Certificate.genesis(CHAIN)
        self.blocks = [
            new_block(self.configs[r % N], 0, r, ZERO_HASH, genesis) for r in range(TWIN)
        ]
        self.blocks.append(
            Block.make(
                chain_id=CHAIN, height=0, parent_hash=ZERO_HASH, justify=genesis, payload=b"twin"
            )
        )
        self.value_of = {b.hash: v for v, b in enumerate(self.blocks)}
        self.conformant = conformant
        self.runners: dict[int, Any] = {}
        self.chains: dict[int, InMemoryChain] = {}
        self.states: dict[int, Any] = {}
        self.guards: dict[int, att.Guard] = {}
        self.now: dict[int, int] = {}
        self.decided: dict[int, int] = {}
        self.sent: dict[tuple[int, int], Proposal] = {}
        self.logs: dict[int, list[itf.TraceStep]] = {}
        self.started: dict[int, Any] = {}
        self.pending: dict[int, list[Any]] = {}
        """Per keeper, the events of the model step being taken."""
        self.model_steps: dict[int, list[tuple[int, str, list[Any], dict[str, Any]]]] = {}
        """Per keeper, since its last (re)start: (model step, action, events, model view)."""
        for k in HONEST:
            self.chains[k] = InMemoryChain(CHAIN)
            self.now[k] = 0
            self.decided[k] = NIL
            self._start(k, None)

    # the machines

    def _runner(self, k: int) -> Callable[[Any, Any, Any], tuple[Any, tuple[Any, ...]]]:
        if self.conformant:
            runner = Conformant(ATTESTER, self.configs[k])
            return lambda s, e, v: tuple(runner.step(s, e, v))
        config = self.configs[k]
        return lambda s, e, v: tuple(att.step(config, s, e, v))

    def _start(self, k: int, guard: att.Guard | None) -> None:
        """A fresh attester, or one restarted from its persisted guard: its first Tick."""
        self.runners[k] = self._runner(k)
        self.states[k] = att.initial(self.configs[k], guard)
        self.started[k] = self.states[k]
        self.logs[k] = []
        self.pending[k] = []
        self.model_steps[k] = []
        self.feed(k, Tick(now=self.now[k]))

    def feed(self, k: int, event: Any) -> None:
        if type(event) is Tick:
            self.now[k] = event.now
        view = self.chains[k].snapshot()
        self.pending[k].append(event)
        state, effects = self.runners[k](self.states[k], event, view)
        self.states[k] = state
        self.logs[k].append(itf.TraceStep(event=event, view=view, state=state, effects=effects))
        chain = self.chains[k]
        for e in effects:
            kind = type(e)
            if kind is Persist:
                chain.persist(e.block)
                self.decided[k] = self.value_of.get(e.block.hash, -2)
            elif kind is Commit:
                chain.commit(e.height)
            elif kind is UpdateHighestCertificate:
                chain.set_highest_certificate(e.certificate)
            elif kind is att.PersistGuard:
                self.guards[k] = e.guard
            elif kind is Broadcast and type(e.message) is Proposal:
                self.sent[(k, e.message.round)] = e.message

    def _block(self, value: int) -> Block:
        return self.blocks[value]

    def _vote(self, voter: int, phase: int, round_: int, value: int) -> Any:
        if value == NIL:
            return signed_nil_vote(self.signers[voter], phase, CHAIN, 0, round_)
        return signed_vote(self.signers[voter], phase, CHAIN, self._block(value), round_)

    def _live(self, k: int) -> bool:
        return self.decided[k] == NIL

    # the model's actions

    def deliver_vote(self, dest: int, voter: int, round_: int, step: int, value: int) -> None:
        if self._live(dest):
            vote = self._vote(voter, PHASE_OF_STEP[step], round_, value)
            self.feed(dest, VoteReceived(peer=self.signers[voter].public_key, vote=vote))

    def deliver_proposal(self, dest: int, producer: int, model: dict[str, Any]) -> None:
        if producer == BYZ:
            proposal = self._byzantine_proposal(model)
        else:
            proposal = self.sent[(producer, model["round"])]
            seen = {
                "round": proposal.round,
                "value": self.value_of.get(proposal.block.hash, -2),
                "validRound": proposal.valid_round,
                "proof": frozenset(self.index[v.voter] for v in proposal.proof),
            }
            assert seen == model, f"keeper {producer}'s proposal is {seen}, the model's {model}"
        if self._live(dest):
            event = ProposalReceived(peer=self.signers[producer].public_key, proposal=proposal)
            self.feed(dest, event)

    def _byzantine_proposal(self, model: dict[str, Any]) -> Proposal:
        value, vr = model["value"], model["validRound"]
        proof = tuple(self._vote(q, ATTEST, vr, value) for q in sorted(model["proof"]))
        return signed_proposal(
            self.signers[BYZ], CHAIN, self._block(value), model["round"], vr, proof
        )

    def forgery(self, dest: int, round_: int, value: int) -> None:
        """A new block's proposal carrying every keeper's confirmation of it, unsigned by them."""
        if not self._live(dest):
            return
        proof = tuple(
            attrs.evolve(self._vote(q, CONFIRM, round_, value), signature=bytes(64))
            for q in range(N)
        )
        block = self._block(value)
        proposal = signed_proposal(self.signers[BYZ], CHAIN, block, round_, -1, proof)
        self.feed(dest, ProposalReceived(peer=self.signers[BYZ].public_key, proposal=proposal))

    def timeout(self, k: int, which: str) -> None:
        s = self.states[k]
        config = self.configs[k]
        if which == "timeoutPropose":
            due = s.round_started + round_timeout(config, s.round)
        elif which == "timeoutAttest":
            due = s.attest_deadline
        else:
            due = s.confirm_deadline
        assert due >= 0, f"keeper {k}: the model's {which} has no running timer in the attester"
        self.feed(k, Tick(now=max(self.now[k], due)))

    def crash(self, k: int) -> None:
        """Crash and restart from the persisted guard; a restarted keeper's first Tick, then
        one step timeout later the Tick at which it sends its messages of the round again (its
        own votes of the round, which the guard holds, are in hand again from then on)."""
        self._start(k, self.guards.get(k))
        self.feed(k, Tick(now=self.now[k] + step_timeout(self.configs[k], self.states[k].round)))

    # the comparison

    def abstract(self, k: int) -> dict[str, Any]:
        return keeper_view(self.states[k], self.decided[k], self.value_of)

    def took(self, k: int, index: int, action: str, model: dict[str, Any]) -> None:
        """Model step ``index`` is over for keeper k: its events and the model's view after."""
        if self.pending[k] or index == 0:
            self.model_steps[k].append((index, action, self.pending[k], model))
        self.pending[k] = []

    def trace(self, k: int, index: int, action: str, model: dict[str, Any], python: Any) -> Any:
        """Keeper k's model steps since its last (re)start, the one that diverged last: its
        events and the model's view after each, a trace ``blockfsm replay`` runs against the
        model's views (``blockfsm.adapters.engines.modeltrace``)."""
        self.took(k, index, action, model)
        return model_document(
            config=self.configs[k],
            initial=self.started[k],
            keeper=k,
            values=self.value_of,
            steps=self.model_steps[k],
            source="tests/test_quint_consensus.py",
            note={"model step": index, "keeper": k, "attester": itf.encode(python)},
        )


def replay(document: dict[str, Any], counts: Counter[str], conformant: bool = True) -> None:
    """Drive the attesters by one model trace; ``Divergence`` at the first step that differs."""
    driver = Driver(conformant)
    for index, raw in enumerate(document["states"]):
        action = raw["mbt::actionTaken"]
        picks = {
            name: value.value
            for name, value in itf.decode(raw["mbt::nondetPicks"]).items()
            if isinstance(value, itf.Variant) and value.tag == "Some"
        }
        if index > 0:
            counts[action] += 1
            try:
                _act(driver, action, picks, document["states"][index - 1])
            except (AssertionError, KeyError) as error:
                k = picks.get("p", picks.get("dest", HONEST[0]))
                model = model_view(itf.decode(raw["keepers"])[k])
                raise Divergence(
                    f"state {index} ({action} {picks}): the attesters cannot take the model's "
                    f"step: {error!r}",
                    k,
                    driver.trace(k, index, action, model, {}),
                ) from None
        keepers = itf.decode(raw["keepers"])
        for k in HONEST:
            model = model_view(keepers[k])
            python = driver.abstract(k)
            if model != python:
                diff = {
                    f: (model.get(f), python.get(f)) for f in model if model.get(f) != python.get(f)
                }
                raise Divergence(
                    f"state {index} (after {action} {picks}), keeper {k}: model != attester "
                    f"on {diff}",
                    k,
                    driver.trace(k, index, action, model, python),
                )
            driver.took(k, index, action, model)
    counts["steps"] += len(document["states"]) - 1
    final = itf.decode(document["states"][-1]["keepers"])
    counts["decided"] += any(final[k]["decision"] != NIL for k in HONEST)
    counts["locked"] += any(final[k]["lockedRound"] >= 0 for k in HONEST)
    counts["round > 0"] += any(final[k]["round"] > 0 for k in HONEST)


def _act(driver: Driver, action: str, picks: dict[str, Any], before: dict[str, Any]) -> None:
    """The attesters' events for one model action (``before``: the model state it starts from)."""
    if action in ("deliverVote", "deliverVoteToAll"):
        voter, round_, step, value = picks["s"]
        dests = [picks["dest"]] if action == "deliverVote" else list(HONEST)
        for dest in dests:
            driver.deliver_vote(dest, voter, round_, step, value)
    elif action in ("deliverProposal", "deliverProposalToAll"):
        producer, proposal = picks["sp"]
        dests = [picks["dest"]] if action == "deliverProposal" else list(HONEST)
        for dest in dests:
            driver.deliver_proposal(dest, producer, proposal)
    elif action in ("timeoutPropose", "timeoutAttest", "timeoutConfirm"):
        driver.timeout(picks["p"], action)
    elif action == "crash":
        driver.crash(picks["p"])
    elif action == "byzantineVote":
        phase = PHASE_OF_STEP[picks["phase"]]
        vote = driver._vote(BYZ, phase, picks["r"], picks["v"])
        if driver._live(picks["dest"]):
            event = VoteReceived(peer=driver.signers[BYZ].public_key, vote=vote)
            driver.feed(picks["dest"], event)
    elif action == "byzantinePropose":
        proof = _byzantine_proof(before, picks)
        model = {
            "round": picks["br"],
            "value": picks["bv"],
            "validRound": picks["vr"],
            "proof": proof,
        }
        driver.deliver_proposal(picks["dest"], BYZ, model)
    elif action == "byzantineForgery":
        driver.forgery(picks["dest"], picks["br"], picks["bv"])
    else:
        raise AssertionError(f"unknown model action {action!r}")


def _byzantine_proof(before: dict[str, Any], picks: dict[str, Any]) -> frozenset[int]:
    """The proof the model's byzantinePropose builds: every attestation for the value at the
    valid round signed so far, the Byzantine keeper's own included (none for a new value)."""
    if picks["vr"] < 0:
        return frozenset()
    signatures = itf.decode(before["signatures"])
    return frozenset({BYZ}) | frozenset(
        p for p, r, step, v in signatures if (r, step, v) == (picks["vr"], 1, picks["bv"])
    )


def replay_all(paths: Iterator[Path] | tuple[Path, ...], conformant: bool = True) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in paths:
        document = json.loads(path.read_text())
        try:
            replay(document, counts, conformant)
        except Divergence as error:
            error.args = (f"{path.name}: {error.args[0]}",)
            raise
        counts["traces"] += 1
    return counts


def test_the_attester_agrees_with_the_model_on_every_step_of_every_trace(
    model_traces: Simulation, tmp_path: Path
) -> None:
    for output, code in zip(model_traces.outputs, model_traces.returncodes, strict=True):
        assert code == 0 and "[ok] No violation found" in output, output
    assert len(model_traces.traces) >= TRACES
    start = time.monotonic()
    try:
        counts = replay_all(model_traces.traces)
    except Divergence as error:
        # Kept where CI collects its artifacts (BLOCKFSM_ARTIFACTS), else in the test's tmp dir.
        artifacts = os.environ.get("BLOCKFSM_ARTIFACTS")
        folder = Path(artifacts) if artifacts else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        written = itf.write(error.trace, folder / "quint-consensus-divergence.itf.json")
        raise AssertionError(f"{error} (trace: {written})") from None
    print(
        f"{TRACES} traces of {TRACE_STEPS} steps: Quint {model_traces.seconds:.1f} s, "
        f"replay {time.monotonic() - start:.1f} s: {dict(counts)}"
    )
    assert counts["traces"] >= TRACES and counts["steps"] >= TRACES * TRACE_STEPS // 2
    for what in (
        "deliverVote",
        "deliverVoteToAll",
        "deliverProposal",
        "deliverProposalToAll",
        "timeoutPropose",
        "timeoutAttest",
        "timeoutConfirm",
        "crash",
        "byzantineVote",
        "byzantinePropose",
        "byzantineForgery",
    ):
        assert counts[what] > 0, what
    assert counts["decided"] > 0 and counts["locked"] > 0 and counts["round > 0"] > 0


# --- the fixes reverted ---------------------------------------------------------------------------

FINDINGS = ("F1", "F2", "F3", "F4")


@pytest.mark.parametrize("finding", FINDINGS)
def test_each_consensus_fix_reverted_makes_the_model_based_test_fail(
    finding: str, model_traces: Simulation, tmp_path: Path
) -> None:
    """The attester with one fix undone (its old rule put back), run without its spec so that
    the model alone decides: some trace diverges. The divergence is written as a model trace
    (the keeper's events, the model's view after each step) that ``blockfsm replay`` runs: under
    the old rule it diverges at the step the test found, and with the fix in it matches."""
    with pytest.MonkeyPatch.context() as m:
        undone(m, finding)
        with pytest.raises(Divergence) as caught:
            replay_all(model_traces.traces, conformant=False)
        path = itf.write(caught.value.trace, tmp_path / f"{finding}.itf.json")
        under_old_rule = replay_path(path)
    with_fix = replay_path(path)
    print(f"{finding}: {caught.value}; replay: {under_old_rule.detail} / {with_fix.detail}")
    assert_replays_as_found(caught.value, under_old_rule, with_fix)


def assert_replays_as_found(divergence: Divergence, buggy: Any, fixed: Any) -> None:
    """The divergence's trace, replayed: on the code that diverged, at the model step where the
    test found it (the trace's last); on the correct code, every step where the model is."""
    states = divergence.trace["states"]
    assert buggy.verdict == "diverges", buggy.detail
    assert buggy.step == len(states) - 1, buggy.detail
    assert (
        states[buggy.step]["#meta"]["model step"] == divergence.trace["#meta"]["note"]["model step"]
    )
    assert fixed.verdict == "matches", fixed.detail


def attester_ignores_its_lock(m: pytest.MonkeyPatch) -> None:
    """An attester that attests the round's proposal whatever its lock (Tendermint line 22's
    condition dropped); its lock itself is kept."""
    original = rounds._attest

    def attest(config: Any, state: Any, p: Any, effects: list[Any]) -> Any:
        g = state.guard
        unlocked = _evolve(state, guard=attrs.evolve(g, locked_round=-1))
        out = original(config, unlocked, p, effects)
        lock = {
            "locked_round": g.locked_round,
            "locked_hash": g.locked_hash,
            "locked_block": g.locked_block,
            "locked_proof": g.locked_proof,
        }
        return _evolve(out, guard=attrs.evolve(out.guard, **lock))

    m.setattr(rounds, "_attest", attest)


@pytest.mark.parametrize(
    "plant",
    [attester_forgets_its_attestations, attester_ignores_its_lock],
    ids=lambda f: f.__name__,
)
def test_a_planted_attester_bug_makes_the_model_based_test_fail(
    plant: Callable[[pytest.MonkeyPatch], None], model_traces: Simulation, tmp_path: Path
) -> None:
    """Beyond the findings: a guard that forgets attestations, an attester that ignores its lock.
    The divergence's trace replays as it was found, and matches on the correct code."""
    with pytest.MonkeyPatch.context() as m:
        plant(m)
        with pytest.raises(Divergence) as caught:
            replay_all(model_traces.traces, conformant=False)
        path = itf.write(caught.value.trace, tmp_path / "planted.itf.json")
        buggy = replay_path(path)
    print(f"{plant.__name__}: {caught.value}; replay: {buggy.detail}")
    assert_replays_as_found(caught.value, buggy, replay_path(path))


# --- the other direction: the simulator's runs are behaviours of the model ------------------------

SIM_RUNS = int(os.environ.get("BLOCKFSM_MODEL_SIM_RUNS", "8"))
"""Simulator runs checked against the model: 8 in the test suite (about 15 s, most of it Quint
type-checking the generated runs), 48 in CI (``.ci/run``)."""
SIM_LOSS = (0.05, 0.6, 0.85)
"""The networks' loss, in turn: at 5 % a height is final in round 0; at 60 % and 85 % rounds time
out and the Byzantine keeper's round 1 (and rounds 2 and 3) are reached."""


def simulator_runs(count: int) -> list[projection.ProjectedRun]:
    """``count`` simulations (seeds whose Byzantine node is the model's keeper 1), the
    adversary's behaviours and the losses in turn, each projected to the model's actions."""
    seeds = projection.fitting_seeds(count)
    return [
        projection.project(
            seed,
            projection.BEHAVIOURS[n % len(projection.BEHAVIOURS)],
            loss=SIM_LOSS[n % len(SIM_LOSS)],
        )
        for n, seed in enumerate(seeds)
    ]


def test_the_simulators_runs_are_behaviours_of_the_model(tmp_path: Path) -> None:
    start = time.monotonic()
    runs = simulator_runs(SIM_RUNS)
    projected = time.monotonic() - start
    failures, output = projection.check(runs, quint(), tmp_path, MODEL)
    assert not failures, "\n".join(str(f) for f in failures)
    assert f"{len(runs)} passing" in output, output[-2000:]
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update(run.counts)
        counts["steps"] += len(run.steps)
        counts["cut"] += run.cut is not None
        counts["every honest keeper decided"] += all(v != NIL for v in run.decided.values())
        counts["round > 0"] += any(
            v.get("round", 0) > 0 for s in run.steps for v in s.views.values()
        )
    cuts = Counter(run.cut.split(": ", 1)[1] for run in runs if run.cut is not None)
    print(
        f"{len(runs)} simulator runs, {counts['steps']} model steps: projected in "
        f"{projected:.1f} s, checked by Quint in {time.monotonic() - start - projected:.1f} s; "
        f"{dict(counts)}; cut: {dict(cuts)}"
    )
    assert counts["steps"] >= 10 * len(runs)
    assert counts["every honest keeper decided"] > 0 and counts["round > 0"] > 0


def test_a_consensus_fix_reverted_makes_a_simulator_run_leave_the_model(tmp_path: Path) -> None:
    """With F2's fix undone a restarted keeper is back at round 0 (the model's resumes at its
    last signed round); with F4's, a later round's proposal moves a keeper there (the model's
    stays). The fifth run of the suite's (seed 46: replay_proof, 60 % loss, two crashes) shows
    both, each at the step that does it; with the fixes in it is a behaviour of the model (the
    test above)."""
    runs = []
    for finding in ("F2", "F4"):
        with pytest.MonkeyPatch.context() as m:
            undone(m, finding)
            runs.append(attrs.evolve(simulator_runs(5)[4], tag=f"_{finding}"))
    failures, output = projection.check(runs, quint(), tmp_path, MODEL)
    failed = {f.run.rsplit("_", 1)[1]: f for f in failures}
    assert sorted(failed) == ["F2", "F4"], output[-2000:]
    for finding, failure in sorted(failed.items()):
        print(f"{finding}: {failure}")
    assert failed["F2"].projected.label.startswith("crash")
