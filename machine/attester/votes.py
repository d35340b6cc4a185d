"""Votes: what makes one valid (``vote_refusal``), recording one, and the tallies of the votes in
hand."""

from __future__ import annotations

from typing import Any

from blockfsm.machine.attester.state import (
    PHASES,
    ROUNDS_PER_HEIGHT,
    AttesterConfig,
    AttesterState,
    Vote,
    _evolve,
)
from blockfsm.machine.types import MAX_U64, ZERO_HASH, BlockHash


def _tally(
    config: AttesterConfig, votes: tuple[Vote, ...], phase: int
) -> dict[tuple[int, BlockHash], int]:
    power: dict[tuple[int, BlockHash], int] = {}
    for v in votes:
        if v.phase == phase and v.block_hash != ZERO_HASH:
            key = (v.round, v.block_hash)
            power[key] = power.get(key, 0) + config.validators.power_of(v.voter)
    return power


def _power(
    config: AttesterConfig,
    state: AttesterState,
    phase: int,
    round_: int,
    block_hash: BlockHash | None = None,
) -> int:
    """The power of the keepers that voted ``phase`` in ``round_`` (for ``block_hash`` if given,
    nil included; for anything otherwise)."""
    return sum(
        config.validators.power_of(v.voter)
        for v in state.votes
        if v.phase == phase
        and v.round == round_
        and (block_hash is None or v.block_hash == block_hash)
    )


def vote_refusal(config: AttesterConfig, v: Any) -> str | None:
    """Why a vote is refused (before its height is looked at), or None."""
    if type(v) is not Vote or not (
        type(v.phase) is int
        and type(v.chain_id) is int
        and type(v.height) is int
        and type(v.round) is int
        and type(v.block_hash) is bytes
        and type(v.voter) is bytes
        and type(v.signature) is bytes
        and v.phase in PHASES
        and 0 <= v.height <= MAX_U64
        and 0 <= v.round < ROUNDS_PER_HEIGHT
    ):
        return "malformed_vote"
    if v.chain_id != config.chain_id:
        return "wrong_chain"
    if v.voter not in config.validators:
        return "not_a_keeper"
    return None


def _record(config: AttesterConfig, state: AttesterState, v: Vote) -> AttesterState:
    for w in state.votes:
        if w.voter == v.voter and w.round == v.round and w.phase == v.phase:
            return state  # one vote per keeper per (round, phase): the first one counts
    return _evolve(state, votes=(*state.votes, v))
