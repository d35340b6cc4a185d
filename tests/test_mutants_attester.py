"""Tests that kill the mutants mutation testing found alive in machine/attester.py.

Each names what it pins; docs/mutation-testing.md lists every survivor and why it is killed or
equivalent. The attester is stepped one event at a time under its spec (``Conformant`` with
``blockfsm.spec.attester.SPEC``), over an in-memory chain, with four equal stand-in keepers.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    ROUND_WINDOW,
    ROUNDS_PER_HEIGHT,
    AttesterConfig,
    Guard,
    PersistGuard,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    producer_for,
)
from blockfsm.machine.attester.state import _evolve
from blockfsm.machine.core import MAX_PERIOD_MS, Broadcast, ConfigError, Rejected, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
    ValidatorSet,
    certificate_is_valid,
    certify,
)
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.attester import SPEC as ATTESTER_SPEC
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import NODE
from blockfsm.spec.strategies.attester import signed_nil_vote, signed_proposal, signed_vote

CHAIN = 11
SIGNERS = [StandInSigner.from_seed(500 + i) for i in range(4)]
KEYS = [s.public_key for s in SIGNERS]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of(SIGNERS)
BY_KEY = {s.public_key: s for s in SIGNERS}


def make(**fields: Any) -> AttesterConfig:
    base: dict[str, Any] = {
        "chain_id": CHAIN,
        "signer": SIGNERS[0],
        "validators": VALIDATORS,
        "verifier": VERIFIER,
    }
    return AttesterConfig(**{**base, **fields})


# --- config ----------------------------------------------------------------------------------

BOUNDS = [
    ("chain_id", "chain_id", 0, MAX_U64),
    ("round_timeout", "round_timeout (ms)", 1, MAX_PERIOD_MS),
    ("max_round_timeout", "max_round_timeout (ms)", 1, MAX_PERIOD_MS),
    ("round_timeout_increment", "round_timeout_increment (ms)", 0, MAX_PERIOD_MS),
]


@pytest.mark.parametrize(("field", "label", "low", "high"), BOUNDS)
def test_config_bounds_are_exact_and_name_the_field(
    field: str, label: str, low: int, high: int
) -> None:
    cap = {"max_round_timeout": MAX_PERIOD_MS}  # so round_timeout may reach its own bound
    if field == "max_round_timeout":
        cap = {"round_timeout": 1}
    make(**{**cap, field: low})
    make(**{**cap, field: high})
    for bad in (low - 1, high + 1):
        message = f"{label} must be an integer in [{low}, {high}], got {bad!r}"
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
            make(**{**cap, field: bad})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"signer": object()}, "signer must have a 32-byte public_key and a sign(bytes) method"),
        ({"validators": ValidatorSet.equal([])}, "validators must be a non-empty ValidatorSet"),
        ({"validators": KEYS}, "validators must be a non-empty ValidatorSet"),
        ({"verifier": object()}, "verifier needs verify()"),
        ({"new_blocks": 1}, "new_blocks must be a bool"),
    ],
)
def test_config_refusals_carry_their_whole_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make(**fields)


def test_config_defaults_keepers_and_membership() -> None:
    c = make()
    assert (c.round_timeout, c.round_timeout_increment, c.new_blocks) == (1_000, 500, True)
    assert c.keepers == tuple(k for k, _ in VALIDATORS.members)
    assert c.is_keeper
    outsider = StandInSigner.from_seed(999)
    assert not make(signer=outsider).is_keeper
    assert make(validators=ValidatorSet.equal(KEYS[:1])).keepers == (KEYS[0],)
    assert make(new_blocks=False).new_blocks is False


# --- a keeper under its spec -----------------------------------------------------------------


def config(i: int, **fields: Any) -> AttesterConfig:
    return make(signer=SIGNERS[i], **fields)


def producer(round_: int, parent: bytes = ZERO_HASH) -> StandInSigner:
    key = producer_for(tuple(KEYS), parent, round_)
    assert key is not None
    return BY_KEY[key]


def not_producer(round_: int, parent: bytes = ZERO_HASH) -> int:
    return next(i for i in range(4) if KEYS[i] != producer(round_, parent).public_key)


def block(
    payload: bytes = b"x", height: int = 0, parent: bytes = ZERO_HASH, justify: Any = None
) -> Block:
    return Block.make(
        chain_id=CHAIN,
        height=height,
        parent_hash=parent,
        justify=justify if justify is not None else Certificate.genesis(CHAIN),
        payload=payload,
    )


def propose(b: Block, round_: int, valid_round: int = -1, proof: tuple[Vote, ...] = ()) -> Proposal:
    return signed_proposal(producer(round_, b.parent_hash), CHAIN, b, round_, valid_round, proof)


def vote(i: int, phase: int, b: Block, round_: int) -> Vote:
    return signed_vote(SIGNERS[i], phase, CHAIN, b, round_)


class Keeper:
    """One attester under its spec, over an in-memory chain."""

    def __init__(self, i: int, guard: Any = None, **fields: Any) -> None:
        self.i = i
        self.config = config(i, **fields)
        self.chain = InMemoryChain(CHAIN)
        self.runner = Conformant(
            attrs.evolve(NODE, name="attester", spec=ATTESTER_SPEC, step=att.step),
            self.config,
        )
        self.state = att.initial(self.config, guard)
        self.effects: tuple[Any, ...] = ()

    def feed(self, event: Any) -> tuple[Any, ...]:
        """Step, then apply what the attester asks of the store, as the node does."""
        self.state, self.effects = self.runner.step(self.state, event, self.chain.snapshot())
        for e in self.effects:
            if type(e) is Persist:
                self.chain.persist(e.block)
            elif type(e) is Commit:
                self.chain.commit(e.height)
            elif type(e) is UpdateHighestCertificate:
                self.chain.set_highest_certificate(e.certificate)
            elif type(e) is PersistGuard:
                self.guard = e.guard
        return self.effects

    def names(self) -> list[str]:
        return [type(e).__name__ for e in self.effects]

    def votes(self, phase: int) -> list[Vote]:
        return [
            e.message
            for e in self.effects
            if type(e) is Broadcast and type(e.message) is Vote and e.message.phase == phase
        ]

    def proposals(self) -> list[Proposal]:
        return [
            e.message for e in self.effects if type(e) is Broadcast and type(e.message) is Proposal
        ]

    def rejected(self) -> list[str]:
        return [e.reason for e in self.effects if type(e) is Rejected]


def running(i: int, now: int = 0, **fields: Any) -> Keeper:
    k = Keeper(i, **fields)
    k.feed(Tick(now=now))
    return k


def others(i: int) -> list[int]:
    return [j for j in range(4) if j != i]


def finalized_at(now: int) -> Keeper:
    """A keeper that attested, confirmed and finalized block ``x`` at height 0, all at ``now``."""
    b = block()
    i = not_producer(0)
    k = running(i, now)
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(b, 0)))
    for j in others(i)[:2]:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    assert [v.block_hash for v in k.votes(CONFIRM)] == [b.hash]
    for j in others(i)[:2]:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, b, 0)))
    assert k.names()[:3] == ["Persist", "Commit", "UpdateHighestCertificate"]
    return k


# --- finality --------------------------------------------------------------------------------


def test_a_finalized_height_hands_over_at_round_0_with_the_clock_and_a_fresh_guard() -> None:
    """_finalize mutants 34, 44, 47, 48: the next height's guard, clock and round start."""
    k = finalized_at(5_000)
    assert [e.guard for e in k.effects if type(e) is PersistGuard] == [Guard(height=1)]
    assert k.state.guard == Guard(height=1)
    assert (k.state.height, k.state.round, k.state.now, k.state.round_started) == (
        1,
        0,
        5_000,
        5_000,
    )
    # The clock is kept: an earlier Tick is a regression.
    assert k.feed(Tick(now=4_999)) == (Rejected(reason="clock_regressed"),)
    # The round started at the finality: one ms later it has not timed out.
    k.feed(Tick(now=5_001))
    assert (k.state.height, k.state.round) == (1, 0)
    k.feed(Tick(now=5_000 + 999))
    assert all(v.block_hash != ZERO_HASH for v in k.votes(ATTEST))


