"""The wire codec: length-prefixed binary frames carrying msgpack, strictly validated.

Frame layout (all integers big-endian)::

    length   u32   number of bytes that follow (version byte + body), at most ``max_frame``
    version  u8    ``WIRE_VERSION`` (1); any other value is refused
    body     msgpack array ``[tag, field, ...]``

Each message type has a fixed tag and a fixed field list. Decoding refuses (``CodecError`` with a
short reason) anything that is not exactly that shape: wrong tag, wrong arity, a map, a string or a
float where bytes or an integer belong, an integer outside its range, a key that is not 32 bytes, a
signature that is not 64 bytes, a hash that is not 32 bytes, trailing bytes after the body, and
any body not in canonical form: the decoded message is encoded again and the bytes must be the
same, so each message has exactly one encoding (every integer, byte string and array in its
shortest msgpack form, a non-negative integer in an unsigned one; what ``msgpack.packb`` writes).
What the codec lets through is a well-typed core message; whether it is *valid* (signatures,
links, chain id) is the machine's decision, which counts its rejections.

docs/protocol.md lists each message's body field by field, and
``docs/protocol/vectors.json`` has a frame for every message kind (``adapters/node/vectors.py``).

Why msgpack: it is binary (hashes and signatures travel as raw bytes, not base64), compact,
schemaless enough that the strict shape checks here are the only schema, has a maintained C
implementation on PyPI with size limits on the decoder, and is language-neutral, so a node in
another language can speak the protocol from this page alone.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs
import msgpack

from blockfsm.machine.attester import Guard, Proposal, Vote
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncResponse,
)
from blockfsm.machine.producer_view import SigningGuard
from blockfsm.machine.types import HASH_SIZE, MAX_U64, Block, Certificate

WIRE_VERSION = 1
HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 8 * 1024 * 1024
KEY_SIZE = 32
SIG_SIZE = 64
NONCE_SIZE = 32
MAX_SIGNATURES = 1024
MAX_BLOCKS = 100_000

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1


class CodecError(ValueError):
    """A frame or body that is not a well-formed message; ``str()`` is the reason."""


# --- handshake messages (transport only; the machines never see them) -------------------------


@attrs.frozen(kw_only=True)
class Hello:
    """First frame each side sends: who it claims to be and a fresh challenge for the other."""

    chain_id: int
    public_key: bytes
    nonce: bytes


@attrs.frozen(kw_only=True)
class Proof:
    """Second frame: a signature over the other side's challenge (see ``transport``)."""

    signature: bytes


TAG_SYNC_REQUEST = 1
TAG_SYNC_RESPONSE = 2
TAG_ADVERTISE_BLOCK = 3
TAG_ADVERTISE_CERTIFICATE = 4
TAG_VOTE = 5
TAG_PROPOSAL = 6
TAG_HELLO = 16
TAG_PROOF = 17


# --- encoding ------------------------------------------------------------------------------


def _cert(c: Certificate) -> list[Any]:
    return [c.chain_id, c.view, c.height, c.block_hash, [[k, s] for k, s in c.signatures]]


def _block(b: Block) -> list[Any]:
    return [b.chain_id, b.height, b.parent_hash, _cert(b.justify), b.payload, b.hash]


def _vote(v: Vote) -> list[Any]:
    return [v.phase, v.chain_id, v.height, v.round, v.block_hash, v.voter, v.signature]


def to_body(message: object) -> list[Any]:
    kind = type(message)
    m: Any = message
    if kind is SyncRequest:
        return [TAG_SYNC_REQUEST, m.chain_id, m.request_id, m.start_height, m.limit, m.max_bytes]
    if kind is SyncResponse:
        return [
            TAG_SYNC_RESPONSE,
            m.chain_id,
            m.request_id,
            [_block(b) for b in m.blocks],
            _cert(m.highest_certificate),
        ]
    if kind is AdvertiseBlock:
        return [
            TAG_ADVERTISE_BLOCK,
            m.chain_id,
            m.server,
            m.committed_height,
            m.timestamp,
            m.signature,
        ]
    if kind is AdvertiseCertificate:
        return [TAG_ADVERTISE_CERTIFICATE, _cert(m.certificate)]
    if kind is Vote:
        return [TAG_VOTE, *_vote(m)]
    if kind is Proposal:
        return [
            TAG_PROPOSAL,
            m.round,
            _block(m.block),
            m.valid_round,
            [_vote(v) for v in m.proof],
            m.producer,
            m.signature,
        ]
    if kind is Hello:
        return [TAG_HELLO, m.chain_id, m.public_key, m.nonce]
    if kind is Proof:
        return [TAG_PROOF, m.signature]
    raise TypeError(f"no wire form for {kind.__name__}")


