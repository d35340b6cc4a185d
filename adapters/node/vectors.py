"""Golden test vectors for every signed message: fixed Ed25519 keys, exact payload bytes, and the
signature, so another implementation can check itself byte for byte; and one wire frame for every
message kind the codec knows (``frames``): the message's fields and its exact frame bytes.

``docs/protocol/vectors.json`` is the published copy; the test suite rebuilds the vectors with the
machine's payload functions and compares them with that file, and checks the sync payloads against
the spec's independent restatement too, so a changed domain tag, field order or byte order fails
loudly. Regenerate the file only for a deliberate format change:
``python -m blockfsm.adapters.node.vectors > docs/protocol/vectors.json`` (and bump the tag's
version).
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

import attrs

from blockfsm.adapters.node.codec import Hello, Proof, encode_frame
from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    Proposal,
    Vote,
    proposal_payload,
    view_of,
    vote_payload,
)
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncResponse,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    ProducedBlock,
    candidate_payload,
    next_round_payload,
    produced_block_id,
)
from blockfsm.machine.types import Block, Certificate, advertise_block_payload, certificate_payload

SEEDS = {
    "validator-0": bytes(range(32)),
    "validator-1": bytes(range(32, 64)),
    "server": bytes([7] * 32),
    "producer": bytes([0xA5] * 32),
}
CHAIN_ID = 7


def _signer(name: str) -> Ed25519Signer:
    return Ed25519Signer.from_seed(SEEDS[name])


def _vector(name: str, signer: str, fields: dict[str, Any], payload: bytes) -> dict[str, Any]:
    key = _signer(signer)
    return {
        "message": name,
        "signer": signer,
        "public_key": key.public_key.hex(),
        "fields": fields,
        "payload": payload.hex(),
        "signature": key.sign(payload).hex(),
    }


def fields_of(value: object) -> Any:
    """A message as JSON: its fields by name, in declaration order; bytes as hex, tuples as
    lists, nested blocks and certificates as objects."""
    if attrs.has(type(value)):
        kind = cast(Any, type(value))
        return {a.name: fields_of(getattr(value, a.name)) for a in attrs.fields(kind)}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [fields_of(v) for v in value]
    return value


def _frame(message: object, note: str) -> dict[str, Any]:
    return {
        "message": type(message).__name__,
        "note": note,
        "fields": fields_of(message),
        "frame": encode_frame(message).hex(),
    }


def _frames(block0: Block, block1: Block, cert0: Certificate) -> list[dict[str, Any]]:
    """One frame of each kind, from the blocks, certificate and keys of the signed vectors."""
    v0, v1 = _signer("validator-0"), _signer("validator-1")
    server = _signer("server")
    attestations = tuple(
        Vote(
            phase=ATTEST,
            chain_id=CHAIN_ID,
            height=1,
            round=1,
            block_hash=block1.hash,
            voter=s.public_key,
            signature=s.sign(vote_payload(ATTEST, CHAIN_ID, 1, 1, block1.hash)),
        )
        for s in (v0, v1)
    )
    timestamp = 1_700_000_000_000
    return [
        _frame(
            SyncRequest(
                chain_id=CHAIN_ID, request_id=3, start_height=300, limit=20, max_bytes=65_536
            ),
            "asks for at most 20 blocks from height 300 in at most 64 KiB",
        ),
        _frame(
            SyncResponse(
                chain_id=CHAIN_ID,
                request_id=3,
                blocks=(block0, block1),
                highest_certificate=cert0,
            ),
            "the blocks at heights 0 and 1 and the certificate of height 0",
        ),
        _frame(
            AdvertiseBlock(
                chain_id=CHAIN_ID,
                server=server.public_key,
                committed_height=-1,
                timestamp=timestamp,
                signature=server.sign(
                    advertise_block_payload(CHAIN_ID, server.public_key, -1, timestamp)
                ),
            ),
            "the AdvertiseBlock of the signed vectors",
        ),
        _frame(AdvertiseCertificate(certificate=cert0), "the certificate of height 0"),
        _frame(
            Vote(
                phase=CONFIRM,
                chain_id=CHAIN_ID,
                height=1,
                round=2,
                block_hash=block1.hash,
                voter=v0.public_key,
                signature=v0.sign(vote_payload(CONFIRM, CHAIN_ID, 1, 2, block1.hash)),
            ),
            "the Confirmation of the signed vectors",
        ),
        _frame(
            Proposal(
                round=2,
                block=block1,
                valid_round=1,
                proof=attestations,
                producer=v1.public_key,
                signature=v1.sign(proposal_payload(CHAIN_ID, 1, 2, block1.hash, 1)),
            ),
            "the Proposal of the signed vectors, its proof two attestations from round 1",
        ),
        _frame(
            Hello(chain_id=CHAIN_ID, public_key=v0.public_key, nonce=bytes([0x44] * 32)),
            "the handshake's first frame; the nonce is a fixed stand-in for a fresh one",
        ),
        _frame(
            Proof(signature=bytes([0x55] * 64)),
            "the handshake's second frame; the signature is a stand-in (layout only)",
        ),
    ]


def build() -> dict[str, Any]:
    genesis = Certificate.genesis(CHAIN_ID)
    block0 = Block.make(
        chain_id=CHAIN_ID, height=0, parent_hash=bytes(32), justify=genesis, payload=b"hello"
    )
    vote_fields = {"chain_id": CHAIN_ID, "view": 1, "height": 0, "block_hash": block0.hash.hex()}
    # A block above genesis, justified by a signed certificate, and a vote for it at height 1:
    # height 0 and view 0 read the same in any byte order, these pin the order of both.
    cert0 = Certificate(
        chain_id=CHAIN_ID,
        view=1,
        height=0,
        block_hash=block0.hash,
        signatures=tuple(
            (
                _signer(name).public_key,
                _signer(name).sign(certificate_payload(CHAIN_ID, 1, 0, block0.hash)),
            )
            for name in ("validator-0", "validator-1")
        ),
    )
    block1 = Block.make(
        chain_id=CHAIN_ID, height=1, parent_hash=block0.hash, justify=cert0, payload=b"world"
    )
    vote1_fields = {"chain_id": CHAIN_ID, "view": 2, "height": 1, "block_hash": block1.hash.hex()}
    advert_fields = {
        "chain_id": CHAIN_ID,
        "server": _signer("server").public_key.hex(),
        "committed_height": -1,
        "timestamp": 1_700_000_000_000,
    }
    producer = _signer("producer").public_key
    parent_id = bytes([0x11] * 32)
    state = bytes([0x22] * 32)
    inputs = (1, 2, 3)
    block_id = produced_block_id(parent_id, 42, 41, state, inputs, producer)
    produced = ProducedBlock(
        block_id=block_id,
        parent_id=parent_id,
        seq_no=42,
        height=41,
        state=state,
        inputs=inputs,
        producer=producer,
    )
    selector = ProducerSelector(seed=bytes([0x33] * 32), index=2)
    candidate_fields = {
        "block_id": block_id.hex(),
        "parent_id": parent_id.hex(),
        "seq_no": 42,
        "height": 41,
        "state": state.hex(),
        "inputs": list(inputs),
        "producer": producer.hex(),
        "round": 3,
        "selector_seed": selector.seed.hex(),
        "selector_index": selector.index,
        "fallback": False,
    }
    next_round_fields = {"round": 3, "parent_id": parent_id.hex(), "producer": producer.hex()}
    # The node's votes and proposal, for the height-1 block above in round 2 (a round past 0 and
    # a height past 0 pin the byte order of both; the confirmation's view is view_of(1, 2)).
    attest_fields = {"chain_id": CHAIN_ID, "height": 1, "round": 2, "block_hash": block1.hash.hex()}
    confirm_fields = {**attest_fields, "view": view_of(1, 2)}
    proposal_fields = {**attest_fields, "valid_round": 1}
    return {
        "about": "blockfsm golden vectors: Ed25519 (RFC 8032) over the exact payload bytes; keys "
        "from the 32-byte seeds below; and one wire frame (length prefix, version byte, "
        "canonical msgpack body) of every message kind. Regenerate only for a deliberate "
        "format change.",
        "seeds": {name: seed.hex() for name, seed in SEEDS.items()},
        "block_hash": {
            "fields": {
                "chain_id": CHAIN_ID,
                "height": 0,
                "parent_hash": bytes(32).hex(),
                "justify_view": 0,
                "justify_block_hash": bytes(32).hex(),
                "payload": b"hello".hex(),
            },
            "hash": block0.hash.hex(),
        },
        "block_hash_certified": {
            "fields": {
                "chain_id": CHAIN_ID,
                "height": 1,
                "parent_hash": block0.hash.hex(),
                "justify_view": 1,
                "justify_block_hash": block0.hash.hex(),
                "payload": b"world".hex(),
            },
            "hash": block1.hash.hex(),
        },
        "vectors": [
            _vector(
                "CertificateVote",
                "validator-0",
                vote_fields,
                certificate_payload(CHAIN_ID, 1, 0, block0.hash),
            ),
            _vector(
                "CertificateVote",
                "validator-1",
                vote1_fields,
                certificate_payload(CHAIN_ID, 2, 1, block1.hash),
            ),
            _vector(
                "AdvertiseBlock",
                "server",
                advert_fields,
                advertise_block_payload(
                    CHAIN_ID, _signer("server").public_key, -1, 1_700_000_000_000
                ),
            ),
            _vector(
                "CandidateBlock",
                "producer",
                candidate_fields,
                candidate_payload(produced, 3, selector, False),
            ),
            _vector(
                "NextRoundSuccess",
                "producer",
                next_round_fields,
                next_round_payload(3, parent_id, producer),
            ),
            _vector(
                "Attestation",
                "validator-0",
                attest_fields,
                vote_payload(ATTEST, CHAIN_ID, 1, 2, block1.hash),
            ),
            _vector(
                "Confirmation",
                "validator-0",
                confirm_fields,
                vote_payload(CONFIRM, CHAIN_ID, 1, 2, block1.hash),
            ),
            _vector(
                "Proposal",
                "validator-1",
                proposal_fields,
                proposal_payload(CHAIN_ID, 1, 2, block1.hash, 1),
            ),
        ],
        "frames": _frames(block0, block1, cert0),
    }


def main() -> None:
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