# --- votes -----------------------------------------------------------------------------------


def test_a_refused_vote_names_the_peer_it_came_from() -> None:
    """_on_vote mutants 13, 15, 56, 58: a refusal blames its sender."""
    k = running(0)
    b = block()
    stranger = attrs.evolve(vote(1, ATTEST, b, 0), voter=b"\x09" * 32)
    assert k.feed(VoteReceived(peer=KEYS[2], vote=stranger)) == (
        Rejected(reason="not_a_keeper", peer=KEYS[2]),
    )
    forged = attrs.evolve(vote(1, ATTEST, b, 0), signature=bytes(64))
    assert k.feed(VoteReceived(peer=KEYS[3], vote=forged)) == (
        Rejected(reason="bad_signature", peer=KEYS[3]),
    )


def test_a_vote_at_the_highest_height_is_well_formed() -> None:
    """vote_refusal mutant 31: a height of MAX_U64 is in range; a vote for another height is set
    aside, not refused."""
    k = running(0)
    before = k.state
    v = attrs.evolve(vote(1, ATTEST, block(), 0), height=MAX_U64, signature=bytes(64))
    assert k.feed(VoteReceived(peer=KEYS[1], vote=v)) == ()
    assert k.state == before


def test_votes_at_the_far_end_of_the_round_window_count() -> None:
    """_on_vote mutant 23: votes for round r + ROUND_WINDOW are counted; one round further
    one per keeper is kept aside (its highest) for the f + 1 rule, which moves us there."""
    b = block()
    k = running(0)
    k.feed(VoteReceived(peer=KEYS[1], vote=vote(1, ATTEST, b, ROUND_WINDOW + 1)))
    assert k.state.round == 0 and k.state.votes == ()
    assert [v.round for v in k.state.ahead] == [ROUND_WINDOW + 1]
    k.feed(VoteReceived(peer=KEYS[2], vote=vote(2, ATTEST, b, ROUND_WINDOW)))
    assert k.state.round == ROUND_WINDOW