def encode_body(message: object) -> bytes:
    """The version byte and msgpack body of ``message`` (no length prefix)."""
    return bytes((WIRE_VERSION,)) + msgpack.packb(to_body(message), use_bin_type=True)


def encode_frame(message: object, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    body = encode_body(message)
    if len(body) > max_frame:
        raise CodecError(f"frame of {len(body)} bytes exceeds the maximum {max_frame}")
    return HEADER.pack(len(body)) + body


def encode_block(block: Block) -> bytes:
    """A block alone, for storage (msgpack, no version byte)."""
    return msgpack.packb(_block(block), use_bin_type=True)


def encode_certificate(cert: Certificate) -> bytes:
    return msgpack.packb(_cert(cert), use_bin_type=True)


# --- strict decoding -----------------------------------------------------------------------


def _int(v: object, low: int, high: int, what: str) -> int:
    if type(v) is not int or not low <= v <= high:
        raise CodecError(f"{what}: expected an integer in [{low}, {high}]")
    return v


def _u64(v: object, what: str) -> int:
    return _int(v, 0, MAX_U64, what)


def _bytes(v: object, what: str, size: int | None = None, max_size: int | None = None) -> bytes:
    if type(v) is not bytes:
        raise CodecError(f"{what}: expected bytes")
    if size is not None and len(v) != size:
        raise CodecError(f"{what}: expected {size} bytes, got {len(v)}")
    if max_size is not None and len(v) > max_size:
        raise CodecError(f"{what}: more than {max_size} bytes")
    return v


def _list(v: object, what: str, arity: int | None = None, max_len: int | None = None) -> list[Any]:
    if type(v) is not list:
        raise CodecError(f"{what}: expected an array")
    if arity is not None and len(v) != arity:
        raise CodecError(f"{what}: expected {arity} fields, got {len(v)}")
    if max_len is not None and len(v) > max_len:
        raise CodecError(f"{what}: more than {max_len} entries")
    return v


def _to_cert(v: object) -> Certificate:
    f = _list(v, "certificate", 5)
    sigs = []
    for pair in _list(f[4], "certificate signatures", max_len=MAX_SIGNATURES):
        p = _list(pair, "signature pair", 2)
        sigs.append((_bytes(p[0], "signer key", KEY_SIZE), _bytes(p[1], "signature", SIG_SIZE)))
    return Certificate(
        chain_id=_u64(f[0], "certificate chain_id"),
        view=_u64(f[1], "certificate view"),
        height=_int(f[2], -1, _I64_MAX, "certificate height"),
        block_hash=_bytes(f[3], "certificate block_hash", HASH_SIZE),
        signatures=tuple(sigs),
    )


def _to_block(v: object) -> Block:
    f = _list(v, "block", 6)
    return Block(
        chain_id=_u64(f[0], "block chain_id"),
        height=_int(f[1], 0, _I64_MAX, "block height"),
        parent_hash=_bytes(f[2], "block parent_hash", HASH_SIZE),
        justify=_to_cert(f[3]),
        payload=_bytes(f[4], "block payload"),
        hash=_bytes(f[5], "block hash", HASH_SIZE),
    )


def _to_vote(f: list[Any]) -> Vote:
    return Vote(
        phase=_int(f[0], 0, 255, "vote phase"),
        chain_id=_u64(f[1], "vote chain_id"),
        height=_int(f[2], 0, _I64_MAX, "vote height"),
        round=_int(f[3], 0, _I64_MAX, "vote round"),
        block_hash=_bytes(f[4], "vote block_hash", HASH_SIZE),
        voter=_bytes(f[5], "voter", KEY_SIZE),
        signature=_bytes(f[6], "vote signature", SIG_SIZE),
    )


def _votes(v: object, what: str) -> tuple[Vote, ...]:
    return tuple(_to_vote(_list(x, "vote", 7)) for x in _list(v, what, max_len=MAX_SIGNATURES))


def from_body(body: object) -> object:
    f = _list(body, "message")
    if not f:
        raise CodecError("message: empty array")
    tag = f[0]
    if tag == TAG_SYNC_REQUEST and type(tag) is int:
        _list(f, "SyncRequest", 6)
        return SyncRequest(
            chain_id=_u64(f[1], "chain_id"),
            request_id=_u64(f[2], "request_id"),
            start_height=_u64(f[3], "start_height"),
            limit=_u64(f[4], "limit"),
            max_bytes=_u64(f[5], "max_bytes"),
        )
    if tag == TAG_SYNC_RESPONSE and type(tag) is int:
        _list(f, "SyncResponse", 5)
        blocks = _list(f[3], "blocks", max_len=MAX_BLOCKS)
        return SyncResponse(
            chain_id=_u64(f[1], "chain_id"),
            request_id=_u64(f[2], "request_id"),
            blocks=tuple(_to_block(b) for b in blocks),
            highest_certificate=_to_cert(f[4]),
        )
    if tag == TAG_ADVERTISE_BLOCK and type(tag) is int:
        _list(f, "AdvertiseBlock", 6)
        return AdvertiseBlock(
            chain_id=_u64(f[1], "chain_id"),
            server=_bytes(f[2], "server", KEY_SIZE),
            committed_height=_int(f[3], -1, _I64_MAX, "committed_height"),
            timestamp=_u64(f[4], "timestamp"),
            signature=_bytes(f[5], "signature", SIG_SIZE),
        )
    if tag == TAG_ADVERTISE_CERTIFICATE and type(tag) is int:
        _list(f, "AdvertiseCertificate", 2)
        return AdvertiseCertificate(certificate=_to_cert(f[1]))
    if tag == TAG_VOTE and type(tag) is int:
        _list(f, "Vote", 8)
        return _to_vote(f[1:])
    if tag == TAG_PROPOSAL and type(tag) is int:
        _list(f, "Proposal", 7)
        return Proposal(
            round=_int(f[1], 0, _I64_MAX, "proposal round"),
            block=_to_block(f[2]),
            valid_round=_int(f[3], -1, _I64_MAX, "proposal valid_round"),
            proof=_votes(f[4], "proposal proof"),
            producer=_bytes(f[5], "producer", KEY_SIZE),
            signature=_bytes(f[6], "proposal signature", SIG_SIZE),
        )
    if tag == TAG_HELLO and type(tag) is int:
        _list(f, "Hello", 4)
        return Hello(
            chain_id=_u64(f[1], "chain_id"),
            public_key=_bytes(f[2], "public_key", KEY_SIZE),
            nonce=_bytes(f[3], "nonce", NONCE_SIZE),
        )
    if tag == TAG_PROOF and type(tag) is int:
        _list(f, "Proof", 2)
        return Proof(signature=_bytes(f[1], "signature", SIG_SIZE))
    raise CodecError(f"unknown message tag {tag!r}")


def _unpack(data: bytes) -> object:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_str_len=len(data),
            max_bin_len=len(data),
            max_array_len=len(data),
            max_map_len=len(data),
            max_ext_len=len(data),
        )
    except msgpack.ExtraData:
        raise CodecError("trailing bytes after the body") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as error:
        raise CodecError(f"not msgpack: {type(error).__name__}") from None


