"""Producer selection and attestation targets, as pure functions.

Rules this module enforces (Acki Nacki's ``ProducerSelector`` and attestation targets):

1. The block keeper (BK) set is ordered by a **deterministic shuffle** keyed by a seed (upstream:
   the seed block's id). The order depends only on the set of keys and the seed, never on the
   order the keys were listed in, so every keeper computes the same order.
2. A ``ProducerSelector(seed, index)`` names the producer: the keeper at ``index`` of the shuffled
   order. Moving to round ``r`` moves the index by ``r`` modulo N, so every keeper becomes producer
   within N consecutive rounds.
3. A block's selector is **derived from its parent's** (``child_selector``): the parent's selector
   moved by the rounds the parent's thread was taken over (0 when a producer continues its own
   chain, the Start's round for the first block on the Start's parent). A parent without a selector
   (the thread's first block, genesis here) gives ``ProducerSelector(seed, 0)`` with the keeper
   set's seed. A producer signs only when the derived selector names itself.
4. ``distance(from, to)`` is the number of rounds from ``from``'s turn to ``to``'s turn; for a fixed
   ``from`` it is a bijection from the keepers onto ``0..N-1``.
5. Attestation thresholds over N keepers: the **primary** target is ``ceil(2N/3)``
   attestations, due by ``primary_deadline`` blocks of descent; the **fallback** target is
   ``floor(N/2)+1``, due by the later ``fallback_deadline``. A candidate may be produced only if
   every ancestor at or beyond the fallback deadline reached the fallback target; an ancestor
   past the primary deadline without the primary target marks the candidate as produced on the
   fallback path.

Deadlines are counted in blocks (seq_no distance) rather than wall time, so the rule is a function
of the chain alone and every keeper evaluates it identically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import attrs

from blockfsm.machine.core import PeerId

SHUFFLE_DOMAIN = b"blockfsm/producer-shuffle/v1\x00"


def _shuffle_key(seed: bytes, member: PeerId) -> bytes:
    return hashlib.blake2b(SHUFFLE_DOMAIN + seed + member, digest_size=16).digest() + member


def shuffle(members: Iterable[PeerId], seed: bytes) -> tuple[PeerId, ...]:
    """The keepers in producer order for ``seed``; a permutation of ``members``."""
    return tuple(sorted(members, key=lambda m: _shuffle_key(seed, m)))


def position(members: Iterable[PeerId], seed: bytes, node: PeerId) -> int | None:
    """``node``'s index in the shuffled order, or None when it is not a keeper."""
    order = shuffle(members, seed)
    for i, member in enumerate(order):
        if member == node:
            return i
    return None


@attrs.frozen(kw_only=True)
class ProducerSelector:
    """Names a producer: the keeper at ``index`` of the set shuffled by ``seed``."""

    seed: bytes
    index: int

    def producer(self, members: Sequence[PeerId]) -> PeerId | None:
        if not members:
            return None
        order = shuffle(members, self.seed)
        return order[self.index % len(order)]

    def move_by_round(self, round_: int, n: int) -> ProducerSelector:
        """The selector of round ``round_`` counted from this one (index + round mod N)."""
        return ProducerSelector(seed=self.seed, index=(self.index + round_) % n)

    def names(self, members: Sequence[PeerId], node: PeerId) -> bool:
        return self.producer(members) == node


def selector_for(members: Sequence[PeerId], seed: bytes, node: PeerId) -> ProducerSelector | None:
    """The selector that names ``node`` (None when ``node`` is not a keeper)."""
    index = position(members, seed, node)
    return None if index is None else ProducerSelector(seed=seed, index=index)


def child_selector(
    parent: ProducerSelector | None, seed: bytes, n: int, rounds: int
) -> ProducerSelector:
    """The selector a block on a parent with selector ``parent`` carries, ``rounds`` rounds after
    the parent's producer (``seed`` is the keeper set's, used only when ``parent`` is None)."""
    base = parent if parent is not None else ProducerSelector(seed=seed, index=0)
    return ProducerSelector(seed=base.seed, index=(base.index + rounds) % n)


def next_round_quorum(n: int) -> int:
    """ceil((N+1)/2): NextRound messages the round-r producer needs before it takes over."""
    return (n + 2) // 2


def distance(members: Sequence[PeerId], seed: bytes, from_node: PeerId, to_node: PeerId) -> int:
    """Rounds from ``from_node``'s turn until ``to_node``'s turn (0 for the same node)."""
    order = shuffle(members, seed)
    n = len(order)
    return (order.index(to_node) - order.index(from_node)) % n


def primary_threshold(n: int) -> int:
    """ceil(2N/3): attestations an ancestor needs by the primary deadline."""
    return -(-2 * n // 3)


def fallback_threshold(n: int) -> int:
    """floor(N/2)+1: attestations an ancestor needs by the fallback deadline."""
    return n // 2 + 1


def required_attestations(n: int, depth: int, primary_deadline: int, fallback_deadline: int) -> int:
    """Attestations an ancestor ``depth`` blocks above a candidate must have for the candidate to
    be produced: none before the fallback deadline, the fallback target from then on."""
    del primary_deadline  # the primary deadline only decides the fallback flag, see misses_primary
    return 0 if depth < fallback_deadline else fallback_threshold(n)


def misses_primary(count: int, n: int, depth: int, primary_deadline: int) -> bool:
    """True when an ancestor ``depth`` blocks up is past its primary deadline without the primary
    target: the candidate is then produced on the fallback path."""
    return depth >= primary_deadline and count < primary_threshold(n)
