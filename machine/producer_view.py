"""What the block producer reads and signs: block references, built and candidate blocks, the
read-only view of the block tree, an in-memory tree, and the deterministic executor stand-in.

Rules this module enforces:

1. The producer never holds the block tree. It reads a ``ProducerView``: the last finalized
   block, the keeper set effective for new blocks, and per block its parent, seq_no, height,
   attestation count, whether its data is ready and whether it was invalidated.
2. Every signed payload starts with a domain tag: ``PRODUCER_BLOCK_DOMAIN`` for candidate blocks,
   ``NEXT_ROUND_DOMAIN`` for next-round announcements and ``NEXT_ROUND_VOTE_DOMAIN`` for a keeper's
   NextRound message, so a producer signature can never be replayed
   as a keeper's attestation or any other message.
3. Each block in the view carries the selector it was produced under (None for the thread's first
   block), so a child's selector is derived from its parent's.
4. The executor (TVM upstream) is a deterministic function ``execute(parent_state, inputs)``; a
   built block's id commits to its parent, position, resulting state, inputs and producer.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import attrs

from blockfsm.machine.core import PeerId
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.types import u64

PRODUCER_BLOCK_DOMAIN = b"blockfsm/producer-block/v1\x00"
NEXT_ROUND_DOMAIN = b"blockfsm/next-round-success/v1\x00"
NEXT_ROUND_VOTE_DOMAIN = b"blockfsm/next-round-vote/v1\x00"
BLOCK_ID_DOMAIN = b"blockfsm/producer-block-id/v1\x00"
EXECUTOR_DOMAIN = b"blockfsm/executor-state/v1\x00"
ID_SIZE = 32


@attrs.frozen(kw_only=True)
class BlockRef:
    """A block as a continuation point: its id and position."""

    block_id: bytes
    seq_no: int
    height: int


@attrs.frozen(kw_only=True)
class ProducedBlock:
    """A block the executor built, before its common section is filled in and it is signed."""

    block_id: bytes
    parent_id: bytes
    seq_no: int
    height: int
    state: bytes
    inputs: tuple[int, ...]
    producer: PeerId

    @property
    def ref(self) -> BlockRef:
        return BlockRef(block_id=self.block_id, seq_no=self.seq_no, height=self.height)


@attrs.frozen(kw_only=True)
class CandidateBlock:
    """A signed candidate: the built block plus its common section (round, selector, fallback)."""

    block: ProducedBlock
    round: int
    selector: ProducerSelector
    fallback: bool
    signature: bytes


@attrs.frozen(kw_only=True)
class NextRoundSuccess:
    """The round-``round`` producer's signed announcement that it continues from ``parent_id``."""

    round: int
    parent_id: bytes
    producer: PeerId
    signature: bytes


@attrs.frozen(kw_only=True)
class NextRoundVote:
    """A keeper's signed NextRound message: the thread stalled after ``parent_id``, and ``locked``
    is the candidate on that parent it attested, if any (upstream: a NACK-style round change)."""

    round: int
    parent_id: bytes
    keeper: PeerId
    locked: CandidateBlock | None
    signature: bytes


@attrs.frozen(kw_only=True)
class SigningGuard:
    """What must survive a crash, persisted (``PersistSigningGuard``) before any signature it
    allows is released: per round, the highest (height, seq_no) signed, as (round, height,
    seq_no); and the next-round announcements made, as (round, parent height, parent id)."""

    blocks: tuple[tuple[int, int, int], ...] = ()
    announced: tuple[tuple[int, int, bytes], ...] = ()


@attrs.frozen(kw_only=True)
class KeeperSet:
    """The block keeper set of one epoch and the seed its producer order is shuffled with."""

    epoch: int
    seed: bytes
    members: tuple[PeerId, ...]


@attrs.frozen(kw_only=True)
class BlockInfo:
    block_id: bytes
    parent_id: bytes
    seq_no: int
    height: int
    attestations: int = 0
    data_ready: bool = True
    invalidated: bool = False
    selector: ProducerSelector | None = None


