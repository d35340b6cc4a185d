"""The attester campaign under pytest, and what its checks catch.

One attester under ``Conformant`` against scripted peers (spec/campaigns/attester.py): every row
of the attester's spec is reached, and every validation rule is broken alone from a valid input
and refused by that rule's own row. The deliberate breakages each of these catches are recorded
in docs/mutations-node.md.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    AttesterConfig,
    ProposalReceived,
    VoteReceived,
    rounds,
)
from blockfsm.machine.core import Broadcast, Tick
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.attester import SPEC as ATTESTER_SPEC
from blockfsm.spec.campaigns.attester import (
    ATTESTER,
    CAMPAIGN,
    CHAIN,
    OUTSIDER,
    RULE_COUNTS,
    RULES,
    SIGNERS,
    VALIDATORS,
    VERIFIER,
    AttesterTest,
)
from blockfsm.spec.conformance import Conformant, InvariantViolation

TestAttesterCampaign = AttesterTest.TestCase
TestAttesterCampaign.settings = settings(
    settings(), max_examples=40, stateful_step_count=30, deadline=None
)


def test_every_row_is_hit_and_every_rule_decides_alone_in_one_short_run() -> None:
    CAMPAIGN.stats.reset()
    RULE_COUNTS.clear()
    run_state_machine_as_test(
        AttesterTest,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    missing = [r for r in ATTESTER_SPEC.rows if not CAMPAIGN.stats.rows[r.id]]
    assert [(r.id, r.source, r.event, r.guard.name if r.guard else "") for r in missing] == []
    assert all(RULE_COUNTS[name] >= 5 for name in RULES), RULE_COUNTS


def _one_height(signer: object, step: object = att.step) -> tuple[object, list[Any]]:
    """The attester of ``signer`` (under its spec, stepping with ``step``) through one height:
    a tick, a valid proposal of round 0, then a quorum's attestations and confirmations.
    Returns its last state and, per step, (its control state after it, what it broadcast)."""
    config = AttesterConfig(chain_id=CHAIN, signer=signer, validators=VALIDATORS, verifier=VERIFIER)
    runner = Conformant(attrs.evolve(ATTESTER, step=step), config)
    t = AttesterTest()
    t.config = config
    t.start(ATTESTER, config, att.initial(config))
    chain = InMemoryChain(CHAIN)
    t.chain = chain
    state = att.initial(config)
    steps: list[Any] = []

    def feed(event: object) -> None:
        nonlocal state
        state, effects = runner.step(state, event, chain.snapshot())
        steps.append((state.control, [e.message for e in effects if type(e) is Broadcast]))

    feed(Tick(now=0))
    p = t.proposal(0, b"block")
    feed(ProposalReceived(peer=p.producer, proposal=p))
    for phase in (ATTEST, 1):
        for s in SIGNERS[:3]:
            v = t.vote(s, phase, 0, 0, p.block.hash)
            feed(VoteReceived(peer=s.public_key, vote=v))
    return state, steps


def _outsider_run(step: object) -> list[object]:
    """A node whose key is not in the validator set sees a valid proposal and a quorum of
    attestations and confirmations; returns the votes it broadcast."""
    state, steps = _one_height(OUTSIDER, step)
    assert state.height == 1, "the outsider still follows finality"  # type: ignore[attr-defined]
    return [m for _, sent in steps for m in sent]


def test_a_node_outside_the_validator_set_never_signs_a_vote() -> None:
    assert _outsider_run(att.step) == []


def test_a_non_validator_that_attests_is_caught_by_a4() -> None:
    """The old attester, which signed whatever its key: A-4 fails on its first vote."""

    def signs_anyway(config: AttesterConfig, state: object, event: object, view: object) -> object:
        object.__setattr__(config, "is_keeper", True)
        return att.step(config, state, event, view)  # type: ignore[arg-type]

    try:
        _outsider_run(signs_anyway)
    except InvariantViolation as violation:
        assert violation.invariant_id == "A-4"
    else:
        raise AssertionError("A-4 did not catch a non-validator's vote")


def test_a_control_state_that_is_not_the_step_is_caught_by_a7(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: an attester that reports every running step as propose. The first step after
    it attests breaks A-7 (the diagram's states would say nothing of the protocol)."""
    monkeypatch.setattr(rounds, "STEPS", (att.PROPOSING,) * 3)
    with pytest.raises(InvariantViolation) as caught:
        _validator_run()
    assert caught.value.invariant_id == "A-7"


def test_the_control_state_walks_the_paper_steps_through_a_height() -> None:
    """Propose, then attest on the proposal, confirm on an attestation quorum (its own and two
    more), and propose again at the next height once a confirmation quorum finalizes (a late
    confirmation of the finished height changes nothing)."""
    assert _validator_run() == [
        att.PROPOSING,
        att.ATTESTING,
        att.ATTESTING,
        att.CONFIRMING,
        att.CONFIRMING,
        att.CONFIRMING,
        att.PROPOSING,
        att.PROPOSING,
    ]


def _validator_run() -> list[str]:
    """Keeper 3 (not the producer of round 0) through one height; its control state after each
    step: the tick, the proposal, three attestations, three confirmations."""
    return [control for control, _ in _one_height(SIGNERS[3])[1]]
