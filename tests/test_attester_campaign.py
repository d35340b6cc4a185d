"""The attester campaign under pytest, and what its checks catch.

One attester under ``Conformant`` against scripted peers (spec/campaigns/attester.py): every row
of the attester's spec is reached, and every validation rule is broken alone from a valid input
and refused by that rule's own row. The deliberate breakages each of these catches are recorded
in docs/mutations-node.md.
"""

from __future__ import annotations

import attrs
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    AttesterConfig,
    ProposalReceived,
    VoteReceived,
)
from blockfsm.machine.core import Broadcast, Tick
from blockfsm.machine.view import InMemoryChain
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
from blockfsm.spec.node import ATTESTER_SPEC

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
            max_examples=5,
            stateful_step_count=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert [r.id for r in ATTESTER_SPEC.rows if not CAMPAIGN.stats.rows[r.id]] == []
    assert all(RULE_COUNTS[name] >= 5 for name in RULES), RULE_COUNTS


def _outsider_run(step: object) -> list[object]:
    """A node whose key is not in the validator set sees a valid proposal and a quorum of
    attestations and confirmations; returns the votes it broadcast."""
    config = AttesterConfig(
        chain_id=CHAIN, signer=OUTSIDER, validators=VALIDATORS, verifier=VERIFIER
    )
    runner = Conformant(attrs.evolve(ATTESTER, step=step), config)
    t = AttesterTest()
    t.config = config
    t.start(ATTESTER, config, att.initial(config))
    chain = InMemoryChain(CHAIN)
    t.chain = chain
    state = att.initial(config)
    sent: list[object] = []

    def feed(event: object) -> None:
        nonlocal state
        state, effects = runner.step(state, event, chain.snapshot())
        sent.extend(e.message for e in effects if type(e) is Broadcast)

    feed(Tick(now=0))
    p = t.proposal(0, b"block")
    feed(ProposalReceived(peer=p.producer, proposal=p))
    for phase in (ATTEST, 1):
        for s in SIGNERS[:3]:
            v = t.vote(s, phase, 0, 0, p.block.hash)
            feed(VoteReceived(peer=s.public_key, vote=v))
    assert state.height == 1, "the outsider still follows finality"
    return sent


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
