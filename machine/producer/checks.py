"""Well-formedness and validity checks of what the producer's events carry: start parameters,
candidates, NextRound votes, built blocks and keeper sets."""

from __future__ import annotations

from blockfsm.machine.producer.events import StartParams
from blockfsm.machine.producer.state import ProducerConfig
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    CandidateBlock,
    KeeperSet,
    NextRoundVote,
    ProducedBlock,
    candidate_payload,
    next_round_vote_payload,
    produced_block_id,
)
from blockfsm.machine.types import MAX_U64


def _u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


def _is_id(value: object) -> bool:
    return type(value) is bytes and len(value) == 32


def _well_formed_candidate(c: object) -> bool:
    return (
        type(c) is CandidateBlock
        and _well_formed_block(c.block)
        and _u64(c.round)
        and type(c.selector) is ProducerSelector
        and type(c.selector.seed) is bytes
        and _u64(c.selector.index)
        and type(c.fallback) is bool
        and type(c.signature) is bytes
    )


def _well_formed_vote(v: object) -> bool:
    return (
        type(v) is NextRoundVote
        and _u64(v.round)
        and _is_id(v.parent_id)
        and _is_id(v.keeper)
        and type(v.signature) is bytes
        and (v.locked is None or _well_formed_candidate(v.locked))
    )


def _well_formed_params(p: object) -> bool:
    return (
        type(p) is StartParams
        and _is_id(p.parent_id)
        and _u64(p.parent_seq_no)
        and _u64(p.parent_height)
        and _u64(p.round)
        and type(p.votes) is tuple
        and all(_well_formed_vote(v) for v in p.votes)
    )


def _lock_valid(config: ProducerConfig, p: StartParams, c: CandidateBlock) -> bool:
    """A locked candidate extends the Start's parent by one, its id commits to its fields and its
    producer signed it."""
    b = c.block
    verifier = config.verifier
    return (
        verifier is not None
        and b.parent_id == p.parent_id
        and b.seq_no == p.parent_seq_no + 1
        and b.height == p.parent_height + 1
        and b.block_id
        == produced_block_id(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
        and verifier.verify(
            b.producer, candidate_payload(b, c.round, c.selector, c.fallback), c.signature
        )
    )


def _vote_valid(
    config: ProducerConfig, p: StartParams, members: tuple[bytes, ...], v: NextRoundVote
) -> bool:
    verifier = config.verifier
    locked_id = v.locked.block.block_id if v.locked is not None else None
    return (
        verifier is not None
        and v.round == p.round
        and v.parent_id == p.parent_id
        and v.keeper in members
        and verifier.verify(
            v.keeper,
            next_round_vote_payload(v.round, v.parent_id, v.keeper, locked_id),
            v.signature,
        )
        and (v.locked is None or _lock_valid(config, p, v.locked))
    )


def _well_formed_block(b: object) -> bool:
    return (
        type(b) is ProducedBlock
        and _is_id(b.block_id)
        and _is_id(b.parent_id)
        and _u64(b.seq_no)
        and _u64(b.height)
        and type(b.state) is bytes
        and type(b.inputs) is tuple
        and all(_u64(m) for m in b.inputs)
        and type(b.producer) is bytes
    )


def _valid_keepers(k: object) -> bool:
    return (
        type(k) is KeeperSet
        and _u64(k.epoch)
        and type(k.seed) is bytes
        and type(k.members) is tuple
        and len(k.members) > 0
        and all(_is_id(m) for m in k.members)
        and len(frozenset(k.members)) == len(k.members)
    )
