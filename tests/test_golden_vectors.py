"""The published golden vectors (docs/protocol/vectors.json) are the bytes the code signs: rebuilt
with the machine's payload functions, checked against the spec's independent restatement for the
sync messages, and each signature verified with Ed25519. A changed domain tag, field order or
byte order fails here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from blockfsm.adapters.node import vectors
from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.machine.types import Block, Certificate
from blockfsm.spec import signed_bytes
from blockfsm.spec.attester import spec_vote_bytes

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads((ROOT / "docs" / "protocol" / "vectors.json").read_text())
BY_NAME = {(v["message"], v["signer"]): v for v in PUBLISHED["vectors"]}


def test_the_code_produces_the_published_vectors() -> None:
    assert vectors.build() == PUBLISHED


SIGNED_MESSAGE_TYPES = {
    "CertificateVote",
    "AdvertiseBlock",
    "CandidateBlock",
    "NextRoundSuccess",
    "Attestation",
    "Confirmation",
    "Proposal",
}


def test_every_signed_message_type_has_a_vector() -> None:
    names = {v["message"] for v in PUBLISHED["vectors"]}
    assert names == SIGNED_MESSAGE_TYPES


@pytest.mark.parametrize(
    "vector", PUBLISHED["vectors"], ids=lambda v: f"{v['message']}-{v['signer']}"
)
def test_each_signature_verifies_over_exactly_the_payload(vector: dict[str, Any]) -> None:
    seed = bytes.fromhex(PUBLISHED["seeds"][vector["signer"]])
    signer = Ed25519Signer.from_seed(seed)
    assert signer.public_key.hex() == vector["public_key"]
    payload = bytes.fromhex(vector["payload"])
    signature = bytes.fromhex(vector["signature"])
    assert signer.sign(payload) == signature  # Ed25519 is deterministic
    verifier = Ed25519Verifier()
    assert verifier.verify(signer.public_key, payload, signature)
    assert not verifier.verify(
        signer.public_key, payload[:-1] + bytes([payload[-1] ^ 1]), signature
    )


def test_sync_payloads_match_the_spec_restatement_and_the_literal_layout() -> None:
    vote = BY_NAME[("CertificateVote", "validator-0")]
    f = vote["fields"]
    assert bytes.fromhex(vote["payload"]) == signed_bytes.vote_bytes(
        f["chain_id"], f["view"], f["height"], bytes.fromhex(f["block_hash"])
    )
    # Written out by hand: tag, chain_id u64, view u64, height i64, block hash.
    assert bytes.fromhex(vote["payload"]) == (
        b"blockfsm/certificate/v1\x00"
        + (7).to_bytes(8, "big")
        + (1).to_bytes(8, "big")
        + (0).to_bytes(8, "big", signed=True)
        + bytes.fromhex(f["block_hash"])
    )
    ad = BY_NAME[("AdvertiseBlock", "server")]
    f = ad["fields"]
    assert bytes.fromhex(ad["payload"]) == signed_bytes.advertisement_bytes(
        f["chain_id"], bytes.fromhex(f["server"]), f["committed_height"], f["timestamp"]
    )
    assert bytes.fromhex(ad["payload"]).startswith(b"blockfsm/advertise-block/v1\x00")
    assert bytes.fromhex(ad["payload"])[-16:-8] == b"\xff" * 8  # committed height -1, i64


def test_block_hash_vector_matches_the_spec_and_the_machine() -> None:
    f = PUBLISHED["block_hash"]["fields"]
    block = Block.make(
        chain_id=f["chain_id"],
        height=f["height"],
        parent_hash=bytes.fromhex(f["parent_hash"]),
        justify=Certificate.genesis(f["chain_id"]),
        payload=bytes.fromhex(f["payload"]),
    )
    assert block.hash.hex() == PUBLISHED["block_hash"]["hash"]
    assert signed_bytes.header_hash(block).hex() == PUBLISHED["block_hash"]["hash"]


def test_certified_block_hash_vector_matches_the_spec_the_machine_and_the_layout() -> None:
    """Height 1 with a signed justify at view 1: pins the byte order of height and justify view."""
    f = PUBLISHED["block_hash_certified"]["fields"]
    h = bytes.fromhex
    justify = Certificate(
        chain_id=f["chain_id"],
        view=f["justify_view"],
        height=0,
        block_hash=h(f["justify_block_hash"]),
    )
    block = Block.make(
        chain_id=f["chain_id"],
        height=f["height"],
        parent_hash=h(f["parent_hash"]),
        justify=justify,
        payload=h(f["payload"]),
    )
    expected = PUBLISHED["block_hash_certified"]["hash"]
    assert block.hash.hex() == expected
    assert signed_bytes.header_hash(block).hex() == expected
    header = (
        b"blockfsm/block/v1\x00"
        + f["chain_id"].to_bytes(8, "big")
        + f["height"].to_bytes(8, "big")
        + h(f["parent_hash"])
        + f["justify_view"].to_bytes(8, "big")
        + h(f["justify_block_hash"])
        + len(h(f["payload"])).to_bytes(8, "big")
        + h(f["payload"])
    )
    assert hashlib.blake2b(header, digest_size=32).hexdigest() == expected
    # The vote for this block, at view 2 and height 1.
    vote = BY_NAME[("CertificateVote", "validator-1")]
    v = vote["fields"]
    assert v["block_hash"] == expected and v["height"] == 1
    assert h(vote["payload"]) == signed_bytes.vote_bytes(
        v["chain_id"], v["view"], v["height"], h(v["block_hash"])
    )
    assert h(vote["payload"]) == (
        b"blockfsm/certificate/v1\x00"
        + v["chain_id"].to_bytes(8, "big")
        + v["view"].to_bytes(8, "big")
        + v["height"].to_bytes(8, "big", signed=True)
        + h(v["block_hash"])
    )


# A confirmation is, by design, a certificate vote: a quorum of them is the finality certificate.
SAME_BYTES_AS = {"Confirmation": "CertificateVote"}


def test_domain_tags_separate_every_message_type() -> None:
    tags: dict[str, bytes] = {}
    for v in PUBLISHED["vectors"]:
        tag = bytes.fromhex(v["payload"]).split(b"\x00", 1)[0]
        tags.setdefault(SAME_BYTES_AS.get(v["message"], v["message"]), tag)
        assert tags[SAME_BYTES_AS.get(v["message"], v["message"])] == tag
    prefixes = set(tags.values())
    assert len(prefixes) == len(tags)
    assert all(p.startswith(b"blockfsm/") and p.endswith(b"/v1") for p in prefixes)


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def test_producer_payloads_match_the_literal_layout() -> None:
    """The producer's payloads written out by hand from docs/protocol.md, field by field, so the
    producer's vectors are held against something other than the functions that made them."""
    candidate = BY_NAME[("CandidateBlock", "producer")]
    f = candidate["fields"]
    h = bytes.fromhex
    assert h(candidate["payload"]) == (
        b"blockfsm/producer-block/v1\x00"
        + h(f["block_id"])
        + h(f["parent_id"])
        + _u64(f["seq_no"])
        + _u64(f["height"])
        + _u64(f["round"])
        + h(f["selector_seed"])
        + _u64(f["selector_index"])
        + h(f["producer"])
        + (b"\x01" if f["fallback"] else b"\x00")
    )
    # The block id commits to the parent, position, resulting state, producer and inputs.
    id_bytes = (
        b"blockfsm/producer-block-id/v1\x00"
        + h(f["parent_id"])
        + _u64(f["seq_no"])
        + _u64(f["height"])
        + h(f["state"])
        + h(f["producer"])
        + _u64(len(f["inputs"]))
        + b"".join(_u64(m) for m in f["inputs"])
    )
    assert hashlib.blake2b(id_bytes, digest_size=32).hexdigest() == f["block_id"]
    announcement = BY_NAME[("NextRoundSuccess", "producer")]
    f = announcement["fields"]
    assert h(announcement["payload"]) == (
        b"blockfsm/next-round-success/v1\x00"
        + _u64(f["round"])
        + h(f["parent_id"])
        + h(f["producer"])
    )


