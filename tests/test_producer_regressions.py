"""Regression tests for the producer reproductions of issue 7 (items 2 to 5).

Each test replays one reproduction against the public API (``initial``, ``step``, the events and
effects, an in-memory block tree) with plain steps, so what fails is the assertion named after the
bug, not a conformance check. The keeper that a parent without a selector names in round ``r`` is
the one at ``r mod N`` of the shuffled set (by the spec's own statement of selection), so each test
signs with the keeper the rule under test selects, or with one it does not.
"""

from __future__ import annotations

from typing import Any

import pytest

from blockfsm.machine.core import Rejected, Tick
from blockfsm.machine.crypto import Signer, StandInVerifier
from blockfsm.machine.producer import (
    BlockBuilt,
    BroadcastCandidate,
    BroadcastNextRoundSuccess,
    BuildBlock,
    FinalizationAdvanced,
    KeeperSetChanged,
    PersistSigningGuard,
    ProducerConfig,
    ProducerState,
    RebroadcastCandidate,
    RestoreMessages,
    SendToSelf,
    Start,
    StartExecutor,
    StartParams,
    initial,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    GENESIS_ID,
    GENESIS_STATE,
    BlockRef,
    CandidateBlock,
    InMemoryBlockTree,
    KeeperSet,
    NextRoundVote,
    SigningGuard,
    build_block,
)
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.producer_rules import candidate_bytes, producer_order
from blockfsm.spec.strategies.chains import make_signers
from blockfsm.spec.strategies.producer import start_params_on
from blockfsm.spec.strategies.producer_single_rule import vote as next_round_vote

SIGNERS = make_signers(4)
MEMBERS = tuple(s.public_key for s in SIGNERS)
SEED = b"seed-0"
KEEPERS = KeeperSet(epoch=0, seed=SEED, members=MEMBERS)
ORDER = producer_order(MEMBERS, SEED)
BY_KEY = {s.public_key: s for s in SIGNERS}
GENESIS = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)
PERIOD = 100


def signer_of_round(round_: int) -> Signer:
    """The keeper a parent without a selector names in ``round_``."""
    return BY_KEY[ORDER[round_ % len(ORDER)]]


def config_for(signer: Signer, **changes: Any) -> ProducerConfig:
    return ProducerConfig(
        signer=signer,
        verifier=StandInVerifier.of(SIGNERS),
        production_period=PERIOD,
        **changes,
    )


class Node:
    """One producer driven step by step over a block tree, recording every effect."""

    def __init__(self, config: ProducerConfig, tree: InMemoryBlockTree, state: Any = None):
        self.config = config
        self.tree = tree
        self.state: ProducerState = initial(config) if state is None else state
        self.now = 0
        self.effects: list[Any] = []
        self.pending: list[BuildBlock] = []

    def feed(self, event: Any) -> tuple[Any, ...]:
        self.state, effects = PRODUCER.step(self.config, self.state, event, self.tree.snapshot())
        self.effects.extend(effects)
        for e in effects:
            if type(e) is BuildBlock:
                self.pending.append(e)
            elif type(e) is BroadcastCandidate:
                self.tree.add(e.candidate.block, selector=e.candidate.selector)
        return tuple(effects)

    def answer(self, inputs: tuple[int, ...] = (1,)) -> tuple[Any, ...]:
        request = self.pending.pop(0)
        parent_state = self.tree.states.get(request.parent.block_id, GENESIS_STATE)
        block = build_block(request.parent, parent_state, inputs, self.config.signer.public_key)
        return self.feed(
            BlockBuilt(session=request.session, build_id=request.build_id, block=block)
        )

    def tick(self) -> tuple[Any, ...]:
        self.now += PERIOD
        return self.feed(Tick(now=self.now))

    def signed(self) -> list[CandidateBlock]:
        return [e.candidate for e in self.effects if type(e) is BroadcastCandidate]

    def announcements(self) -> list[Any]:
        return [e.announcement for e in self.effects if type(e) is BroadcastNextRoundSuccess]


def params_on(ref: BlockRef, round_: int, votes: tuple[NextRoundVote, ...] = ()) -> StartParams:
    return start_params_on(ref, round_, votes)


