"""The block producer as a pure machine. Its rules are stated in ``blockfsm.spec.producer``.

Public API (what an embedding node uses):

- ``PRODUCER`` (the ``MachineDef``), ``ProducerConfig`` (``signer``, and ``verifier`` for the
  keepers' NextRound votes), ``initial(config, guard=None)``: pass the last ``SigningGuard``
  persisted by a ``PersistSigningGuard`` effect after a crash, or None on first start.
- Events: ``Start(params=StartParams(parent_id, parent_seq_no, parent_height, round, votes))``,
  ``Stop``, ``Tick``, ``BlockBuilt``, ``AttestationReceived``, ``FinalizationAdvanced``,
  ``KeeperSetChanged``, ``ParentInvalidated``, ``StateSyncRequested``, ``Restarted``.
- Effects, executed in order: ``PersistSigningGuard`` (write it durably before executing any later
  effect of the same step: the signatures after it are released only once it is stored),
  ``StartExecutor``, ``StopExecutor``, ``BuildBlock``, ``SendToSelf``, ``BroadcastCandidate``,
  ``RebroadcastCandidate``, ``BroadcastNextRoundSuccess``, ``SaveOptimisticState``,
  ``ExternalMessageFeedback``, ``RestoreMessages``, ``Rejected``.
- The view (``ProducerView``) gives each block's selector, so a Start names who may produce:
  ``child_selector(parent's selector, seed, N, round)`` must name us.

Rules this module enforces, in the order a step applies them:

1. Malformed input is refused with a counted ``Rejected``; nothing raises for bad input.
2. ``Start(params)`` picks the continuation point: the last produced block if this node already
   produced under equal params, else the Start's parent. Below the last finalized seq_no it falls
   back to ``Idle``. The parent must be known to the view, and the selector derived from the
   parent's selector and the round must name us (we in both keeper sets), else the Start is
   refused. A round > 0 takeover needs NextRound votes from ceil((N+1)/2) distinct keepers
   (right round and parent, signed); it announces ``NextRoundSuccess`` once per (round, parent
   height), never for another parent at that height; if a valid vote reports a locked
   (attested) candidate on the parent, that block is re-broadcast and nothing is produced.
   Otherwise it starts the executor and requests the first build. A Start with new params while
   running drops the buffer first. ``Stop`` (absent upstream) drops the buffer.
3. One build request is outstanding at a time; its ``BlockBuilt`` must extend the tip by one.
   An inconsistent answer is rejected, its messages restored and the build asked for again.
   Builds from a superseded request or session have their messages restored. The buffer holds at
   most ``buffer_cap`` blocks: building pauses while it is full.
4. On a due ``Tick`` the buffer head goes through ``update_candidate_common_section``; the outcome
   decides: broadcast (after the assumptions check, the selector check and the durable (height,
   round) signing guard), hold (NotReadyYet, AncestorIsNotReadyYet: re-evaluated after the next
   due Tick, attestation, finality change or keeper-set change), or stop and drop everything
   (AbortNotInBKSet, FailedToBuildChainToTheLastFinalizedBlock, a head at or below finality,
   leaving the keeper set, a selector naming another keeper, a (height, round) already signed).
5. Every discarded block's messages are restored; every broadcast block's feedback is sent, and
   optimistic state is saved on the ``save_state_frequency`` boundaries and for a state sync.
6. ``Restarted`` forgets everything in memory but the persisted guard (and, in this model, the
   keeper-set knowledge and session counters); a real crash is ``initial(config, guard)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from blockfsm.machine.core import Rejected, Step, Tick, require, require_int
from blockfsm.machine.crypto import Signer, Verifier, require_signer
from blockfsm.machine.producer_selection import (
    ProducerSelector,
    child_selector,
    misses_primary,
    next_round_quorum,
    required_attestations,
)
from blockfsm.machine.producer_view import (
    PRODUCER_BLOCK_DOMAIN,
    BlockRef,
    CandidateBlock,
    KeeperSet,
    NextRoundSuccess,
    NextRoundVote,
    ProducedBlock,
    ProducerView,
    SigningGuard,
    candidate_payload,
    next_round_payload,
    next_round_vote_payload,
    produced_block_id,
)
from blockfsm.machine.types import MAX_U64

IDLE, ARMED, PRODUCING, HOLDING, STOPPED = "Idle", "Armed", "Producing", "Holding", "Stopped"
"""The producer's control states (``ProducerState.control``); ``blockfsm.spec.producer`` states
them again."""

__all__ = [
    "PRODUCER_BLOCK_DOMAIN",
    "NextRoundVote",
    "ProducerConfig",
    "ProducerState",
    "SigningGuard",
    "initial",
]

UPSTREAM_BUFFER_CAP = 30
_ACTIVE = (ARMED, PRODUCING, HOLDING)


@attrs.frozen(kw_only=True)
class ProducerConfig:
    """Defaults follow upstream: buffer of 30, a production tick at 0.9 x 330 ms, optimistic
    state saved every 200 blocks."""

    signer: Signer = attrs.field(eq=False, hash=False)
    verifier: Verifier | None = attrs.field(default=None, eq=False, hash=False)
    buffer_cap: int = UPSTREAM_BUFFER_CAP
    production_period: int = 297
    save_state_frequency: int = 200
    primary_deadline: int = 2
    fallback_deadline: int = 4

    def __attrs_post_init__(self) -> None:
        require_signer(self.signer)
        require_int(self.buffer_cap, "buffer_cap", 1, 10_000)
        require_int(self.production_period, "production_period (ms)", 1, 3_600_000)
        require_int(self.save_state_frequency, "save_state_frequency", 1, 1_000_000)
        require_int(self.primary_deadline, "primary_deadline (blocks)", 1, 10_000)
        require_int(self.fallback_deadline, "fallback_deadline (blocks)", 1, 10_000)
        require(
            self.fallback_deadline > self.primary_deadline,
            f"fallback_deadline ({self.fallback_deadline}) must be later than primary_deadline "
            f"({self.primary_deadline})",
        )


# --- events --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StartParams:
    """Upstream's StartBlockProducerThreadInitialParameters, reduced to the continuation point;
    a round > 0 takeover carries the keepers' NextRound votes for (round, parent)."""

    parent_id: bytes
    parent_seq_no: int
    parent_height: int
    round: int
    votes: tuple[NextRoundVote, ...] = ()


