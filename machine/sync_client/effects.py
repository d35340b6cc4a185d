"""The sync client's effects, all in one place.

``Persist``, ``Commit``, ``UpdateHighestCertificate`` and the ``Blacklisted`` observation are its
own (the attester and the node emit the first three too); requests go out as the core's ``Send``,
observations as ``Observe`` and refusals as ``Rejected``, imported here so that every effect the
client emits is named in this module."""

from __future__ import annotations

import attrs

from blockfsm.machine.core import Observe, PeerId, Rejected, Send
from blockfsm.machine.types import Block, Certificate, Height

__all__ = [
    "Blacklisted",
    "Commit",
    "Observe",
    "Persist",
    "Rejected",
    "Send",
    "UpdateHighestCertificate",
]


@attrs.frozen(kw_only=True)
class Persist:
    """Store ``block`` at its height (replacing an uncommitted block there and above)."""

    block: Block


@attrs.frozen(kw_only=True)
class Commit:
    """Mark every block up to ``height`` committed."""

    height: Height


@attrs.frozen(kw_only=True)
class UpdateHighestCertificate:
    certificate: Certificate


@attrs.frozen(kw_only=True)
class Blacklisted:
    """An observation: ``peer`` is ignored until ``until``; the state already holds the entry."""

    peer: PeerId
    until: int
    reason: str
