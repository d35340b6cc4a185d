"""Block sync messages, and the events that deliver them to a machine.

Differences from HotStuff-rs, each closing an upstream bug:

- ``SyncRequest`` and ``SyncResponse`` carry a ``request_id`` (a late reply to an old request can
  no longer be taken for the reply to a new one) and the response carries its ``chain_id``.
- ``AdvertiseBlock`` signs a domain-tagged payload that names the chain, the server and a
  ``timestamp`` (the server's clock at sending), so it cannot be confused with any other signed
  message, replayed as another server's, or replayed later (clients keep the newest timestamp per
  server and a freshness window).

Messages do not carry their sender: the transport authenticates the peer, and the ``...Received``
events pair a message with that peer.
"""

from __future__ import annotations

import attrs

from blockfsm.machine.core import PeerId
from blockfsm.machine.types import Block, Certificate, ChainId, Height


@attrs.frozen(kw_only=True)
class SyncRequest:
    chain_id: ChainId
    request_id: int
    start_height: Height
    limit: int


@attrs.frozen(kw_only=True)
class SyncResponse:
    chain_id: ChainId
    request_id: int
    blocks: tuple[Block, ...]
    highest_certificate: Certificate


@attrs.frozen(kw_only=True)
class AdvertiseBlock:
    chain_id: ChainId
    server: PeerId
    committed_height: Height
    timestamp: int
    signature: bytes


@attrs.frozen(kw_only=True)
class AdvertiseCertificate:
    certificate: Certificate


# --- events: a message as received from an authenticated peer ---------------------------------


@attrs.frozen(kw_only=True)
class SyncRequestReceived:
    peer: PeerId
    request: SyncRequest


@attrs.frozen(kw_only=True)
class SyncResponseReceived:
    peer: PeerId
    response: SyncResponse


@attrs.frozen(kw_only=True)
class AdvertiseBlockReceived:
    peer: PeerId
    advertisement: AdvertiseBlock


@attrs.frozen(kw_only=True)
class AdvertiseCertificateReceived:
    peer: PeerId
    advertisement: AdvertiseCertificate