@attrs.frozen(kw_only=True)
class Start:
    params: StartParams


@attrs.frozen(kw_only=True)
class Stop:
    """Halt production and drop the buffer (upstream has no Stop command)."""


@attrs.frozen(kw_only=True)
class BlockBuilt:
    """The executor's answer to ``BuildBlock(session, build_id, ...)``."""

    session: int
    build_id: int
    block: ProducedBlock


@attrs.frozen(kw_only=True)
class AttestationReceived:
    block_id: bytes
    count: int


@attrs.frozen(kw_only=True)
class FinalizationAdvanced:
    block_id: bytes
    seq_no: int


@attrs.frozen(kw_only=True)
class KeeperSetChanged:
    keepers: KeeperSet


@attrs.frozen(kw_only=True)
class ParentInvalidated:
    block_id: bytes


@attrs.frozen(kw_only=True)
class StateSyncRequested:
    seq_no: int


@attrs.frozen(kw_only=True)
class Restarted:
    """The node restarted: the buffer and the session, held only in memory, are gone; the
    signing guard and keeper-set knowledge are durable and survive."""


# --- effects -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StartExecutor:
    session: int
    parent: BlockRef


@attrs.frozen(kw_only=True)
class StopExecutor:
    session: int


@attrs.frozen(kw_only=True)
class BuildBlock:
    """Ask the executor for the block on ``parent``; the answer is a ``BlockBuilt``."""

    session: int
    build_id: int
    parent: BlockRef