def votes_for(
    round_: int, parent_id: bytes, keepers: tuple[bytes, ...], locked: CandidateBlock | None = None
) -> tuple[NextRoundVote, ...]:
    """Each keeper's signed NextRound vote; the first reports ``locked``."""
    return tuple(
        next_round_vote(BY_KEY[key], round_, parent_id, locked if n == 0 else None)
        for n, key in enumerate(keepers)
    )


def foreign_chain(tree: InMemoryBlockTree, length: int, attestations: int) -> list[BlockRef]:
    """``length`` blocks on genesis by another producer (no selector: a thread's first blocks)."""
    parent, refs = GENESIS, []
    for n in range(length):
        block = build_block(parent, tree.states[parent.block_id], (500 + n,), MEMBERS[-1])
        tree.add(block)
        tree.update(block.block_id, attestations=attestations)
        refs.append(block.ref)
        parent = block.ref
    return refs


# --- item 2: the signing guard survives a real crash --------------------------------------------


def test_restart_from_the_persisted_guard_signs_no_second_block_at_a_height_and_round() -> None:
    """Issue 7 item 2: sign a block at (height 1, round 0), crash, start a fresh ``initial`` with
    only what the ``PersistSigningGuard`` effects stored, build a different block on the same
    parent in the same round: it must not be signed."""
    c = config_for(signer_of_round(0))
    tree = InMemoryBlockTree(KEEPERS)
    node = Node(c, tree)
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer(inputs=(1,))
    effects = node.tick()
    first = [e.candidate for e in effects if type(e) is BroadcastCandidate]
    assert len(first) == 1 and first[0].block.height == 1 and first[0].round == 0
    kinds = [type(e) for e in effects]
    assert PersistSigningGuard in kinds, "the guard was never asked to be persisted"
    assert kinds.index(PersistSigningGuard) < kinds.index(SendToSelf), (
        "a signature was released before the guard allowing it was persisted"
    )
    stored = [e.guard for e in node.effects if type(e) is PersistSigningGuard][-1]

    # The crash: nothing in memory survives; the runtime hands back only the stored guard.
    fresh = Node(c, tree, state=initial(c, stored))
    assert fresh.state == initial(c, stored) and fresh.state.buffer == ()
    fresh.feed(Start(params=params_on(GENESIS, 0)))
    if fresh.pending:
        fresh.answer(inputs=(2,))  # another block at height 1: different messages
        for _ in range(3):
            fresh.tick()
    again = [c for c in fresh.signed() if (c.block.height, c.round) == (1, 0) and c != first[0]]
    assert again == [], "a second, different block was signed at (height 1, round 0)"


def test_a_fresh_start_without_the_guard_would_sign_again() -> None:
    """The guard is what refuses: from a fresh state without it, the same steps do sign (so the
    test above fails when the guard is lost, not for another reason)."""
    c = config_for(signer_of_round(0))
    tree = InMemoryBlockTree(KEEPERS)
    node = Node(c, tree)
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer(inputs=(2,))
    node.tick()
    assert [(b.block.height, b.round) for b in node.signed()] == [(1, 0)]


def test_initial_refuses_a_guard_of_the_wrong_type() -> None:
    from blockfsm.machine.core import ConfigError

    with pytest.raises(ConfigError):
        initial(config_for(SIGNERS[0]), ((0, 1, 1),))  # type: ignore[arg-type]


# --- item 3: the selector is derived from the parent's and the round ----------------------------


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_a_start_in_a_round_that_names_another_keeper_signs_nothing(round_: int) -> None:
    """Issue 7 item 3: a round-``r`` Start on genesis is for the keeper at index 0 + r; the
    round-0 keeper must refuse it, and nothing it builds is signed."""
    me = signer_of_round(0)
    assert ORDER[round_ % len(ORDER)] != me.public_key
    c = config_for(me)
    node = Node(c, InMemoryBlockTree(KEEPERS))
    effects = node.feed(Start(params=params_on(GENESIS, round_)))
    assert Rejected(reason="not_selected") in effects
    while node.pending:
        node.answer()
    for _ in range(3):
        node.tick()
    assert node.signed() == [] and node.announcements() == []


