"""The producer's events."""

from __future__ import annotations

import attrs

from blockfsm.machine.producer_view import KeeperSet, NextRoundVote, ProducedBlock


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
