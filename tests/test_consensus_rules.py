"""The consensus findings, each as a directed scenario against one attester under its spec, and
the rules that close them (Tendermint's, docs/node.md):

| finding | rule |
|---|---|
- F1, a new block's proposal carrying forged confirmations finalizes it: a proposal with valid
  round -1 carries no proof (``bad_proof``).
- F2, a restarted keeper signs in a round below one it signed: the guard's last (round, step),
  checked before every signature (A-6); a restart resumes at that round.
- F3, a restarted producer signs a second proposal for its slot: the signed proposal is kept
  in the guard and sent again.
- F4, one producer's proposals fill the block store for good: one proposal kept per round,
  within r - 8 .. r + 8.
- One proposal of a later round moves a keeper: round skip only on f + 1 keepers (Tendermint
  line 55).
- Rounds and timeouts grow without bound: ``max_round_timeout``; rounds stop at ``MAX_ROUND``.

Each test also runs with the rule undone (monkeypatched back to the old code) where that is one
function, and shows the scenario then breaks the property: the test can fail.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from test_node_unit import (
    KEYS,
    SIGNERS,
    Keeper,
    block,
    config,
    not_producer,
    producer,
    propose,
    vote,
)

from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    MAX_ROUND,
    ROUND_WINDOW,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    rounds,
)
from blockfsm.machine.attester.state import _evolve
from blockfsm.machine.core import Broadcast, Rejected, Tick
from blockfsm.spec.conformance import ConformanceError, InvariantViolation


def forged(i: int, phase: int, b: Any, round_: int) -> Vote:
    """A vote "from" keeper i whose signature is not i's: what a Byzantine producer can put in
    a proof without i's key."""
    return attrs.evolve(vote(i, phase, b, round_), signature=bytes(64))


def finals(effects: tuple[Any, ...]) -> list[bytes]:
    return [e.block.hash for e in effects if type(e).__name__ == "Persist"]


# --- F1 -----------------------------------------------------------------------------------------


def test_f1_a_new_blocks_proposal_with_a_proof_is_refused_and_its_votes_never_count() -> None:
    b = block(b"forged")
    proof = tuple(forged(j, CONFIRM, b, 0) for j in range(4))
    p = propose(b, 0, proof=proof)
    k = Keeper(not_producer(0))
    k.feed(Tick(now=0))
    effects = k.feed(ProposalReceived(peer=p.producer, proposal=p))
    assert [e.reason for e in effects if type(e) is Rejected] == ["bad_proof"]
    assert finals(effects) == [] and k.state.votes == ()


def test_f1_undone_the_forged_confirmations_finalize_the_block() -> None:
    """With the old rule (only a re-proposal's proof is checked), the same proposal finalizes."""
    b = block(b"forged")
    proof = tuple(forged(j, CONFIRM, b, 0) for j in range(4))
    p = propose(b, 0, proof=proof)
    original = rounds.proposal_refusal

    def old_rule(config: Any, state: Any, p: Any, view: Any) -> str | None:
        return original(config, state, attrs.evolve(p, proof=()), view)

    k = Keeper(not_producer(0))
    k.feed(Tick(now=0))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rounds, "proposal_refusal", old_rule)
        # The spec refuses the proposal (bad_proof); the machine finalized it: a conformance
        # break, whose trace shows the step that finalized.
        with pytest.raises(ConformanceError, match="Persist, Commit"):
            k.feed(ProposalReceived(peer=p.producer, proposal=p))


# --- F2 -----------------------------------------------------------------------------------------


def _attested_in(k: Keeper, b: Any, round_: int, now: int) -> int:
    """Move ``k`` into ``round_`` as the f + 1 rule does (two other keepers' votes there, for
    another block, so nothing is signed on the way) and give it that round's proposal of ``b``."""
    others = [j for j in range(4) if KEYS[j] != KEYS[k.i]][:2]
    filler = block(b"filler")
    for j in others:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, filler, round_)))
    assert k.state.round == round_
    k.feed(ProposalReceived(peer=producer(round_).public_key, proposal=propose(b, round_)))
    return now


