"""The wire codec: every message round-trips; garbage, truncated, oversized and mistyped frames
are refused with a CodecError, never another exception."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockfsm.adapters.node.codec import (
    HEADER,
    WIRE_VERSION,
    CodecError,
    Hello,
    Proof,
    decode_block,
    decode_body,
    decode_frame,
    decode_guard,
    decode_signing_guard,
    encode_block,
    encode_body,
    encode_frame,
    encode_guard,
    encode_signing_guard,
    to_body,
)
from blockfsm.machine.attester import Guard, Proposal, Vote
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncResponse,
)
from blockfsm.machine.producer_view import SigningGuard
from blockfsm.machine.types import MAX_U64, Block, Certificate

u64 = st.integers(0, MAX_U64)
key = st.binary(min_size=32, max_size=32)
sig = st.binary(min_size=64, max_size=64)
certs = st.builds(
    Certificate,
    chain_id=u64,
    view=u64,
    height=st.integers(-1, 2**63 - 1),
    block_hash=key,
    signatures=st.lists(st.tuples(key, sig), max_size=4).map(tuple),
)
blocks = st.builds(
    Block,
    chain_id=u64,
    height=st.integers(0, 2**63 - 1),
    parent_hash=key,
    justify=certs,
    payload=st.binary(max_size=64),
    hash=key,
)
i63 = st.integers(0, 2**63 - 1)
votes = st.builds(
    Vote,
    phase=st.integers(0, 1),
    chain_id=u64,
    height=i63,
    round=i63,
    block_hash=key,
    voter=key,
    signature=sig,
)
guards = st.builds(
    Guard,
    height=i63,
    locked_round=st.integers(-1, 2**63 - 1),
    locked_hash=key,
    signed=st.lists(st.tuples(i63, st.integers(0, 1), key), max_size=3).map(tuple),
    locked_block=st.none() | blocks,
    locked_proof=st.lists(votes, max_size=3).map(tuple),
)
messages = st.one_of(
    votes,
    st.builds(
        Proposal,
        round=i63,
        block=blocks,
        valid_round=st.integers(-1, 2**63 - 1),
        proof=st.lists(votes, max_size=3).map(tuple),
        producer=key,
        signature=sig,
    ),
    st.builds(
        SyncRequest, chain_id=u64, request_id=u64, start_height=u64, limit=u64, max_bytes=u64
    ),
    st.builds(
        SyncResponse,
        chain_id=u64,
        request_id=u64,
        blocks=st.lists(blocks, max_size=3).map(tuple),
        highest_certificate=certs,
    ),
    st.builds(
        AdvertiseBlock,
        chain_id=u64,
        server=key,
        committed_height=st.integers(-1, 2**63 - 1),
        timestamp=u64,
        signature=sig,
    ),
    st.builds(AdvertiseCertificate, certificate=certs),
    st.builds(Hello, chain_id=u64, public_key=key, nonce=key),
    st.builds(Proof, signature=sig),
)


@given(messages)
def test_every_message_round_trips(message: object) -> None:
    assert decode_frame(encode_frame(message)) == message


@given(blocks)
def test_blocks_round_trip_for_storage(block: Block) -> None:
    assert decode_block(encode_block(block)) == block


@given(guards)
def test_guards_round_trip_for_storage(guard: Guard) -> None:
    assert decode_guard(encode_guard(guard)) == guard


signing_guards = st.builds(
    SigningGuard,
    blocks=st.lists(st.tuples(u64, u64, u64), max_size=4).map(tuple),
    announced=st.lists(st.tuples(u64, u64, key), max_size=4).map(tuple),
)


@given(signing_guards)
def test_producer_signing_guards_round_trip_for_storage(guard: SigningGuard) -> None:
    assert decode_signing_guard(encode_signing_guard(guard)) == guard


@given(st.binary(max_size=200))
def test_a_garbled_stored_signing_guard_is_a_codec_error(data: bytes) -> None:
    try:
        decode_signing_guard(data)
    except CodecError:
        pass


def test_a_signing_guard_with_a_short_parent_id_is_refused() -> None:
    bad = SigningGuard(blocks=(), announced=((1, 2, b"\x01" * 31),))
    with pytest.raises(CodecError, match="announced parent id"):
        decode_signing_guard(encode_signing_guard(bad))


@given(st.binary(max_size=200))
def test_garbage_is_a_codec_error(data: bytes) -> None:
    try:
        decode_frame(data)
    except CodecError:
        pass
    try:
        decode_body(bytes((WIRE_VERSION,)) + data)
    except CodecError:
        pass


@given(messages, st.data())
def test_truncated_frames_are_refused(message: object, data: st.DataObject) -> None:
    frame = encode_frame(message)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(CodecError):
        decode_frame(frame[:cut])
    with pytest.raises(CodecError):
        decode_body(frame[HEADER.size : max(HEADER.size, cut)])


@given(messages)
def test_oversized_frames_are_refused(message: object) -> None:
    frame = encode_frame(message)
    with pytest.raises(CodecError, match="exceeds"):
        decode_frame(frame, max_frame=len(frame) - HEADER.size - 1)
    with pytest.raises(CodecError, match="exceeds"):
        encode_frame(message, max_frame=len(frame) - HEADER.size - 1)


@given(messages, st.integers(0, 255).filter(lambda v: v != WIRE_VERSION))
def test_wrong_version_is_refused(message: object, version: int) -> None:
    body = bytearray(encode_body(message))
    body[0] = version
    with pytest.raises(CodecError, match="version"):
        decode_body(bytes(body))


wrong_values = st.one_of(
    st.text(max_size=3),
    st.floats(allow_nan=False),
    st.integers(-(2**63), -2),
    st.binary(max_size=3),
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=2), st.integers(0, 9), max_size=2),
    st.lists(st.integers(0, 9), max_size=2),
)


def _leaves(tree: object, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if isinstance(tree, list):
        out = []
        for i, v in enumerate(tree):
            if path == () and i == 0:
                continue  # the tag
            out.extend(_leaves(v, (*path, i)))
        return out
    return [path]


def _replace(tree: object, path: tuple[int, ...], value: object) -> object:
    if not path:
        return value
    assert isinstance(tree, list)
    copy = list(tree)
    copy[path[0]] = _replace(copy[path[0]], path[1:], value)
    return copy


@given(messages, st.data())
def test_a_field_of_the_wrong_type_is_refused(message: object, data: st.DataObject) -> None:
    body = to_body(message)
    path = data.draw(st.sampled_from(_leaves(body)))
    value = data.draw(wrong_values)
    original: object = body
    for i in path:
        original = original[i]  # type: ignore[index]
    raw = bytes((WIRE_VERSION,)) + msgpack.packb(_replace(body, path, value), use_bin_type=True)
    if isinstance(original, bytes) and isinstance(value, bytes):
        # Short bytes are wrong for every fixed-size field; a block payload takes any bytes.
        try:
            decode_body(raw)
        except CodecError:
            return
        assert len(path) == 3 and path[0] == 3 and path[2] == 4, "only a payload takes it"
        return
    with pytest.raises(CodecError):
        decode_body(raw)


@given(messages, st.booleans())
def test_wrong_arity_is_refused(message: object, longer: bool) -> None:
    body = to_body(message)
    body = [*body, 0] if longer else body[:-1]
    with pytest.raises(CodecError):
        decode_body(bytes((WIRE_VERSION,)) + msgpack.packb(body, use_bin_type=True))


def test_unknown_tag_and_trailing_bytes_are_refused() -> None:
    with pytest.raises(CodecError, match="tag"):
        decode_body(bytes((WIRE_VERSION,)) + msgpack.packb([99, 1]))
    with pytest.raises(CodecError, match="tag"):
        decode_body(bytes((WIRE_VERSION,)) + msgpack.packb([True, 1, 2, 3, 4]))
    good = encode_frame(Proof(signature=bytes(64)))
    with pytest.raises(CodecError, match="after"):
        decode_frame(good + b"\x00")
    with pytest.raises(CodecError, match="trailing"):
        decode_body(good[HEADER.size :] + b"\x00")


# --- SyncRequest.max_bytes travels --------------------------------------------------------------


def test_sync_request_max_bytes_reaches_the_receiver() -> None:
    """The client's byte bound arrives as sent, not as the 4 MiB default."""
    for max_bytes in (0, 5_000, 4 * 1024 * 1024 + 1, MAX_U64):
        request = SyncRequest(
            chain_id=7, request_id=3, start_height=300, limit=20, max_bytes=max_bytes
        )
        decoded = decode_frame(encode_frame(request))
        assert type(decoded) is SyncRequest and decoded.max_bytes == max_bytes