@attrs.frozen(kw_only=True)
class PersistSigningGuard:
    """Store ``guard`` durably before executing the rest of the step's effects."""

    guard: SigningGuard


@attrs.frozen(kw_only=True)
class RebroadcastCandidate:
    """Send again a locked candidate another producer signed (a NextRound takeover)."""

    candidate: CandidateBlock


@attrs.frozen(kw_only=True)
class SendToSelf:
    candidate: CandidateBlock


@attrs.frozen(kw_only=True)
class BroadcastCandidate:
    candidate: CandidateBlock


@attrs.frozen(kw_only=True)
class BroadcastNextRoundSuccess:
    announcement: NextRoundSuccess


@attrs.frozen(kw_only=True)
class SaveOptimisticState:
    block_id: bytes
    seq_no: int
    reason: str  # "frequency" or "state_sync"


@attrs.frozen(kw_only=True)
class ExternalMessageFeedback:
    block_id: bytes
    messages: tuple[int, ...]


@attrs.frozen(kw_only=True)
class RestoreMessages:
    block_id: bytes
    messages: tuple[int, ...]


# --- state ---------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProducerState:
    """``guard`` is the durable part (see ``SigningGuard``); the rest lives in memory only."""

    control: str
    now: int = -1
    next_due: int = 0
    session: int = 0
    params: StartParams | None = None
    base: BlockRef | None = None
    last_produced: BlockRef | None = None
    round: int = 0
    buffer: tuple[ProducedBlock, ...] = ()
    building: int = -1
    next_build: int = 0
    hold: str = ""
    assumed_epoch: int = -1
    epoch: int = -1
    in_keeper_set: bool = True
    state_sync_at: int = -1
    guard: SigningGuard = attrs.field(factory=SigningGuard)


def initial(config: ProducerConfig, guard: SigningGuard | None = None) -> ProducerState:
    """A fresh producer; after a crash pass the last guard a ``PersistSigningGuard`` stored."""
    if guard is None:
        return ProducerState(control=IDLE)
    require(type(guard) is SigningGuard, "guard must be a SigningGuard or None")
    return ProducerState(control=IDLE, guard=guard)


# --- update_candidate_common_section ---------------------------------------------------------

SUCCESS = "Success"
NOT_READY_YET = "NotReadyYet"
ANCESTOR_NOT_READY_YET = "AncestorIsNotReadyYet"
ABORT_NOT_IN_BK_SET = "AbortNotInBKSet"
FAILED_TO_BUILD_CHAIN = "FailedToBuildChainToTheLastFinalizedBlock"


@attrs.frozen(kw_only=True)
class CommonSection:
    """The outcome, and on Success the selector and fallback flag the candidate carries."""

    outcome: str
    selector: ProducerSelector | None = None
    fallback: bool = False


def update_candidate_common_section(
    config: ProducerConfig, view: ProducerView, block: ProducedBlock, rounds: int = 0
) -> CommonSection:
    """Walk from ``block``'s parent to the last finalized block and decide whether ``block`` may
    be signed now. Severity order: AbortNotInBKSet, FailedToBuildChain..., AncestorIsNotReadyYet,
    NotReadyYet, Success (a missing ancestor hides anything above it). On Success the selector is
    the parent's moved by ``rounds`` (the caller checks that it names us)."""
    keepers = view.keeper_set()
    members = keepers.members
    key = config.signer.public_key
    if key not in members:
        return CommonSection(outcome=ABORT_NOT_IN_BK_SET)
    n = len(members)
    final = view.last_finalized()
    not_ready = attestations_missing = fallback = False
    seq_no = block.seq_no
    info = view.block(block.parent_id)
    parent_selector = info.selector if info is not None else None
    while True:
        if info is None:
            not_ready = True
            break
        if info.seq_no >= seq_no:
            return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
        if info.seq_no <= final.seq_no:
            if info.seq_no != final.seq_no or info.block_id != final.block_id:
                return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
            break
        if info.invalidated:
            return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
        if not info.data_ready:
            not_ready = True
        depth = block.seq_no - info.seq_no
        required = required_attestations(
            n, depth, config.primary_deadline, config.fallback_deadline
        )
        if info.attestations < required:
            attestations_missing = True
        elif misses_primary(info.attestations, n, depth, config.primary_deadline):
            fallback = True
        seq_no = info.seq_no
        info = view.block(info.parent_id)
    if not_ready:
        return CommonSection(outcome=ANCESTOR_NOT_READY_YET)
    if attestations_missing:
        return CommonSection(outcome=NOT_READY_YET)
    selector = child_selector(parent_selector, keepers.seed, n, rounds)
    return CommonSection(outcome=SUCCESS, selector=selector, fallback=fallback)


