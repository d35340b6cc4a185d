"""The producer composed into the node: who starts it, what it releases, what the node broadcasts,
when it stops, what its signing guard keeps across a crash, and the composition invariant N-3."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.adapters.engines.sim import SimConfig, Simulation
from blockfsm.machine import node as node_machine
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    producer_for,
    proposal_payload,
    view_of,
)
from blockfsm.machine.core import Broadcast, Rejected, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.node import NodeConfig, Steppers
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet, u64
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.conformance import Conformant, Stats
from blockfsm.spec.language import Transition
from blockfsm.spec.machines import ATTESTER, NODE, PRODUCER
from blockfsm.spec.node import proposals_released_by_producer
from blockfsm.spec.producer import IDLE, PRODUCING, STOPPED
from blockfsm.spec.strategies.attester import signed_nil_vote, signed_vote

CHAIN = 7
SIGNERS = [StandInSigner.from_seed(300 + i) for i in range(4)]
KEYS = [s.public_key for s in SIGNERS]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of(SIGNERS)
KEEPERS = tuple(k for k, _ in VALIDATORS.members)


def producer_index(round_: int, parent: bytes = ZERO_HASH) -> int:
    return KEYS.index(producer_for(KEEPERS, parent, round_))


class Node:
    """One node whose every part, and the whole, runs under its spec, over its own chain."""

    def __init__(self, i: int, guard: Any = None, signing_guard: Any = None) -> None:
        self.i = i
        self.key = KEYS[i]
        self.chain = InMemoryChain(CHAIN)
        plain = NodeConfig.make(
            chain_id=CHAIN, signer=SIGNERS[i], validators=VALIDATORS, verifier=VERIFIER
        )
        self.producer_stats = Stats()
        self.node_stats = Stats()
        self.producer = Conformant(PRODUCER, plain.producer, stats=self.producer_stats)
        self.attester = Conformant(ATTESTER, plain.attester)
        self.config = attrs.evolve(
            plain,
            steppers=Steppers(
                server=lambda s, e, v: node_machine.ss.step(plain.server, s, e, v),
                client=lambda s, e, v: node_machine.sc.step(plain.client, s, e, v),
                attester=self.attester.step,
                producer=self.producer.step,
            ),
        )
        self.runner = Conformant(NODE, self.config, stats=self.node_stats)
        self.state = node_machine.initial(self.config, guard, signing_guard)
        self.effects: tuple[Any, ...] = ()
        self.transitions: list[Transition] = []
        self.guard = guard
        self.signing_guard = signing_guard

    def feed(self, event: Any) -> tuple[Any, ...]:
        before, view = self.state, self.chain.snapshot()
        self.state, self.effects = self.runner.step(self.state, event, view)
        self.transitions.append(
            Transition(
                config=self.config,
                before=before,
                event=event,
                after=self.state,
                effects=self.effects,
                view=view,
            )
        )
        for e in self.effects:
            kind = type(e).__name__
            if kind == "Persist":
                self.chain.persist(e.block)
            elif kind == "Commit":
                self.chain.commit(e.height)
            elif kind == "UpdateHighestCertificate":
                self.chain.set_highest_certificate(e.certificate)
            elif kind == "PersistGuard":
                self.guard = e.guard
            elif kind == "PersistSigningGuard":
                self.signing_guard = e.guard
        return self.effects

    def proposals(self) -> list[Proposal]:
        return [
            e.message
            for e in self.effects
            if type(e) is Broadcast
            and type(e.message) is Proposal
            and e.message.producer == self.key
        ]

    def votes(self, phase: int) -> list[Vote]:
        return [
            e.message
            for e in self.effects
            if type(e) is Broadcast and type(e.message) is Vote and e.message.phase == phase
        ]


EXECUTOR_EFFECTS = {"StartExecutor", "StopExecutor", "BuildBlock", "RestoreMessages", "SendToSelf"}
"""The producer's effects that the node consumes as its executor and never passes on."""


def finalize(n: Node, b: Block) -> list[tuple[Any, ...]]:
    """Every other keeper's round-0 attestation of ``b``, then their confirmations until ``n``
    commits; the effects of each confirmation step, the last one the committing step."""
    others = [j for j in range(4) if j != n.i]
    for j in others:
        n.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    steps = []
    for j in others:
        steps.append(n.feed(VoteReceived(peer=KEYS[j], vote=vote(j, CONFIRM, b, 0))))
        if any(type(e).__name__ == "Commit" for e in steps[-1]):
            return steps
    raise AssertionError(f"height {b.height} was never finalized")