def test_a_round_entered_by_f_plus_1_votes_keeps_their_attestations() -> None:
    """_enter_round mutants 4, 5: the attestations of the round we enter are kept, so the
    proposal that follows completes a quorum with them."""
    b = block()
    i = not_producer(1)
    k = running(i)
    for x in others(i)[:2]:
        k.feed(VoteReceived(peer=KEYS[x], vote=vote(x, ATTEST, b, 1)))
    assert k.state.round == 1
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(b, 1)))
    assert [v.block_hash for v in k.votes(ATTEST)] == [b.hash]
    assert [(v.round, v.block_hash) for v in k.votes(CONFIRM)] == [(1, b.hash)]


def test_confirmations_of_an_earlier_round_survive_a_round_change() -> None:
    """_enter_round mutant 6: a quorum of confirmations finalizes in any round of the height,
    so the confirmations of a round we left still count."""
    b = block()
    i = not_producer(0)
    k = running(i)
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(b, 0)))
    first, second, third = others(i)
    for x in (first, second):
        k.feed(VoteReceived(peer=KEYS[x], vote=vote(x, CONFIRM, b, 0)))
    _to_next_round(k)
    assert (k.state.height, k.state.round) == (0, 1)
    k.feed(VoteReceived(peer=KEYS[third], vote=vote(third, CONFIRM, b, 0)))
    assert k.names()[:3] == ["Persist", "Commit", "UpdateHighestCertificate"]
    assert k.state.height == 1


def test_attestations_of_a_round_left_behind_are_dropped() -> None:
    """_enter_round mutant 14: the state keeps no attestation of an earlier round (votes are
    bounded by the round window), while confirmations stay."""
    b = block()
    i = not_producer(0)
    k = running(i)
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(b, 0)))
    j = others(i)[0]
    k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, b, 0)))
    assert len(k.state.votes) == 3
    _to_next_round(k)
    assert k.state.round == 1
    assert [(v.phase, v.round) for v in k.state.votes if v.round == 0] == [(CONFIRM, 0)]


# --- helpers ---------------------------------------------------------------------------------


def test_evolve_is_attrs_evolve_for_every_field() -> None:
    """_evolve mutants 25, 29, 30, 37, 41, 42: the step path's copy changes exactly the fields
    it is given, including the two the step path never passes (control, height)."""
    s = att.initial(config(0))
    changes: dict[str, Any] = {
        "control": "Running",
        "now": 5,
        "height": 3,
        "round": 2,
        "round_started": 4,
        "guard": Guard(height=3),
        "valid_round": 1,
        "valid_block": block(),
        "valid_proof": (vote(1, ATTEST, block(), 1),),
        "proposals": (propose(block(), 1),),
        "proposed_in": (1,),
        "votes": (vote(2, ATTEST, block(), 2),),
        "ahead": (vote(3, ATTEST, block(), 40),),
    }
    for name, value in changes.items():
        assert _evolve(s, **{name: value}) == attrs.evolve(s, **{name: value}), name
    assert _evolve(s, **changes) == attrs.evolve(s, **changes)
    assert _evolve(s) == s


