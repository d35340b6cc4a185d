"""Spec of the block producer (Acki Nacki ``block_producer.rs``), as a pure machine.

Upstream runs the producer as a thread with blocking waits on mutexes and condition variables;
here every wait is a control state and every wake-up an event. This module states the rules;
``blockfsm.machine.producer`` implements them separately, and the conformance checker holds one
against the other on every step. The classification functions below are the spec's own statement
of each rule; the machine does not import them.

Lifecycle. ``Idle`` until a ``Start(params)``; the continuation point is the last produced block
when this node already produced under the same params, else the Start's parent; a continuation
below the last finalized seq_no drops back to ``Idle``. ``Armed``: the executor is started and the
first build requested. ``Producing``: built blocks queue in a buffer (at most ``buffer_cap``); on
each due ``Tick`` the head of the buffer goes through ``update_candidate_common_section``:

- Success, then the assumptions check: not in the keeper set any more -> stop; keeper-set epoch
  changed while still in it -> restart on the same parent; then the (height, round) signing guard;
  then sign, send to self, broadcast once, save optimistic state on the frequency boundary;
- NotReadyYet (an ancestor lacks its attestations) -> ``Holding`` until the next
  ``AttestationReceived`` releases it, then re-evaluated at the next Tick;
- AncestorIsNotReadyYet (ancestor data missing) -> ``Holding`` until the next due Tick releases
  it, then re-evaluated at the Tick after;
- AbortNotInBKSet, FailedToBuildChainToTheLastFinalizedBlock -> ``Stopped``, everything dropped.

``Stop`` (upstream has none: a TODO) and aborts end in ``Stopped`` until a new Start.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.producer_view import BlockRef
from blockfsm.spec.language import (
    Guard,
    Invariant,
    Liveness,
    MachineSpec,
    RowDraft,
    Transition,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)
from blockfsm.spec.producer_rules import (
    MAX_U64,
    ancestor_blocks,
    ancestor_on_fallback,
    block_id_of,
    candidate_bytes,
    derived_selector,
    is_u64,
    named_by,
    next_round_quorum,
    next_round_success_bytes,
    next_round_vote_bytes,
)

IDLE = "Idle"
ARMED = "Armed"
PRODUCING = "Producing"
HOLDING = "Holding"
STOPPED = "Stopped"
ACTIVE = (ARMED, PRODUCING, HOLDING)
INACTIVE = (IDLE, STOPPED)

UPSTREAM_CAP_BOUND = 33
"""PL-1's bound in ticks for upstream's buffer of 30; campaigns use buffer_cap + 3."""

HOLD_ATTESTATION = "attestation"
HOLD_ANCESTOR = "ancestor"

# --- the spec's statement of how an input is classified ----------------------------------------


def _is_id(value: object) -> bool:
    return type(value) is bytes and len(value) == 32


def tip(state: Any) -> BlockRef | None:
    """Where the next block is built: on the newest buffered block, else on the last produced
    block of this session, else on the continuation point."""
    if state.buffer:
        return state.buffer[-1].ref  # type: ignore[no-any-return]
    return state.last_produced if state.last_produced is not None else state.base  # type: ignore[no-any-return]


def continuation(state: Any, params: Any) -> BlockRef:
    if state.last_produced is not None and state.params == params:
        return state.last_produced  # type: ignore[no-any-return]
    return BlockRef(
        block_id=params.parent_id, seq_no=params.parent_seq_no, height=params.parent_height
    )


def _candidate_ok(c: Any) -> bool:
    if type(c).__name__ != "CandidateBlock" or not block_well_formed(c.block):
        return False
    sel = c.selector
    return (
        is_u64(c.round)
        and type(sel).__name__ == "ProducerSelector"
        and type(sel.seed) is bytes
        and is_u64(sel.index)
        and type(c.fallback) is bool
        and type(c.signature) is bytes
    )


def _vote_ok(v: Any) -> bool:
    return (
        type(v).__name__ == "NextRoundVote"
        and is_u64(v.round)
        and _is_id(v.parent_id)
        and _is_id(v.keeper)
        and type(v.signature) is bytes
        and (v.locked is None or _candidate_ok(v.locked))
    )


def params_well_formed(p: Any) -> bool:
    return (
        type(p).__name__ == "StartParams"
        and _is_id(p.parent_id)
        and is_u64(p.parent_seq_no)
        and is_u64(p.parent_height)
        and is_u64(p.round)
        and type(p.votes) is tuple
        and all(_vote_ok(v) for v in p.votes)
    )


def lock_acceptable(config: Any, p: Any, c: Any) -> bool:
    """A reported lock counts only if it is a block on the Start's parent, one position up, whose
    id commits to its contents and which its producer signed."""
    b = c.block
    return (
        config.verifier is not None
        and b.parent_id == p.parent_id
        and b.seq_no == p.parent_seq_no + 1
        and b.height == p.parent_height + 1
        and b.block_id
        == block_id_of(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
        and config.verifier.verify(
            b.producer,
            candidate_bytes(b, c.round, c.selector.seed, c.selector.index, c.fallback),
            c.signature,
        )
    )


def counted_votes(config: Any, p: Any, members: Any) -> tuple[set[bytes], list[Any]]:
    """The keepers whose votes count for (p.round, p.parent_id), each once, and their locks."""
    voters: set[bytes] = set()
    locks = []
    for v in p.votes:
        if v.keeper in voters or config.verifier is None:
            continue
        lock_id = None if v.locked is None else v.locked.block.block_id
        if not (
            v.round == p.round
            and v.parent_id == p.parent_id
            and v.keeper in members
            and config.verifier.verify(
                v.keeper,
                next_round_vote_bytes(v.round, v.parent_id, v.keeper, lock_id),
                v.signature,
            )
        ):
            continue
        if v.locked is not None and not lock_acceptable(config, p, v.locked):
            continue
        voters.add(v.keeper)
        if v.locked is not None:
            locks.append(v.locked)
    return voters, locks


def start_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``malformed``, ``same`` (already producing with these params), ``below_finalized``
    (continuation point below the last finalized seq_no), ``unknown_parent``, ``not_selected``
    (the selector derived from the parent's and the round names another keeper, or we are not in
    both keeper sets), ``no_quorum`` (a takeover without ceil((N+1)/2) counted NextRound votes),
    ``announced_elsewhere`` (this round was announced at this height for another parent),
    ``locked`` (a counted vote reports a locked block: re-broadcast it), or ``begin``."""
    p = event.params
    if not params_well_formed(p):
        return "malformed"
    if state.control in ACTIVE and state.params == p:
        return "same"
    base = continuation(state, p)
    if base.seq_no < view.last_finalized().seq_no:
        return "below_finalized"
    parent = view.block(base.block_id)
    if parent is None:
        return "unknown_parent"
    keepers = view.keeper_set()
    me = config.signer.public_key
    continuing = state.last_produced is not None and state.params == p
    rounds = 0 if continuing else p.round
    seed, index = derived_selector(parent.selector, keepers.seed, len(keepers.members), rounds)
    if (
        me not in keepers.members
        or not state.in_keeper_set
        or named_by(keepers.members, seed, index) != me
    ):
        return "not_selected"
    if rounds == 0:
        return "begin"
    voters, locks = counted_votes(config, p, keepers.members)
    if len(voters) < next_round_quorum(len(keepers.members)):
        return "no_quorum"
    if any(
        r == p.round and h == base.height and i != base.block_id
        for r, h, i in state.guard.announced
    ):
        return "announced_elsewhere"
    return "locked" if locks else "begin"


