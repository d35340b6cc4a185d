"""Wire messages to the machine events that carry them: the one table every driver uses.

A message a peer sent becomes the ``...Received`` event naming that peer. The runtime (frames off
TCP), the simulator and the explorer (messages off a simulated network) all wrap messages here, so
a new message type is added in one place. A type with no event is not served: ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blockfsm.machine.attester import Proposal, ProposalReceived, Vote, VoteReceived
from blockfsm.machine.core import PeerId
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    SyncResponseReceived,
)

_RECEIVED: dict[type, Callable[[PeerId, Any], object]] = {
    SyncRequest: lambda p, m: SyncRequestReceived(peer=p, request=m),
    SyncResponse: lambda p, m: SyncResponseReceived(peer=p, response=m),
    AdvertiseBlock: lambda p, m: AdvertiseBlockReceived(peer=p, advertisement=m),
    AdvertiseCertificate: lambda p, m: AdvertiseCertificateReceived(peer=p, advertisement=m),
    Proposal: lambda p, m: ProposalReceived(peer=p, proposal=m),
    Vote: lambda p, m: VoteReceived(peer=p, vote=m),
}


def message_event(peer: PeerId, message: object) -> object | None:
    """The event that delivers ``message`` from ``peer``, or None for a type no machine serves."""
    make = _RECEIVED.get(type(message))
    return make(peer, message) if make is not None else None
