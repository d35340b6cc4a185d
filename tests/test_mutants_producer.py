"""Tests that kill the mutants mutmut left alive in machine/producer.py.

Each names the mutants it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). They drive one producer with plain ``PRODUCER.step`` calls over
an in-memory block tree, so what fails is the assertion, not a conformance check. The keeper a
parent without a selector names in round ``r`` is the one at ``r mod N`` of the shuffled set.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from blockfsm.machine.core import ConfigError, Rejected, Tick
from blockfsm.machine.crypto import Signer, StandInVerifier
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    BroadcastCandidate,
    BuildBlock,
    CommonSection,
    ExternalMessageFeedback,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    PersistSigningGuard,
    ProducerConfig,
    ProducerState,
    RebroadcastCandidate,
    Restarted,
    RestoreMessages,
    SaveOptimisticState,
    SendToSelf,
    Start,
    StartExecutor,
    StartParams,
    StateSyncRequested,
    Stop,
    StopExecutor,
    initial,
    update_candidate_common_section,
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
    ProducedBlock,
    SigningGuard,
    build_block,
)
from blockfsm.machine.types import MAX_U64
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
        signer=signer, verifier=StandInVerifier.of(SIGNERS), production_period=PERIOD, **changes
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

    def built(self, inputs: tuple[int, ...] = (1,)) -> BlockBuilt:
        """The answer to the oldest outstanding build request (taken off the list)."""
        request = self.pending.pop(0)
        parent_state = self.tree.states.get(request.parent.block_id, GENESIS_STATE)
        block = build_block(request.parent, parent_state, inputs, self.config.signer.public_key)
        return BlockBuilt(session=request.session, build_id=request.build_id, block=block)

    def answer(self, inputs: tuple[int, ...] = (1,)) -> tuple[Any, ...]:
        return self.feed(self.built(inputs))

    def tick(self, step: int = PERIOD) -> tuple[Any, ...]:
        self.now += step
        return self.feed(Tick(now=self.now))

    def signed(self) -> list[CandidateBlock]:
        return [e.candidate for e in self.effects if type(e) is BroadcastCandidate]


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


def locked_on_genesis() -> CandidateBlock:
    """A candidate the round-0 producer signed on genesis."""
    author = signer_of_round(0)
    block = build_block(GENESIS, GENESIS_STATE, (900,), author.public_key)
    return CandidateBlock(
        block=block,
        round=0,
        selector=ProducerSelector(seed=SEED, index=0),
        fallback=False,
        signature=author.sign(candidate_bytes(block, 0, SEED, 0, False)),
    )


# --- a locked candidate malformed in one field ---------------------------------------------------


def test_a_well_formed_locked_candidate_is_rebroadcast() -> None:
    """The baseline of the test below: the same Start with the lock intact re-broadcasts it."""
    locked = locked_on_genesis()
    node = Node(config_for(signer_of_round(1)), InMemoryBlockTree(KEEPERS))
    effects = node.feed(
        Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS, locked)))
    )
    assert RebroadcastCandidate(candidate=locked) in effects


@pytest.mark.parametrize(
    "field",
    ["block", "round", "selector", "selector.seed", "selector.index", "fallback", "signature"],
)
def test_a_locked_candidate_malformed_in_one_field_makes_the_start_malformed(field: str) -> None:
    """``x__well_formed_candidate__mutmut_1`` to ``_7``: each ``and`` of the candidate's shape
    check became ``or``, so a candidate broken in the field before it passed when the fields
    after it were well typed. The broken lock is signed into its vote as reported."""
    good = locked_on_genesis()
    broken: Any
    if field == "block":
        broken = attrs.evolve(good, block=attrs.evolve(good.block, seq_no=-1))
    elif field == "round":
        broken = attrs.evolve(good, round=-1)
    elif field == "selector":
        broken = attrs.evolve(good, selector=(SEED, 0))
    elif field == "selector.seed":
        broken = attrs.evolve(good, selector=ProducerSelector(seed="seed", index=0))  # type: ignore[arg-type]
    elif field == "selector.index":
        broken = attrs.evolve(good, selector=ProducerSelector(seed=SEED, index=-1))
    elif field == "fallback":
        broken = attrs.evolve(good, fallback=0)
    else:
        broken = attrs.evolve(good, signature="sig")
    node = Node(config_for(signer_of_round(1)), InMemoryBlockTree(KEEPERS))
    effects = node.feed(
        Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS, broken)))
    )
    assert effects == (Rejected(reason="malformed_start"),)
    assert node.state == initial(node.config)


# --- a drop forgets the continuation point --------------------------------------------------------


def test_a_dropped_producer_starts_again_from_the_start_s_parent() -> None:
    """``x__drop__mutmut_11`` (the drop kept params and the last produced block): after a drop,
    the same Start again continued from the block it had produced, not from its parent."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    start = Start(params=params_on(GENESIS, 0))
    node.feed(start)
    node.answer()
    node.tick()
    (first,) = node.signed()
    node.feed(ParentInvalidated(block_id=first.block.block_id))
    assert node.state.control == "Stopped"
    assert node.state.params is None and node.state.last_produced is None
    effects = node.feed(start)
    assert [e.parent for e in effects if type(e) is StartExecutor] == [GENESIS]


# --- the next build after a full buffer ----------------------------------------------------------