def tick_regressed(state: Any, event: Any) -> bool:
    now = event.now
    return type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now


def common_section_outcome(config: Any, view: Any, head: Any) -> tuple[str, bool]:
    """The spec's ``update_candidate_common_section``: (outcome, produced on the fallback path).

    Outcomes in priority order: ``not_in_keeper_set`` (AbortNotInBKSet); ``chain_broken``
    (FailedToBuildChainToTheLastFinalizedBlock: an invalidated ancestor, seq_nos not decreasing
    towards the root, or the walk meets the last finalized seq_no at another block);
    ``ancestor_not_ready`` (AncestorIsNotReadyYet: an ancestor unknown or its data not ready);
    ``attestations_not_ready`` (NotReadyYet: an ancestor at or past the fallback deadline without
    floor(N/2)+1 attestations); ``ready`` (Success)."""
    keepers = view.keeper_set()
    if config.signer.public_key not in keepers.members:
        return "not_in_keeper_set", False
    final = view.last_finalized()
    chain = []
    missing = broken = False
    previous = head.seq_no
    info = view.block(head.parent_id)
    while True:
        if info is None:
            missing = True
            break
        if info.seq_no >= previous:
            broken = True
            break
        if info.seq_no <= final.seq_no:
            broken = info.seq_no != final.seq_no or info.block_id != final.block_id
            break
        chain.append(info)
        previous = info.seq_no
        info = view.block(info.parent_id)
    if broken or any(i.invalidated for i in chain):
        return "chain_broken", False
    if missing or not all(i.data_ready for i in chain):
        return "ancestor_not_ready", False
    n = len(keepers.members)
    for i in chain:
        depth = head.seq_no - i.seq_no
        if ancestor_blocks(
            depth, i.attestations, n, config.primary_deadline, config.fallback_deadline
        ):
            return "attestations_not_ready", False
    fallback = any(
        ancestor_on_fallback(head.seq_no - i.seq_no, i.attestations, n, config.primary_deadline)
        for i in chain
    )
    return "ready", fallback


def head_selector(view: Any, state: Any) -> tuple[bytes, int]:
    """The head's selector: its parent's moved by the session's round for the first block on the
    Start's parent, else by 0 (we continue our own chain)."""
    head = state.buffer[0]
    keepers = view.keeper_set()
    parent = view.block(head.parent_id)
    rounds = state.round if state.last_produced is None else 0
    return derived_selector(parent.selector, keepers.seed, len(keepers.members), rounds)


def already_signed(state: Any, height: int, round_: int) -> bool:
    return any(r == round_ and h >= height for r, h, _ in state.guard.blocks)


def evaluation(config: Any, state: Any, view: Any) -> str:
    """What a due Tick does with the head of the buffer."""
    head = state.buffer[0]
    if head.seq_no <= view.last_finalized().seq_no:
        return "finalized_over"
    outcome, _ = common_section_outcome(config, view, head)
    if outcome != "ready":
        return outcome
    if not state.in_keeper_set:
        return "assumptions_stop"
    if state.epoch != state.assumed_epoch:
        return "assumptions_restart"
    seed, index = head_selector(view, state)
    if named_by(view.keeper_set().members, seed, index) != config.signer.public_key:
        return "not_selected"
    if already_signed(state, head.height, state.round):
        return "equivocation"
    return "broadcast"


