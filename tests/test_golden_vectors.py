"""The published golden vectors (docs/protocol/vectors.json) are the bytes the code signs: rebuilt
with the machine's payload functions, checked against the spec's independent restatement for the
sync messages, and each signature verified with Ed25519. A changed domain tag, field order or
byte order fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blockfsm.adapters import vectors
from blockfsm.adapters.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.machine.types import Block, Certificate
from blockfsm.spec import signed_bytes

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads((ROOT / "docs" / "protocol" / "vectors.json").read_text())
BY_NAME = {(v["message"], v["signer"]): v for v in PUBLISHED["vectors"]}


def test_the_code_produces_the_published_vectors() -> None:
    assert vectors.build() == PUBLISHED


def test_every_signed_message_type_has_a_vector() -> None:
    names = {v["message"] for v in PUBLISHED["vectors"]}
    assert {"CertificateVote", "AdvertiseBlock", "CandidateBlock", "NextRoundSuccess"} <= names


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


def test_domain_tags_separate_every_message_type() -> None:
    prefixes = {bytes.fromhex(v["payload"]).split(b"\x00", 1)[0] for v in PUBLISHED["vectors"]}
    assert len(prefixes) == len({v["message"] for v in PUBLISHED["vectors"]})
    assert all(p.startswith(b"blockfsm/") and p.endswith(b"/v1") for p in prefixes)
