"""Runs of the cluster simulator, projected to the consensus model's actions and checked by Quint.

The reverse direction of the model-based test: a run of ``adapters/engines/sim.py`` (four nodes, the
fourth Byzantine, with a behaviour of ``adapters/engines/adversary.py``) is followed node step by
node step; every step of an honest node at the first height becomes one action of
spec/quint/consensus.qnt (or none: a step that changes nothing the model has), and after each
action every honest keeper's view (``blockfsm.spec.consensus_model``: round, signed
(round, step, value), lock, valid value, decision) must equal the code's. The projected run is
written as a Quint ``run`` (``init.then(a1).expect(...).then(a2)...``) that ``quint test``
executes: an action whose guard is false, or a view that differs, fails the run at that step.

What maps to what:

- node ids: model keeper k is the node that produces round k at height 0; only seeds whose
  Byzantine node (the simulator's last) produces round 1 (the model's ``BYZ``) are used;
- blocks: the new block of round r's producer is value r, the Byzantine producer's block of round
  1 and its twin (``adversary.twin_of``) are 1 and 4; any other block a Byzantine message names
  (its own blocks, hashes of no block) takes whichever of 1 and 4 is still free;
- the first Tick of every honest node: ``init``; a vote or proposal delivered: ``deliverVote`` /
  ``deliverProposal`` of the honest signature (whoever relays it: a replay is a delivery of the
  same message), or ``byzantineVote`` / ``byzantinePropose`` / ``byzantineForgery`` for what the
  Byzantine key signed (a new block's proposal carrying a proof is the forgery the model has);
  a message no key signed validly (a forged vote, a proof that does not hold), or of another
  height: a step with no action, the keeper's view must not change; a Tick at which the code's
  propose, attest or confirm timer is due: that timeout; the first Tick after a crash-restart:
  ``crash`` (the model crashes and restarts in one action).

The run is cut, with the reason, where it leaves what the model can say: a message or a round
beyond round 3, a third block for the Byzantine values, the first height finalized by block sync
instead of votes, a third crash, a Byzantine re-proposal whose proof is not every attestation
signed (the model's one kind), a propose or attest timeout while the confirm timer runs (an
ordering the model leaves out), a message delivered to a restarted keeper before it holds its own
votes of the round again (the model's restart holds them at once), or a tick that changed a
keeper's view with no timeout due. Everything before the cut is checked.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.engines.adversary import twin_of
from blockfsm.adapters.engines.sim import SimConfig, SimNode, Simulation
from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    PHASES,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    new_block,
    producer_for,
    proposal_payload,
    round_timeout,
    vote_payload,
)
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.types import ZERO_HASH, Certificate
from blockfsm.spec.consensus_model import NIL, STEP_OF_PHASE, KeeperView, keeper_view

N, BYZ, MAX_ROUND, MAX_CRASHES = 4, 1, 3, 2  # the model's
HONEST = tuple(k for k in range(N) if k != BYZ)
TWIN = MAX_ROUND + 1
BEHAVIOURS = (
    "equivocate",
    "forge_proof",
    "conflicting_votes",
    "replay",
    "replay_proof",
    "withhold",
    "lie",
    "bad_certificate",
)
"""The adversary's behaviours whose messages the model can name. ``future_round`` and ``flood``
act first in round 5 (the Byzantine node's next slot), beyond the model's rounds 0..3."""
FAULTS = ("loss", "delay", "duplicate", "reorder", "partition", "crash")


class Cut(Exception):
    """The run leaves what the model can say."""


@attrs.frozen
class ModelStep:
    """One action (``None``: no action, the keeper's view must not have changed) and, after
    it, the code's view of each keeper the step touched (the model's actions change one keeper;
    ``init`` all of them)."""

    action: str | None
    label: str
    views: dict[int, KeeperView]


def fits(seed: int) -> bool:
    """Whether the simulator's Byzantine node (its last) produces round 1 at height 0 with the
    keys of ``seed`` (``Simulation`` derives node i's key from ``seed * 1000 + i``)."""
    keys = [StandInSigner.from_seed(seed * 1000 + i).public_key for i in range(N)]
    ordered = tuple(sorted(keys))  # ValidatorSet.equal orders its members by key
    return producer_for(ordered, ZERO_HASH, BYZ) == keys[-1]


def fitting_seeds(count: int, start: int = 0) -> list[int]:
    seeds: list[int] = []
    seed = start
    while len(seeds) < count:
        if fits(seed):
            seeds.append(seed)
        seed += 1
    return seeds


class Projection:
    """What one simulation's honest steps are in the model, as far as it can say."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        keepers = sim.nodes[0].config.attester.keepers
        self.model_id: dict[bytes, int] = {}
        for r in range(N):
            key = producer_for(keepers, ZERO_HASH, r)
            assert key is not None
            self.model_id[key] = r
        self.node_of = {self.model_id[n.key]: n for n in sim.nodes}
        assert self.node_of[BYZ].index == N - 1, "a seed whose Byzantine node is not keeper 1"
        self.verifier = sim.nodes[0].config.attester.verifier
        self.keepers = keepers
        genesis = Certificate.genesis(sim.chain_id)
        self.reserved: dict[bytes, int] = {}
        for r in range(MAX_ROUND + 1):
            config = self.node_of[r].config.attester
            self.reserved[new_block(config, 0, r, ZERO_HASH, genesis).hash] = r
        byz_block = new_block(self.node_of[BYZ].config.attester, 0, BYZ, ZERO_HASH, genesis)
        self.reserved[twin_of(byz_block).hash] = TWIN
        self.values: dict[bytes, int] = {}
        self.steps: list[ModelStep] = []
        self.started: set[int] = set()
        self.decided: dict[int, int] = {k: NIL for k in HONEST}
        self.restarting: set[int] = set()
        self.pending_restart: set[int] = set()
        self.crashes = 0
        self.signed: set[tuple[int, int, int, int]] = set()
        self.cut: str | None = None
        self.counts: Counter[str] = Counter()

    # --- naming ----------------------------------------------------------------------------

    def name(self, block_hash: bytes, honest_new: bool = False) -> int:
        """The model's value of a block hash (nil for the zero hash), named on first sight."""
        if block_hash == ZERO_HASH:
            return NIL
        known = self.values.get(block_hash)
        if known is not None:
            return known
        reserved = self.reserved.get(block_hash)
        taken = set(self.values.values())
        if reserved is not None and (reserved not in taken or honest_new):
            if reserved in taken:
                raise Cut(f"value {reserved} already names another block")
            self.values[block_hash] = reserved
            return reserved
        if honest_new:
            raise Cut("an honest new block the model does not name")
        for free in (TWIN, BYZ):
            if free not in taken and free not in self._reserved_seen():
                self.values[block_hash] = free
                return free
        raise Cut("a third block for the Byzantine producer's two values")

    def _reserved_seen(self) -> set[int]:
        return {v for h, v in self.reserved.items() if h in self.values}

    def view(self, k: int) -> KeeperView:
        node = self.node_of[k]
        return keeper_view(node.state.attester, self.decided[k], self.values)

    # --- following the simulation ------------------------------------------------------------

    def restarted(self, node: SimNode) -> None:
        k = self.model_id[node.key]
        if self.cut is None and k in HONEST and self.decided[k] == NIL:
            self.pending_restart.add(k)

    def observe(self, node: SimNode, event: Any, before: att.AttesterState, height: int) -> None:
        """One step of honest ``node`` (``before``: its attester before the step; ``height``: its
        committed height before it)."""
        if self.cut is not None:
            return
        k = self.model_id[node.key]
        if self.decided[k] != NIL:
            self.counts["after a decision"] += 1
            return
        try:
            self._observe(k, node, event, before, height)
        except Cut as cut:
            self.cut = f"step {len(self.steps)}: {cut}"

    def _observe(
        self, k: int, node: SimNode, event: Any, before: att.AttesterState, height: int
    ) -> None:
        after = node.state.attester
        kind = type(event)
        if len(self.started) < len(HONEST):
            if kind is not Tick or k in self.started:
                raise Cut("a message before every honest node started")
            self.started.add(k)
            if len(self.started) == len(HONEST):
                self._emit("init", "init", HONEST)
            return
        changed = after != before
        if node.chain.committed_height != height and node.chain.committed_height >= 0:
            if after.height > 0 and kind in (VoteReceived, ProposalReceived):
                pass  # the attester decided on this message
            else:
                raise Cut(f"keeper {k}: the first height finalized by block sync")
        if kind is Tick:
            self._tick(k, node, event, before, after)
        elif kind is VoteReceived:
            self._delivered(k, changed)
            self._vote(k, event.vote, changed)
        elif kind is ProposalReceived:
            self._delivered(k, changed)
            self._proposal(k, event.proposal, changed)
        elif changed:
            raise Cut(f"keeper {k}: its attester changed on a {kind.__name__}")
        self._after(k, node)

    def _after(self, k: int, node: SimNode) -> None:
        a = node.state.attester
        if k in self.restarting:
            me = node.key
            own = {(v.round, v.phase) for v in a.votes if v.voter == me}
            if all((r, p) in own for r, p, _ in a.guard.signed if r == a.round and p in PHASES):
                self.restarting.discard(k)

    def _delivered(self, k: int, changed: bool) -> None:
        if k in self.restarting and changed:
            raise Cut(f"keeper {k}: a message before its own votes are in hand again")

    def _decision(self, k: int) -> None:
        node = self.node_of[k]
        if node.state.attester.height > 0 and self.decided[k] == NIL:
            block = node.chain.block_at(0)
            assert block is not None
            self.decided[k] = self.values.get(block.hash, -2)

    def _emit(self, action: str | None, label: str, touched: tuple[int, ...]) -> None:
        for k in HONEST:
            self._decision(k)
            node = self.node_of[k]
            a = node.state.attester
            if self.decided[k] == NIL:
                if a.round > MAX_ROUND:
                    raise Cut(f"keeper {k} in round {a.round}, beyond the model's rounds")
                for r, p, h in a.guard.signed:
                    self.signed.add((k, r, STEP_OF_PHASE[p], self.name(h)))
        views = {k: self.view(k) for k in touched}
        self.steps.append(ModelStep(action=action, label=label, views=views))
        self.counts[label.split("(")[0]] += 1

    def _tick(
        self, k: int, node: SimNode, event: Tick, before: att.AttesterState, after: Any
    ) -> None:
        if k in self.pending_restart and before.control == att.WAITING:
            self.pending_restart.discard(k)
            self.crashes += 1
            if self.crashes > MAX_CRASHES:
                raise Cut(f"crash {self.crashes}: the model's runs have at most {MAX_CRASHES}")
            self.restarting.add(k)
            self._emit(f"crash({k})", f"crash({k})", (k,))
            return
        now = event.now
        config = node.config.attester
        timer = None
        if 0 <= before.confirm_deadline <= now and before.round < att.MAX_ROUND:
            timer = "timeoutConfirm"
        elif before.confirm_deadline < 0 or now < before.confirm_deadline:
            step = att.step_of(before)
            if step == 0 and now - before.round_started >= round_timeout(config, before.round):
                timer = "timeoutPropose"
            elif step == 1 and 0 <= before.attest_deadline <= now:
                timer = "timeoutAttest"
            if timer is not None and before.confirm_deadline >= 0:
                raise Cut(f"keeper {k}: {timer} while its confirm timer runs")
        if timer is not None:
            self._emit(f"{timer}({k})", f"{timer}({k})", (k,))
        elif keeper_view(after, NIL, self.values) != keeper_view(before, NIL, self.values):
            raise Cut(f"keeper {k}: a tick changed its view with no timeout due")

    def _stutter(self, k: int, what: str, changed: bool) -> None:
        if changed:
            self._emit(None, f"{what} to {k}", (k,))
        else:
            self.counts[what] += 1

    def _vote(self, k: int, v: Vote, changed: bool) -> None:
        if v.height != 0 or v.voter not in self.model_id:
            return self._stutter(k, "a vote of another height or keeper set", changed)
        payload = vote_payload(v.phase, v.chain_id, v.height, v.round, v.block_hash)
        if v.chain_id != self.sim.chain_id or not self.verifier.verify(
            v.voter, payload, v.signature
        ):
            return self._stutter(k, "a forged vote", changed)
        if v.round > MAX_ROUND:
            if changed:
                raise Cut(f"a vote of round {v.round}")
            return None
        voter, step, value = self.model_id[v.voter], STEP_OF_PHASE[v.phase], self.name(v.block_hash)
        if voter == BYZ:
            self._emit(
                f"byzantineVote({k}, {step}, {v.round}, {value})",
                f"byzantineVote({k}, {step}, {v.round}, {value})",
                (k,),
            )
        else:
            s = f"({voter}, {v.round}, {step}, {value})"
            self._emit(f"simVote({k}, {s})", f"deliverVote({k}, {s})", (k,))
        return None

    def _proposal(self, k: int, p: Proposal, changed: bool) -> None:
        b = p.block
        if b.height != 0 or p.producer not in self.model_id:
            return self._stutter(k, "a proposal of another height or producer", changed)
        payload = proposal_payload(self.sim.chain_id, b.height, p.round, b.hash, p.valid_round)
        if (
            b.chain_id != self.sim.chain_id
            or not self.verifier.verify(p.producer, payload, p.signature)
            or producer_for(self.keepers, ZERO_HASH, p.round) != p.producer
        ):
            return self._stutter(k, "a proposal its producer did not sign", changed)
        if p.round > MAX_ROUND:
            if changed:
                raise Cut(f"a proposal of round {p.round}")
            return None
        q = self.model_id[p.producer]
        if q == BYZ:
            return self._byzantine(k, p, changed)
        value = self.name(b.hash, honest_new=p.valid_round < 0)
        proof = self._proof(p)
        if proof is None:
            raise Cut(f"keeper {q}'s proposal with a proof that does not hold")
        record = (
            f"{{ round: {p.round}, value: {value}, validRound: {p.valid_round}, "
            f"proof: {_set(proof)} }}"
        )
        self._emit(
            f"simProposal({k}, ({q}, {record}))",
            f"deliverProposal({k}, {q}, r{p.round} v{value} vr{p.valid_round})",
            (k,),
        )
        return None

    def _byzantine(self, k: int, p: Proposal, changed: bool) -> None:
        value = self.name(p.block.hash)
        r, vr = p.round, p.valid_round
        if vr < 0 and p.proof:
            self._emit(f"byzantineForgery({k}, {r}, {value})", f"byzantineForgery({k}, {r})", (k,))
            return
        if vr < 0:
            self._emit(
                f"byzantinePropose({k}, {r}, {value}, -1)",
                f"byzantinePropose({k}, {r}, {value}, -1)",
                (k,),
            )
            return
        proof = self._proof(p)
        if proof is None:
            return self._stutter(k, "a re-proposal whose proof does not hold", changed)
        signers = {BYZ} | {q for q, rr, s, v in self.signed if (rr, s, v) == (vr, 1, value)}
        if proof != frozenset(signers):
            raise Cut("a Byzantine re-proposal whose proof is not every attestation signed")
        self._emit(
            f"byzantinePropose({k}, {r}, {value}, {vr})",
            f"byzantinePropose({k}, {r}, {value}, {vr})",
            (k,),
        )

    def _proof(self, p: Proposal) -> frozenset[int] | None:
        """The model ids of a re-proposal's proof, or None when it is not a quorum of valid,
        distinct attestations of its block at its valid round."""
        if p.valid_round < 0:
            return frozenset()
        voters: set[int] = set()
        for v in p.proof:
            payload = vote_payload(ATTEST, self.sim.chain_id, 0, p.valid_round, p.block.hash)
            if (
                type(v) is not Vote
                or (v.phase, v.height, v.round, v.block_hash)
                != (ATTEST, 0, p.valid_round, p.block.hash)
                or v.voter not in self.model_id
                or not self.verifier.verify(v.voter, payload, v.signature)
                or self.model_id[v.voter] in voters
            ):
                return None
            voters.add(self.model_id[v.voter])
        return frozenset(voters) if len(voters) >= 3 else None


class ProjectedSimulation(Simulation):
    """The simulator, its honest steps handed to a ``Projection``."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.projection = Projection(self)

    def _step(self, node: SimNode, event: Any) -> None:
        if not node.honest or self.projection.cut is not None:
            super()._step(node, event)
            return
        before, height = node.state.attester, node.chain.committed_height
        super()._step(node, event)
        self.projection.observe(node, event, before, height)

    def restart(self, node: SimNode) -> None:
        super().restart(node)
        if node.honest:
            self.projection.restarted(node)


@attrs.frozen
class ProjectedRun:
    seed: int
    behaviour: str
    steps: tuple[ModelStep, ...]
    cut: str | None
    decided: dict[int, int]
    counts: Counter[str]
    tag: str = ""
    """Told apart from runs of the same seed (another build of the code)."""


def project(seed: int, behaviour: str, loss: float = 0.05, ticks: int = 400) -> ProjectedRun:
    """One simulation of ``seed`` (a seed that ``fits``) with one Byzantine node taking
    ``behaviour``, projected until every honest keeper decided the first height, the run is
    cut, or ``ticks`` ticks passed. ``loss``: the share of messages the network drops (the
    higher, the more rounds a height takes)."""
    config = SimConfig(
        nodes=N, byzantine=1, seed=seed, faults=FAULTS, behaviours=(behaviour,), loss=loss
    )
    sim = ProjectedSimulation(config)
    projection = sim.projection
    for _ in range(ticks // 10):
        sim.run(10 * config.tick_ms)
        if projection.cut is not None or all(v != NIL for v in projection.decided.values()):
            break
    return ProjectedRun(
        seed=seed,
        behaviour=behaviour,
        steps=tuple(projection.steps),
        cut=projection.cut,
        decided=dict(projection.decided),
        counts=projection.counts,
    )


# --- the Quint module ------------------------------------------------------------------------

HEADER = """\
// Generated by tests/consensus_projection.py: runs of the cluster simulator, projected to the
// model's actions; each checks that the code's run is a behaviour of the model.
module simruns {{
  import consensus.* from "./consensus"

  // An honest keeper's vote or proposal delivered: it must be one the network holds.
  action simVote(dest: int, s: (int, int, int, int)): bool = all {{
    signatures.contains(s),
    deliverVote(dest, s),
  }}
  action simProposal(dest: int, sp: (int, Proposal)): bool = all {{
    proposalsSent.contains(sp),
    deliverProposal(dest, sp),
  }}

  pure def isView(
    k: Keeper, r: int, s: Set[(int, int, int)], lr: int, lv: int, vr: int, vv: int
  ): bool = and {{
    k.decision == NIL, k.round == r, k.signed == s,
    k.lockedRound == lr, k.lockedValue == lv, k.validRound == vr, k.validValue == vv,
  }}
"""


def _set(items: Any) -> str:
    return "Set(" + ", ".join(str(i) for i in sorted(items)) + ")"


def _expectation(k: int, view: KeeperView) -> str:
    if view["decision"] != NIL:
        return f"keepers.get({k}).decision == {view['decision']}"
    signed = _set(f"({r}, {s}, {v})" for r, s, v in view["signed"])
    return (
        f"isView(keepers.get({k}), {view['round']}, {signed}, {view['lockedRound']}, "
        f"{view['lockedValue']}, {view['validRound']}, {view['validValue']})"
    )


@attrs.frozen
class Located:
    """Where a generated line came from: a run and its step."""

    run: str
    step: int


CHUNK = 10
"""Steps per named part of a run: Quint's type checking of one long chain of ``then`` grows
faster than its length, so a run is a chain of parts, each extending the one before."""


def module(runs: list[ProjectedRun]) -> tuple[str, dict[int, Located]]:
    """The Quint module of ``runs`` (beside a copy of the model) and, per line number, the step
    the line checks: one line per step, its action and then its expectation."""
    lines = HEADER.format().splitlines()
    where: dict[int, Located] = {}
    for run in runs:
        name = run_name(run)
        part = ""
        for index, step in enumerate(run.steps):
            if index % CHUNK == 0:
                previous, part = part, f"part_{name}_{index // CHUNK}"
                lines.append(f"  run {part} =")
                lines.append(f"    {previous or 'init'}")
            expected = " and ".join(_expectation(k, v) for k, v in sorted(step.views.items()))
            if index == 0 or step.action is None:
                text = f"    .expect({expected})"
            else:
                text = f"    .then({step.action}).expect({expected})"
            lines.append(f"{text} // step {index}: {step.label}")
            where[len(lines)] = Located(name, index)
        lines.append(f"  run {name} = {part}")
        lines.append("")
    lines.append("}")
    return "\n".join(lines) + "\n", where


def run_name(run: ProjectedRun) -> str:
    return f"sim_{run.seed}_{run.behaviour}{run.tag}"


@attrs.frozen
class Failure:
    """A projected run Quint refused: at ``step``, the action (``disallowed``) or the views."""

    run: str
    step: int
    disallowed: bool
    projected: ModelStep
    message: str

    def __str__(self) -> str:
        views = "; ".join(f"keeper {k}: {v}" for k, v in sorted(self.projected.views.items()))
        if self.disallowed:
            what = "the model does not allow the action"
        else:
            what = "the model's keeper is not where the code's is"
        return f"{self.run}, step {self.step} ({self.projected.label}): {what}; the code: {views}"


_FAILED = re.compile(r"^\s+\d+\) (\S+):\n\s+Error \[(QNT\d+)\]: (.*?)\n", re.M)
_LINE = re.compile(r"^\s+(\d+): ", re.M)


def check(
    runs: list[ProjectedRun], quint: str, folder: Path, model: Path
) -> tuple[list[Failure], str]:
    """Run every projected run with ``quint test``; the failures, each at its step."""
    text, where = module(runs)
    (folder / "consensus.qnt").write_text(model.read_text())
    path = folder / "simruns.qnt"
    path.write_text(text)
    result = subprocess.run(
        [quint, "test", "--backend=typescript", "--main=simruns", "--match=^sim_", str(path)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=folder,
    )
    output = result.stdout + result.stderr
    by_name = {run_name(r): r for r in runs}
    failures: list[Failure] = []
    blocks = re.split(r"\n(?=\s+\d+\) \S+:\n)", output)
    for block in blocks:
        found = _FAILED.search("\n" + block if not block.startswith("\n") else block)
        if found is None:
            continue
        name, _, message = found.groups()
        numbers = [int(n) for n in _LINE.findall(block)]
        if not numbers or name not in by_name:
            continue
        located = where.get(max(numbers))
        if located is None:
            continue
        step = by_name[name].steps[located.step]
        failures.append(
            Failure(name, located.step, message.startswith("Cannot continue"), step, message)
        )
    if result.returncode != 0 and not failures:
        raise AssertionError(f"quint test failed without a located failure:\n{output[:4000]}")
    return failures, output