OUTCOMES = (
    "finalized_over",
    "not_in_keeper_set",
    "chain_broken",
    "ancestor_not_ready",
    "attestations_not_ready",
    "assumptions_stop",
    "assumptions_restart",
    "not_selected",
    "equivocation",
    "broadcast",
)


def tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    if tick_regressed(state, event):
        return "regressed"
    if state.control == PRODUCING:
        if event.now < state.next_due:
            return "not_due"
        if not state.buffer:
            return "due_empty"
        return "due:" + evaluation(config, state, view)
    if state.control == HOLDING:
        if event.now >= state.next_due:
            return "release"
        return "waiting"
    return "clock"


def block_well_formed(b: Any) -> bool:
    return (
        type(b).__name__ == "ProducedBlock"
        and _is_id(b.block_id)
        and _is_id(b.parent_id)
        and is_u64(b.seq_no)
        and is_u64(b.height)
        and type(b.state) is bytes
        and type(b.inputs) is tuple
        and all(is_u64(m) for m in b.inputs)
        and type(b.producer) is bytes
    )


def built_kind(config: Any, state: Any, event: Any) -> str:
    """``malformed``, ``stale`` (not the outstanding request of this session), ``inconsistent``
    (does not extend the tip by one, is not ours, or its id does not commit to its fields), or
    ``accept``."""
    b = event.block
    if not (is_u64(event.session) and is_u64(event.build_id) and block_well_formed(b)):
        return "malformed"
    if (
        state.control not in ACTIVE
        or event.session != state.session
        or (event.build_id != state.building)
    ):
        return "stale"
    parent = tip(state)
    assert parent is not None
    if (
        b.parent_id != parent.block_id
        or b.seq_no != parent.seq_no + 1
        or b.height != parent.height + 1
        or b.producer != config.signer.public_key
        or b.block_id != block_id_of(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
    ):
        return "inconsistent"
    return "accept"


def attestation_kind(state: Any, event: Any) -> str:
    if not (_is_id(event.block_id) and is_u64(event.count)):
        return "malformed"
    if state.control == HOLDING:
        return "wake"
    return "noted"


def finalization_kind(state: Any, event: Any) -> str:
    if not (_is_id(event.block_id) and is_u64(event.seq_no)):
        return "malformed"
    # Only Producing and Holding have an ``overtaken`` row: Armed has built nothing yet.
    if (
        state.control in (PRODUCING, HOLDING)
        and state.buffer
        and state.buffer[0].seq_no <= event.seq_no
    ):
        return "overtaken"
    return "noted"


def keeper_set_valid(keepers: Any) -> bool:
    return (
        type(keepers).__name__ == "KeeperSet"
        and is_u64(keepers.epoch)
        and type(keepers.seed) is bytes
        and type(keepers.members) is tuple
        and len(keepers.members) > 0
        and all(_is_id(m) for m in keepers.members)
        and len(set(keepers.members)) == len(keepers.members)
    )


def keeper_kind(state: Any, event: Any) -> str:
    if not keeper_set_valid(event.keepers):
        return "malformed"
    if event.keepers.epoch <= state.epoch:
        return "stale"
    return "newer"


def invalidation_kind(state: Any, event: Any) -> str:
    if not _is_id(event.block_id):
        return "malformed"
    if state.control in ACTIVE:
        ids = {b.block_id for b in state.buffer}
        for ref in (state.base, state.last_produced):
            if ref is not None:
                ids.add(ref.block_id)
        if event.block_id in ids:
            return "affects"
    return "unrelated"


START_TEXT = {
    "malformed": "a param or a vote field has the wrong type or size",
    "unknown_parent": "the continuation point is not in the view",
    "not_selected": "the selector derived from the parent's and the round names another keeper, "
    "or we are not in both keeper sets",
    "no_quorum": "round > 0 without ceil((N+1)/2) distinct keepers' valid NextRound votes",
    "announced_elsewhere": "this round was already announced at this height for another parent",
    "locked": "a counted vote reports a locked block on the parent",
    "same": "already producing with equal params",
    "below_finalized": "continuation seq_no < last finalized seq_no",
    "begin": "well-formed, continuation at or above the last finalized seq_no",
}


def _start(kind: str) -> Guard:
    return classified(start_kind, kind, START_TEXT[kind])


OUTCOME_TEXT = {
    "finalized_over": "head seq_no <= last finalized seq_no",
    "not_in_keeper_set": "AbortNotInBKSet: we are not in the view's keeper set",
    "chain_broken": "FailedToBuildChainToTheLastFinalizedBlock",
    "ancestor_not_ready": "AncestorIsNotReadyYet",
    "attestations_not_ready": "NotReadyYet: an ancestor misses its fallback target",
    "assumptions_stop": "Success, but our latest keeper set excludes us",
    "assumptions_restart": "Success, but the keeper-set epoch changed (still in the set)",
    "not_selected": "Success, but the head's selector names another keeper",
    "equivocation": "Success, but (height, round) was already signed",
    "broadcast": "Success, assumptions hold, (height, round) not signed yet",
}

TICK_TEXT = {
    "regressed": "now < last tick, or now is not an unsigned 64-bit integer",
    "clock": "a valid Tick (nothing to produce in this state)",
    "not_due": "now < next_due",
    "due_empty": "due, buffer empty",
    "waiting": "a held head, not due",
    "release": "a held head, due: release it for the next Tick",
    **{"due:" + k: "due; " + v for k, v in OUTCOME_TEXT.items()},
}


def _tick(kind: str) -> Guard:
    return classified(tick_kind, kind, TICK_TEXT[kind])


def _simple(kind_fn: Any, kind: str, text: str) -> Guard:
    """For rules that depend on the state and the event alone."""
    return classified(lambda c, s, e, v: kind_fn(s, e), kind, text)


def _built(kind: str) -> Guard:
    text = {
        "malformed": "a field has the wrong type",
        "stale": "another session's, or not the outstanding build request",
        "inconsistent": "does not extend the tip by one, is not ours, or its id is wrong",
        "accept": "the outstanding request's block, extending the tip",
    }[kind]
    return Guard(name=kind, text=text, holds=lambda c, s, e, v: built_kind(c, s, e) == kind)


STOP = ("StopExecutor", "RestoreMessages*")
DROP = ("StopExecutor", "RestoreMessages+")
ANNOUNCE = ("PersistSigningGuard?", "BroadcastNextRoundSuccess?")
BEGIN = (*ANNOUNCE, "StartExecutor", "BuildBlock")
LOCKED = (*ANNOUNCE, "RebroadcastCandidate")
START_REJECTS = (
    ("unknown_parent", "unknown_parent"),
    ("not_selected", "not_selected"),
    ("no_quorum", "no_next_round_quorum"),
    ("announced_elsewhere", "round_already_announced"),
)
BROADCAST = (
    "PersistSigningGuard",
    "SendToSelf",
    "BroadcastCandidate",
    "ExternalMessageFeedback",
    "SaveOptimisticState*",
    "BuildBlock?",
)

OUTCOME_ROWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "finalized_over": (STOPPED, DROP),
    "not_in_keeper_set": (STOPPED, DROP),
    "chain_broken": (STOPPED, DROP),
    "ancestor_not_ready": (HOLDING, ()),
    "attestations_not_ready": (HOLDING, ()),
    "assumptions_stop": (STOPPED, DROP),
    "assumptions_restart": (PRODUCING, (*DROP, "StartExecutor", "BuildBlock")),
    "not_selected": (STOPPED, DROP),
    "equivocation": (STOPPED, DROP),
    "broadcast": (PRODUCING, BROADCAST),
}