def test_the_docs_page_publishes_every_vector() -> None:
    page = (ROOT / "docs" / "protocol.md").read_text()
    for vector in PUBLISHED["vectors"]:
        assert vector["payload"] in page, f"{vector['message']}/{vector['signer']} payload"
        assert vector["signature"] in page, f"{vector['message']}/{vector['signer']} signature"
    for key in ("block_hash", "block_hash_certified"):
        assert PUBLISHED[key]["hash"] in page, key
    for seed in PUBLISHED["seeds"].values():
        assert seed in page


def test_node_payloads_match_the_spec_restatement_and_the_literal_layout() -> None:
    """The attester's votes and proposal, against the node spec's own statement of the bytes and
    against the layout written out by hand from docs/protocol.md."""
    h = bytes.fromhex
    attest = BY_NAME[("Attestation", "validator-0")]
    f = attest["fields"]
    literal = (
        b"blockfsm/attest/v1\x00"
        + _u64(f["chain_id"])
        + f["height"].to_bytes(8, "big", signed=True)
        + _u64(f["round"])
        + h(f["block_hash"])
    )
    assert h(attest["payload"]) == literal
    assert h(attest["payload"]) == spec_vote_bytes(
        0, f["chain_id"], f["height"], f["round"], h(f["block_hash"])
    )
    confirm = BY_NAME[("Confirmation", "validator-0")]
    f = confirm["fields"]
    assert f["view"] == f["height"] * 65_536 + f["round"] + 1
    assert h(confirm["payload"]) == signed_bytes.vote_bytes(
        f["chain_id"], f["view"], f["height"], h(f["block_hash"])
    )
    assert h(confirm["payload"]) == spec_vote_bytes(
        1, f["chain_id"], f["height"], f["round"], h(f["block_hash"])
    )
    proposal = BY_NAME[("Proposal", "validator-1")]
    f = proposal["fields"]
    assert h(proposal["payload"]) == (
        b"blockfsm/proposal/v1\x00"
        + _u64(f["chain_id"])
        + f["height"].to_bytes(8, "big", signed=True)
        + _u64(f["round"])
        + h(f["block_hash"])
        + f["valid_round"].to_bytes(8, "big", signed=True)
    )


