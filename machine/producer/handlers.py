"""The producer's ``step``: each event to its handler, and the evaluation of the buffer head on a
due ``Tick``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from blockfsm.machine.core import Step, Tick
from blockfsm.machine.producer.checks import (
    _is_id,
    _u64,
    _valid_keepers,
    _vote_valid,
    _well_formed_block,
    _well_formed_params,
)
from blockfsm.machine.producer.common_section import (
    ABORT_NOT_IN_BK_SET,
    FAILED_TO_BUILD_CHAIN,
    NOT_READY_YET,
    SUCCESS,
    selected_producer,
    update_candidate_common_section,
)
from blockfsm.machine.producer.effects import (
    BroadcastCandidate,
    BroadcastNextRoundSuccess,
    BuildBlock,
    ExternalMessageFeedback,
    PersistSigningGuard,
    RebroadcastCandidate,
    Rejected,
    RestoreMessages,
    SaveOptimisticState,
    SendToSelf,
    StartExecutor,
    StopExecutor,
)
from blockfsm.machine.producer.events import (
    AttestationReceived,
    BlockBuilt,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    Restarted,
    Start,
    StartParams,
    StateSyncRequested,
    Stop,
)
from blockfsm.machine.producer.state import (
    _ACTIVE,
    ARMED,
    HOLDING,
    IDLE,
    PRODUCING,
    STOPPED,
    ProducerConfig,
    ProducerState,
)
from blockfsm.machine.producer_selection import child_selector, next_round_quorum
from blockfsm.machine.producer_view import (
    BlockRef,
    CandidateBlock,
    NextRoundSuccess,
    ProducedBlock,
    ProducerView,
    candidate_payload,
    next_round_payload,
    produced_block_id,
)
from blockfsm.machine.types import MAX_U64


def step(config: ProducerConfig, state: ProducerState, event: Any, view: ProducerView) -> Step:
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"producer does not take {type(event).__name__}")
    return handler(config, state, event, view)


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