def test_a_justify_for_another_block_at_the_tip_s_height_is_refused() -> None:
    """justifies_tip mutant 6: a quorum-signed certificate of the right height for a block
    that is not the tip does not justify a proposal on the tip."""
    k = finalized_at(0)
    tip = k.chain.block_at(0)
    assert tip is not None
    rival = block(b"rival")
    forged = certify(chain_id=CHAIN, view=att.view_of(0, 3), block=rival, signers=SIGNERS[:3])
    assert certificate_is_valid(forged, CHAIN, VALIDATORS, VERIFIER)
    b = block(b"next", height=1, parent=tip.hash, justify=forged)
    p = propose(b, 0)
    assert k.feed(ProposalReceived(peer=KEYS[1], proposal=p)) == (
        Rejected(reason="unknown_parent", peer=KEYS[1]),
    )
    assert not att.justifies_tip(k.config, forged, 1, tip.hash)
    assert att.justifies_tip(k.config, k.chain.highest_certificate, 1, tip.hash)


# --- proposals -------------------------------------------------------------------------------


def test_proposal_rounds_and_valid_rounds_are_bounded_exactly() -> None:
    """proposal_refusal mutants 46, 48: a round of ROUNDS_PER_HEIGHT and a valid round below -1
    are malformed, even when signed by the right producer; the last round is well formed (and
    set aside, being past the round window)."""
    k = running(not_producer(0))
    last = propose(block(), ROUNDS_PER_HEIGHT - 1)
    assert k.feed(ProposalReceived(peer=KEYS[1], proposal=last)) == ()
    past = propose(block(), ROUNDS_PER_HEIGHT)
    assert k.feed(ProposalReceived(peer=KEYS[1], proposal=past)) == (
        Rejected(reason="malformed_proposal", peer=KEYS[1]),
    )
    before = propose(block(), 0, valid_round=-2)
    assert k.feed(ProposalReceived(peer=KEYS[1], proposal=before)) == (
        Rejected(reason="malformed_proposal", peer=KEYS[1]),
    )
    assert k.votes(ATTEST) == []


def test_a_refused_proposal_names_the_peer_it_came_from() -> None:
    """_on_proposal mutants 33, 35."""
    k = running(not_producer(0))
    forged = attrs.evolve(propose(block(), 0), signature=bytes(64))
    assert k.feed(ProposalReceived(peer=KEYS[2], proposal=forged)) == (
        Rejected(reason="bad_signature", peer=KEYS[2]),
    )


def test_a_proposal_at_the_far_end_of_the_round_window_is_kept_not_followed() -> None:
    """_on_proposal mutant 36: a proposal for round r + ROUND_WINDOW is kept for its round (one
    proposal never moves a keeper); one round further it is set aside."""
    b = block()
    i = not_producer(ROUND_WINDOW)
    k = running(i)
    assert k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, ROUND_WINDOW + 1))) == ()
    assert k.state.round == 0 and k.state.proposals == ()
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, ROUND_WINDOW)))
    assert k.state.round == 0
    assert [p.round for p in k.state.proposals] == [ROUND_WINDOW]


def test_a_block_proposed_again_is_held_once() -> None:
    """_accept_proposal mutants 2, 4: a block already in hand is not stored again, so repeated
    proposals of it do not fill the store of blocks, and a block proposed after them can still be
    finalized."""
    b, other = block(), block(b"other")
    i = next(x for x in range(4) if KEYS[x] not in {producer(0).public_key, producer(1).public_key})
    k = running(i)
    p = propose(b, 0)
    for _ in range(2 * ROUND_WINDOW):
        k.feed(ProposalReceived(peer=KEYS[1], proposal=p))
    assert [x.hash for x in att.held_blocks(k.state)] == [b.hash]
    _to_next_round(k, ATTEST)  # their confirmations of round 1 are still to come
    assert k.state.round == 1
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(other, 1)))
    assert [x.hash for x in att.held_blocks(k.state)] == [b.hash, other.hash]
    for j in others(i):
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, other, 1)))
        if k.state.height == 1:
            break
    assert k.chain.block_at(0) == other


def test_one_proposal_is_kept_per_round_the_first() -> None:
    """A producer that signs many blocks for its round fills one slot, with the first."""
    k = running(not_producer(0))
    blocks = [block(bytes([n])) for n in range(2 * ROUND_WINDOW + 4)]
    for b in blocks:
        k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, 0)))
    assert [x.hash for x in att.held_blocks(k.state)] == [blocks[0].hash]