def _keeper_for(*rounds: int) -> int:
    return next(j for j in range(4) if all(producer(r).public_key != KEYS[j] for r in rounds))


def test_f2_a_restarted_keeper_resumes_at_the_last_round_it_signed() -> None:
    b7 = block(b"seven")
    i = next(
        j
        for j in range(4)
        if producer(7).public_key != KEYS[j] and producer(6).public_key != KEYS[j]
    )
    k = Keeper(i)
    k.feed(Tick(now=0))
    now = _attested_in(k, b7, 7, 0)
    assert [v.round for v in k.votes(ATTEST)] == [7]
    restarted = Keeper(i, guard=k.guard)
    restarted.feed(Tick(now=now + 1))
    assert restarted.state.round == 7
    # Round 6's proposal and an attestation quorum for it: nothing is signed below round 7.
    b6 = block(b"six")
    signed: list[Any] = []
    signed += restarted.feed(ProposalReceived(peer=producer(6).public_key, proposal=propose(b6, 6)))
    for j in range(4):
        if j != i:
            signed += restarted.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b6, 6)))
    own = [e.message for e in signed if type(e) is Broadcast and type(e.message) is Vote]
    assert [v for v in own if v.round < 7] == []


def test_f2_undone_a_keeper_back_at_round_0_signs_below_its_round_and_a6_says_so() -> None:
    """Without the guard's (round, step) rule and with a restart at round 0 (the old code), the
    restarted keeper attests and confirms round 6 after attesting round 7: A-6 fails."""
    b7, b6 = block(b"seven"), block(b"six")
    i = next(
        j
        for j in range(4)
        if producer(7).public_key != KEYS[j] and producer(6).public_key != KEYS[j]
    )
    k = Keeper(i)
    k.feed(Tick(now=0))
    now = _attested_in(k, b7, 7, 0)

    def old_may_sign(guard: Any, height: int, round_: int, phase: int) -> bool:
        return guard.height == height and not any(
            r == round_ and p == phase for r, p, _ in guard.signed
        )

    original_at_tip = rounds._at_tip

    def back_at_zero(state: Any, view: Any, now: int) -> Any:
        s = original_at_tip(state, view, now)
        return s if att.running(state) else _evolve(s, round=0)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(rounds, "may_sign", old_may_sign)
        m.setattr(rounds, "_at_tip", back_at_zero)
        restarted = Keeper(i, guard=k.guard)
        restarted.feed(Tick(now=now + 1))
        assert restarted.state.round == 0
        with pytest.raises(InvariantViolation, match="A-6"):
            _attested_in(restarted, b6, 6, now + 1)


# --- F3 -----------------------------------------------------------------------------------------


def test_f3_a_restarted_producer_sends_its_signed_proposal_again_and_signs_no_other() -> None:
    i = next(j for j in range(4) if producer(0).public_key == KEYS[j])
    k = Keeper(i)
    effects = k.feed(Tick(now=0))
    (first,) = [e.message for e in effects if type(e) is Broadcast and type(e.message) is Proposal]
    assert k.guard.proposal == first
    restarted = Keeper(i, guard=k.guard)
    effects = restarted.feed(Tick(now=5))
    again = [e.message for e in effects if type(e) is Broadcast and type(e.message) is Proposal]
    assert again == [first]


# --- F4 and round skip ----------------------------------------------------------------------------


def test_f4_a_producer_fills_at_most_one_slot_per_round_and_quorum_blocks_stay_in_hand() -> None:
    k = Keeper(not_producer(0))
    k.feed(Tick(now=0))
    for n in range(40):
        b = block(bytes([n]))
        r = n % (ROUND_WINDOW + 1)
        k.feed(ProposalReceived(peer=producer(r).public_key, proposal=propose(b, r)))
    rounds = [p.round for p in k.state.proposals]
    assert sorted(rounds) == list(range(ROUND_WINDOW + 1))  # one per round, the first
    assert len(att.held_blocks(k.state)) <= 2 * ROUND_WINDOW + 3