def _common_rows(state: str) -> list[RowDraft]:
    """Rows every control state has: keeper sets, attestations, state sync, restart."""
    rows = [
        reject(
            state,
            "KeeperSetChanged",
            "malformed_keeper_set",
            guard=_simple(
                keeper_kind, "malformed", "epoch, seed or members malformed, empty or duplicated"
            ),
        ),
        ignore(
            state,
            "KeeperSetChanged",
            guard=_simple(keeper_kind, "stale", "epoch <= the epoch we know"),
        ),
        row(
            state,
            "KeeperSetChanged",
            PRODUCING if state == HOLDING else state,
            guard=_simple(keeper_kind, "newer", "epoch > the epoch we know"),
            note="remember the epoch and whether we are in the set"
            + ("; re-evaluate the held head at the next Tick" if state == HOLDING else ""),
        ),
        reject(
            state,
            "StateSyncRequested",
            "malformed_state_sync",
            guard=_simple(
                lambda s, e: "bad" if not is_u64(e.seq_no) else "ok",
                "bad",
                "seq_no is not an unsigned 64-bit integer",
            ),
        ),
        row(
            state,
            "StateSyncRequested",
            state,
            guard=_simple(
                lambda s, e: "bad" if not is_u64(e.seq_no) else "ok", "ok", "well-formed"
            ),
            note="save optimistic state at the first broadcast at or above seq_no",
        ),
        row(
            state,
            "Restarted",
            IDLE,
            note="the memento lives in memory only: all is lost "
            "but the durable signing guard and the keeper-set knowledge",
        ),
        reject(
            state,
            "AttestationReceived",
            "malformed_attestation",
            guard=_simple(attestation_kind, "malformed", "block id or count malformed"),
        ),
        reject(
            state,
            "FinalizationAdvanced",
            "malformed_finalization",
            guard=_simple(finalization_kind, "malformed", "block id or seq_no malformed"),
        ),
        reject(
            state,
            "ParentInvalidated",
            "malformed_invalidation",
            guard=_simple(invalidation_kind, "malformed", "block id malformed"),
        ),
        reject(state, "Tick", "clock_regressed", guard=_tick("regressed")),
        reject(state, "Start", "malformed_start", guard=_start("malformed")),
        *(
            reject(state, "Start", reason, guard=_start(kind), note="nothing else changes")
            for kind, reason in START_REJECTS
        ),
        reject(state, "BlockBuilt", "malformed_build", guard=_built("malformed")),
    ]
    return rows


