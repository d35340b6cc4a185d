"""Bugs planted on purpose, shared by the tests that show a check catches them."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from blockfsm.machine import attester
from blockfsm.machine.attester import rounds
from blockfsm.machine.attester.state import _evolve

# Each patch is set on attester/rounds.py, the module that looks the patched name up when the
# attester steps (the package only re-exports names: a patch there would reach nothing).


def attester_forgets_its_attestations(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attester whose guard does not record its attestations (so it attests again in a round
    it attested in: the next proposal it keeps, or nil when the round's propose timeout ends)
    and that keeps the last proposal of a round instead of the first."""
    sign = rounds._sign_vote

    def forgetful(config: Any, state: Any, phase: int, block_hash: bytes) -> Any:
        vote, guard = sign(config, state, phase, block_hash)
        return vote, (state.guard if phase == attester.ATTEST else guard)

    def keeps_the_last(state: attester.AttesterState, p: attester.Proposal) -> Any:
        rest = tuple(q for q in state.proposals if q.round != p.round)
        return _evolve(state, proposals=(*rest, p))

    monkeypatch.setattr(rounds, "_sign_vote", forgetful)
    monkeypatch.setattr(rounds, "_keep_proposal", keeps_the_last)


# --- the consensus findings, their fixes undone (docs/mutations-node.md) ----------------------


def _old_may_sign(guard: Any, height: int, round_: int, phase: int) -> bool:
    """The old guard: only the same (round, phase) refused, nothing about lower rounds."""
    return bool(guard.height == height) and not any(
        r == round_ and p == phase for r, p, _ in guard.signed
    )


def _back_at_round_0(original: Any) -> Any:
    def at_tip(state: Any, view: Any, now: int) -> Any:
        s = original(state, view, now)
        return s if attester.running(state) else _evolve(s, round=0)

    return at_tip


def undone(m: pytest.MonkeyPatch, finding: str) -> None:
    """Put back the attester's rule as it was before ``finding``'s fix."""
    if finding == "F1":
        # The old attester held any 16 blocks of a height, not one proposal per round: without
        # that, the one-per-round rule alone keeps a forged second block out of hand.
        undone(m, "F4")
        refusal = rounds.proposal_refusal

        def proof_unchecked_for_new_blocks(c: Any, st: Any, p: Any, view: Any) -> str | None:
            if type(p) is attester.Proposal and p.valid_round < 0:
                return refusal(c, st, attrs.evolve(p, proof=()), view)
            return refusal(c, st, p, view)

        m.setattr(rounds, "proposal_refusal", proof_unchecked_for_new_blocks)
    elif finding == "F2":
        m.setattr(rounds, "may_sign", _old_may_sign)
        m.setattr(rounds, "_at_tip", _back_at_round_0(rounds._at_tip))
    elif finding == "F3":
        m.setattr(rounds, "may_sign", _old_may_sign)
        m.setattr(rounds, "_at_tip", _back_at_round_0(rounds._at_tip))
        m.setattr(rounds, "_record_proposal", lambda state, proposal, effects: state)
    elif finding == "F4":
        enter = rounds._enter_round

        def store_never_cleared(state: Any, p: Any) -> Any:
            # The old attester followed one proposal into its round, and held the first 16
            # blocks of a height whatever their rounds.
            if p.round > state.round:
                state = keeps_every_proposal(state, p.round)
            if any(q.block.hash == p.block.hash for q in state.proposals):
                return state
            if len(state.proposals) >= 2 * attester.ROUND_WINDOW:
                return state
            return _evolve(state, proposals=(*state.proposals, p))

        def keeps_every_proposal(state: Any, round_: int) -> Any:
            return _evolve(enter(state, round_), proposals=state.proposals)

        m.setattr(rounds, "_keep_proposal", store_never_cleared)
        m.setattr(rounds, "_enter_round", keeps_every_proposal)
    else:  # pragma: no cover
        raise ValueError(finding)


# --- a campaign with a planted failure, written to a module by the tests of the shared example
# database (tests/test_scale_redis.py, tests/test_fuzz.py) -------------------------------------

PLANTED_CAMPAIGN = '''
"""A campaign with a planted failure: a pushed value of 990,000 or more breaks P-1."""
from hypothesis import strategies as st
from hypothesis.stateful import rule

from blockfsm.spec.campaigns import Campaign, MachineTest
from blockfsm.spec.conformance import InvariantViolation, Stats
from blockfsm.spec.language import Invariant, MachineSpec, Row

SPEC = MachineSpec(
    name="planted",
    title="Planted",
    summary="a failure planted for the shared database's test",
    states=("S",),
    initial="S",
    events=("Push",),
    effects=(),
    rows=(Row(id="P1", source="S", event="Push", target="S", kind="ignore"),),
    invariants=(Invariant(id="P-1", statement="every pushed value is below 990000",
                          check=lambda t: True),),
)
STATS = Stats()


class PlantedTest(MachineTest):
    STATS = STATS

    @rule(x=st.integers(0, 1_000_000))
    def push(self, x):
        STATS.rows["P1"] += 1
        if x >= 990_000:
            raise InvariantViolation("planted", "P-1", "every pushed value is below 990000",
                                     [f"push {x}"])


CAMPAIGN = Campaign(spec=SPEC, test_class=PlantedTest, stats=STATS)
'''
