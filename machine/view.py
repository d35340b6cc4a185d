"""The read-only chain view a machine reads, and an in-memory chain for tests and simulation.

A machine never holds the chain in its state (it may be millions of blocks): each step receives a
``ChainView`` snapshot and reads what it needs. Writes go out as effects, and the runtime applies
them to its store (``InMemoryChain`` here, LMDB in a node) between steps. A snapshot is consistent:
the blocks and the highest certificate it returns were current at the same instant.

The chain is linear: heights 0..``highest_height`` with parent links, of which
0..``committed_height`` are committed. Height -1 means "none".
"""

from __future__ import annotations

from typing import Protocol

import attrs

from blockfsm.machine.types import Block, Certificate, ChainId, Height


class ChainView(Protocol):
    """A read-only snapshot of the chain a machine reads during one step; writes are effects."""

    def highest_height(self) -> Height: ...

    def committed_height(self) -> Height: ...

    def block_at(self, height: Height) -> Block | None: ...

    def blocks_from(self, start: Height, limit: int) -> tuple[Block, ...]: ...

    def highest_certificate(self) -> Certificate: ...


@attrs.frozen
class InMemoryChainView:
    """A snapshot of an ``InMemoryChain``: its append-only block list, fixed at ``length``."""

    _blocks: list[Block] = attrs.field(eq=False, repr=False)
    _length: int
    _committed: Height
    _certificate: Certificate

    def highest_height(self) -> Height:
        return self._length - 1

    def committed_height(self) -> Height:
        return self._committed

    def block_at(self, height: Height) -> Block | None:
        if 0 <= height < self._length:
            return self._blocks[height]
        return None

    def blocks_from(self, start: Height, limit: int) -> tuple[Block, ...]:
        if start < 0 or limit <= 0:
            return ()
        return tuple(self._blocks[start : min(self._length, start + limit)])

    def highest_certificate(self) -> Certificate:
        return self._certificate


class ChainWriteError(RuntimeError):
    """A write would rewrite committed history or break the chain: a bug in the caller."""


class InMemoryChain:
    """A mutable linear chain with the write operations that machine effects ask for."""

    def __init__(self, chain_id: ChainId) -> None:
        self.chain_id = chain_id
        self._blocks: list[Block] = []
        self._committed: Height = -1
        self._certificate = Certificate.genesis(chain_id)

    def snapshot(self) -> InMemoryChainView:
        # Truncation replaces the list, so a snapshot's shared prefix is never mutated under it.
        return InMemoryChainView(
            self._blocks, len(self._blocks), self._committed, self._certificate
        )

    @property
    def highest_height(self) -> Height:
        return len(self._blocks) - 1

    @property
    def committed_height(self) -> Height:
        return self._committed

    @property
    def highest_certificate(self) -> Certificate:
        return self._certificate

    def block_at(self, height: Height) -> Block | None:
        return self._blocks[height] if 0 <= height < len(self._blocks) else None

    def persist(self, block: Block) -> None:
        """Store ``block`` at its height: a no-op if it is already there, a replacement of the
        uncommitted suffix if another block is there, an append at the tip otherwise."""
        h = block.height
        if h < 0 or h > len(self._blocks):
            raise ChainWriteError(
                f"block at height {h} does not touch the chain (tip {self.highest_height})"
            )
        if h < len(self._blocks):
            if self._blocks[h].hash == block.hash:
                return
            if h <= self._committed:
                raise ChainWriteError(f"block at height {h} would rewrite committed history")
            self._blocks = self._blocks[:h]
        expected_parent = self._blocks[h - 1].hash if h > 0 else bytes(len(block.hash))
        if block.parent_hash != expected_parent:
            raise ChainWriteError(f"block at height {h} does not link to its parent")
        self._blocks.append(block)

    def commit(self, height: Height) -> None:
        if height > self.highest_height:
            raise ChainWriteError(f"cannot commit height {height} above tip {self.highest_height}")
        self._committed = max(self._committed, height)

    def set_highest_certificate(self, certificate: Certificate) -> None:
        if certificate.view >= self._certificate.view:
            self._certificate = certificate