def test_the_selector_is_the_parents_moved_by_the_round() -> None:
    """A parent carrying selector (s, i): a round-0 Start continues the keeper at i of the set
    shuffled by s (not by the keeper set's seed, not our own position); our block carries (s, i)."""
    other_seed = b"another-seed"
    order = producer_order(MEMBERS, other_seed)
    tree = InMemoryBlockTree(KEEPERS)
    parent = build_block(GENESIS, GENESIS_STATE, (7,), order[2])
    tree.add(parent, selector=ProducerSelector(seed=other_seed, index=2))
    tree.update(parent.block_id, attestations=4)
    named = BY_KEY[order[2]]
    assert ORDER[0] != named.public_key or ORDER.index(named.public_key) != 2
    node = Node(config_for(named), tree)
    node.feed(Start(params=params_on(parent.ref, 0)))
    node.answer()
    node.tick()
    (candidate,) = node.signed()
    assert candidate.selector == ProducerSelector(seed=other_seed, index=2)

    # The keeper the keeper set's own seed would put first is not the one the parent names.
    stranger = next(s for s in SIGNERS if s.public_key not in (order[2],))
    refused = Node(config_for(stranger), tree)
    assert Rejected(reason="not_selected") in refused.feed(Start(params=params_on(parent.ref, 0)))


# --- item 4: NextRound ---------------------------------------------------------------------------


def test_two_starts_in_one_round_announce_once() -> None:
    """Issue 7 item 4: two Starts in round 1 on two sibling parents at the same height; only the
    first is announced (and produced on), the second is refused."""
    tree = InMemoryBlockTree(KEEPERS)
    (a,) = foreign_chain(tree, 1, attestations=4)
    b = build_block(GENESIS, GENESIS_STATE, (600,), MEMBERS[-1])
    tree.add(b)
    me = signer_of_round(1)
    node = Node(config_for(me), tree)
    node.feed(Start(params=params_on(a, 1, votes_for(1, a.block_id, MEMBERS))))
    second = node.feed(Start(params=params_on(b.ref, 1, votes_for(1, b.block_id, MEMBERS))))
    assert [x.parent_id for x in node.announcements()] == [a.block_id]
    assert Rejected(reason="round_already_announced") in second


def test_the_one_announcement_survives_a_crash() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    (a,) = foreign_chain(tree, 1, attestations=4)
    b = build_block(GENESIS, GENESIS_STATE, (600,), MEMBERS[-1])
    tree.add(b)
    c = config_for(signer_of_round(1))
    node = Node(c, tree)
    effects = node.feed(Start(params=params_on(a, 1, votes_for(1, a.block_id, MEMBERS))))
    (stored,) = [e.guard for e in effects if type(e) is PersistSigningGuard]
    fresh = Node(c, tree, state=initial(c, stored))
    fresh.feed(Start(params=params_on(b.ref, 1, votes_for(1, b.block_id, MEMBERS))))
    assert fresh.announcements() == []


@pytest.mark.parametrize("voters", [0, 1, 2])
def test_a_takeover_without_the_next_round_quorum_is_refused(voters: int) -> None:
    """ceil((4+1)/2) = 3 votes are needed; fewer (or one keeper's vote repeated) is refused."""
    tree = InMemoryBlockTree(KEEPERS)
    node = Node(config_for(signer_of_round(1)), tree)
    votes = votes_for(1, GENESIS_ID, MEMBERS[:voters])
    votes = votes + votes[:1] * 3  # a repeated vote counts once
    effects = node.feed(Start(params=params_on(GENESIS, 1, votes)))
    assert Rejected(reason="no_next_round_quorum") in effects
    assert node.announcements() == [] and not node.pending


def test_a_takeover_with_exactly_the_quorum_is_announced_and_produces() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    node = Node(config_for(signer_of_round(1)), tree)
    node.feed(Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS[:3]))))
    assert [(x.round, x.parent_id) for x in node.announcements()] == [(1, GENESIS_ID)]
    node.answer()
    node.tick()
    assert [(x.block.height, x.round) for x in node.signed()] == [(1, 1)]


def test_a_locked_block_is_rebroadcast_not_built_upon() -> None:
    """A keeper reports a candidate the round-0 producer signed on genesis: the round-1 producer
    re-broadcasts it and builds nothing."""
    tree = InMemoryBlockTree(KEEPERS)
    author = signer_of_round(0)
    block = build_block(GENESIS, GENESIS_STATE, (900,), author.public_key)
    selector = ProducerSelector(seed=SEED, index=0)
    locked = CandidateBlock(
        block=block,
        round=0,
        selector=selector,
        fallback=False,
        signature=author.sign(candidate_bytes(block, 0, SEED, 0, False)),
    )
    node = Node(config_for(signer_of_round(1)), tree)
    effects = node.feed(
        Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS, locked)))
    )
    assert RebroadcastCandidate(candidate=locked) in effects
    assert not any(type(e) in (StartExecutor, BuildBlock) for e in effects)
    for _ in range(3):
        node.tick()
    assert node.signed() == []


