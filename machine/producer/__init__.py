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

The package: ``state`` (control states, config, state), ``events``, ``effects`` (every effect the
producer emits), ``common_section`` (``update_candidate_common_section``), ``checks`` (what an
event must carry) and ``handlers`` (``step`` and a handler per event). Every public name is
imported here.
"""

from __future__ import annotations

# Names this module re-exported before it became a package; kept so that every import of them
# from blockfsm.machine.producer still works.
from blockfsm.machine.core import Rejected, Step, Tick, require, require_int
from blockfsm.machine.crypto import Signer, Verifier, require_signer
from blockfsm.machine.producer.common_section import (
    ABORT_NOT_IN_BK_SET,
    ANCESTOR_NOT_READY_YET,
    FAILED_TO_BUILD_CHAIN,
    NOT_READY_YET,
    SUCCESS,
    CommonSection,
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
from blockfsm.machine.producer.handlers import step
from blockfsm.machine.producer.state import (
    ARMED,
    HOLDING,
    IDLE,
    PRODUCING,
    STOPPED,
    UPSTREAM_BUFFER_CAP,
    ProducerConfig,
    ProducerState,
    initial,
)
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

__all__ = [
    "ABORT_NOT_IN_BK_SET",
    "ANCESTOR_NOT_READY_YET",
    "ARMED",
    "FAILED_TO_BUILD_CHAIN",
    "HOLDING",
    "IDLE",
    "MAX_U64",
    "NOT_READY_YET",
    "PRODUCER_BLOCK_DOMAIN",
    "PRODUCING",
    "STOPPED",
    "SUCCESS",
    "UPSTREAM_BUFFER_CAP",
    "AttestationReceived",
    "BlockBuilt",
    "BlockRef",
    "BroadcastCandidate",
    "BroadcastNextRoundSuccess",
    "BuildBlock",
    "CandidateBlock",
    "CommonSection",
    "ExternalMessageFeedback",
    "FinalizationAdvanced",
    "KeeperSet",
    "KeeperSetChanged",
    "NextRoundSuccess",
    "NextRoundVote",
    "ParentInvalidated",
    "PersistSigningGuard",
    "ProducedBlock",
    "ProducerConfig",
    "ProducerSelector",
    "ProducerState",
    "ProducerView",
    "RebroadcastCandidate",
    "Rejected",
    "Restarted",
    "RestoreMessages",
    "SaveOptimisticState",
    "SendToSelf",
    "Signer",
    "SigningGuard",
    "Start",
    "StartExecutor",
    "StartParams",
    "StateSyncRequested",
    "Step",
    "Stop",
    "StopExecutor",
    "Tick",
    "Verifier",
    "candidate_payload",
    "child_selector",
    "initial",
    "misses_primary",
    "next_round_payload",
    "next_round_quorum",
    "next_round_vote_payload",
    "produced_block_id",
    "require",
    "require_int",
    "require_signer",
    "required_attestations",
    "selected_producer",
    "step",
    "update_candidate_common_section",
]