def _locked_on(b: Block, round_: int, i: int) -> Keeper:
    """Keeper ``i``, locked on ``b`` in ``round_`` (it attested and confirmed it there)."""
    k = running(i)
    while k.state.round < round_:
        _to_next_round(k)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, round_)))
    for j in others(i)[:2]:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, round_)))
    assert [v.block_hash for v in k.votes(CONFIRM)] == [b.hash]
    assert (k.state.guard.locked_round, k.state.guard.locked_hash) == (round_, b.hash)
    return k


def _to_next_round(k: Keeper, phase: int = CONFIRM) -> int:
    """Round r + 1 by the f + 1 rule: nil confirmations of two other keepers there (a keeper
    leaves a round by itself only after a quorum confirmed in it; confirmations, so that their
    attestations of the round are still to come)."""
    r = k.state.round
    for j in others(k.i)[:2]:
        nil = signed_nil_vote(SIGNERS[j], phase, CHAIN, k.state.height, r + 1)
        k.feed(VoteReceived(peer=KEYS[j], vote=nil))
    assert k.state.round == r + 1
    return r + 1


def _keeper_producing_none_of(rounds: range) -> int:
    producers = {producer(r).public_key for r in rounds}
    return next(x for x in range(4) if KEYS[x] not in producers)


def test_a_keeper_locked_on_a_block_attests_it_again_without_a_proof() -> None:
    """_accept_proposal mutant 35: "locked on this very block" allows the attestation whatever
    the proposal's valid round."""
    b = block()
    k = _locked_on(b, 0, _keeper_producing_none_of(range(2)))
    r = _to_next_round(k)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, r)))
    assert [(v.round, v.block_hash) for v in k.votes(ATTEST)] == [(r, b.hash)]


def test_a_proof_from_a_round_before_the_lock_does_not_unlock() -> None:
    """_accept_proposal mutant 40: a locked keeper refuses another block whose proof is older
    than its lock."""
    b, other = block(), block(b"other")
    k = _locked_on(b, 1, _keeper_producing_none_of(range(3)))
    r = _to_next_round(k)
    proof = tuple(vote(j, ATTEST, other, 0) for j in range(3))
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(other, r, valid_round=0, proof=proof)))
    assert [v.block_hash for v in k.votes(ATTEST)] == [ZERO_HASH]  # refused: nil (line 32)
    assert k.state.guard.locked_hash == b.hash


def test_a_proof_from_the_lock_s_own_round_unlocks() -> None:
    """_accept_proposal mutants 41, 42, 43: a proof of a quorum in a round >= the lock round
    (here equal to it, and round 0) allows another block."""
    b, other = block(), block(b"other")
    k = _locked_on(b, 0, _keeper_producing_none_of(range(2)))
    r = _to_next_round(k)
    proof = tuple(vote(j, ATTEST, other, 0) for j in range(3))
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(other, r, valid_round=0, proof=proof)))
    assert [(v.round, v.block_hash) for v in k.votes(ATTEST)] == [(r, other.hash)]


# --- the clock -------------------------------------------------------------------------------


def test_the_last_millisecond_of_the_clock_is_a_valid_tick() -> None:
    """step mutant 12: a Tick at MAX_U64 is taken; a regression is refused."""
    k = running(not_producer(0), now=MAX_U64 - 1)
    k.feed(Tick(now=MAX_U64))
    assert k.rejected() == [] and k.state.now == MAX_U64
    assert k.feed(Tick(now=MAX_U64 - 1)) == (Rejected(reason="clock_regressed"),)


def test_an_unknown_event_is_named_in_the_error() -> None:
    """step mutant 53."""
    k = running(0)
    with pytest.raises(TypeError, match=r"^attester does not take object$"):
        att.step(k.config, k.state, object(), k.chain.snapshot())


# --- catch-up and restart --------------------------------------------------------------------