# --- a wire frame of every message kind -----------------------------------------------------------

FRAMES = {f["message"]: f for f in PUBLISHED["frames"]}


def test_every_message_kind_of_the_codec_has_a_frame() -> None:
    from blockfsm.adapters.node import codec

    tags = {v for k, v in vars(codec).items() if k.startswith("TAG_")}
    decoded = [codec.decode_frame(bytes.fromhex(f["frame"])) for f in PUBLISHED["frames"]]
    assert {codec.to_body(m)[0] for m in decoded} == tags
    assert len(PUBLISHED["frames"]) == len(tags) == len(FRAMES)


@pytest.mark.parametrize("vector", PUBLISHED["frames"], ids=lambda f: f["message"])
def test_each_frame_decodes_to_its_fields_and_encodes_back(vector: dict[str, Any]) -> None:
    from blockfsm.adapters.node.codec import decode_frame, encode_frame

    frame = bytes.fromhex(vector["frame"])
    message = decode_frame(frame)
    assert type(message).__name__ == vector["message"]
    assert vectors.fields_of(message) == vector["fields"]
    assert encode_frame(message) == frame


def test_the_sync_request_frame_matches_the_literal_layout() -> None:
    """Written out by hand from docs/protocol.md: length, version, then the msgpack array
    [tag, chain_id, request_id, start_height, limit, max_bytes], each in its shortest form."""
    f = FRAMES["SyncRequest"]["fields"]
    assert (f["start_height"], f["limit"], f["max_bytes"]) == (300, 20, 65_536)
    body = (
        b"\x96"  # an array of 6
        + b"\x01"  # tag 1: SyncRequest
        + bytes((f["chain_id"],))  # 7, a positive fixint
        + bytes((f["request_id"],))  # 3
        + b"\xcd" + (300).to_bytes(2, "big")  # uint 16
        + b"\x14"  # 20
        + b"\xce" + (65_536).to_bytes(4, "big")  # uint 32
    )  # fmt: skip
    frame = (1 + len(body)).to_bytes(4, "big") + b"\x01" + body
    assert FRAMES["SyncRequest"]["frame"] == frame.hex()


def test_the_docs_page_publishes_every_frame() -> None:
    page = (ROOT / "docs" / "protocol.md").read_text()
    for vector in PUBLISHED["frames"]:
        assert vector["frame"] in page, vector["message"]