def selected_producer(members: tuple[bytes, ...], selector: ProducerSelector) -> bytes | None:
    return selector.producer(members)


# --- step ----------------------------------------------------------------------------------------


def step(config: ProducerConfig, state: ProducerState, event: Any, view: ProducerView) -> Step:
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"producer does not take {type(event).__name__}")
    return handler(config, state, event, view)


def _u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


def _is_id(value: object) -> bool:
    return type(value) is bytes and len(value) == 32


def _tip(state: ProducerState) -> BlockRef:
    if state.buffer:
        return state.buffer[-1].ref
    ref = state.last_produced if state.last_produced is not None else state.base
    assert ref is not None
    return ref


def _restore(buffer: tuple[ProducedBlock, ...]) -> list[Any]:
    return [RestoreMessages(block_id=b.block_id, messages=b.inputs) for b in buffer]


def _halt(state: ProducerState, control: str, *, keep_progress: bool) -> ProducerState:
    """Nothing running; the buffer is gone (its messages restored by the caller)."""
    return ProducerState(
        control=control,
        now=state.now,
        session=state.session,
        params=state.params if keep_progress else None,
        last_produced=state.last_produced if keep_progress else None,
        next_build=state.next_build,
        epoch=state.epoch,
        in_keeper_set=state.in_keeper_set,
        state_sync_at=state.state_sync_at,
        guard=state.guard,
    )


def _stop_effects(state: ProducerState) -> tuple[Any, ...]:
    return (StopExecutor(session=state.session), *_restore(state.buffer))


def _well_formed_candidate(c: object) -> bool:
    return (
        type(c) is CandidateBlock
        and _well_formed_block(c.block)
        and _u64(c.round)
        and type(c.selector) is ProducerSelector
        and type(c.selector.seed) is bytes
        and _u64(c.selector.index)
        and type(c.fallback) is bool
        and type(c.signature) is bytes
    )


def _well_formed_vote(v: object) -> bool:
    return (
        type(v) is NextRoundVote
        and _u64(v.round)
        and _is_id(v.parent_id)
        and _is_id(v.keeper)
        and type(v.signature) is bytes
        and (v.locked is None or _well_formed_candidate(v.locked))
    )


def _well_formed_params(p: object) -> bool:
    return (
        type(p) is StartParams
        and _is_id(p.parent_id)
        and _u64(p.parent_seq_no)
        and _u64(p.parent_height)
        and _u64(p.round)
        and type(p.votes) is tuple
        and all(_well_formed_vote(v) for v in p.votes)
    )


