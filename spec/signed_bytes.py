"""The spec's own statement of what is signed and what makes a certificate valid.

These are the rules whose failure would be silent: a certificate that counts one validator twice
reaches a false quorum, and a payload built with the wrong domain tag still verifies if the same
wrong bytes are both signed and checked. So the spec states them here a second time, from the
protocol description (docs/protocol.md, docs/architecture.md), without calling any function of
``blockfsm.machine`` that decides: the domain tags are written out as literals, the integers are
packed with ``struct``, and quorum arithmetic is done over the validator list itself. The machine's
``certificate_is_valid``, ``certificate_payload``, ``advertise_block_payload`` and ``block_hash``
are then checked against these on every step of every campaign, and the golden vectors in
``docs/protocol/vectors.json`` pin both to fixed bytes.

Byte layout, in order (all integers big-endian; ``u64`` unsigned, ``i64`` two's complement):

- certificate vote: ``b"blockfsm/certificate/v1\\x00"``, chain_id u64, view u64, height i64,
  block_hash (32 bytes);
- AdvertiseBlock: ``b"blockfsm/advertise-block/v1\\x00"``, chain_id u64, server key (32 bytes),
  committed_height i64, timestamp u64;
- block hash: BLAKE2b-256 of ``b"blockfsm/block/v1\\x00"``, chain_id u64, height u64, parent_hash,
  justify.view u64, justify.block_hash, len(payload) u64, payload.

Certificate validity on a chain: the genesis certificate (view 0, height -1, the all-zero hash) is
valid with no signatures; any other needs height >= 0, view >= 1, a 32-byte hash, every signer a
member of the validator set and listed at most once, every signature valid over the vote bytes,
and the signers' voting power at least floor(2 * total / 3) + 1.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from typing import Any

CERTIFICATE_TAG = b"blockfsm/certificate/v1\x00"
ADVERTISE_BLOCK_TAG = b"blockfsm/advertise-block/v1\x00"
BLOCK_TAG = b"blockfsm/block/v1\x00"

U64_LIMIT = 1 << 64
"""Unsigned 64-bit integers are 0 .. U64_LIMIT - 1: what a u64 field of a frame can hold."""

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")


def is_u64(value: object) -> bool:
    """A field the wire encodes as a u64 holds an int (not a bool) that fits."""
    return type(value) is int and 0 <= value < U64_LIMIT


def vote_bytes(chain_id: int, view: int, height: int, block_hash: bytes) -> bytes:
    """The bytes every validator signs for a certificate of ``block_hash`` at ``height``."""
    return b"".join(
        (CERTIFICATE_TAG, _U64.pack(chain_id), _U64.pack(view), _I64.pack(height), block_hash)
    )


def advertisement_bytes(
    chain_id: int, server: bytes, committed_height: int, timestamp: int
) -> bytes:
    """The bytes a server signs in an ``AdvertiseBlock``."""
    return b"".join(
        (
            ADVERTISE_BLOCK_TAG,
            _U64.pack(chain_id),
            server,
            _I64.pack(committed_height),
            _U64.pack(timestamp),
        )
    )


def header_hash(block: Any) -> bytes:
    """The hash a block must carry, from its header fields."""
    j = block.justify
    parts = (
        BLOCK_TAG,
        _U64.pack(block.chain_id),
        _U64.pack(block.height),
        block.parent_hash,
        _U64.pack(j.view),
        j.block_hash,
        _U64.pack(len(block.payload)),
        block.payload,
    )
    return hashlib.blake2b(b"".join(parts), digest_size=32).digest()


def block_hash_holds(block: Any) -> bool:
    return bool(block.hash == header_hash(block))


def quorum_power(validators: Any) -> int:
    """floor(2 * total / 3) + 1, with each validator's power counted once."""
    power: dict[bytes, int] = {}
    for key, weight in validators.members:
        power[key] = weight
    return (2 * sum(power.values())) // 3 + 1


@functools.lru_cache(maxsize=8192)
def certificate_holds(cert: Any, chain_id: int, validators: Any, verifier: Any) -> bool:
    """Is ``cert`` a valid certificate on ``chain_id`` for this validator set?

    Memoized on all four arguments (the answer is a pure function of them: certificates and
    validator sets are immutable values, a verifier is deterministic): a checker asks about the
    same certificate in a response's classification and again in several invariants, and each
    asking would otherwise verify every signature again.
    """
    if cert.chain_id != chain_id:
        return False
    genesis = cert.view == 0 and cert.height == -1 and cert.block_hash == bytes(32)
    if genesis:
        return len(cert.signatures) == 0
    if cert.view < 1 or cert.height < 0 or len(cert.block_hash) != 32:
        return False
    power: dict[bytes, int] = {key: weight for key, weight in validators.members}
    message = vote_bytes(cert.chain_id, cert.view, cert.height, cert.block_hash)
    signers = [signer for signer, _ in cert.signatures]
    if len(set(signers)) != len(signers):
        return False
    if any(signer not in power for signer in signers):
        return False
    for signer, signature in cert.signatures:
        if not verifier.verify(signer, message, signature):
            return False
    signed_power: int = sum(power[s] for s in signers)
    return signed_power >= quorum_power(validators)
