"""Spec of the block producer (Acki Nacki ``block_producer.rs``), as a pure machine.

Upstream runs the producer as a thread with blocking waits on mutexes and condition variables;
here every wait is a control state and every wake-up an event. This module states the rules;
``blockfsm.machine.producer`` implements them separately, and the conformance checker holds one
against the other on every step. The classification functions in ``classify`` are the spec's own
statement of each rule; the machine does not import them. ``rows`` holds the guards and the
transition rows, ``invariants`` and ``liveness`` the properties; this module declares ``SPEC`` and
re-exports every public name of the four.

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

from blockfsm.spec.language import MachineSpec, define_machine
from blockfsm.spec.producer.classify import (
    ACTIVE,
    ARMED,
    HOLD_ANCESTOR,
    HOLD_ATTESTATION,
    HOLDING,
    IDLE,
    INACTIVE,
    OUTCOMES,
    PRODUCING,
    STOPPED,
    UPSTREAM_CAP_BOUND,
    already_signed,
    attestation_kind,
    block_well_formed,
    built_kind,
    common_section_outcome,
    continuation,
    counted_votes,
    evaluation,
    finalization_kind,
    head_selector,
    invalidation_kind,
    keeper_kind,
    keeper_set_valid,
    lock_acceptable,
    params_well_formed,
    start_kind,
    tick_kind,
    tick_regressed,
    tip,
)
from blockfsm.spec.producer.invariants import (
    INVARIANTS,
    PRODUCTION,
    BroadcastOnceOrDiscarded,
    NothingWithoutStart,
    OneAnnouncementPerRound,
    OneChainPerSession,
    OneSignaturePerHeightRound,
    OnlySelectedProducerSigns,
    SavedAtBoundaries,
    SignedOnlyInKeeperSet,
    above_finalized,
    buffer_capped,
    guard_persisted_first,
    signatures_authentic,
)
from blockfsm.spec.producer.liveness import LIVENESS
from blockfsm.spec.producer.rows import (
    ANNOUNCE,
    BEGIN,
    BROADCAST,
    DROP,
    LOCKED,
    OUTCOME_ROWS,
    OUTCOME_TEXT,
    START_REJECTS,
    START_TEXT,
    STOP,
    TICK_TEXT,
    _rows,
)

__all__ = [
    "ACTIVE",
    "ANNOUNCE",
    "ARMED",
    "BEGIN",
    "BROADCAST",
    "DROP",
    "HOLDING",
    "HOLD_ANCESTOR",
    "HOLD_ATTESTATION",
    "IDLE",
    "INACTIVE",
    "INVARIANTS",
    "LIVENESS",
    "LOCKED",
    "OUTCOMES",
    "OUTCOME_ROWS",
    "OUTCOME_TEXT",
    "PRODUCING",
    "PRODUCTION",
    "SPEC",
    "START_REJECTS",
    "START_TEXT",
    "STOP",
    "STOPPED",
    "TICK_TEXT",
    "UPSTREAM_CAP_BOUND",
    "BroadcastOnceOrDiscarded",
    "NothingWithoutStart",
    "OneAnnouncementPerRound",
    "OneChainPerSession",
    "OneSignaturePerHeightRound",
    "OnlySelectedProducerSigns",
    "SavedAtBoundaries",
    "SignedOnlyInKeeperSet",
    "above_finalized",
    "already_signed",
    "attestation_kind",
    "block_well_formed",
    "buffer_capped",
    "built_kind",
    "common_section_outcome",
    "continuation",
    "counted_votes",
    "evaluation",
    "finalization_kind",
    "guard_persisted_first",
    "head_selector",
    "invalidation_kind",
    "keeper_kind",
    "keeper_set_valid",
    "lock_acceptable",
    "params_well_formed",
    "signatures_authentic",
    "start_kind",
    "tick_kind",
    "tick_regressed",
    "tip",
]


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
