"""The attester and the node, step by step: each proposal rule broken alone is refused for its own
reason; locks, re-proposal, the persisted guard and the node's routing."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from blockfsm.machine import attester as att
from blockfsm.machine import node as node_machine
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    AttesterConfig,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    producer_for,
    proposal_payload,
)
from blockfsm.machine.core import Broadcast, Rejected, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import SyncRequest, SyncRequestReceived
from blockfsm.machine.node import NodeConfig
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.attester import SPEC as ATTESTER_SPEC
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import NODE
from blockfsm.spec.strategies.attester import signed_nil_vote, signed_proposal, signed_vote

CHAIN = 7
SIGNERS = [StandInSigner.from_seed(100 + i) for i in range(4)]
KEYS = [s.public_key for s in SIGNERS]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of(SIGNERS)
BY_KEY = {s.public_key: s for s in SIGNERS}


def config(i: int) -> AttesterConfig:
    return AttesterConfig(
        chain_id=CHAIN, signer=SIGNERS[i], validators=VALIDATORS, verifier=VERIFIER
    )


def producer(round_: int, parent: bytes = ZERO_HASH) -> StandInSigner:
    key = producer_for(tuple(KEYS), parent, round_)
    assert key is not None
    return BY_KEY[key]


def block(payload: bytes = b"x") -> Block:
    return Block.make(
        chain_id=CHAIN,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=payload,
    )


def propose(b: Block, round_: int, valid_round: int = -1, proof: tuple[Vote, ...] = ()) -> Proposal:
    return signed_proposal(producer(round_), CHAIN, b, round_, valid_round, proof)


def vote(i: int, phase: int, b: Block, round_: int) -> Vote:
    return signed_vote(SIGNERS[i], phase, CHAIN, b, round_)


class Keeper:
    """One attester under its spec, over an empty chain."""

    def __init__(self, i: int, guard: Any = None) -> None:
        self.i = i
        self.chain = InMemoryChain(CHAIN)
        self.runner = Conformant(
            attrs.evolve(NODE, name="attester", spec=ATTESTER_SPEC, step=att.step),
            config(i),
        )
        self.state = att.initial(config(i), guard)
        self.effects: tuple[Any, ...] = ()

    def feed(self, event: Any) -> tuple[Any, ...]:
        self.state, self.effects = self.runner.step(self.state, event, self.chain.snapshot())
        for e in self.effects:
            if type(e).__name__ == "PersistGuard":
                self.guard = e.guard
        return self.effects

    def votes(self, phase: int) -> list[Vote]:
        return [
            e.message
            for e in self.effects
            if type(e) is Broadcast and type(e.message) is Vote and e.message.phase == phase
        ]


def to_round(k: Any, round_: int, height: int = 0) -> None:
    """Move keeper ``k`` (a ``Keeper`` or a node) into ``round_`` as the f + 1 rule does: nil
    attestations of two other keepers there (a lone keeper never leaves its round by itself)."""
    others = [j for j in range(4) if KEYS[j] != KEYS[k.i]][:2]
    for j in others:
        nil = signed_nil_vote(SIGNERS[j], ATTEST, CHAIN, height, round_)
        k.feed(VoteReceived(peer=KEYS[j], vote=nil))
    assert k.state.round == round_ if hasattr(k.state, "round") else True


def not_producer(round_: int) -> int:
    return next(i for i in range(4) if KEYS[i] != producer(round_).public_key)


def running(i: int) -> Keeper:
    k = Keeper(i)
    k.feed(Tick(now=0))
    return k


def test_a_valid_proposal_is_attested_once() -> None:
    k = running(not_producer(0))
    p = propose(block(), 0)
    k.feed(ProposalReceived(peer=p.producer, proposal=p))
    assert [v.block_hash for v in k.votes(ATTEST)] == [p.block.hash]
    k.feed(ProposalReceived(peer=p.producer, proposal=propose(block(b"other"), 0)))
    assert k.votes(ATTEST) == []


def _refusal(p: Any) -> str | None:
    k = running(not_producer(0))
    effects = k.feed(ProposalReceived(peer=KEYS[0], proposal=p))
    reasons = [e.reason for e in effects if type(e) is Rejected]
    return reasons[0] if reasons else None


def test_each_proposal_rule_broken_alone_is_refused_for_its_reason() -> None:
    good = propose(block(), 0)
    assert _refusal(good) is None
    assert _refusal(attrs.evolve(good, round=None)) == "malformed_proposal"
    other_chain = Block.make(
        chain_id=CHAIN + 1,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=b"x",
    )
    assert _refusal(attrs.evolve(good, block=other_chain)) == "wrong_chain"
    orphan = Block.make(
        chain_id=CHAIN, height=0, parent_hash=b"\x01" * 32, justify=Certificate.genesis(CHAIN)
    )
    assert _refusal(attrs.evolve(good, block=orphan)) == "unknown_parent"
    wrong = next(s for s in SIGNERS if s.public_key != good.producer)
    assert _refusal(attrs.evolve(good, producer=wrong.public_key)) == "wrong_producer"
    assert _refusal(attrs.evolve(good, signature=bytes(64))) == "bad_signature"
    forged = attrs.evolve(good.block, payload=b"changed")
    sig = producer(0).sign(proposal_payload(CHAIN, 0, 0, forged.hash, -1))
    assert _refusal(attrs.evolve(good, block=forged, signature=sig)) == "bad_block_hash"
    claimed = propose(block(), 0, valid_round=0, proof=())
    assert _refusal(claimed) == "malformed_proposal"  # valid_round must be below the round


def _locked_keeper(b: Block) -> Keeper:
    """A keeper that attested and confirmed ``b`` in round 0 (so it is locked on it)."""
    i = not_producer(0)
    k = running(i)
    p = propose(b, 0)
    k.feed(ProposalReceived(peer=p.producer, proposal=p))
    others = [j for j in range(4) if j != i][:2]
    for j in others:
        k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    assert [v.block_hash for v in k.votes(CONFIRM)] == [b.hash]
    assert k.state.guard.locked_hash == b.hash
    return k


def test_a_locked_keeper_attests_another_block_only_with_a_newer_proof() -> None:
    b, other = block(), block(b"other")
    k = _locked_keeper(b)
    rounds = [r for r in range(1, 12) if producer(r).public_key != KEYS[k.i]]
    r = rounds[0]  # a round some other keeper produces
    to_round(k, r)
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(other, r)))
    assert [v.block_hash for v in k.votes(ATTEST)] == [ZERO_HASH]  # the lock refuses: nil
    # The same block again, re-proposed with its proof in a later round, is attested.
    r = rounds[1]
    to_round(k, r)
    proof = tuple(vote(j, ATTEST, b, 0) for j in range(3))
    k.feed(ProposalReceived(peer=KEYS[0], proposal=propose(b, r, valid_round=0, proof=proof)))
    assert [v.block_hash for v in k.votes(ATTEST)] == [b.hash]


def test_a_new_round_producer_reproposes_the_block_it_saw_attested() -> None:
    b = block()
    i = not_producer(0)
    k = _locked_keeper(b)
    # Find a round this keeper produces, jump there by the f + 1 rule and look at its proposal.
    r = next(r for r in range(1, 40) if producer(r).public_key == KEYS[i])
    to_round(k, r)
    proposals = [e.message for e in k.effects if type(getattr(e, "message", None)) is Proposal]
    assert proposals and producer(proposals[0].round).public_key == KEYS[i]
    assert proposals[0].block == b and proposals[0].valid_round == 0


def test_the_persisted_guard_keeps_a_restarted_keeper_from_signing_again() -> None:
    i = not_producer(0)
    k = running(i)
    p = propose(block(), 0)
    k.feed(ProposalReceived(peer=p.producer, proposal=p))
    restarted = Keeper(i, guard=k.guard)
    restarted.runner = k.runner  # one checker across the crash: A-1 spans it
    restarted.feed(Tick(now=1))
    restarted.feed(ProposalReceived(peer=p.producer, proposal=p))
    assert restarted.votes(ATTEST) == []


def test_a_quorum_of_confirmations_makes_the_block_final_with_a_certificate() -> None:
    b = block()
    k = _locked_keeper(b)
    for j in range(4):
        if j != k.i:
            k.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, b, 0)))
            if any(type(e).__name__ == "Commit" for e in k.effects):
                break
    names = [type(e).__name__ for e in k.effects]
    assert names[:3] == ["Persist", "Commit", "UpdateHighestCertificate"]
    cert = k.effects[2].certificate
    from blockfsm.machine.types import certificate_is_valid

    assert certificate_is_valid(cert, CHAIN, VALIDATORS, VERIFIER)
    assert k.state.height == 1


@pytest.mark.parametrize(
    "bad",
    [
        lambda v: attrs.evolve(v, phase=2),
        lambda v: attrs.evolve(v, chain_id=CHAIN + 1),
        lambda v: attrs.evolve(v, voter=b"\x09" * 32),
        lambda v: attrs.evolve(v, signature=bytes(64)),
        lambda v: attrs.evolve(v, round=None),
        lambda v: None,
    ],
)
def test_bad_votes_are_refused_and_change_nothing(bad: Any) -> None:
    k = running(0)
    before = k.state
    effects = k.feed(VoteReceived(peer=KEYS[1], vote=bad(vote(1, ATTEST, block(), 0))))
    assert k.state == before
    assert [type(e) for e in effects] == [Rejected]


def test_the_node_routes_a_sync_request_to_the_server_only() -> None:
    cfg = NodeConfig.make(
        chain_id=CHAIN, signer=SIGNERS[0], validators=VALIDATORS, verifier=VERIFIER
    )
    chain = InMemoryChain(CHAIN)
    state = node_machine.initial(cfg)
    state, _ = node_machine.step(cfg, state, Tick(now=5), chain.snapshot())
    request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=3)
    after, effects = node_machine.step(
        cfg, state, SyncRequestReceived(peer=KEYS[1], request=request), chain.snapshot()
    )
    assert after.attester == state.attester and after.client == state.client
    assert [type(e).__name__ for e in effects] == ["Send"]
