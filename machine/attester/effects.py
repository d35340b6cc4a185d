"""The attester's effects, all in one place.

``PersistGuard`` is its own. Finality reuses the sync client's ``Persist``, ``Commit`` and
``UpdateHighestCertificate`` (so the node applies a final block the same way whichever machine
made it final), and messages and refusals are the core's ``Broadcast`` and ``Rejected``; they
are imported here so that every effect the attester emits is named in this module."""

from __future__ import annotations

import attrs

from blockfsm.machine.attester.state import Guard
from blockfsm.machine.core import Broadcast, Rejected
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

__all__ = ["Broadcast", "Commit", "Persist", "PersistGuard", "Rejected", "UpdateHighestCertificate"]


@attrs.frozen(kw_only=True)
class PersistGuard:
    guard: Guard


_RANK = {
    "Persist": 0,
    "Commit": 1,
    "UpdateHighestCertificate": 2,
    "PersistGuard": 3,
    "Broadcast": 4,
    "Rejected": 5,
}