@pytest.mark.parametrize("cap", [1, 2, 4])
def test_a_full_buffer_resumes_building_on_its_last_block(cap: int) -> None:
    """``x__tip_of__mutmut_1``, ``_3``, ``_4``, ``x__on_built__mutmut_115`` to ``_117`` (a full
    buffer's ``building`` not -1): once a full buffer broadcast its head, the next
    build extends the buffer's last block (or the head it just sent when the buffer is empty),
    not the head, the second block or the one before the last."""
    node = Node(config_for(signer_of_round(0), buffer_cap=cap), InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    for n in range(cap):
        node.answer(inputs=(n,))
    assert not node.pending and len(node.state.buffer) == cap and node.state.building == -1
    blocks = node.state.buffer
    effects = node.tick()
    (request,) = [e for e in effects if type(e) is BuildBlock]
    assert request.parent == blocks[-1].ref
    assert [c.block for c in node.signed()] == [blocks[0]]
    # ``x__tip__mutmut_4``: the answer extends the tip (the last produced block when the buffer
    # is empty), not the Start's parent.
    built = node.built(inputs=(77,))
    assert node.feed(built) == ()
    assert node.state.buffer == (*blocks[1:], built.block)


# --- a released hold ------------------------------------------------------------------------------


def held(fallback_deadline: int = 2) -> tuple[Node, list[BlockRef]]:
    """Round 0 on the tip of two unattested foreign blocks: our head is held (NotReadyYet)."""
    tree = InMemoryBlockTree(KEEPERS)
    parent, refs = GENESIS, []
    for n in range(2):
        block = build_block(parent, tree.states[parent.block_id], (500 + n,), MEMBERS[-1])
        tree.add(block)
        refs.append(block.ref)
        parent = block.ref
    c = config_for(signer_of_round(0), primary_deadline=1, fallback_deadline=fallback_deadline)
    node = Node(c, tree)
    node.feed(Start(params=params_on(refs[-1], 0)))
    node.answer()
    node.tick()
    assert node.signed() == [] and node.state.control == "Holding"
    assert node.state.hold == "attestation"
    return node, refs


def test_an_attestation_releases_a_hold_for_the_very_next_tick() -> None:
    """``x__release__mutmut_4``, ``_7``, ``_8``, ``_9``: a released head is re-evaluated at the
    next Tick, even one before the production period is over (the mutant kept the old due time),
    and the state names no hold any more (``hold`` kept, ``None`` or another word)."""
    node, refs = held()
    for ref in refs:
        node.tree.update(ref.block_id, attestations=4)
    node.feed(AttestationReceived(block_id=refs[0].block_id, count=4))
    assert node.state.control == "Producing" and node.state.hold == ""
    assert node.state.next_due == node.now
    node.tick(step=1)
    assert [c.block.parent_id for c in node.signed()] == [refs[-1].block_id]


# --- an invalidated continuation point -----------------------------------------------------------


def test_invalidating_the_base_of_a_running_producer_stops_it() -> None:
    """``x__on_invalidated__mutmut_16``, ``_17``, ``_19``: the Start's parent (not in the
    buffer) invalidated while the first build is outstanding."""
    tree = InMemoryBlockTree(KEEPERS)
    block = build_block(GENESIS, GENESIS_STATE, (5,), MEMBERS[-1])
    tree.add(block)
    tree.update(block.block_id, attestations=4)
    node = Node(config_for(signer_of_round(0)), tree)
    node.feed(Start(params=params_on(block.ref, 0)))
    assert node.state.control == "Armed" and node.state.buffer == ()
    effects = node.feed(ParentInvalidated(block_id=block.block_id))
    assert node.state.control == "Stopped"
    assert any(type(e).__name__ == "StopExecutor" for e in effects)


def test_invalidating_the_last_produced_block_stops_the_producer() -> None:
    """``x__on_invalidated__mutmut_16``: the block we broadcast last (no longer in the buffer)."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer()
    node.tick()
    (first,) = node.signed()
    assert node.state.last_produced == first.block.ref
    assert all(b.block_id != first.block.block_id for b in node.state.buffer)
    node.feed(ParentInvalidated(block_id=first.block.block_id))
    assert node.state.control == "Stopped"


def test_invalidating_another_block_changes_nothing() -> None:
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    before = node.state
    assert node.feed(ParentInvalidated(block_id=b"\x07" * 32)) == ()
    assert node.state == before


# --- what a restart keeps -------------------------------------------------------------------------


def test_a_restart_keeps_session_build_ids_epoch_and_guard() -> None:
    """``x__on_restarted__mutmut_6`` to ``_8``, ``_10``, ``_12`` to ``_14``, ``_16``: after
    ``Restarted`` the next session and build id are new ones (an executor answer from before the
    restart cannot pass for a new one), a stale keeper set is still ignored, and the guard still
    refuses a second block at a signed (height, round)."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    node.feed(KeeperSetChanged(keepers=attrs.evolve(KEEPERS, epoch=2)))
    start = Start(params=params_on(GENESIS, 0))
    node.feed(start)
    old = node.built(inputs=(1,))
    node.feed(old)
    node.tick()
    assert [(c.block.height, c.round) for c in node.signed()] == [(1, 0)]
    sessions = {e.session for e in node.effects if type(e) is StartExecutor}
    builds = {e.build_id for e in node.effects if type(e) is BuildBlock}

    assert node.feed(Restarted()) == ()
    me = node.config.signer.public_key
    stale = KeeperSet(epoch=1, seed=SEED, members=tuple(m for m in MEMBERS if m != me))
    node.feed(KeeperSetChanged(keepers=stale))
    assert node.state.in_keeper_set and node.state.epoch == 2

    node.pending.clear()
    effects = node.feed(start)
    (executor,) = [e for e in effects if type(e) is StartExecutor]
    (request,) = [e for e in effects if type(e) is BuildBlock]
    assert executor.session not in sessions and request.build_id not in builds
    # The answer to the request made before the restart is not taken for the new one.
    restored = RestoreMessages(block_id=old.block.block_id, messages=old.block.inputs)
    assert node.feed(old) == (restored,)
    node.answer(inputs=(2,))
    for _ in range(3):
        node.tick()
    assert [(c.block.height, c.round) for c in node.signed()] == [(1, 0)]


def test_a_restart_remembers_that_we_left_the_keeper_set() -> None:
    """``x__on_restarted__mutmut_15`` (``in_keeper_set`` dropped: back to True) and ``_9``
    (``None``: a restarted keeper inside the set refused every Start)."""
    me = signer_of_round(0)
    outside = KeeperSet(epoch=1, seed=SEED, members=tuple(m for m in MEMBERS if m != me.public_key))
    node = Node(config_for(me), InMemoryBlockTree(KEEPERS))
    node.feed(KeeperSetChanged(keepers=outside))
    node.feed(Restarted())
    assert node.feed(Start(params=params_on(GENESIS, 0))) == (Rejected(reason="not_selected"),)

    inside = Node(config_for(me), InMemoryBlockTree(KEEPERS))
    inside.feed(KeeperSetChanged(keepers=attrs.evolve(KEEPERS, epoch=1)))
    inside.feed(Restarted())
    effects = inside.feed(Start(params=params_on(GENESIS, 0)))
    assert [type(e) for e in effects] == [StartExecutor, BuildBlock]


# --- the broadcast step, effect by effect ---------------------------------------------------------


def producing(blocks: int = 1, **changes: Any) -> Node:
    """A round-0 producer on genesis with ``blocks`` built blocks in its buffer, Producing, its
    next build outstanding, and the production tick due at ``PERIOD``."""
    node = Node(config_for(signer_of_round(0), **changes), InMemoryBlockTree(KEEPERS))
    node.feed(KeeperSetChanged(keepers=attrs.evolve(KEEPERS, epoch=3)))
    node.feed(Start(params=params_on(GENESIS, 0)))
    for n in range(blocks):
        node.answer(inputs=(10 + n, 20 + n))
    assert node.state.control == "Producing" and len(node.state.buffer) == blocks
    return node


def broadcast_effects(node: Node, head: ProducedBlock, guard: SigningGuard) -> list[Any]:
    """The four effects every broadcast of ``head`` (round 0, on genesis's selector) starts with."""
    selector = ProducerSelector(seed=SEED, index=0)
    signer = node.config.signer
    candidate = CandidateBlock(
        block=head,
        round=0,
        selector=selector,
        fallback=False,
        signature=signer.sign(candidate_bytes(head, 0, SEED, 0, False)),
    )
    return [
        PersistSigningGuard(guard=guard),
        SendToSelf(candidate=candidate),
        BroadcastCandidate(candidate=candidate),
        ExternalMessageFeedback(block_id=head.block_id, messages=head.inputs),
    ]


@pytest.mark.parametrize("frequency", [1, 2])
def test_a_broadcast_emits_exactly_its_effects_and_saves_state_on_the_frequency(
    frequency: int,
) -> None:
    """``x__evaluate__mutmut_142``, ``_143``, ``_146``, ``_149`` to ``_157``: the feedback's
    fields, the save on every ``save_state_frequency``-th seq_no (``%``, not ``/``) and its fields;
    and the whole state after it (``x__evaluate__mutmut_200`` to ``_226``: a field not carried
    over, or reset)."""
    node = producing(2, save_state_frequency=frequency)
    first, second = node.state.buffer
    building = node.state.building
    effects = node.tick()
    expected = broadcast_effects(node, first, SigningGuard(blocks=((0, 1, 1),)))
    if frequency == 1:
        expected.append(SaveOptimisticState(block_id=first.block_id, seq_no=1, reason="frequency"))
    assert list(effects) == expected
    assert node.state == ProducerState(
        control="Producing",
        now=PERIOD,
        next_due=2 * PERIOD,
        session=1,
        params=params_on(GENESIS, 0),
        base=GENESIS,
        last_produced=first.ref,
        round=0,
        buffer=(second,),
        building=building,
        next_build=building + 1,
        assumed_epoch=3,
        epoch=3,
        in_keeper_set=True,
        state_sync_at=-1,
        guard=SigningGuard(blocks=((0, 1, 1),)),
    )
    effects = node.tick()
    expected = broadcast_effects(node, second, SigningGuard(blocks=((0, 2, 2),)))
    expected.append(SaveOptimisticState(block_id=second.block_id, seq_no=2, reason="frequency"))
    assert list(effects) == expected


@pytest.mark.parametrize("sync_at", [0, 1, 2])
def test_a_state_sync_request_is_served_by_the_first_broadcast_at_or_past_it(sync_at: int) -> None:
    """``x__on_state_sync__mutmut_15``, ``_17`` (the request not kept) and
    ``x__evaluate__mutmut_159`` to ``_173``: a request at seq_no 0, or at the head's own
    seq_no, is served by the head's broadcast, with the head's id and seq_no and the reason
    ``state_sync``, once; a request above the head waits for a later block."""
    node = producing(3, save_state_frequency=1000)
    node.feed(StateSyncRequested(seq_no=sync_at))
    assert node.state.state_sync_at == sync_at
    saved: list[Any] = []
    for _ in range(3):
        head = node.state.buffer[0]
        saves = [e for e in node.tick() if type(e) is SaveOptimisticState]
        saved.extend(saves)
        if not saved and not saves:
            assert node.state.state_sync_at == sync_at
        if saves:
            assert saves == [
                SaveOptimisticState(block_id=head.block_id, seq_no=head.seq_no, reason="state_sync")
            ]
            assert node.state.state_sync_at == -1
    assert [s.seq_no for s in saved] == [max(sync_at, 1)]


def test_the_build_paused_by_a_full_buffer_resumes_with_the_next_id() -> None:
    """``x__evaluate__mutmut_177`` to ``_179``, ``_182``, ``_183``, ``_185``, ``_175``: a build
    resumes only when none is outstanding (even when the outstanding one is build 0), with the
    session, the next build id, and the id after it kept for the build after; the broadcast drops
    only the head from the buffer."""
    node = producing(2, buffer_cap=2)
    assert node.state.building == -1
    session, next_build = node.state.session, node.state.next_build
    second = node.state.buffer[1]
    effects = node.tick()
    assert effects[-1] == BuildBlock(session=session, build_id=next_build, parent=second.ref)
    assert node.state.buffer == (second,)
    assert (node.state.building, node.state.next_build) == (next_build, next_build + 1)

    # Build 0 outstanding (a state a fresh session reaches): no second build is asked for.
    node = producing(1)
    state = attrs.evolve(node.state, building=0)
    _, effects = PRODUCER.step(node.config, state, Tick(now=PERIOD), node.tree.snapshot())
    assert not any(type(e) is BuildBlock for e in effects)


def test_the_default_round_count_of_the_common_section_is_zero() -> None:
    """``x_update_candidate_common_section__mutmut_1``: called without ``rounds``, the selector is
    the parent's, not moved by one."""
    node = producing(1)
    head = node.state.buffer[0]
    section = update_candidate_common_section(node.config, node.tree.snapshot(), head)
    assert section == CommonSection(
        outcome="Success", selector=ProducerSelector(seed=SEED, index=0), fallback=False
    )


def test_an_ancestor_whose_seq_no_does_not_fall_fails_the_chain() -> None:
    """``x_update_candidate_common_section__mutmut_23``, ``_24``: an ancestor at the seq_no of the
    block above it (a view that breaks the chain's order) is FailedToBuildChain, by name."""
    tree = InMemoryBlockTree(KEEPERS)
    parent = build_block(GENESIS, GENESIS_STATE, (5,), MEMBERS[-1])
    tree.add(parent)
    me = signer_of_round(0)
    head = attrs.evolve(
        build_block(parent.ref, tree.states[parent.block_id], (6,), me.public_key), seq_no=1
    )
    section = update_candidate_common_section(config_for(me), tree.snapshot(), head)
    assert section == CommonSection(outcome="FailedToBuildChainToTheLastFinalizedBlock")


def test_a_repeated_vote_first_does_not_hide_the_votes_after_it() -> None:
    """``x__takeover__mutmut_14``: the count skips a repeated (or invalid) vote and goes on."""
    votes = votes_for(1, GENESIS_ID, MEMBERS[:3])
    votes = (votes[0], votes[0], *votes[1:])
    node = Node(config_for(signer_of_round(1)), InMemoryBlockTree(KEEPERS))
    effects = node.feed(Start(params=params_on(GENESIS, 1, votes)))
    assert [type(e) for e in effects][-2:] == [StartExecutor, BuildBlock]


def test_a_tick_at_the_last_millisecond_of_the_clock_is_taken() -> None:
    """``x__on_tick__mutmut_9``."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    assert node.feed(Tick(now=MAX_U64)) == ()
    assert node.state.now == MAX_U64


def test_every_tick_moves_the_clock_and_sets_the_next_due_time() -> None:
    """``x__on_tick__mutmut_28``, ``_30`` (a tick before the due time left ``now``), ``_40`` to
    ``_42`` (a due tick with an empty buffer left ``now`` or did not push the due time a period
    on), ``_60`` to ``_66`` (a due tick releasing a hold: ``now``, ``next_due`` and ``hold``)."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer()
    node.tick()  # the head broadcast; the next build outstanding, the buffer empty
    assert node.state.buffer == () and node.state.next_due == 2 * PERIOD
    before = node.state
    assert node.tick(step=1) == ()
    assert node.state == attrs.evolve(before, now=PERIOD + 1)
    assert node.tick(step=PERIOD) == ()  # due, nothing to broadcast
    assert node.state == attrs.evolve(before, now=2 * PERIOD + 1, next_due=3 * PERIOD + 1)

    held_node, _ = held()
    before = held_node.state
    assert held_node.tick(step=1) == ()  # not due: still held
    assert held_node.state == attrs.evolve(before, now=before.now + 1)
    assert held_node.tick(step=PERIOD) == ()
    now = before.now + 1 + PERIOD
    assert held_node.state == attrs.evolve(
        before, control="Producing", now=now, next_due=now, hold=""
    )


class Gapped:
    """A view of ``tree`` that has lost the blocks in ``hidden`` and reports ``final`` as the last
    finalized block (a view pruned below finality)."""

    def __init__(self, tree: InMemoryBlockTree, hidden: set[bytes], final: BlockRef) -> None:
        self.snapshot = tree.snapshot()
        self.hidden = hidden
        self.final = final

    def last_finalized(self) -> BlockRef:
        return self.final

    def keeper_set(self) -> KeeperSet:
        return self.snapshot.keeper_set()

    def block(self, block_id: bytes) -> Any:
        return None if block_id in self.hidden else self.snapshot.block(block_id)


def test_a_head_at_the_finalized_seq_no_is_dropped_even_when_its_parent_is_gone() -> None:
    """``x__evaluate__mutmut_4`` (``<`` for ``<=``): a head at exactly the finalized seq_no is
    dropped before its ancestry is read; the mutant read it, found the parent missing and held."""
    node = producing(1)
    head = node.state.buffer[0]
    final = BlockRef(block_id=b"\x05" * 32, seq_no=head.seq_no, height=head.height)
    view = Gapped(node.tree, {GENESIS_ID}, final)
    state, effects = PRODUCER.step(node.config, node.state, Tick(now=PERIOD), view)
    assert state.control == "Stopped"
    assert effects == (
        StopExecutor(session=1),
        RestoreMessages(block_id=head.block_id, messages=head.inputs),
    )


@pytest.mark.parametrize("round_", [0, 1])
def test_every_block_of_a_session_is_signed_in_its_round_with_its_parent_s_selector(
    round_: int,
) -> None:
    """``x__evaluate__mutmut_8``, ``_10`` (the selector of a block after the first moved by the
    round, or by one), ``_219`` (the round not kept after a broadcast): three blocks in a row."""
    me = signer_of_round(round_)
    node = Node(config_for(me), InMemoryBlockTree(KEEPERS))
    votes = votes_for(round_, GENESIS_ID, MEMBERS) if round_ else ()
    node.feed(Start(params=params_on(GENESIS, round_, votes)))
    for n in range(3):
        node.answer(inputs=(n,))
        node.tick()
        assert node.state.round == round_
    signed = node.signed()
    assert [(c.block.height, c.round) for c in signed] == [(1, round_), (2, round_), (3, round_)]
    assert {c.selector for c in signed} == {ProducerSelector(seed=SEED, index=round_)}


def test_a_hold_names_what_it_waits_for() -> None:
    """``x__evaluate__mutmut_26``, ``_27``, ``_33``, ``_36`` to ``_44``: the held state, field by
    field: ``attestation`` (NotReadyYet) or ``ancestor`` (AncestorIsNotReadyYet), the clock and
    the next due time a period on."""
    node, _ = held()
    assert node.state.hold == "attestation"
    assert (node.state.now, node.state.next_due) == (PERIOD, 2 * PERIOD)

    tree = InMemoryBlockTree(KEEPERS)
    parent = build_block(GENESIS, GENESIS_STATE, (5,), MEMBERS[-1])
    tree.add(parent, data_ready=False)
    node = Node(config_for(signer_of_round(0)), tree)
    node.feed(Start(params=params_on(parent.ref, 0)))
    node.answer()
    before = node.state
    assert node.tick() == ()
    assert node.state == attrs.evolve(
        before, control="Holding", now=PERIOD, next_due=2 * PERIOD, hold="ancestor"
    )


def test_a_producer_that_left_the_keeper_set_drops_its_head_at_the_tick() -> None:
    """``x__evaluate__mutmut_50``: the view still lists us, the last KeeperSetChanged did not."""
    node = producing(1)
    head = node.state.buffer[0]
    me = node.config.signer.public_key
    outside = KeeperSet(epoch=4, seed=SEED, members=tuple(m for m in MEMBERS if m != me))
    node.feed(KeeperSetChanged(keepers=outside))
    assert node.tick() == (
        StopExecutor(session=1),
        RestoreMessages(block_id=head.block_id, messages=head.inputs),
    )
    assert node.state.control == "Stopped" and node.signed() == []


def test_a_head_whose_selector_names_another_keeper_is_dropped() -> None:
    """``x__evaluate__mutmut_102``: the view's seed changed (same epoch, no event) so that the
    parent's child selector names another keeper."""
    node = producing(1)
    head = node.state.buffer[0]
    me = node.config.signer.public_key
    seed = next(
        s for s in (b"other-%d" % i for i in range(100)) if producer_order(MEMBERS, s)[0] != me
    )
    node.tree.set_keeper_set(KeeperSet(epoch=0, seed=seed, members=MEMBERS))
    assert node.tick() == (
        StopExecutor(session=1),
        RestoreMessages(block_id=head.block_id, messages=head.inputs),
    )
    assert node.state.control == "Stopped"


def test_a_new_epoch_restarts_the_executor_on_the_last_produced_block() -> None:
    """``x__evaluate__mutmut_53``, ``_66``, ``_69`` to ``_83``: after a keeper-set change the
    head is not signed; the buffer is dropped (its messages restored) and the executor restarted
    on the block produced last, with a new build; the state says so field by field."""
    node = producing(2)
    first, second = node.state.buffer
    node.tick()
    assert node.state.last_produced == first.ref
    node.feed(KeeperSetChanged(keepers=attrs.evolve(KEEPERS, epoch=4)))
    before = node.state
    build_id = before.next_build
    effects = node.tick()
    assert effects == (
        StopExecutor(session=1),
        RestoreMessages(block_id=second.block_id, messages=second.inputs),
        StartExecutor(session=1, parent=first.ref),
        BuildBlock(session=1, build_id=build_id, parent=first.ref),
    )
    assert node.state == attrs.evolve(
        before,
        control="Producing",
        now=2 * PERIOD,
        next_due=3 * PERIOD,
        buffer=(),
        building=build_id,
        next_build=build_id + 1,
        hold="",
        assumed_epoch=4,
    )


def test_the_guard_keeps_other_rounds_above_finality_and_replaces_its_own_round() -> None:
    """``x__evaluate__mutmut_108`` to ``_110``: the guard written at a broadcast keeps every other
    round's entry above the finalized seq_no (not one at it), in order, after skipping our own
    round's lower entry."""
    me = signer_of_round(0)
    c = config_for(me)
    old = SigningGuard(blocks=((0, 0, 0), (1, 7, 7), (2, 9, 0)))
    node = Node(c, InMemoryBlockTree(KEEPERS), state=initial(c, old))
    node.feed(Start(params=params_on(GENESIS, 0)))
    node.answer()
    effects = node.tick()
    expected = SigningGuard(blocks=((1, 7, 7), (0, 1, 1)))
    assert effects[0] == PersistSigningGuard(guard=expected)
    assert node.state.guard == expected


def test_a_candidate_on_the_fallback_path_says_so_and_signs_it() -> None:
    """``x__evaluate__mutmut_122``, ``_133``: the fallback flag in the candidate and in the bytes
    its producer signs (an unattested parent past the primary deadline of 1)."""
    tree = InMemoryBlockTree(KEEPERS)
    parent = build_block(GENESIS, GENESIS_STATE, (5,), MEMBERS[-1])
    tree.add(parent)
    me = signer_of_round(0)
    node = Node(config_for(me, primary_deadline=1, fallback_deadline=3), tree)
    node.feed(Start(params=params_on(parent.ref, 0)))
    node.answer()
    node.tick()
    (candidate,) = node.signed()
    assert candidate.fallback is True
    payload = candidate_bytes(candidate.block, 0, SEED, 0, True)
    assert StandInVerifier.of(SIGNERS).verify(me.public_key, payload, candidate.signature)


def test_a_tick_moves_the_clock_in_every_state_that_does_not_produce() -> None:
    """``x__on_tick__mutmut_72``, ``_74``: Idle, Armed and Stopped."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    assert node.tick() == () and node.state == attrs.evolve(initial(node.config), now=PERIOD)
    node.feed(Start(params=params_on(GENESIS, 0)))
    before = node.state
    assert node.tick() == () and node.state == attrs.evolve(before, now=2 * PERIOD)
    node.feed(Stop())
    before = node.state
    assert node.tick() == () and node.state == attrs.evolve(before, now=3 * PERIOD)


def test_a_build_answered_while_held_is_buffered_without_releasing_the_hold() -> None:
    """``x__on_built__mutmut_77`` (every accepted build made the producer Producing), ``_91``,
    ``_93`` (the next build id after an accepted build)."""
    node, _ = held()
    before = node.state
    built = node.built(inputs=(3,))
    effects = node.feed(built)
    build_id = before.building + 1
    assert effects == (BuildBlock(session=1, build_id=build_id, parent=built.block.ref),)
    assert node.state == attrs.evolve(
        before,
        buffer=(*before.buffer, built.block),
        building=build_id,
        next_build=build_id + 1,
    )


def test_initial_refuses_a_guard_of_another_type_with_its_message() -> None:
    """``x_initial__mutmut_4``, ``_9`` to ``_11``."""
    with pytest.raises(ConfigError) as refused:
        initial(config_for(SIGNERS[0]), ((0, 1, 1),))  # type: ignore[arg-type]
    assert str(refused.value) == "guard must be a SigningGuard or None"


def test_stop_keeps_the_progress_and_everything_durable_field_by_field() -> None:
    """``x__halt__mutmut_4``, ``_5``, ``_12`` to ``_16``, ``_18`` to ``_24``,
    ``x__stop_effects__mutmut_1``, ``x__on_stop__mutmut_12``, ``_16``: a Stop keeps the
    continuation point (params, last produced block), the clock, session, build counter, keeper
    knowledge, state-sync request and guard, and drops the buffer and the outstanding build."""
    node = producing(2)
    first, second = node.state.buffer
    node.tick()
    node.feed(StateSyncRequested(seq_no=9))
    me = node.config.signer.public_key
    node.feed(
        KeeperSetChanged(
            keepers=KeeperSet(epoch=4, seed=SEED, members=tuple(m for m in MEMBERS if m != me))
        )
    )
    before = node.state
    assert node.feed(Stop()) == (
        StopExecutor(session=1),
        RestoreMessages(block_id=second.block_id, messages=second.inputs),
    )
    assert node.state == ProducerState(
        control="Stopped",
        now=PERIOD,
        session=1,
        params=params_on(GENESIS, 0),
        last_produced=first.ref,
        next_build=before.next_build,
        epoch=4,
        in_keeper_set=False,
        state_sync_at=9,
        guard=SigningGuard(blocks=((0, 1, 1),)),
    )


def test_a_keeper_set_of_one_is_taken() -> None:
    """``x__valid_keepers__mutmut_15``: one member is a valid set (an empty one is not)."""
    me = signer_of_round(0).public_key
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    assert node.feed(KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=SEED, members=(me,)))) == ()
    assert node.state.epoch == 1 and node.state.in_keeper_set
    empty = KeeperSet(epoch=2, seed=SEED, members=())
    assert node.feed(KeeperSetChanged(keepers=empty)) == (Rejected(reason="malformed_keeper_set"),)


def test_a_stopped_producer_restarted_with_the_same_params_continues_its_own_chain() -> None:
    """``x__on_start__mutmut_19`` (a Start never continued): after a Stop, the same Start resumes
    on the block produced last, in a new session, and the next block is signed on it."""
    node = producing(2)
    first = node.state.buffer[0]
    node.tick()
    node.feed(Stop())
    next_build = node.state.next_build
    effects = node.feed(Start(params=params_on(GENESIS, 0)))
    assert effects == (
        StartExecutor(session=2, parent=first.ref),
        BuildBlock(session=2, build_id=next_build, parent=first.ref),
    )
    assert node.state.last_produced == first.ref and node.state.base == first.ref
    node.pending = node.pending[-1:]
    node.answer(inputs=(8,))
    node.tick()
    assert [(c.block.height, c.block.parent_id) for c in node.signed()][-1] == (
        2,
        first.block_id,
    )


# --- Start: the state it arms, the continuation below finality, a lock, the announcements kept --


def test_a_start_arms_the_producer_field_by_field() -> None:
    """``x__on_start__mutmut_196``, ``_208``, ``_209``, ``_211``, ``_216``, ``_217``, ``_220``,
    ``_223``: the armed state keeps the clock (and is due at once), the params, the keeper-set
    epoch as the one assumed, the state-sync request, and counts builds on by one."""
    node = Node(config_for(signer_of_round(0)), InMemoryBlockTree(KEEPERS))
    node.feed(KeeperSetChanged(keepers=attrs.evolve(KEEPERS, epoch=3)))
    node.feed(Tick(now=50))
    node.feed(StateSyncRequested(seq_no=7))
    node.feed(Start(params=params_on(GENESIS, 0)))
    assert node.state == ProducerState(
        control="Armed",
        now=50,
        next_due=50,
        session=1,
        params=params_on(GENESIS, 0),
        base=GENESIS,
        round=0,
        building=0,
        next_build=1,
        assumed_epoch=3,
        epoch=3,
        state_sync_at=7,
    )


@pytest.mark.parametrize("round_", [0, 1])
def test_a_continued_start_does_not_move_the_selector_again(round_: int) -> None:
    """``x__on_start__mutmut_64``, ``_66``: a Start that continues our own chain (same params,
    after a Stop) checks the selector of our last block unmoved, in round 0 and in a takeover."""
    me = signer_of_round(round_)
    node = Node(config_for(me), InMemoryBlockTree(KEEPERS))
    votes = votes_for(round_, GENESIS_ID, MEMBERS) if round_ else ()
    start = Start(params=params_on(GENESIS, round_, votes))
    node.feed(start)
    node.answer()
    node.tick()
    (first,) = node.signed()
    node.feed(Stop())
    effects = node.feed(start)
    assert [type(e) for e in effects] == [StartExecutor, BuildBlock]
    assert node.state.base == first.block.ref


def test_a_start_on_a_continuation_below_finality_forgets_it() -> None:
    """``x__on_start__mutmut_45`` (``None``), ``_49``: the block we produced last is below the
    finalized seq_no when the same Start comes again: Idle, the progress forgotten."""
    node = producing(2)
    node.tick()
    node.feed(Stop())
    parent = GENESIS
    for n in range(2):
        other = build_block(parent, node.tree.states[parent.block_id], (300 + n,), MEMBERS[-1])
        node.tree.add(other)
        parent = other.ref
    node.tree.finalize(parent.block_id)
    before = node.state
    assert node.feed(Start(params=params_on(GENESIS, 0))) == ()
    assert node.state == attrs.evolve(
        before, control="Idle", params=None, last_produced=None, building=-1
    )


def test_a_rebroadcast_lock_leaves_the_producer_idle_without_its_progress() -> None:
    """``x__on_start__mutmut_159``, ``_161``, ``_168`` (``_164``, ``None``, is falsy): after a
    takeover Start that re-broadcasts a lock, the producer is Idle, keeps the guard with its
    announcement, and has forgotten the params and block of its earlier session."""
    me = signer_of_round(1)
    node = Node(config_for(me), InMemoryBlockTree(KEEPERS))
    node.feed(Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS))))
    node.answer()
    node.tick()
    node.feed(Stop())
    before = node.state
    assert before.params is not None and before.last_produced is not None
    locked = locked_on_genesis()
    effects = node.feed(
        Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS, locked)))
    )
    assert effects == (RebroadcastCandidate(candidate=locked),)
    assert node.state == attrs.evolve(before, control="Idle", params=None, last_produced=None)
    assert node.state.guard.announced == ((1, 0, GENESIS_ID),)


def test_an_announcement_at_the_finalized_height_is_kept() -> None:
    """``x__on_start__mutmut_130``: announcements at or above the finalized height stay in the
    guard when a new one is added; only those below it go."""
    me = signer_of_round(2)
    c = config_for(me)
    tree = InMemoryBlockTree(KEEPERS)
    parent = build_block(GENESIS, GENESIS_STATE, (5,), MEMBERS[-1])
    tree.add(parent)
    tree.update(parent.block_id, attestations=4)
    tree.finalize(parent.block_id)
    old = SigningGuard(announced=((1, 0, GENESIS_ID), (1, 1, b"\x03" * 32)))
    node = Node(c, tree, state=initial(c, old))
    effects = node.feed(
        Start(params=params_on(parent.ref, 2, votes_for(2, parent.block_id, MEMBERS)))
    )
    expected = SigningGuard(announced=((1, 1, b"\x03" * 32), (2, 1, parent.block_id)))
    assert effects[0] == PersistSigningGuard(guard=expected)


def test_finality_at_the_head_s_seq_no_drops_the_buffer() -> None:
    """``x__on_finalization__mutmut_16``: a block at the head's own seq_no finalized (not ours)."""
    node = producing(2)
    first, second = node.state.buffer
    effects = node.feed(FinalizationAdvanced(block_id=b"\x06" * 32, seq_no=first.seq_no))
    assert effects == (
        StopExecutor(session=1),
        RestoreMessages(block_id=first.block_id, messages=first.inputs),
        RestoreMessages(block_id=second.block_id, messages=second.inputs),
    )
    assert node.state.control == "Stopped"


def test_an_unknown_event_is_named_in_the_error() -> None:
    """``x_step__mutmut_5``, ``_6``."""
    c = config_for(SIGNERS[0])
    with pytest.raises(TypeError) as refused:
        PRODUCER.step(c, initial(c), "go", InMemoryBlockTree(KEEPERS).snapshot())
    assert str(refused.value) == "producer does not take str"


CONFIG_BOUNDS = [
    ("buffer_cap", "buffer_cap", 1, 10_000),
    ("production_period", "production_period (ms)", 1, 3_600_000),
    ("save_state_frequency", "save_state_frequency", 1, 1_000_000),
    ("primary_deadline", "primary_deadline (blocks)", 1, 10_000),
    ("fallback_deadline", "fallback_deadline (blocks)", 1, 10_000),
]


@pytest.mark.parametrize(("field", "label", "low", "high"), CONFIG_BOUNDS)
def test_config_bounds_are_exact_and_name_the_field(
    field: str, label: str, low: int, high: int
) -> None:
    """``ProducerConfig.__attrs_post_init__`` mutants 3, 10, 11, 13, 15, 22 to 25, 27, 34, 35,
    37, 39, 46, 47, 49, 51, 58 to 61: each bound (where the deadlines' order allows it) is
    accepted, and one past it refused with the whole message."""
    # The deadlines must stay in order: the other one is put where the bound being tried fits.
    others = {"primary_deadline": {"fallback_deadline": 10_000}, "fallback_deadline": {}}
    base: dict[str, int] = others.get(field, {})
    for value in (low, high):
        if (field, value) in {("primary_deadline", 10_000), ("fallback_deadline", 1)}:
            continue  # no deadline of the other kind fits beside it
        ProducerConfig(signer=SIGNERS[0], **{**base, field: value})  # type: ignore[arg-type]
    for bad in (low - 1, high + 1):
        message = f"{label} must be an integer in [{low}, {high}], got {bad!r}"
        with pytest.raises(ConfigError) as refused:
            ProducerConfig(signer=SIGNERS[0], **{**base, field: bad})  # type: ignore[arg-type]
        assert str(refused.value) == message


def test_the_deadlines_out_of_order_are_refused_with_the_whole_message() -> None:
    """``ProducerConfig.__attrs_post_init__`` mutant 63."""
    with pytest.raises(ConfigError) as refused:
        config_for(SIGNERS[0], primary_deadline=3, fallback_deadline=3)
    assert str(refused.value) == "fallback_deadline (3) must be later than primary_deadline (3)"


def test_a_lock_rebroadcast_on_a_first_takeover_keeps_its_announcement_in_the_guard() -> None:
    """``x__on_start__mutmut_161``: the announcement made in the step that re-broadcasts a lock
    is persisted and stays in the state's guard (the mutant kept the guard from before it)."""
    tree = InMemoryBlockTree(KEEPERS)
    node = Node(config_for(signer_of_round(1)), tree)
    locked = locked_on_genesis()
    effects = node.feed(
        Start(params=params_on(GENESIS, 1, votes_for(1, GENESIS_ID, MEMBERS, locked)))
    )
    guard = SigningGuard(announced=((1, 0, GENESIS_ID),))
    assert effects[0] == PersistSigningGuard(guard=guard)
    assert node.state.guard == guard
