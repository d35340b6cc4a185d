"""Signed attester messages as a keeper holding ``signer`` sends them: for tests that drive the
attester and the node through chosen sequences."""

from __future__ import annotations

from blockfsm.machine.attester import Proposal, Vote, proposal_payload, vote_payload
from blockfsm.machine.crypto import Signer
from blockfsm.machine.types import Block, ChainId


def signed_vote(signer: Signer, phase: int, chain_id: ChainId, block: Block, round_: int) -> Vote:
    """``signer``'s vote of ``phase`` for ``block`` in ``round_``."""
    payload = vote_payload(phase, chain_id, block.height, round_, block.hash)
    return Vote(
        phase=phase,
        chain_id=chain_id,
        height=block.height,
        round=round_,
        block_hash=block.hash,
        voter=signer.public_key,
        signature=signer.sign(payload),
    )


def signed_proposal(
    signer: Signer,
    chain_id: ChainId,
    block: Block,
    round_: int,
    valid_round: int = -1,
    proof: tuple[Vote, ...] = (),
) -> Proposal:
    """``signer``'s proposal of ``block`` in ``round_``."""
    payload = proposal_payload(chain_id, block.height, round_, block.hash, valid_round)
    return Proposal(
        round=round_,
        block=block,
        valid_round=valid_round,
        proof=proof,
        producer=signer.public_key,
        signature=signer.sign(payload),
    )


def signed_nil_vote(
    signer: Signer, phase: int, chain_id: ChainId, height: int, round_: int
) -> Vote:
    """``signer``'s nil vote (the all-zero hash) of ``phase`` at (``height``, ``round_``): what a
    keeper sends when a round's step times out; f + 1 of them move a keeper into that round."""
    nil = bytes(32)
    payload = vote_payload(phase, chain_id, height, round_, nil)
    return Vote(
        phase=phase,
        chain_id=chain_id,
        height=height,
        round=round_,
        block_hash=nil,
        voter=signer.public_key,
        signature=signer.sign(payload),
    )