def test_a_sync_request_without_max_bytes_is_refused() -> None:
    """The five-element body (without max_bytes) is not a SyncRequest of this protocol."""
    with pytest.raises(CodecError, match="SyncRequest: expected 6 fields, got 5"):
        decode_body(bytes((WIRE_VERSION,)) + msgpack.packb([1, 7, 3, 300, 20]))


# --- canonical encoding only ---------------------------------------------------------------------


def _pack(value: object, widen: int = -1, at: list[int] | None = None) -> bytes:
    """msgpack written out by hand from its specification, each value in its shortest form; the
    value numbered ``widen`` (depth first, from 0) in a longer form that decodes to the same
    value. ``at`` counts the values."""
    at = [0] if at is None else at
    index = at[0]
    at[0] += 1
    wide = index == widen
    if type(value) is int:
        if value >= 0:
            if wide:
                return (
                    b"\xcf" + value.to_bytes(8, "big")
                    if value < 2**32
                    else b"\xd3" + (value.to_bytes(8, "big"))
                )
            if value < 128:
                return bytes((value,))
            for code, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
                if value < 2 ** (8 * size):
                    return bytes((code,)) + value.to_bytes(size, "big")
        if wide:
            return b"\xd3" + value.to_bytes(8, "big", signed=True)
        if value >= -32:
            return (value & 0xFF).to_bytes(1, "big")
        for code, size in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if value >= -(2 ** (8 * size - 1)):
                return bytes((code,)) + value.to_bytes(size, "big", signed=True)
    if type(value) is bytes:
        n = len(value)
        if wide:
            return b"\xc6" + n.to_bytes(4, "big") + value
        for code, size in ((0xC4, 1), (0xC5, 2), (0xC6, 4)):
            if n < 2 ** (8 * size):
                return bytes((code,)) + n.to_bytes(size, "big") + value
    if type(value) is list:
        n = len(value)
        if wide:
            head = b"\xdd" + n.to_bytes(4, "big")
        elif n < 16:
            head = bytes((0x90 | n,))
        elif n < 2**16:
            head = b"\xdc" + n.to_bytes(2, "big")
        else:
            head = b"\xdd" + n.to_bytes(4, "big")
        return head + b"".join(_pack(v, widen, at) for v in value)
    raise AssertionError(f"no msgpack form here for {value!r}")