def test_a_keeper_that_block_sync_moved_past_its_height_starts_a_fresh_guard_there() -> None:
    """_at_tip mutant 17: the guard of the height the view moved to names that height, so what
    the keeper signs there survives a crash."""
    i = not_producer(0, block().hash)
    k = running(i)
    b = block()
    k.chain.persist(b)
    k.chain.commit(0)
    k.chain.set_highest_certificate(
        certify(chain_id=CHAIN, view=att.view_of(0, 0), block=b, signers=SIGNERS[:3])
    )
    k.feed(Tick(now=1))
    assert (k.state.height, k.state.guard) == (1, Guard(height=1))
    nxt = block(b"next", height=1, parent=b.hash, justify=k.chain.highest_certificate)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(nxt, 0)))
    assert [v.block_hash for v in k.votes(ATTEST)] == [nxt.hash]
    assert k.guard.height == 1 and k.guard.signed == ((0, ATTEST, nxt.hash),)
    restarted = Keeper(i, guard=k.guard)
    restarted.chain = k.chain
    restarted.runner = k.runner
    restarted.feed(Tick(now=2))
    restarted.feed(ProposalReceived(peer=KEYS[1], proposal=propose(nxt, 0)))
    assert restarted.votes(ATTEST) == []


def _restarted_locked(i: int) -> tuple[Keeper, Block, tuple[Vote, ...]]:
    """Keeper ``i`` locked on a block in round 0, crashed and restarted from its guard."""
    b = block()
    k = _locked_on(b, 0, i)
    proof = tuple(v for v in k.state.votes if v.phase == ATTEST and v.block_hash == b.hash)
    assert len(proof) == 3 and k.guard.locked_proof == k.state.valid_proof
    restarted = Keeper(i, guard=k.guard)
    restarted.runner = k.runner  # one checker across the crash
    restarted.feed(Tick(now=k.state.now))
    return restarted, b, k.state.valid_proof


def test_a_restarted_keeper_holds_its_locked_block_as_its_valid_block() -> None:
    """_at_tip mutants 18, 26, 27, 35, 36, 37, 38, 40, 42: the locked block, its round and
    proof come back from the guard as the valid block, and the block is in hand."""
    i = not_producer(0)
    k, b, proof = _restarted_locked(i)
    s = k.state
    assert (s.valid_round, s.valid_block, s.valid_proof, att.held_blocks(s)) == (0, b, proof, (b,))
    # In hand: a quorum of the others' confirmations finalizes it.
    for j in others(i):
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, b, 0)))
    assert k.state.height == 1 and k.chain.block_at(0) == b


def test_a_restarted_locked_keeper_reproposes_its_locked_block_with_its_proof() -> None:
    """_at_tip mutants 18, 26, 27, 35 to 37, 40, 42: in a round it produces, the restarted
    keeper proposes its locked block, with the lock's round as valid round and its proof."""
    i = not_producer(0)
    k, b, proof = _restarted_locked(i)
    proposals: list[Proposal] = []
    while not proposals:
        _to_next_round(k)
        proposals = k.proposals()
    (p,) = proposals
    assert producer(p.round).public_key == KEYS[i]
    assert (p.block, p.valid_round, p.proof) == (b, 0, proof)


@pytest.mark.parametrize(("timeout", "increment"), [(1_000, 500), (300, 70)])
def test_round_r_lasts_the_round_timeout_plus_r_increments_exactly(
    timeout: int, increment: int
) -> None:
    """_settle mutants 8, 10: round r's propose timeout ends exactly round_timeout + r * increment
    ms after it started, not a millisecond sooner (the keeper then attests nil)."""
    i = _keeper_producing_none_of(range(3))
    for r in range(3):
        k = running(i, round_timeout=timeout, round_timeout_increment=increment)
        while k.state.round < r:
            _to_next_round(k)
        start = k.state.round_started
        length = timeout + r * increment
        k.feed(Tick(now=start + length - 1))
        assert att.step_of(k.state) == att.PROPOSE_STEP
        k.feed(Tick(now=start + length))
        assert att.step_of(k.state) != att.PROPOSE_STEP
        assert [v.block_hash for v in k.votes(ATTEST)] == [ZERO_HASH]


# --- round sync and the vote tallies ---------------------------------------------------------


def test_one_keeper_ahead_does_not_move_the_round_and_a_second_does() -> None:
    """_round_with_f1 mutant 15: votes of power > f (f = 1 of 4) for a later round move us
    there; one keeper alone does not."""
    b = block()
    k = running(0)
    k.feed(VoteReceived(peer=KEYS[1], vote=vote(1, ATTEST, b, 3)))
    assert k.state.round == 0
    k.feed(VoteReceived(peer=KEYS[2], vote=vote(2, ATTEST, b, 3)))
    assert k.state.round == 3