def vote(i: int, phase: int, b: Block, round_: int) -> Vote:
    return signed_vote(SIGNERS[i], phase, CHAIN, b, round_)


def test_the_producer_of_round_zero_proposes_the_block_its_producer_released() -> None:
    n = Node(producer_index(0))
    effects = n.feed(Tick(now=0))
    names = [type(e).__name__ for e in effects]
    assert "Rejected" not in names
    # The producer's guard is written, then the attester's, then the proposal and our attestation.
    assert names.index("PersistSigningGuard") < names.index("Broadcast")
    (p,) = n.proposals()
    expected = Block.make(
        chain_id=CHAIN,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=n.key + u64(0),
    )
    assert (p.round, p.block, p.valid_round, p.proof) == (0, expected, -1, ())
    assert VERIFIER.verify(n.key, proposal_payload(CHAIN, 0, 0, expected.hash, -1), p.signature)
    assert [v.block_hash for v in n.votes(ATTEST)] == [expected.hash]
    # The producer released it, and its signing guard records the slot (0, view_of(0, 0)).
    assert n.state.producer.control == PRODUCING
    assert n.signing_guard.blocks == ((0, view_of(0, 0), 1),)
    assert n.state.slot == (0, 0) and 0 in n.state.attester.proposed_in
    assert n.producer_stats.rows and n.node_stats.steps["N-3"] >= 1
    # Another keeper takes the proposal as valid and attests it.
    other = Node((n.i + 1) % 4)
    other.feed(Tick(now=0))
    other.feed(ProposalReceived(peer=n.key, proposal=p))
    assert [v.block_hash for v in other.votes(ATTEST)] == [expected.hash]
    # Nothing more in the same slot: one proposal per (height, round).
    n.feed(Tick(now=50))
    assert n.proposals() == []


def test_a_node_that_is_not_the_producer_never_starts_its_producer() -> None:
    n = Node(next(i for i in range(4) if i != producer_index(0)))
    effects = n.feed(Tick(now=0))
    assert n.proposals() == [] and n.state.producer.control == IDLE
    assert not [e for e in effects if type(e) is Rejected]  # not even a refused Start
    assert n.state.slot == (0, 0)


def test_the_producer_stops_when_the_round_moves_on_and_starts_again_in_its_next_turn() -> None:
    i = producer_index(0)
    n = Node(i)
    n.feed(Tick(now=0))
    assert n.state.producer.control == PRODUCING
    proposed: list[Any] = []
    r = 0
    while not proposed:
        r += 1  # the round moves on by the f + 1 rule: nil attestations of two other keepers
        effects: tuple[Any, ...] = ()
        for j in [j for j in range(4) if j != i][:2]:
            nil = signed_nil_vote(SIGNERS[j], ATTEST, CHAIN, 0, r)
            effects += n.feed(VoteReceived(peer=KEYS[j], vote=nil))
        # The producer's executor effects are the node's own business, never its output.
        assert not EXECUTOR_EFFECTS & {type(e).__name__ for e in effects}
        proposed = [e.message for e in effects if type(getattr(e, "message", None)) is Proposal]
        if not proposed:
            assert n.state.producer.control == STOPPED
    (p,) = proposed
    assert p.round > 0 and producer_index(p.round) == i and p.valid_round == -1
    assert p.block.payload == n.key + u64(p.round)
    assert n.signing_guard.blocks == ((0, view_of(0, p.round), 1),)


def test_the_signing_guard_keeps_a_restarted_producer_from_proposing_again_in_its_slot() -> None:
    i = producer_index(0)
    n = Node(i)
    n.feed(Tick(now=0))
    (signed,) = n.proposals()
    # Restarted, it sends the very proposal its attester's guard kept: nothing new is signed,
    # and its producer is not started in that slot.
    restarted = Node(i, guard=n.guard, signing_guard=n.signing_guard)
    effects = restarted.feed(Tick(now=10))
    assert restarted.proposals() == [signed]
    assert not [e for e in effects if type(e) is Rejected]
    # With the attester's guard lost but the producer's kept, the producer's guard refuses.
    without_attester_guard = Node(i, signing_guard=n.signing_guard)
    without_attester_guard.feed(Tick(now=10))
    assert without_attester_guard.proposals() == []
    assert without_attester_guard.state.producer.control == STOPPED  # built, then refused
    # With neither guard, the same restart proposes again: the guards are what refuse.
    forgetful = Node(i)
    forgetful.feed(Tick(now=10))
    assert len(forgetful.proposals()) == 1