def _widenable(value: object) -> list[int]:
    """The numbers (as ``_pack`` counts them) of the values that have a longer form."""
    out: list[int] = []

    def walk(v: object) -> None:
        index = len(seen)
        seen.append(v)
        if type(v) is int and -(2**31) <= v < 2**63:
            out.append(index)
        elif type(v) is bytes and len(v) < 2**16:
            out.append(index)
        elif type(v) is list:
            if len(v) < 2**16:
                out.append(index)
            for x in v:
                walk(x)

    seen: list[object] = []
    walk(value)
    return out


@given(messages)
def test_the_encoder_writes_the_shortest_form_of_every_value(message: object) -> None:
    """The hand-written packer above and ``msgpack.packb`` agree byte for byte: what the codec
    sends is canonical as the protocol page defines it."""
    assert encode_body(message) == bytes((WIRE_VERSION,)) + _pack(to_body(message))


@given(messages, st.data())
def test_a_body_not_in_canonical_form_is_refused(message: object, data: st.DataObject) -> None:
    body = to_body(message)
    widen = data.draw(st.sampled_from(_widenable(body)))
    longer = _pack(body, widen)
    assert longer != _pack(body)
    assert msgpack.unpackb(longer) == msgpack.unpackb(_pack(body))  # the same value
    with pytest.raises(CodecError, match="not canonical"):
        decode_body(bytes((WIRE_VERSION,)) + longer)