def test_f_plus_1_keepers_move_us_to_the_highest_round_they_reached() -> None:
    """_round_with_f1 mutants 8, 10: when one vote makes f + 1 keepers reach two later rounds
    at once, we move to the higher one."""
    b = block()
    k = running(0)
    k.feed(VoteReceived(peer=KEYS[1], vote=vote(1, ATTEST, b, 3)))
    k.feed(VoteReceived(peer=KEYS[1], vote=vote(1, ATTEST, b, 4)))
    assert k.state.round == 0
    k.feed(VoteReceived(peer=KEYS[2], vote=vote(2, ATTEST, b, 4)))
    assert k.state.round == 4


def test_a_stray_attestation_in_a_later_round_does_not_hide_a_quorum() -> None:
    """_advance mutant 37: the tally goes on past a (round, block) short of a quorum."""
    b, c = block(), block(b"c")
    i = not_producer(0)
    k = running(i)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, 0)))
    first, second, third = others(i)
    k.feed(VoteReceived(peer=KEYS[first], vote=vote(first, ATTEST, c, 1)))
    assert k.state.round == 0
    for j in (second, third):
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    assert [(v.round, v.block_hash) for v in k.votes(CONFIRM)] == [(0, b.hash)]


def test_a_quorum_for_a_block_not_in_hand_does_not_hide_an_older_one_in_hand() -> None:
    """_advance mutant 44: a quorum for a block we never received is passed over, and an older
    quorum for a block we hold still makes it our valid block."""
    b, c = block(), block(b"c")
    i = _keeper_producing_none_of(range(2))
    k = running(i)
    r = _to_next_round(k)
    for j in others(i):
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, c, r)))
    assert k.state.valid_block is None
    proof = tuple(vote(j, ATTEST, b, 0) for j in others(i))
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, r, valid_round=0, proof=proof)))
    assert (k.state.valid_round, k.state.valid_block) == (0, b)
    assert set(k.state.valid_proof) == set(proof)


def test_the_valid_block_s_proof_is_the_first_quorum_of_its_attestations() -> None:
    """_advance mutants 45, 48: the proof is the attestations of the valid round for the valid
    block as first seen in quorum: no confirmation in it, not rewritten by a later attestation."""
    b = block()
    i = not_producer(0)
    k = running(i)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(b, 0)))
    first, second, third = others(i)
    k.feed(VoteReceived(peer=KEYS[first], vote=vote(first, CONFIRM, b, 0)))
    k.feed(VoteReceived(peer=KEYS[second], vote=vote(second, ATTEST, b, 0)))
    assert k.state.valid_block is None
    k.feed(VoteReceived(peer=KEYS[third], vote=vote(third, ATTEST, b, 0)))
    proof = k.state.valid_proof
    assert {(v.phase, v.round, v.block_hash) for v in proof} == {(ATTEST, 0, b.hash)}
    assert {v.voter for v in proof} == {KEYS[i], KEYS[second], KEYS[third]}
    assert k.state.guard.locked_proof == proof
    k.feed(VoteReceived(peer=KEYS[first], vote=vote(first, ATTEST, b, 0)))
    assert k.state.valid_proof == proof


def test_the_lock_is_persisted_for_its_own_height() -> None:
    """_advance mutants 83, 89: the guard written with the lock names the height it locks, at
    height 0 and above."""
    k = _locked_on(block(), 0, not_producer(0))
    assert k.guard.height == 0 and k.guard.locked_round == 0
    # At height 1, reached by block sync.
    b = block()
    i = not_producer(0, b.hash)
    k = running(i)
    k.chain.persist(b)
    k.chain.commit(0)
    k.chain.set_highest_certificate(
        certify(chain_id=CHAIN, view=att.view_of(0, 0), block=b, signers=SIGNERS[:3])
    )
    k.feed(Tick(now=1))
    nxt = block(b"next", height=1, parent=b.hash, justify=k.chain.highest_certificate)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(nxt, 0)))
    for j in others(i)[:2]:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, nxt, 0)))
    assert [v.block_hash for v in k.votes(CONFIRM)] == [nxt.hash]
    assert (k.guard.height, k.guard.locked_round, k.guard.locked_block) == (1, 0, nxt)


# --- a regression: a restarted keeper confirming below its lock ------------------------------