def candidate_payload(
    block: ProducedBlock, round_: int, selector: ProducerSelector, fallback: bool
) -> bytes:
    return (
        PRODUCER_BLOCK_DOMAIN
        + block.block_id
        + block.parent_id
        + u64(block.seq_no)
        + u64(block.height)
        + u64(round_)
        + selector.seed
        + u64(selector.index)
        + block.producer
        + (b"\x01" if fallback else b"\x00")
    )


def next_round_payload(round_: int, parent_id: bytes, producer: PeerId) -> bytes:
    return NEXT_ROUND_DOMAIN + u64(round_) + parent_id + producer


def next_round_vote_payload(
    round_: int, parent_id: bytes, keeper: PeerId, locked_id: bytes | None
) -> bytes:
    """A vote without a locked block signs 32 zero bytes in its place."""
    lock = locked_id if locked_id is not None else bytes(ID_SIZE)
    return NEXT_ROUND_VOTE_DOMAIN + u64(round_) + parent_id + keeper + lock


class ProducerView(Protocol):
    """A read-only snapshot of the block tree the producer reads during one step."""

    def last_finalized(self) -> BlockRef: ...

    def keeper_set(self) -> KeeperSet: ...

    def block(self, block_id: bytes) -> BlockInfo | None: ...


# --- the executor stand-in ---------------------------------------------------------------------


def execute(parent_state: bytes, inputs: tuple[int, ...]) -> bytes:
    """The deterministic stand-in for TVM: the state after ``inputs`` on ``parent_state``."""
    h = hashlib.blake2b(EXECUTOR_DOMAIN + parent_state, digest_size=ID_SIZE)
    for message in inputs:
        h.update(u64(message))
    return h.digest()


def produced_block_id(
    parent_id: bytes,
    seq_no: int,
    height: int,
    state: bytes,
    inputs: tuple[int, ...],
    producer: PeerId,
) -> bytes:
    h = hashlib.blake2b(BLOCK_ID_DOMAIN + parent_id, digest_size=ID_SIZE)
    h.update(u64(seq_no) + u64(height) + state + producer + u64(len(inputs)))
    for message in inputs:
        h.update(u64(message))
    return h.digest()


def build_block(
    parent: BlockRef, parent_state: bytes, inputs: tuple[int, ...], producer: PeerId
) -> ProducedBlock:
    """What the executor returns for a build request on ``parent`` with ``inputs``."""
    state = execute(parent_state, inputs)
    seq_no, height = parent.seq_no + 1, parent.height + 1
    return ProducedBlock(
        block_id=produced_block_id(parent.block_id, seq_no, height, state, inputs, producer),
        parent_id=parent.block_id,
        seq_no=seq_no,
        height=height,
        state=state,
        inputs=inputs,
        producer=producer,
    )


# --- an in-memory block tree -------------------------------------------------------------------

GENESIS_ID = bytes(ID_SIZE)
GENESIS_STATE = hashlib.blake2b(EXECUTOR_DOMAIN + b"genesis", digest_size=ID_SIZE).digest()


def _at(history: list[tuple[int, BlockInfo]], version: int) -> BlockInfo | None:
    """The entry of ``history`` (oldest first) current at ``version``, or None if it came later."""
    i = len(history) - 1
    while i >= 0:
        entry = history[i]
        if entry[0] <= version:
            return entry[1]
        i -= 1
    return None


