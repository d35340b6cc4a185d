"""The producer's protocol functions, restated for the spec without the machine's code.

The spec must not share a bug with the machine, so nothing here imports a function from
``blockfsm.machine`` that decides; only the domain tags (constants) are shared, because they are
the protocol's published values. Each function is written from the rule in
``/work/shared/PROTOCOLS.md`` section 2 and ``docs/producer.md``, not from the machine's code:

- **Shuffle.** Keepers are ordered by the 16-byte BLAKE2b of (shuffle tag, seed, key), ties broken
  by the key; the order depends on the set, never on how it was listed.
- **Selection.** A block's selector is (seed, index); the producer it names is the keeper at
  ``index mod N`` of the shuffled set. A child's selector is its parent's with the index moved by
  the rounds of the takeover (0 when the producer continues its own chain); a parent without a
  selector starts from (the keeper set's seed, 0). Moving by ``r`` from ``a`` reaches the keeper
  ``distance(a, b) = (pos(b) - pos(a)) mod N`` rounds later.
- **Thresholds.** Primary ceil(2N/3), fallback floor(N/2)+1, NextRound quorum ceil((N+1)/2), all
  computed with exact fractions. Deadlines are counted in blocks of descent: an ancestor at depth
  >= fallback_deadline must have the fallback target or the candidate waits; one at depth >=
  primary_deadline without the primary target puts the candidate on the fallback path.
- **Bytes.** Integers are 8-byte big-endian unsigned; every payload starts with its domain tag.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from blockfsm.machine.producer_selection import SHUFFLE_DOMAIN
from blockfsm.machine.producer_view import (
    BLOCK_ID_DOMAIN,
    EXECUTOR_DOMAIN,
    NEXT_ROUND_DOMAIN,
    NEXT_ROUND_VOTE_DOMAIN,
    PRODUCER_BLOCK_DOMAIN,
    BlockRef,
    ProducedBlock,
)

MAX_U64 = (1 << 64) - 1
ID_BYTES = 32
NO_LOCK = b"\x00" * ID_BYTES


def is_u64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_U64


def be64(value: int) -> bytes:
    return struct.pack(">Q", value)


# --- selection -----------------------------------------------------------------------------


def producer_order(members: Iterable[bytes], seed: bytes) -> list[bytes]:
    keyed = []
    for key in set(members):
        digest = hashlib.blake2b(digest_size=16)
        digest.update(SHUFFLE_DOMAIN)
        digest.update(seed)
        digest.update(key)
        keyed.append((digest.digest(), key))
    keyed.sort()
    return [key for _, key in keyed]


def named_by(members: Sequence[bytes], seed: bytes, index: int) -> bytes | None:
    order = producer_order(members, seed)
    return order[index % len(order)] if order else None


def derived_selector(
    parent_selector: Any, keeper_seed: bytes, n: int, rounds: int
) -> tuple[bytes, int]:
    """(seed, index) of a block built ``rounds`` rounds after its parent's producer."""
    if parent_selector is None:
        seed, index = keeper_seed, 0
    else:
        seed, index = parent_selector.seed, parent_selector.index
    return seed, (index + rounds) % n


def distance(members: Sequence[bytes], seed: bytes, a: bytes, b: bytes) -> int:
    order = producer_order(members, seed)
    return (order.index(b) - order.index(a)) % len(order)


# --- thresholds ----------------------------------------------------------------------------


def primary_target(n: int) -> int:
    return math.ceil(Fraction(2 * n, 3))


def fallback_target(n: int) -> int:
    return math.floor(Fraction(n, 2)) + 1


def next_round_quorum(n: int) -> int:
    return math.ceil(Fraction(n + 1, 2))


def ancestor_blocks(
    depth: int, attestations: int, n: int, primary_deadline: int, fallback_deadline: int
) -> bool:
    """An ancestor ``depth`` blocks up blocks the candidate (fallback deadline missed)."""
    return depth >= fallback_deadline and attestations < fallback_target(n)


def ancestor_on_fallback(depth: int, attestations: int, n: int, primary_deadline: int) -> bool:
    return depth >= primary_deadline and attestations < primary_target(n)


# --- bytes ---------------------------------------------------------------------------------


def block_id_of(
    parent_id: bytes, seq_no: int, height: int, state: bytes, inputs: Sequence[int], producer: bytes
) -> bytes:
    parts = [BLOCK_ID_DOMAIN, parent_id, be64(seq_no), be64(height), state, producer]
    parts.append(be64(len(inputs)))
    parts.extend(be64(m) for m in inputs)
    return hashlib.blake2b(b"".join(parts), digest_size=ID_BYTES).digest()


def candidate_bytes(block: Any, round_: int, seed: bytes, index: int, fallback: bool) -> bytes:
    """Tag, block id, parent id, seq_no, height, round, selector seed, selector index, producer,
    one fallback byte."""
    return b"".join(
        [
            PRODUCER_BLOCK_DOMAIN,
            block.block_id,
            block.parent_id,
            struct.pack(">QQQ", block.seq_no, block.height, round_),
            seed,
            struct.pack(">Q", index),
            block.producer,
            bytes([1 if fallback else 0]),
        ]
    )


def next_round_success_bytes(round_: int, parent_id: bytes, producer: bytes) -> bytes:
    return NEXT_ROUND_DOMAIN + struct.pack(">Q", round_) + parent_id + producer


def next_round_vote_bytes(
    round_: int, parent_id: bytes, keeper: bytes, locked_id: bytes | None
) -> bytes:
    lock = NO_LOCK if locked_id is None else locked_id
    return b"".join([NEXT_ROUND_VOTE_DOMAIN, struct.pack(">Q", round_), parent_id, keeper, lock])


# --- the executor stand-in, for strategies and campaigns -----------------------------------


def executed_state(parent_state: bytes, inputs: Sequence[int]) -> bytes:
    data = EXECUTOR_DOMAIN + parent_state + b"".join(be64(m) for m in inputs)
    return hashlib.blake2b(data, digest_size=ID_BYTES).digest()


def make_block(
    parent: BlockRef, parent_state: bytes, inputs: tuple[int, ...], producer: bytes
) -> ProducedBlock:
    """The block an honest executor returns for a build on ``parent``."""
    state = executed_state(parent_state, inputs)
    seq_no, height = parent.seq_no + 1, parent.height + 1
    return ProducedBlock(
        block_id=block_id_of(parent.block_id, seq_no, height, state, inputs, producer),
        parent_id=parent.block_id,
        seq_no=seq_no,
        height=height,
        state=state,
        inputs=inputs,
        producer=producer,
    )