def decode_body(data: bytes) -> object:
    """Version byte + body (from ``encode_body``) into a message; ``CodecError`` if bad."""
    if not data:
        raise CodecError("empty frame")
    if data[0] != WIRE_VERSION:
        raise CodecError(f"unsupported wire version {data[0]}")
    body = bytes(data[1:])
    tree = _unpack(body)
    message = from_body(tree)
    # ``from_body`` accepted only arrays, integers and byte strings, each where the message has
    # one: packing the tree again writes the message's one encoding (cheaper than ``to_body``).
    if msgpack.packb(tree, use_bin_type=True) != body:
        raise CodecError("not canonical: the body is not the one encoding of its message")
    return message


def decode_frame(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> object:
    """One complete frame (length prefix included) into a message."""
    if len(data) < HEADER.size:
        raise CodecError("truncated length prefix")
    (length,) = HEADER.unpack_from(data)
    if length > max_frame:
        raise CodecError(f"frame of {length} bytes exceeds the maximum {max_frame}")
    if len(data) - HEADER.size < length:
        raise CodecError("truncated frame")
    if len(data) - HEADER.size > length:
        raise CodecError("bytes after the frame")
    return decode_body(data[HEADER.size :])


def encode_guard(g: Guard) -> bytes:
    """The attester's guard, for storage."""
    return msgpack.packb(
        [
            g.height,
            g.locked_round,
            g.locked_hash,
            [[r, p, h] for r, p, h in g.signed],
            _block(g.locked_block) if g.locked_block is not None else None,
            [_vote(v) for v in g.locked_proof],
            to_body(g.proposal) if g.proposal is not None else None,
        ],
        use_bin_type=True,
    )


def decode_guard(data: bytes) -> Guard:
    """A guard of 6 fields (written before the signed proposal was kept) reads as one with no
    proposal."""
    f = _list(_unpack(data), "guard")
    if len(f) not in (6, 7):
        raise CodecError(f"guard: expected 6 or 7 fields, got {len(f)}")
    proposal = None
    if len(f) == 7 and f[6] is not None:
        proposal = from_body(f[6])
        if type(proposal) is not Proposal:
            raise CodecError("guard proposal: not a proposal")
    signed = []
    for entry in _list(f[3], "guard signed"):
        e = _list(entry, "guard signed entry", 3)
        signed.append(
            (
                _int(e[0], 0, _I64_MAX, "signed round"),
                _int(e[1], 0, 255, "signed phase"),
                _bytes(e[2], "signed hash", HASH_SIZE),
            )
        )
    return Guard(
        height=_int(f[0], 0, _I64_MAX, "guard height"),
        locked_round=_int(f[1], -1, _I64_MAX, "guard locked_round"),
        locked_hash=_bytes(f[2], "guard locked_hash", HASH_SIZE),
        signed=tuple(signed),
        locked_block=_to_block(f[4]) if f[4] is not None else None,
        locked_proof=_votes(f[5], "guard locked_proof"),
        proposal=proposal,
    )


def encode_signing_guard(g: SigningGuard) -> bytes:
    """The producer's signing guard, for storage."""
    return msgpack.packb(
        [[list(b) for b in g.blocks], [[r, h, i] for r, h, i in g.announced]], use_bin_type=True
    )


def decode_signing_guard(data: bytes) -> SigningGuard:
    f = _list(_unpack(data), "signing guard", 2)
    blocks = []
    for entry in _list(f[0], "signing guard blocks"):
        e = _list(entry, "signing guard block", 3)
        blocks.append(
            (
                _int(e[0], 0, MAX_U64, "signed round"),
                _int(e[1], 0, MAX_U64, "signed height"),
                _int(e[2], 0, MAX_U64, "signed seq_no"),
            )
        )
    announced = []
    for entry in _list(f[1], "signing guard announced"):
        e = _list(entry, "signing guard announcement", 3)
        announced.append(
            (
                _int(e[0], 0, MAX_U64, "announced round"),
                _int(e[1], 0, MAX_U64, "announced height"),
                _bytes(e[2], "announced parent id", 32),
            )
        )
    return SigningGuard(blocks=tuple(blocks), announced=tuple(announced))


def decode_block(data: bytes) -> Block:
    return _to_block(_unpack(data))


def decode_certificate(data: bytes) -> Certificate:
    return _to_cert(_unpack(data))