def test_a_valid_block_is_re_proposed_by_the_attester_not_the_producer() -> None:
    i = producer_index(1)
    n = Node(i)
    n.feed(Tick(now=0))
    b = Block.make(
        chain_id=CHAIN,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=b"round zero",
    )
    p0 = producer_index(0)
    proposal = Proposal(
        round=0,
        block=b,
        valid_round=-1,
        proof=(),
        producer=KEYS[p0],
        signature=SIGNERS[p0].sign(proposal_payload(CHAIN, 0, 0, b.hash, -1)),
    )
    assert p0 != i
    n.feed(ProposalReceived(peer=KEYS[p0], proposal=proposal))
    for j in range(4):
        if j != i:
            n.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 0)))
    assert n.state.attester.valid_block == b
    effects: tuple[Any, ...] = ()
    for j in [j for j in range(4) if j != i][:2]:  # round 1 by the f + 1 rule
        nil = signed_nil_vote(SIGNERS[j], ATTEST, CHAIN, 0, 1)
        effects += n.feed(VoteReceived(peer=KEYS[j], vote=nil))
    assert n.state.attester.round == 1
    (p,) = [e.message for e in effects if type(getattr(e, "message", None)) is Proposal]
    assert (p.round, p.block, p.valid_round) == (1, b, 0)
    assert n.state.producer.control != PRODUCING and n.state.slot == (0, 1)


def test_a_four_node_cluster_finalizes_with_every_new_block_from_a_producer() -> None:
    stats = {"producer": Stats(), "node": Stats()}
    sim = Simulation(SimConfig(nodes=4, seed=5, faults=(), conformant=True), stats=stats)
    sim.run(3_000)
    sim.finish()
    heights = [n.chain.committed_height for n in sim.nodes]
    assert min(heights) >= 20
    keys = {n.key for n in sim.nodes}
    # Each height's block was released by a producer: the payload names the producer and round.
    for n in sim.nodes:
        for h in range(n.chain.committed_height + 1):
            block = n.chain.block_at(h)
            assert block is not None and block.payload[:32] in keys
    assert stats["producer"].rows["P120"] >= min(heights)  # a candidate released per height
    assert stats["node"].examples["N-3"] > 0


# --- N-3 on its own: it refuses what the composition must never do --------------------------


def _released_step() -> Transition:
    n = Node(producer_index(0))
    n.feed(Tick(now=0))
    (t,) = n.transitions
    assert proposals_released_by_producer(t)
    return t


def _replace_proposal(t: Transition, change: Any) -> tuple[Any, ...]:
    out = []
    for e in t.effects:
        if type(e) is Broadcast and type(e.message) is Proposal:
            e = Broadcast(message=change(e.message))
        out.append(e)
    return tuple(out)


def test_n3_refuses_a_proposal_of_a_block_the_producer_did_not_release() -> None:
    t = _released_step()
    other = Block.make(
        chain_id=CHAIN,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=b"made by the node itself",
    )
    forged = _replace_proposal(t, lambda p: attrs.evolve(p, block=other))
    assert not proposals_released_by_producer(attrs.evolve(t, effects=forged))


def test_n3_refuses_a_proposal_without_the_producers_signing_guard() -> None:
    t = _released_step()
    unguarded = tuple(e for e in t.effects if type(e).__name__ != "PersistSigningGuard")
    assert not proposals_released_by_producer(attrs.evolve(t, effects=unguarded))


def test_n3_refuses_a_proposal_in_a_round_the_producer_did_not_sign() -> None:
    t = _released_step()
    moved = _replace_proposal(t, lambda p: attrs.evolve(p, round=1))
    assert not proposals_released_by_producer(attrs.evolve(t, effects=moved))


def test_n3_refuses_a_proposal_when_the_producer_released_nothing_in_the_step() -> None:
    t = _released_step()
    assert not proposals_released_by_producer(attrs.evolve(t, after=t.before))


def test_a_vote_that_moves_the_round_to_our_turn_proposes_in_the_same_step() -> None:
    """Votes of round 1 from f + 1 keepers move the attester from (0, 0) to (0, 1): when that slot
    is ours, the proposal leaves in that step, not at the next Tick."""
    i = producer_index(1)
    n = Node(i)
    n.feed(Tick(now=0))
    assert n.state.attester.round == 0
    b = Block.make(
        chain_id=CHAIN,
        height=0,
        parent_hash=ZERO_HASH,
        justify=Certificate.genesis(CHAIN),
        payload=b"seen elsewhere",
    )
    moved = None
    for j in (j for j in range(4) if j != i):
        n.feed(VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, b, 1)))
        if n.state.attester.round == 1:
            moved = n.proposals()
            break
    assert moved is not None, "the round never moved"
    (p,) = moved
    assert (p.block.height, p.round, p.valid_round) == (0, 1, -1)
    assert p.block.payload == n.key + u64(1)