def test_one_proposal_of_a_later_round_does_not_move_a_keeper_f_plus_one_votes_do() -> None:
    i = not_producer(3)
    k = Keeper(i)
    k.feed(Tick(now=0))
    b = block(b"later")
    k.feed(ProposalReceived(peer=producer(3).public_key, proposal=propose(b, 3)))
    assert k.state.round == 0
    others = [j for j in range(4) if j != i]
    for j in others[:2]:  # f + 1 = 2 keepers of 4 in round 3
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 3)))
    assert k.state.round == 3
    assert [v.block_hash for v in k.votes(ATTEST) if v.voter == KEYS[i]] in ([b.hash], [])
    assert any(
        v.voter == KEYS[i] and v.round == 3 and v.block_hash == b.hash for v in k.state.votes
    ), "the proposal kept for round 3 is attested on entering it"


def test_f_plus_one_keepers_far_ahead_move_a_keeper_past_the_window() -> None:
    i = not_producer(0)
    k = Keeper(i)
    k.feed(Tick(now=0))
    far = ROUND_WINDOW * 5
    b = block(b"far")
    others = [j for j in range(4) if j != i]
    for j in others[:2]:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, far)))
    assert k.state.round == far


def test_timeouts_are_capped_and_rounds_stop_at_the_last_one() -> None:
    c = config(0)
    assert att.round_timeout(c, 10**6) == c.max_round_timeout
    k = Keeper(not_producer(MAX_ROUND))
    k.feed(Tick(now=0))
    k.state = _evolve(k.state, round=MAX_ROUND, round_started=0)
    k.feed(Tick(now=10 * c.max_round_timeout))
    assert k.state.round == MAX_ROUND
    assert att.view_of(0, MAX_ROUND) < att.view_of(1, 0)


def test_a_lone_keeper_attests_nil_at_its_timeouts_and_stays_in_its_round() -> None:
    """timeoutPropose (line 57): nil attestation; without a quorum of the others nothing more:
    the round ends only after a quorum confirmed in it (line 47), so a keeper cut off from the
    others does not run ahead of them (and, back in touch, is not left alone in a later round
    that the f + 1 rule cannot bring the others to)."""
    i = _keeper_for(0, 1)
    k = Keeper(i)
    k.feed(Tick(now=0))
    k.feed(Tick(now=config(i).round_timeout))
    (nil,) = k.votes(ATTEST)
    assert (nil.round, nil.block_hash) == (0, att.ZERO_HASH)
    for t in range(2, 200):
        k.feed(Tick(now=t * config(i).max_round_timeout))
    assert k.state.round == 0 and att.step_of(k.state) == att.ATTEST_STEP


def test_a_round_ends_after_a_quorum_confirmed_in_it() -> None:
    """Lines 44, 47 and 65: a quorum of nil attestations makes a keeper confirm nil; a quorum of
    confirmations schedules timeoutPrecommit, at whose end the next round starts."""
    from blockfsm.spec.strategies.attester import signed_nil_vote

    i = _keeper_for(0, 1)
    k = Keeper(i)
    k.feed(Tick(now=0))
    t = config(i).round_timeout
    k.feed(Tick(now=t))  # timeoutPropose: nil attestation
    others = [j for j in range(4) if j != i][:2]
    for j in others:
        nil = signed_nil_vote(SIGNERS[j], ATTEST, 7, 0, 0)
        k.feed(VoteReceived(peer=KEYS[j], vote=nil))
    (confirm,) = k.votes(CONFIRM)
    assert confirm.block_hash == att.ZERO_HASH and k.state.round == 0
    for j in others:
        nil = signed_nil_vote(SIGNERS[j], CONFIRM, 7, 0, 0)
        k.feed(VoteReceived(peer=KEYS[j], vote=nil))
    assert k.state.confirm_deadline > t and k.state.round == 0
    k.feed(Tick(now=k.state.confirm_deadline))
    assert k.state.round == 1