def _rows() -> list[RowDraft]:
    rows: list[RowDraft] = []
    for state in INACTIVE:
        rows += _common_rows(state)
        rows += [
            row(
                state,
                "Start",
                IDLE,
                guard=_start("below_finalized"),
                note="continuation below the last finalized block: back to Idle",
            ),
            row(
                state,
                "Start",
                ARMED,
                guard=_start("begin"),
                effects=BEGIN,
                note="announce a round > 0 takeover, start the executor, build on the "
                "continuation point",
            ),
            row(
                state,
                "Start",
                IDLE,
                guard=_start("locked"),
                effects=LOCKED,
                note="announce the takeover and re-broadcast the locked block; produce nothing",
            ),
            ignore(state, "Stop", note="nothing is running"),
            row(state, "Tick", state, guard=_tick("clock"), note="only the clock moves"),
            row(
                state,
                "BlockBuilt",
                state,
                guard=_built("stale"),
                effects=("RestoreMessages",),
                note="a build that finished after Stop: its messages go back to the queue",
            ),
            ignore(
                state,
                "AttestationReceived",
                guard=_simple(attestation_kind, "noted", "well-formed"),
            ),
            ignore(
                state,
                "FinalizationAdvanced",
                guard=_simple(finalization_kind, "noted", "well-formed"),
            ),
            ignore(
                state,
                "ParentInvalidated",
                guard=_simple(invalidation_kind, "unrelated", "well-formed"),
            ),
        ]
    for state in ACTIVE:
        rows += _common_rows(state)
        rows += [
            ignore(state, "Start", guard=_start("same"), note="already producing so"),
            row(
                state,
                "Start",
                IDLE,
                guard=_start("below_finalized"),
                effects=STOP,
                note="new params whose continuation is below the last finalized block",
            ),
            row(
                state,
                "Start",
                ARMED,
                guard=_start("begin"),
                effects=(*STOP, *BEGIN),
                note="new params: drop the buffer and start over",
            ),
            row(
                state,
                "Start",
                IDLE,
                guard=_start("locked"),
                effects=(*STOP, *LOCKED),
                note="drop the buffer, announce, re-broadcast the locked block; produce nothing",
            ),
            row(
                state,
                "Stop",
                STOPPED,
                effects=STOP,
                note="explicit Stop (upstream has none): drop the buffer, restore its messages",
            ),
            row(
                state,
                "BlockBuilt",
                state,
                guard=_built("stale"),
                effects=("RestoreMessages",),
                note="superseded build: its messages go back to the queue",
            ),
            RowDraft(
                source=state,
                event="BlockBuilt",
                target=state,
                guard=_built("inconsistent"),
                effects=("Rejected", "RestoreMessages", "BuildBlock"),
                kind="reject",
                reason="inconsistent_build",
                note="restore its messages and ask for the build again",
            ),
            row(
                state,
                "BlockBuilt",
                HOLDING if state == HOLDING else PRODUCING,
                guard=_built("accept"),
                effects=("BuildBlock?",),
                note="buffer it; build the next one unless the buffer is full",
            ),
            row(
                state,
                "ParentInvalidated",
                STOPPED,
                guard=_simple(
                    invalidation_kind,
                    "affects",
                    "the continuation point, last produced or a buffered block",
                ),
                effects=STOP,
                note="FailedToBuildChainToTheLastFinalizedBlock, without waiting",
            ),
            ignore(
                state,
                "ParentInvalidated",
                guard=_simple(invalidation_kind, "unrelated", "not one of ours"),
            ),
        ]
        if state == HOLDING:
            rows += [
                row(
                    state,
                    "AttestationReceived",
                    PRODUCING,
                    guard=_simple(attestation_kind, "wake", "well-formed"),
                    note="re-evaluate at the next Tick (upstream: the condition variable)",
                ),
            ]
        else:
            rows.append(
                ignore(
                    state,
                    "AttestationReceived",
                    guard=_simple(attestation_kind, "noted", "well-formed"),
                )
            )
        if state == ARMED:
            rows += [
                row(state, "Tick", state, guard=_tick("clock"), note="nothing built yet"),
                ignore(
                    state,
                    "FinalizationAdvanced",
                    guard=_simple(finalization_kind, "noted", "well-formed"),
                ),
            ]
            continue
        rows += [
            row(
                state,
                "FinalizationAdvanced",
                STOPPED,
                guard=_simple(
                    finalization_kind,
                    "overtaken",
                    "buffer head seq_no <= event seq_no: another chain was finalized over ours",
                ),
                effects=DROP,
            ),
            row(
                state,
                "FinalizationAdvanced",
                PRODUCING,
                guard=_simple(finalization_kind, "noted", "buffer not overtaken"),
                note="finality moved: re-evaluate the held head at the next Tick",
            )
            if state == HOLDING
            else ignore(
                state,
                "FinalizationAdvanced",
                guard=_simple(finalization_kind, "noted", "buffer not overtaken"),
            ),
        ]
        if state == HOLDING:
            rows += [
                row(state, "Tick", state, guard=_tick("waiting"), note="only the clock moves"),
                row(
                    state,
                    "Tick",
                    PRODUCING,
                    guard=_tick("release"),
                    note="retry the held block at the next Tick",
                ),
            ]
            continue
        rows += [
            row(state, "Tick", state, guard=_tick("not_due"), note="only the clock moves"),
            row(state, "Tick", state, guard=_tick("due_empty"), note="nothing built yet"),
        ]
        for outcome, (target, effects) in OUTCOME_ROWS.items():
            rows.append(
                row(
                    state,
                    "Tick",
                    target,
                    guard=_tick("due:" + outcome),
                    effects=effects,
                    note=OUTCOME_TEXT[outcome],
                )
            )
    return rows


# --- invariants ------------------------------------------------------------------------------

PRODUCTION = frozenset(
    {
        "StartExecutor",
        "BuildBlock",
        "SendToSelf",
        "BroadcastCandidate",
        "BroadcastNextRoundSuccess",
        "SaveOptimisticState",
        "ExternalMessageFeedback",
        "PersistSigningGuard",
        "RebroadcastCandidate",
    }
)


def _named(t: Transition, name: str) -> list[Any]:
    return [e for e in t.effects if type(e).__name__ == name]


def _candidates(t: Transition) -> list[Any]:
    return [e.candidate for e in _named(t, "BroadcastCandidate")]


