"""The producer's effects, all in one place.

Refusals are the core's ``Rejected``, imported here so that every effect the producer emits is
named in this module."""

from __future__ import annotations

import attrs

from blockfsm.machine.core import Rejected
from blockfsm.machine.producer_view import BlockRef, CandidateBlock, NextRoundSuccess, SigningGuard

__all__ = [
    "BroadcastCandidate",
    "BroadcastNextRoundSuccess",
    "BuildBlock",
    "ExternalMessageFeedback",
    "PersistSigningGuard",
    "RebroadcastCandidate",
    "Rejected",
    "RestoreMessages",
    "SaveOptimisticState",
    "SendToSelf",
    "StartExecutor",
    "StopExecutor",
]


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