@pytest.mark.parametrize("old_round", [0, 1])
def test_a_restarted_keeper_never_confirms_in_a_round_below_its_lock(old_round: int) -> None:
    """A keeper locked on B at round 2 crashes; restarted, it is back at round 0. Old messages
    of an earlier round (a proposal of X and a quorum of attestations for X, replayed by a
    Byzantine keeper or just late) must not make it confirm X there: its confirmation for B at
    round 2 may already be part of B's finality certificate, and with this one X could gather a
    quorum of confirmations in the earlier round too (one honest keeper confirming both is all
    the two quorums need to meet in). Found while classifying the ``_advance`` mutants of
    ``locked_proof``: a lock whose round is not the valid round happens only after such a
    restart. Now a restarted keeper resumes at its last signed round (2) and its guard refuses
    any signature below it, so the old messages are not even in its window of attestations."""
    b, x = block(b"B"), block(b"X")
    i = _keeper_producing_none_of(range(3))
    locked = _locked_on(b, 2, i)
    k = Keeper(i, guard=locked.guard)
    k.runner = locked.runner
    k.feed(Tick(now=locked.state.now))
    assert (k.state.round, k.state.guard.locked_round, k.state.guard.locked_hash) == (2, 2, b.hash)
    k.feed(ProposalReceived(peer=KEYS[1], proposal=propose(x, old_round)))
    assert k.state.round == 2
    assert k.votes(ATTEST) == []
    confirms: list[Vote] = []
    for j in others(i):
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, x, old_round)))
        confirms += k.votes(CONFIRM)
    assert confirms == []
    assert (k.state.guard.locked_round, k.state.guard.locked_hash) == (2, b.hash)


# --- our own proposals -----------------------------------------------------------------------


def _synced_to_height_1(i: int) -> tuple[Keeper, Block]:
    """Keeper ``i`` at height 1, the block at height 0 committed by block sync."""
    b = block()
    k = Keeper(i)
    k.chain.persist(b)
    k.chain.commit(0)
    k.chain.set_highest_certificate(
        certify(chain_id=CHAIN, view=att.view_of(0, 0), block=b, signers=SIGNERS[:3])
    )
    return k, b


def test_the_producer_of_a_round_proposes_a_new_block_on_the_final_tip() -> None:
    """_propose mutants 27, 31, 48, 49, 67: with no valid block, the producer of (h, r)
    proposes a new block justified by the tip's certificate, with no valid round, once per round,
    at height 0 (on genesis) and above."""
    i = next(x for x in range(4) if KEYS[x] == producer(0).public_key)
    k = running(i)
    (p,) = k.proposals()
    assert p.block == att.new_block(k.config, 0, 0, ZERO_HASH, Certificate.genesis(CHAIN))
    assert (p.round, p.valid_round, p.proof, p.producer) == (0, -1, (), KEYS[i])
    assert [v.block_hash for v in k.votes(ATTEST)] == [p.block.hash]
    # One proposal per round: later steps of the round propose nothing more.
    k.feed(Tick(now=1))
    k.feed(VoteReceived(peer=KEYS[i - 1], vote=vote(i - 1, ATTEST, p.block, 0)))
    assert k.proposals() == [] and k.state.proposed_in == (0,)

    tip = block()
    i = next(x for x in range(4) if KEYS[x] == producer(0, tip.hash).public_key)
    k, tip = _synced_to_height_1(i)
    k.feed(Tick(now=0))
    (p,) = k.proposals()
    cert = k.chain.highest_certificate
    assert p.block == att.new_block(k.config, 1, 0, tip.hash, cert)
    assert (p.block.height, p.block.parent_hash, p.block.justify) == (1, tip.hash, cert)


def test_a5_fails_a_confirmation_below_the_lock_and_passes_one_at_it() -> None:
    """The spec's own statement of the rule (A-5) can fail: the same step judged against a guard
    locked at a later round than the confirmation."""
    from blockfsm.spec.attester import confirms_not_below_lock
    from blockfsm.spec.language import Transition

    b = block(b"B")
    i = _keeper_producing_none_of(range(3))
    k = _locked_on(b, 0, i)
    (confirm,) = [v for v in k.votes(CONFIRM)]
    step = Transition(
        config=k.config,
        before=attrs.evolve(k.state, guard=attrs.evolve(k.state.guard, locked_round=-1)),
        event=None,
        after=k.state,
        effects=k.effects,
        view=k.chain.snapshot(),
    )
    assert confirm.round == 0 and confirms_not_below_lock(step)
    below = attrs.evolve(
        step,
        before=attrs.evolve(
            step.before,
            guard=attrs.evolve(step.before.guard, locked_round=1, signed=()),
        ),
    )
    assert not confirms_not_below_lock(below)