class NothingWithoutStart:
    """Ghost session flag, kept from the events and the executor effects alone."""

    def __init__(self) -> None:
        self.active = False

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        produces = any(n in PRODUCTION for n in names)
        if event == "Start" and ({"StartExecutor", "RebroadcastCandidate"} & set(names)):
            ok = True
        elif event in ("Stop", "Restarted"):
            ok = not produces
        else:
            ok = not produces or self.active
        if event in ("Stop", "Restarted"):
            self.active = False
        elif "StartExecutor" in names:
            self.active = True
        elif "StopExecutor" in names:
            self.active = False
        return ok


def above_finalized(t: Transition) -> bool:
    final = t.view.last_finalized().seq_no
    return all(c.block.seq_no > final for c in _candidates(t))


class SignedOnlyInKeeperSet:
    def __init__(self) -> None:
        self.epoch = -1
        self.in_set: bool | None = None

    def observe(self, t: Transition) -> bool:
        key = t.config.signer.public_key
        if type(t.event).__name__ == "KeeperSetChanged":
            keepers = t.event.keepers
            if keeper_set_valid(keepers) and keepers.epoch > self.epoch:
                self.epoch = keepers.epoch
                self.in_set = key in keepers.members
        signed = (
            _named(t, "BroadcastCandidate")
            + _named(t, "SendToSelf")
            + _named(t, "BroadcastNextRoundSuccess")
        )
        if not signed:
            return True
        return bool(key in t.view.keeper_set().members and self.in_set is not False)


class OnlySelectedProducerSigns:
    """Restates selection: a session's first block on the Start's parent is that parent's
    selector moved by the Start's round; every later block keeps its parent's selector; the
    resulting (seed, index) over the view's keeper set names us. A Start with a round > 0 that
    announces a takeover is held to the same rule for its first block."""

    def __init__(self) -> None:
        self.first_parent: bytes | None = None
        self.first_rounds = 0
        self.signed_in_session = False

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        for e in t.effects:
            if type(e).__name__ == "StartExecutor":
                if event == "Start":
                    p = t.event.params
                    before = t.before
                    fresh = not (before.last_produced is not None and before.params == p)
                    self.first_parent = e.parent.block_id
                    self.first_rounds = p.round if fresh else 0
                    self.signed_in_session = False
                elif self.signed_in_session:
                    self.first_parent = None
        me = t.config.signer.public_key
        keepers = t.view.keeper_set()
        n = len(keepers.members)
        for c in _candidates(t):
            parent = t.view.block(c.block.parent_id)
            if parent is None:
                return False
            first = not self.signed_in_session and c.block.parent_id == self.first_parent
            rounds = self.first_rounds if first else 0
            seed, index = derived_selector(parent.selector, keepers.seed, n, rounds)
            if (c.selector.seed, c.selector.index) != (seed, index):
                return False
            if named_by(keepers.members, seed, index) != me or c.block.producer != me:
                return False
            self.signed_in_session = True
        return True


def signatures_authentic(t: Transition) -> bool:
    signer = t.config.signer
    for c in _candidates(t) + [e.candidate for e in _named(t, "SendToSelf")]:
        payload = candidate_bytes(c.block, c.round, c.selector.seed, c.selector.index, c.fallback)
        if c.signature != signer.sign(payload):
            return False
    for e in _named(t, "BroadcastNextRoundSuccess"):
        a = e.announcement
        if a.producer != signer.public_key or a.signature != signer.sign(
            next_round_success_bytes(a.round, a.parent_id, a.producer)
        ):
            return False
    return True


class OneAnnouncementPerRound:
    """At most one NextRoundSuccess per (round, parent height) in a run, crashes included, and
    each backed by ceil((N+1)/2) distinct keepers' valid votes in the Start that made it."""

    def __init__(self) -> None:
        self.announced: dict[tuple[int, int], bytes] = {}

    def observe(self, t: Transition) -> bool:
        for e in _named(t, "BroadcastNextRoundSuccess"):
            if type(t.event).__name__ != "Start":
                return False
            p = t.event.params
            a = e.announcement
            if (a.round, a.parent_id) != (p.round, p.parent_id):
                return False
            key = (a.round, p.parent_height)
            if key in self.announced:
                return False
            self.announced[key] = a.parent_id
            members = t.view.keeper_set().members
            voters, _ = counted_votes(t.config, p, members)
            if len(voters) < next_round_quorum(len(members)):
                return False
        return True


def guard_persisted_first(t: Transition) -> bool:
    """Every signature released in a step comes after a PersistSigningGuard whose guard already
    records it: the block's (round, height) or the announcement's (round, parent)."""
    stored: Any = None
    for e in t.effects:
        kind = type(e).__name__
        if kind == "PersistSigningGuard":
            stored = e.guard
        elif kind == "BroadcastCandidate" or kind == "SendToSelf":
            c = e.candidate
            if stored is None or not any(
                r == c.round and h == c.block.height for r, h, _ in stored.blocks
            ):
                return False
        elif kind == "BroadcastNextRoundSuccess":
            a = e.announcement
            if stored is None or not any(
                r == a.round and i == a.parent_id for r, _, i in stored.announced
            ):
                return False
    return True


