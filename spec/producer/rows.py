"""The producer's guards, effect patterns and transition rows: each guard names a kind that
``classify`` returns, with the text the rendered page shows.
"""

from __future__ import annotations

import functools
from typing import Any

from blockfsm.spec.language import Guard, RowDraft, classified, ignore, reject, row
from blockfsm.spec.producer.classify import (
    ACTIVE,
    ARMED,
    HOLDING,
    IDLE,
    INACTIVE,
    PRODUCING,
    STOPPED,
    attestation_kind,
    built_kind,
    finalization_kind,
    invalidation_kind,
    keeper_kind,
    start_kind,
    tick_kind,
)
from blockfsm.spec.producer_rules import is_u64

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
    """For rules that depend on the state and the event alone: every row of a rule shares one
    classifier, so ``structure.problems`` sees the rows of a (state, event) pair as one rule's."""
    return classified(_on_state_and_event(kind_fn), kind, text)


@functools.cache
def _on_state_and_event(kind_fn: Any) -> Any:
    def classify(c: Any, s: Any, e: Any, v: Any) -> str:
        return str(kind_fn(s, e))

    classify.__name__ = getattr(kind_fn, "__name__", "classify")
    return classify


def state_sync_kind(s: Any, e: Any) -> str:
    """A StateSyncRequested is well-formed when its seq_no is an unsigned 64-bit integer."""
    return "bad" if not is_u64(e.seq_no) else "ok"


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
            guard=_simple(state_sync_kind, "bad", "seq_no is not an unsigned 64-bit integer"),
        ),
        row(
            state,
            "StateSyncRequested",
            state,
            guard=_simple(state_sync_kind, "ok", "well-formed"),
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