def test_the_next_heights_producer_waits_for_the_tips_certificate_then_proposes() -> None:
    """The step that finalizes height 0 moves the attester to (1, 0) before the tip's
    certificate is in the node's store: the producer of (1, 0) proposes at the next Tick."""
    first = Node(producer_index(0))
    first.feed(Tick(now=0))
    (p,) = first.proposals()
    b = p.block
    n = Node(producer_index(0, b.hash))
    n.feed(Tick(now=0))
    if n.key != first.key:
        n.feed(ProposalReceived(peer=first.key, proposal=p))
    finalize(n, b)
    finalizing = n.proposals()
    assert finalizing == [], "a proposal left without the tip's certificate as its justify"
    assert n.state.attester.height == 1
    n.feed(Tick(now=10))
    (next_proposal,) = n.proposals()
    assert (next_proposal.block.height, next_proposal.round) == (1, 0)
    assert next_proposal.block.parent_hash == b.hash


def test_the_producer_of_a_block_just_finalized_is_stopped_without_leaking_executor_effects() -> (
    None
):
    n = Node(producer_index(0))
    n.feed(Tick(now=0))
    (p,) = n.proposals()
    assert n.state.producer.control == PRODUCING
    for effects in finalize(n, p.block):
        assert not EXECUTOR_EFFECTS & {type(e).__name__ for e in effects}
    assert n.chain.committed_height == 0
    assert n.state.producer.control == STOPPED


def _producer_of_height_one() -> tuple[Node, Proposal]:
    """A node that finalized height 0 and proposed at (1, 0) as that slot's producer: a slot whose
    height and round differ."""
    first = Node(producer_index(0))
    first.feed(Tick(now=0))
    (p,) = first.proposals()
    n = Node(producer_index(0, p.block.hash))
    n.feed(Tick(now=0))
    if n.key != first.key:
        n.feed(ProposalReceived(peer=first.key, proposal=p))
    finalize(n, p.block)
    n.feed(Tick(now=10))
    (proposal,) = n.proposals()
    assert (proposal.block.height, proposal.round) == (1, 0)
    return n, proposal


def test_a_producer_refused_by_its_signing_guard_is_not_started_again_in_that_slot() -> None:
    """Restarted in the slot (1, 0) it already signed, the producer builds, its guard refuses, and
    the node keeps that slot: later Ticks and recorded votes of the slot leave the producer as it
    is (a node that forgot its slot, or compared the height with the round, would start it
    again on every step)."""
    n, proposal = _producer_of_height_one()
    # Only the producer's guard kept: with the attester's, the attester sends its kept
    # proposal again and the producer is never started in the slot.
    restarted = Node(n.i, signing_guard=n.signing_guard)
    restarted.chain = n.chain
    restarted.feed(Tick(now=20))
    assert restarted.proposals() == [] and restarted.state.producer.control == STOPPED
    assert restarted.state.slot == (1, 0)
    producer = restarted.state.producer
    effects = restarted.feed(Tick(now=30))
    assert restarted.state.producer == producer and restarted.state.slot == (1, 0)
    others = [j for j in range(4) if j != n.i]
    for j in others[:2]:
        attester = restarted.state.attester
        effects += restarted.feed(
            VoteReceived(peer=KEYS[j], vote=vote(j, ATTEST, proposal.block, 0))
        )
        assert restarted.state.attester != attester, "the vote was not recorded"
        assert restarted.state.slot == (1, 0) and restarted.state.producer == producer
    assert not [e for e in effects if type(e) is Rejected]


def test_a_producer_whose_tip_certificate_is_not_in_the_store_waits_for_it() -> None:
    """The store holds the final tip (height 0) but not yet its certificate: the producer of
    (1, 0) proposes nothing, and proposes once the certificate is written."""
    n, _ = _producer_of_height_one()
    certificate = n.chain.highest_certificate
    late = Node(n.i)
    late.chain.persist(n.chain.block_at(0))
    late.chain.commit(0)
    effects = late.feed(Tick(now=10))
    assert late.proposals() == [] and not [e for e in effects if type(e) is Rejected]
    late.chain.set_highest_certificate(certificate)
    late.feed(Tick(now=20))
    (p,) = late.proposals()
    assert (p.block.height, p.round, p.block.justify) == (1, 0, certificate)