class OneChainPerSession:
    """Restates the continuation rule and follows each session's chain of broadcasts."""

    def __init__(self) -> None:
        self.params: Any = None
        self.last_produced: BlockRef | None = None
        self.expected: BlockRef | None = None

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        if event == "Restarted":
            self.params = self.last_produced = self.expected = None
            return True
        if event == "Start" and "StartExecutor" in names:
            p = t.event.params
            if self.last_produced is not None and self.params == p:
                self.expected = self.last_produced
            else:
                self.last_produced = None
                self.expected = BlockRef(
                    block_id=p.parent_id, seq_no=p.parent_seq_no, height=p.parent_height
                )
            self.params = p
        elif event == "Start" and t.after.control == IDLE and t.before.control != IDLE:
            self.params = self.last_produced = self.expected = None
        ok = True
        for c in _candidates(t):
            e = self.expected
            b = c.block
            if e is None or not (
                b.parent_id == e.block_id and b.seq_no == e.seq_no + 1 and b.height == e.height + 1
            ):
                ok = False
            self.expected = self.last_produced = b.ref
        if t.after.control == STOPPED and event != "Stop" and t.before.control != STOPPED:
            self.last_produced = None
        return ok


class BroadcastOnceOrDiscarded:
    """A ledger of accepted builds: each leaves the buffer broadcast once (lowest seq_no first)
    or discarded with its messages restored; only a restart may lose it. The executor is
    deterministic, so a later session may build an identical block again: that is a new build."""

    def __init__(self) -> None:
        self.buffered: dict[bytes, Any] = {}

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        if event == "Restarted":
            self.buffered.clear()
        if event == "BlockBuilt" and not ({"Rejected", "RestoreMessages"} & set(names)):
            b = t.event.block
            if b.block_id in self.buffered:
                return False
            self.buffered[b.block_id] = b
        for e in t.effects:
            kind = type(e).__name__
            if kind == "BroadcastCandidate":
                b = e.candidate.block
                if self.buffered.get(b.block_id) != b:
                    return False
                if any(o.seq_no < b.seq_no for o in self.buffered.values()):
                    return False
                del self.buffered[b.block_id]
            elif kind == "RestoreMessages":
                if event == "BlockBuilt" and e.block_id == t.event.block.block_id:
                    if e.messages != t.event.block.inputs:
                        return False
                    continue
                b = self.buffered.pop(e.block_id, None)
                if b is None or e.messages != b.inputs:
                    return False
        return set(self.buffered) == {b.block_id for b in t.after.buffer}


class OneSignaturePerHeightRound:
    def __init__(self) -> None:
        self.signed: set[tuple[int, int]] = set()

    def observe(self, t: Transition) -> bool:
        for c in _candidates(t):
            key = (c.block.height, c.round)
            if key in self.signed:
                return False
            self.signed.add(key)
        return True


class SavedAtBoundaries:
    def __init__(self) -> None:
        self.sync_at = -1

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        if event == "Restarted":
            self.sync_at = -1
        if event == "StateSyncRequested" and is_u64(t.event.seq_no):
            self.sync_at = t.event.seq_no
        saves = _named(t, "SaveOptimisticState")
        expected = []
        for c in _candidates(t):
            b = c.block
            if b.seq_no % t.config.save_state_frequency == 0:
                expected.append((b.block_id, b.seq_no, "frequency"))
            if self.sync_at >= 0 and b.seq_no >= self.sync_at:
                expected.append((b.block_id, b.seq_no, "state_sync"))
                self.sync_at = -1
        return [(s.block_id, s.seq_no, s.reason) for s in saves] == expected


def buffer_capped(t: Transition) -> bool:
    return bool(len(t.after.buffer) <= t.config.buffer_cap)


INVARIANTS = (
    Invariant(
        id="PB-1",
        statement="nothing is built, signed, broadcast or saved without an accepted Start, nor "
        "after Stop, an abort or a restart until the next accepted Start",
        monitor=NothingWithoutStart,
        catches="production without a command; upstream has no Stop, so production could not be "
        "halted; production resuming by itself after a restart",
    ),
    Invariant(
        id="PB-2",
        statement="every broadcast block's seq_no is above the last finalized seq_no",
        check=above_finalized,
        catches="producing at or below finality (a fork of finalized history)",
    ),
    Invariant(
        id="PB-3",
        statement="nothing is signed unless we are in the view's keeper set and our latest known "
        "keeper set does not exclude us",
        monitor=SignedOnlyInKeeperSet,
        catches="signing after leaving the block keeper set (AbortNotInBKSet ignored)",
    ),
    Invariant(
        id="PB-4",
        statement="only the selected producer produces: every broadcast block's selector is its "
        "parent's moved by the Start's round (first block on the Start's parent) or by 0, and "
        "names us over the view's keeper set",
        monitor=OnlySelectedProducerSigns,
        catches="a selector computed from our own key (always naming us) instead of from the "
        "parent's selector and the round; receivers would reject the block",
    ),
    Invariant(
        id="PB-5",
        statement="within one production session broadcasts form one chain from the continuation "
        "point: parent = previous block, seq_no + 1, height = parent height + 1",
        monitor=OneChainPerSession,
        catches="a wrong continuation point; a block built on a discarded sibling",
    ),
    Invariant(
        id="PB-6",
        statement="each accepted built block leaves the buffer exactly once: broadcast (lowest "
        "seq_no first) or discarded with exactly its messages restored",
        monitor=BroadcastOnceOrDiscarded,
        catches="double broadcast, out-of-order broadcast, silently dropped blocks and lost "
        "external messages",
    ),
    Invariant(
        id="PB-7",
        statement="at most one block is signed per (height, round), across sessions and restarts",
        monitor=OneSignaturePerHeightRound,
        catches="equivocation after a Stop/Start on a lower parent in the same round (upstream "
        "has no such guard)",
    ),
    Invariant(
        id="PB-8",
        statement="optimistic state is saved exactly for broadcast blocks whose seq_no is a "
        "multiple of save_state_frequency, and once for a requested state sync",
        monitor=SavedAtBoundaries,
        catches="off-by-one save boundaries, saves of unbroadcast blocks, lost sync requests",
    ),
    Invariant(
        id="PB-9",
        statement="the buffer of built, unbroadcast blocks never holds more than buffer_cap",
        check=buffer_capped,
        catches="unbounded memory while attestations stall (upstream: 30)",
    ),
    Invariant(
        id="PB-10",
        statement="every candidate and next-round announcement is signed by our signer over its "
        "domain-tagged payload",
        check=signatures_authentic,
        catches="signing the wrong bytes, or bytes another message type could reuse",
    ),
    Invariant(
        id="PB-11",
        statement="at most one NextRoundSuccess per (round, parent height), across crashes, each "
        "from a Start carrying ceil((N+1)/2) distinct keepers' valid NextRound votes",
        monitor=OneAnnouncementPerRound,
        catches="two Starts in one round signing conflicting announcements; a takeover "
        "without the NextRound quorum",
    ),
    Invariant(
        id="PB-12",
        statement="no signature is released before a PersistSigningGuard in the same step that "
        "records it",
        check=guard_persisted_first,
        catches="a signing guard kept only in memory: after a crash the producer signs a second "
        "block at the same (height, round)",
    ),
)

