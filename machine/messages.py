"""Block sync messages, and the events that deliver them to a machine.

Differences from HotStuff-rs, each closing an upstream bug:

- ``SyncRequest`` and ``SyncResponse`` carry a ``request_id`` (a late reply to an old request can
  no longer be taken for the reply to a new one) and the response carries its ``chain_id``.
- ``SyncRequest`` carries ``max_bytes``, the largest response the client accepts, as ``limit``
  bounds the number of blocks: upstream responses had no byte bound at all. Sizes are measured
  by ``response_size``: the length of a plain encoding (8 bytes per integer, a 4-byte length
  before every byte string and every sequence), so client and server count the same way.
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

DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""4 MiB: the default byte bound of a response, client and server side."""
MIN_RESPONSE_BYTES = 1024
"""The least byte bound a config accepts: room for a highest certificate and a few blocks."""
MAX_RESPONSE_BYTES = 2**32
"""The largest byte bound a config accepts (4 GiB)."""

_INT = 8
_LEN = 4
RESPONSE_OVERHEAD = 2 * _INT + _LEN
"""chain_id, request_id, and the block count."""


def certificate_size(cert: Certificate) -> int:
    """Encoded size of a (well-formed) certificate: chain, view, height, hash, signatures."""
    size = 3 * _INT + _LEN + len(cert.block_hash) + _LEN
    for signer, signature in cert.signatures:
        size += 2 * _LEN + len(signer) + len(signature)
    return size


def block_size(block: Block) -> int:
    """Encoded size of a (well-formed) block, its justify included."""
    return (
        2 * _INT
        + 3 * _LEN
        + len(block.parent_hash)
        + len(block.payload)
        + len(block.hash)
        + certificate_size(block.justify)
    )


def response_size(response: SyncResponse) -> int:
    """Encoded size of a (well-formed) response."""
    size = RESPONSE_OVERHEAD + certificate_size(response.highest_certificate)
    for block in response.blocks:
        size += block_size(block)
    return size


@attrs.frozen(kw_only=True)
class SyncRequest:
    chain_id: ChainId
    request_id: int
    start_height: Height
    limit: int
    max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


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