# --- item 5: stalls ------------------------------------------------------------------------------


def held_on_attestations(tree: InMemoryBlockTree) -> tuple[Node, list[BlockRef]]:
    """Round 0 on the tip of two unattested foreign blocks; with fallback_deadline 2 our head is
    held (NotReadyYet) for the block two above it."""
    refs = foreign_chain(tree, 2, attestations=0)
    c = config_for(signer_of_round(0), primary_deadline=1, fallback_deadline=2)
    node = Node(c, tree)
    node.feed(Start(params=params_on(refs[-1], 0)))
    node.answer()
    node.tick()
    assert node.signed() == [] and node.state.control == "Holding"
    return node, refs


def test_a_hold_is_released_when_finality_passes_the_unattested_ancestors() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    node, refs = held_on_attestations(tree)
    tree.finalize(refs[-1].block_id)
    node.feed(FinalizationAdvanced(block_id=refs[-1].block_id, seq_no=refs[-1].seq_no))
    for _ in range(3):
        node.tick()
    assert [x.block.parent_id for x in node.signed()] == [refs[-1].block_id]


def test_a_hold_is_re_evaluated_on_ticks_when_an_attestation_event_is_lost() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    node, refs = held_on_attestations(tree)
    for ref in refs:
        tree.update(ref.block_id, attestations=4)  # the view has them; no event said so
    for _ in range(3):
        node.tick()
    assert [x.block.parent_id for x in node.signed()] == [refs[-1].block_id]


def test_a_hold_is_re_evaluated_after_a_keeper_set_change() -> None:
    """Two of four attestations miss floor(4/2)+1 = 3; the new set of three needs only 2."""
    tree = InMemoryBlockTree(KEEPERS)
    refs = foreign_chain(tree, 2, attestations=2)
    me = signer_of_round(0)
    c = config_for(me, primary_deadline=1, fallback_deadline=2)
    node = Node(c, tree)
    node.feed(KeeperSetChanged(keepers=KEEPERS))
    node.feed(Start(params=params_on(refs[-1], 0)))
    node.answer()
    node.tick()
    assert node.state.control == "Holding"
    others = [m for m in MEMBERS if m != me.public_key]
    members = (me.public_key, *others[:2])
    smaller = next(
        KeeperSet(epoch=1, seed=seed, members=members)
        for seed in (b"s-%d" % i for i in range(100))
        if producer_order(members, seed)[0] == me.public_key
    )
    tree.set_keeper_set(smaller)
    node.feed(KeeperSetChanged(keepers=smaller))
    for _ in range(4):
        while node.pending:
            node.answer(inputs=(len(node.effects),))
        node.tick()
    assert node.signed(), "the held head was never re-evaluated after the keeper-set change"


def test_an_inconsistent_build_restores_its_messages_and_asks_again() -> None:
    """Issue 7 item 5: a BlockBuilt that does not extend the tip left the producer in Armed with
    no build requested and the block's messages lost."""
    c = config_for(signer_of_round(0))
    node = Node(c, InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    request = node.pending.pop(0)
    wrong = BlockRef(block_id=GENESIS_ID, seq_no=0, height=1)  # height off by one
    bad = build_block(wrong, GENESIS_STATE, (41, 42), c.signer.public_key)
    effects = node.feed(BlockBuilt(session=request.session, build_id=request.build_id, block=bad))
    assert Rejected(reason="inconsistent_build") in effects
    assert RestoreMessages(block_id=bad.block_id, messages=(41, 42)) in effects
    assert node.pending and node.pending[0].parent == GENESIS, "no build is outstanding"
    node.answer(inputs=(41, 42))
    node.tick()
    assert [x.block.inputs for x in node.signed()] == [(41, 42)]


def test_persisted_guard_is_the_state_guard() -> None:
    """What a step asks to persist is exactly the guard the next step starts from."""
    c = config_for(signer_of_round(0))
    node = Node(c, InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer()
    effects = node.tick()
    (persist,) = [e for e in effects if type(e) is PersistSigningGuard]
    assert persist.guard == node.state.guard and isinstance(persist.guard, SigningGuard)