LIVENESS = (
    Liveness(
        id="PL-1",
        statement="every block buffered when the fair phase begins is broadcast or discarded",
        fairness="after the chaos phase: every known block's data is ready and it gets all "
        "keepers' attestations with an AttestationReceived, each broadcast block joins the tree "
        "at once, builds are answered, and a Tick arrives every production_period",
        bound="buffer_cap + 3 production periods (one broadcast per due Tick, plus one Tick to "
        "release a held head and one to re-evaluate it)",
        bound_ticks=UPSTREAM_CAP_BOUND,
        catches="a NotReadyYet block never re-evaluated (upstream's lost condvar wake-up); a "
        "held block never retried",
    ),
    Liveness(
        id="PL-2",
        statement="after Stop or an abort, a Start on the last finalized block with a fresh round "
        "broadcasts a block",
        fairness="we are in the keeper set (view and latest KeeperSetChanged); builds answered; "
        "Ticks every production_period",
        bound="3 production periods",
        bound_ticks=3,
        catches="a Stopped producer that cannot be started again",
    ),
    Liveness(
        id="PL-3",
        statement="after a restart nothing is produced until a Start, and a Start then resumes "
        "production",
        fairness="as PL-2, with Ticks and attestations arriving before the Start",
        bound="3 production periods after the Start",
        bound_ticks=3,
        catches="production resuming by itself after a restart, or never resuming",
    ),
)

SPEC: MachineSpec = define_machine(
    name="producer",
    title="Block producer",
    summary=(
        "Builds blocks on a continuation point chosen at Start, keeps at most buffer_cap of them, "
        "and on each due Tick puts the oldest through update_candidate_common_section: broadcast "
        "it signed, hold it until attestations or ancestor data arrive, or stop and drop "
        "everything; explicit Stop; at most one signed block per (height, round)."
    ),
    states=(IDLE, ARMED, PRODUCING, HOLDING, STOPPED),
    initial=IDLE,
    events=(
        "Start",
        "Stop",
        "Tick",
        "BlockBuilt",
        "AttestationReceived",
        "FinalizationAdvanced",
        "KeeperSetChanged",
        "ParentInvalidated",
        "StateSyncRequested",
        "Restarted",
    ),
    effects=(
        "StartExecutor",
        "StopExecutor",
        "BuildBlock",
        "SendToSelf",
        "BroadcastCandidate",
        "BroadcastNextRoundSuccess",
        "RebroadcastCandidate",
        "PersistSigningGuard",
        "SaveOptimisticState",
        "ExternalMessageFeedback",
        "RestoreMessages",
        "Rejected",
    ),
    rows=_rows(),
    invariants=INVARIANTS,
    liveness=LIVENESS,
    row_prefix="P",
    notes=(
        "Upstream has only Start (Stop is a TODO); here Stop halts production and drops the "
        "buffer with its messages restored.",
        "Upstream blocks on condition variables waiting for attestations; here NotReadyYet moves "
        "to Holding; the next AttestationReceived releases it to Producing and the following Tick "
        "re-evaluates it (an AncestorIsNotReadyYet hold is released by the next due Tick).",
        "Upstream lacks a signing guard; here a block is signed only if no block of the same round "
        "at that height or above was signed. The guard table (round, highest height, highest "
        "seq_no) is durable across restarts, like a validator's slashing-protection store, and "
        "entries at or below the last finalized seq_no are pruned (heights and seq_nos advance "
        "together along a thread).",
        "Restart is an event: the buffer, the continuation point and the pending state sync are "
        "lost; nothing is produced until the next Start.",
        "Attestation deadlines are counted in blocks of descent: an ancestor at or past "
        "fallback_deadline needs floor(N/2)+1 attestations; one past primary_deadline without "
        "ceil(2N/3) marks the candidate as produced on the fallback path.",
        "A Start with round > 0 first broadcasts a signed NextRoundSuccess announcing the takeover "
        "(only while we are in the view's keeper set and our latest known one); the caller "
        "passes the locked block, if any, as the Start's parent.",
    ),
)