@attrs.frozen
class BlockTreeSnapshot:
    """A consistent, immutable ``ProducerView`` of an ``InMemoryBlockTree`` at one instant.

    It shares the tree's version table and reads each block as it was at ``_version``: entries
    the tree writes later carry a higher version, so they never show here."""

    _blocks: dict[bytes, list[tuple[int, BlockInfo]]] = attrs.field(eq=False, repr=False)
    _finalized: BlockRef
    _keepers: KeeperSet
    _version: int = attrs.field(eq=False, repr=False)

    def last_finalized(self) -> BlockRef:
        return self._finalized

    def keeper_set(self) -> KeeperSet:
        return self._keepers

    def block(self, block_id: bytes) -> BlockInfo | None:
        history = self._blocks.get(block_id)
        if history is None:
            return None
        last = history[-1]
        if last[0] <= self._version:
            return last[1]
        return _at(history, self._version)


class InMemoryBlockTree:
    """A mutable block tree with O(1) snapshots and O(1) writes, whatever its size.

    Each block keeps its history as ``(version, BlockInfo)`` entries, oldest first (a versioned
    "fat node" table, after Driscoll, Sarnak, Sleator and Tarjan, "Making data structures
    persistent", 1989). ``snapshot()`` hands out the current version and shares the table; the
    first write after a snapshot opens a new version, and writes only ever append an entry at
    the open version (or replace one at the open version, which no snapshot can see). So a
    snapshot never changes under a step or a later replay, and no write copies the table."""

    def __init__(self, keepers: KeeperSet) -> None:
        genesis = BlockInfo(block_id=GENESIS_ID, parent_id=GENESIS_ID, seq_no=0, height=0)
        self._blocks: dict[bytes, list[tuple[int, BlockInfo]]] = {GENESIS_ID: [(0, genesis)]}
        self._version = 0
        self._shared = False
        self.states: dict[bytes, bytes] = {GENESIS_ID: GENESIS_STATE}
        self._finalized = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)
        self._keepers = keepers

    def snapshot(self) -> BlockTreeSnapshot:
        self._shared = True
        return BlockTreeSnapshot(self._blocks, self._finalized, self._keepers, self._version)

    def _open_version(self) -> int:
        """The version a write goes to: a new one if a snapshot holds the current one."""
        if self._shared:
            self._version += 1
            self._shared = False
        return self._version

    def last_finalized(self) -> BlockRef:
        return self._finalized

    def keeper_set(self) -> KeeperSet:
        return self._keepers

    def block(self, block_id: bytes) -> BlockInfo | None:
        history = self._blocks.get(block_id)
        return None if history is None else history[-1][1]

    def ids(self) -> list[bytes]:
        return list(self._blocks)

    def add(
        self,
        block: ProducedBlock,
        *,
        data_ready: bool = True,
        selector: ProducerSelector | None = None,
    ) -> None:
        if block.block_id not in self._blocks:
            info = BlockInfo(
                block_id=block.block_id,
                parent_id=block.parent_id,
                seq_no=block.seq_no,
                height=block.height,
                data_ready=data_ready,
                selector=selector,
            )
            self._blocks[block.block_id] = [(self._open_version(), info)]
            self.states[block.block_id] = block.state

    def update(self, block_id: bytes, **changes: object) -> None:
        history = self._blocks.get(block_id)
        if history is None:
            return
        info = attrs.evolve(history[-1][1], **changes)  # type: ignore[arg-type]
        version = self._open_version()
        if history[-1][0] == version:
            history[-1] = (version, info)
        else:
            history.append((version, info))

    def finalize(self, block_id: bytes) -> bool:
        info = self.block(block_id)
        if info is None or info.seq_no <= self._finalized.seq_no:
            return False
        self._finalized = BlockRef(block_id=block_id, seq_no=info.seq_no, height=info.height)
        return True

    def set_keeper_set(self, keepers: KeeperSet) -> None:
        self._keepers = keepers

    def ancestry(self, block_id: bytes) -> list[BlockInfo]:
        """``block_id`` and its known ancestors, nearest first, ending at genesis or a gap."""
        out: list[BlockInfo] = []
        info = self.block(block_id)
        while info is not None:
            out.append(info)
            if info.block_id == GENESIS_ID:
                break
            info = self.block(info.parent_id)
        return out