def _lock_valid(config: ProducerConfig, p: StartParams, c: CandidateBlock) -> bool:
    """A locked candidate extends the Start's parent by one, its id commits to its fields and its
    producer signed it."""
    b = c.block
    verifier = config.verifier
    return (
        verifier is not None
        and b.parent_id == p.parent_id
        and b.seq_no == p.parent_seq_no + 1
        and b.height == p.parent_height + 1
        and b.block_id
        == produced_block_id(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
        and verifier.verify(
            b.producer, candidate_payload(b, c.round, c.selector, c.fallback), c.signature
        )
    )


def _vote_valid(
    config: ProducerConfig, p: StartParams, members: tuple[bytes, ...], v: NextRoundVote
) -> bool:
    verifier = config.verifier
    locked_id = v.locked.block.block_id if v.locked is not None else None
    return (
        verifier is not None
        and v.round == p.round
        and v.parent_id == p.parent_id
        and v.keeper in members
        and verifier.verify(
            v.keeper,
            next_round_vote_payload(v.round, v.parent_id, v.keeper, locked_id),
            v.signature,
        )
        and (v.locked is None or _lock_valid(config, p, v.locked))
    )


def _takeover(
    config: ProducerConfig, p: StartParams, members: tuple[bytes, ...]
) -> tuple[bool, CandidateBlock | None]:
    """(quorum reached, the locked candidate to re-broadcast): distinct keepers' valid votes; of
    several locks the one with the smallest block id (two attested blocks on one parent cannot
    both have honest quorums)."""
    voters: set[bytes] = set()
    lock: CandidateBlock | None = None
    for v in p.votes:
        if v.keeper in voters or not _vote_valid(config, p, members, v):
            continue
        voters.add(v.keeper)
        if v.locked is not None and (lock is None or v.locked.block.block_id < lock.block.block_id):
            lock = v.locked
    return len(voters) >= next_round_quorum(len(members)), lock


def _on_start(
    config: ProducerConfig, state: ProducerState, event: Start, view: ProducerView
) -> Step:
    p = event.params
    if not _well_formed_params(p):
        return Step(state, (Rejected(reason="malformed_start"),))
    active = state.control in _ACTIVE
    if active and state.params == p:
        return Step(state, ())
    continuing = state.last_produced is not None and state.params == p
    if continuing:
        assert state.last_produced is not None
        base = state.last_produced
        last_produced: BlockRef | None = base
    else:
        base = BlockRef(block_id=p.parent_id, seq_no=p.parent_seq_no, height=p.parent_height)
        last_produced = None
    stopping = _stop_effects(state) if active else ()
    if base.seq_no < view.last_finalized().seq_no:
        return Step(_halt(state, IDLE, keep_progress=False), stopping)
    parent = view.block(base.block_id)
    if parent is None:
        return Step(state, (Rejected(reason="unknown_parent"),))
    keepers = view.keeper_set()
    members = keepers.members
    key = config.signer.public_key
    rounds = 0 if continuing else p.round
    selector = child_selector(parent.selector, keepers.seed, len(members), rounds)
    if key not in members or not state.in_keeper_set or selected_producer(members, selector) != key:
        return Step(state, (Rejected(reason="not_selected"),))
    effects: list[Any] = []
    guard = state.guard
    lock: CandidateBlock | None = None
    if rounds > 0:
        quorum, lock = _takeover(config, p, members)
        if not quorum:
            return Step(state, (Rejected(reason="no_next_round_quorum"),))
        announced = guard.announced
        for r, height, parent_id in announced:
            if r == p.round and height == base.height and parent_id != base.block_id:
                return Step(state, (Rejected(reason="round_already_announced"),))
        if (p.round, base.height, base.block_id) not in announced:
            final_height = view.last_finalized().height
            kept = tuple(a for a in announced if a[1] >= final_height)
            guard = attrs.evolve(guard, announced=(*kept, (p.round, base.height, base.block_id)))
            effects.append(PersistSigningGuard(guard=guard))
            payload = next_round_payload(p.round, base.block_id, key)
            effects.append(
                BroadcastNextRoundSuccess(
                    announcement=NextRoundSuccess(
                        round=p.round,
                        parent_id=base.block_id,
                        producer=key,
                        signature=config.signer.sign(payload),
                    )
                )
            )
    if lock is not None:
        halted = attrs.evolve(_halt(state, IDLE, keep_progress=False), guard=guard)
        return Step(halted, (*stopping, *effects, RebroadcastCandidate(candidate=lock)))
    session = state.session + 1
    build_id = state.next_build
    effects = [*stopping, *effects]
    effects.append(StartExecutor(session=session, parent=base))
    effects.append(BuildBlock(session=session, build_id=build_id, parent=base))
    new_state = ProducerState(
        control=ARMED,
        now=state.now,
        next_due=state.now,
        session=session,
        params=p,
        base=base,
        last_produced=last_produced,
        round=p.round,
        building=build_id,
        next_build=build_id + 1,
        assumed_epoch=state.epoch,
        epoch=state.epoch,
        in_keeper_set=state.in_keeper_set,
        state_sync_at=state.state_sync_at,
        guard=guard,
    )
    return Step(new_state, tuple(effects))


def _on_stop(config: ProducerConfig, state: ProducerState, event: Stop, view: ProducerView) -> Step:
    if state.control not in _ACTIVE:
        return Step(state, ())
    return Step(_halt(state, STOPPED, keep_progress=True), _stop_effects(state))


def _on_tick(config: ProducerConfig, state: ProducerState, event: Tick, view: ProducerView) -> Step:
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return Step(state, (Rejected(reason="clock_regressed"),))
    control = state.control
    due = now >= state.next_due
    if control == PRODUCING:
        if not due:
            return Step(attrs.evolve(state, now=now), ())
        if not state.buffer:
            return Step(attrs.evolve(state, now=now, next_due=now + config.production_period), ())
        return _evaluate(config, state, now, view)
    if control == HOLDING:
        if due:
            return Step(attrs.evolve(state, control=PRODUCING, now=now, next_due=now, hold=""), ())
        return Step(attrs.evolve(state, now=now), ())
    return Step(attrs.evolve(state, now=now), ())


def _drop(state: ProducerState) -> Step:
    return Step(_halt(state, STOPPED, keep_progress=False), _stop_effects(state))


def _evaluate(config: ProducerConfig, state: ProducerState, now: int, view: ProducerView) -> Step:
    head = state.buffer[0]
    final_seq_no = view.last_finalized().seq_no
    if head.seq_no <= final_seq_no:
        return _drop(state)
    rounds = state.round if state.last_produced is None else 0
    section = update_candidate_common_section(config, view, head, rounds)
    next_due = now + config.production_period
    outcome = section.outcome
    if outcome in (ABORT_NOT_IN_BK_SET, FAILED_TO_BUILD_CHAIN):
        return _drop(state)
    if outcome != SUCCESS:
        waiting_for_attestation = outcome == NOT_READY_YET
        held = attrs.evolve(
            state,
            control=HOLDING,
            now=now,
            next_due=next_due,
            hold="attestation" if waiting_for_attestation else "ancestor",
        )
        return Step(held, ())
    # the assumptions check
    if not state.in_keeper_set:
        return _drop(state)
    if state.epoch != state.assumed_epoch:
        parent = state.last_produced if state.last_produced is not None else state.base
        assert parent is not None
        build_id = state.next_build
        restarted = attrs.evolve(
            state,
            control=PRODUCING,
            now=now,
            next_due=next_due,
            buffer=(),
            building=build_id,
            next_build=build_id + 1,
            hold="",
            assumed_epoch=state.epoch,
        )
        effects = (
            *_stop_effects(state),
            StartExecutor(session=state.session, parent=parent),
            BuildBlock(session=state.session, build_id=build_id, parent=parent),
        )
        return Step(restarted, effects)
    # only the selected producer produces
    assert section.selector is not None
    if selected_producer(view.keeper_set().members, section.selector) != config.signer.public_key:
        return _drop(state)
    # the durable (height, round) signing guard
    round_ = state.round
    signed = []
    for r, height, seq_no in state.guard.blocks:
        if r == round_:
            if height >= head.height:
                return _drop(state)
            continue
        if seq_no > final_seq_no:
            signed.append((r, height, seq_no))
    signed.append((round_, head.height, head.seq_no))
    guard = attrs.evolve(state.guard, blocks=tuple(signed))
    candidate = CandidateBlock(
        block=head,
        round=round_,
        selector=section.selector,
        fallback=section.fallback,
        signature=config.signer.sign(
            candidate_payload(head, round_, section.selector, section.fallback)
        ),
    )
    effects_list: list[Any] = [
        PersistSigningGuard(guard=guard),
        SendToSelf(candidate=candidate),
        BroadcastCandidate(candidate=candidate),
        ExternalMessageFeedback(block_id=head.block_id, messages=head.inputs),
    ]
    if head.seq_no % config.save_state_frequency == 0:
        effects_list.append(
            SaveOptimisticState(block_id=head.block_id, seq_no=head.seq_no, reason="frequency")
        )
    state_sync_at = state.state_sync_at
    if 0 <= state_sync_at <= head.seq_no:
        effects_list.append(
            SaveOptimisticState(block_id=head.block_id, seq_no=head.seq_no, reason="state_sync")
        )
        state_sync_at = -1
    buffer = state.buffer[1:]
    building, next_build = state.building, state.next_build
    if building < 0 and len(buffer) < config.buffer_cap:
        building, next_build = next_build, next_build + 1
        effects_list.append(
            BuildBlock(session=state.session, build_id=building, parent=_tip_of(buffer, head))
        )
    new_state = ProducerState(
        control=PRODUCING,
        now=now,
        next_due=next_due,
        session=state.session,
        params=state.params,
        base=state.base,
        last_produced=head.ref,
        round=round_,
        buffer=buffer,
        building=building,
        next_build=next_build,
        assumed_epoch=state.assumed_epoch,
        epoch=state.epoch,
        in_keeper_set=state.in_keeper_set,
        state_sync_at=state_sync_at,
        guard=guard,
    )
    return Step(new_state, tuple(effects_list))


def _tip_of(buffer: tuple[ProducedBlock, ...], last: ProducedBlock) -> BlockRef:
    return buffer[-1].ref if buffer else last.ref


def _well_formed_block(b: object) -> bool:
    return (
        type(b) is ProducedBlock
        and _is_id(b.block_id)
        and _is_id(b.parent_id)
        and _u64(b.seq_no)
        and _u64(b.height)
        and type(b.state) is bytes
        and type(b.inputs) is tuple
        and all(_u64(m) for m in b.inputs)
        and type(b.producer) is bytes
    )


def _on_built(
    config: ProducerConfig, state: ProducerState, event: BlockBuilt, view: ProducerView
) -> Step:
    b = event.block
    if not (_u64(event.session) and _u64(event.build_id) and _well_formed_block(b)):
        return Step(state, (Rejected(reason="malformed_build"),))
    if (
        state.control not in _ACTIVE
        or event.session != state.session
        or event.build_id != state.building
    ):
        return Step(state, (RestoreMessages(block_id=b.block_id, messages=b.inputs),))
    parent = _tip(state)
    if (
        b.parent_id != parent.block_id
        or b.seq_no != parent.seq_no + 1
        or b.height != parent.height + 1
        or b.producer != config.signer.public_key
        or b.block_id
        != produced_block_id(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
    ):
        assert state.building >= 0
        return Step(
            state,
            (
                Rejected(reason="inconsistent_build"),
                RestoreMessages(block_id=b.block_id, messages=b.inputs),
                BuildBlock(session=state.session, build_id=state.building, parent=parent),
            ),
        )
    buffer = (*state.buffer, b)
    control = PRODUCING if state.control == ARMED else state.control
    if len(buffer) < config.buffer_cap:
        build_id = state.next_build
        new_state = attrs.evolve(
            state, control=control, buffer=buffer, building=build_id, next_build=build_id + 1
        )
        return Step(
            new_state, (BuildBlock(session=state.session, build_id=build_id, parent=b.ref),)
        )
    return Step(attrs.evolve(state, control=control, buffer=buffer, building=-1), ())


def _on_attestation(
    config: ProducerConfig, state: ProducerState, event: AttestationReceived, view: ProducerView
) -> Step:
    if not (_is_id(event.block_id) and _u64(event.count)):
        return Step(state, (Rejected(reason="malformed_attestation"),))
    if state.control == HOLDING:
        return Step(_release(state), ())
    return Step(state, ())


def _release(state: ProducerState) -> ProducerState:
    """A held head is re-evaluated at the next Tick."""
    return attrs.evolve(state, control=PRODUCING, next_due=state.now, hold="")


def _on_finalization(
    config: ProducerConfig, state: ProducerState, event: FinalizationAdvanced, view: ProducerView
) -> Step:
    if not (_is_id(event.block_id) and _u64(event.seq_no)):
        return Step(state, (Rejected(reason="malformed_finalization"),))
    # Armed has built nothing yet: a buffer there is not one of its own to drop.
    if (
        state.control in (PRODUCING, HOLDING)
        and state.buffer
        and state.buffer[0].seq_no <= event.seq_no
    ):
        return _drop(state)
    if state.control == HOLDING:
        return Step(_release(state), ())
    return Step(state, ())


def _valid_keepers(k: object) -> bool:
    return (
        type(k) is KeeperSet
        and _u64(k.epoch)
        and type(k.seed) is bytes
        and type(k.members) is tuple
        and len(k.members) > 0
        and all(_is_id(m) for m in k.members)
        and len(frozenset(k.members)) == len(k.members)
    )


def _on_keepers(
    config: ProducerConfig, state: ProducerState, event: KeeperSetChanged, view: ProducerView
) -> Step:
    k = event.keepers
    if not _valid_keepers(k):
        return Step(state, (Rejected(reason="malformed_keeper_set"),))
    if k.epoch <= state.epoch:
        return Step(state, ())
    inside = config.signer.public_key in k.members
    updated = attrs.evolve(state, epoch=k.epoch, in_keeper_set=inside)
    if state.control == HOLDING:
        updated = _release(updated)
    return Step(updated, ())


def _on_invalidated(
    config: ProducerConfig, state: ProducerState, event: ParentInvalidated, view: ProducerView
) -> Step:
    block_id = event.block_id
    if not _is_id(block_id):
        return Step(state, (Rejected(reason="malformed_invalidation"),))
    if state.control not in _ACTIVE:
        return Step(state, ())
    hit = (state.base is not None and state.base.block_id == block_id) or (
        state.last_produced is not None and state.last_produced.block_id == block_id
    )
    if not hit:
        for b in state.buffer:
            if b.block_id == block_id:
                hit = True
                break
    if hit:
        return _drop(state)
    return Step(state, ())


def _on_state_sync(
    config: ProducerConfig, state: ProducerState, event: StateSyncRequested, view: ProducerView
) -> Step:
    if not _u64(event.seq_no):
        return Step(state, (Rejected(reason="malformed_state_sync"),))
    return Step(attrs.evolve(state, state_sync_at=event.seq_no), ())


def _on_restarted(
    config: ProducerConfig, state: ProducerState, event: Restarted, view: ProducerView
) -> Step:
    return Step(
        ProducerState(
            control=IDLE,
            session=state.session,
            next_build=state.next_build,
            epoch=state.epoch,
            in_keeper_set=state.in_keeper_set,
            guard=state.guard,
        ),
        (),
    )


_HANDLERS: dict[type, Callable[..., Step]] = {
    Start: _on_start,
    Stop: _on_stop,
    Tick: _on_tick,
    BlockBuilt: _on_built,
    AttestationReceived: _on_attestation,
    FinalizationAdvanced: _on_finalization,
    KeeperSetChanged: _on_keepers,
    ParentInvalidated: _on_invalidated,
    StateSyncRequested: _on_state_sync,
    Restarted: _on_restarted,
}
