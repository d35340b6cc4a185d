"""Proposals: what makes one valid (``proposal_refusal``), and making one (``signed_proposal``,
``new_block``, ``justifies_tip``)."""

from __future__ import annotations

from typing import Any

from blockfsm.machine.attester.state import (
    ATTEST,
    ROUNDS_PER_HEIGHT,
    AttesterConfig,
    AttesterState,
    Proposal,
    Vote,
    attest_payload,
    producer_for,
    proposal_payload,
)
from blockfsm.machine.core import PeerId
from blockfsm.machine.types import (
    ZERO_HASH,
    Block,
    BlockHash,
    Certificate,
    Height,
    certificate_is_valid,
    u64,
)
from blockfsm.machine.view import ChainView


def signed_proposal(
    config: AttesterConfig,
    block: Block,
    round_: int,
    valid_round: int = -1,
    proof: tuple[Vote, ...] = (),
) -> Proposal:
    """Our proposal of ``block`` in ``round_``, signed (a new block: no valid round, no proof)."""
    payload = proposal_payload(config.chain_id, block.height, round_, block.hash, valid_round)
    return Proposal(
        round=round_,
        block=block,
        valid_round=valid_round,
        proof=proof,
        producer=config.signer.public_key,
        signature=config.signer.sign(payload),
    )


def new_block(
    config: AttesterConfig,
    height: Height,
    round_: int,
    parent_hash: BlockHash,
    justify: Certificate,
) -> Block:
    """The new block a producer of (height, round) proposes on the final tip: its payload names
    the producer and the round, so two slots never make the same block."""
    return Block.make(
        chain_id=config.chain_id,
        height=height,
        parent_hash=parent_hash,
        justify=justify,
        payload=config.signer.public_key + u64(round_),
    )


def justifies_tip(
    config: AttesterConfig, justify: Certificate, height: Height, parent_hash: BlockHash
) -> bool:
    """``justify`` is a valid finality certificate for the final tip below ``height``."""
    if height == 0:
        return justify == Certificate.genesis(config.chain_id)
    return (
        justify.height == height - 1
        and justify.block_hash == parent_hash
        and certificate_is_valid(justify, config.chain_id, config.validators, config.verifier)
    )


def proposal_refusal(
    config: AttesterConfig, state: AttesterState, p: Any, view: ChainView
) -> str | None:
    """Why a proposal for our height is refused, or None when it is valid (the caller has
    already set aside a well-formed proposal for another height)."""
    if type(p) is not Proposal:
        return "malformed_proposal"
    b = p.block
    if not (
        type(b) is Block
        and type(p.round) is int
        and type(p.valid_round) is int
        and type(p.proof) is tuple
        and type(p.producer) is bytes
        and type(p.signature) is bytes
        and type(b.height) is int
        and type(b.hash) is bytes
        and type(b.parent_hash) is bytes
        and type(b.payload) is bytes
        and type(b.chain_id) is int
        and type(b.justify) is Certificate
        and 0 <= p.round < ROUNDS_PER_HEIGHT
        and -1 <= p.valid_round < p.round + (p.valid_round < 0)
    ):
        return "malformed_proposal"
    if b.chain_id != config.chain_id:
        return "wrong_chain"
    tip = view.block_at(b.height - 1) if b.height > 0 else None
    parent_hash = tip.hash if tip is not None else ZERO_HASH
    if b.parent_hash != parent_hash or not justifies_tip(config, b.justify, b.height, parent_hash):
        return "unknown_parent"
    if producer_for(config.keepers, parent_hash, p.round) != p.producer:
        return "wrong_producer"
    payload = proposal_payload(config.chain_id, b.height, p.round, b.hash, p.valid_round)
    if not config.verifier.verify(p.producer, payload, p.signature):
        return "bad_signature"
    try:
        hash_ok = b.hash_is_valid()
    except (TypeError, ValueError, OverflowError):
        hash_ok = False
    if not hash_ok:
        return "bad_block_hash"
    if p.proof if p.valid_round < 0 else not _proof_holds(config, p, b.height):
        # A new block's proposal carries no proof (Tendermint's PROPOSAL(h, r, v, -1)): votes
        # in it would otherwise count unverified. A re-proposal's proof is checked vote by vote.
        return "bad_proof"
    return None


def _proof_holds(config: AttesterConfig, p: Proposal, height: Height) -> bool:
    seen: set[PeerId] = set()
    power = 0
    for v in p.proof:
        if type(v) is not Vote or type(v.voter) is not bytes:
            return False
        if v.voter in seen or v.voter not in config.validators:
            return False
        if (v.phase, v.height, v.round, v.block_hash) != (
            ATTEST,
            height,
            p.valid_round,
            p.block.hash,
        ):
            return False
        payload = attest_payload(config.chain_id, height, v.round, v.block_hash)
        if type(v.signature) is not bytes or not config.verifier.verify(
            v.voter, payload, v.signature
        ):
            return False
        seen.add(v.voter)
        power += config.validators.power_of(v.voter)
    return power >= config.validators.quorum
