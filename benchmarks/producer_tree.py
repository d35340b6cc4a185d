"""The producer's in-memory block tree: store work per block, before and after, at 1k, 10k and
100k blocks, interleaved in one run.

What the producer campaign and a runtime do per block: add it, record its attestations, and take
a snapshot for the next step, which reads it back. The tree as it was (``CopyOnWriteTree`` below,
kept as the baseline) shared its dict with each snapshot and copied the whole table on the first
write after one, so a block cost time in proportion to the tree. The tree as it is
(``InMemoryBlockTree``) keeps a version per entry and copies nothing.

Each tree is first filled to the size without snapshots (cheap for both), then ``--blocks`` more
blocks are timed, one add + update + snapshot + read each; old and new alternate ``--repeat``
times and the medians and paired ratios (old / new, higher is better) are printed. Target: the
new tree's cost per block at 100k within 2x of its cost at 1k.

    python -m benchmarks.producer_tree [--blocks N] [--repeat R] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from typing import Any

import attrs

from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    GENESIS_ID,
    GENESIS_STATE,
    BlockInfo,
    BlockRef,
    InMemoryBlockTree,
    KeeperSet,
    ProducedBlock,
)

KEEPERS = KeeperSet(epoch=0, seed=b"s", members=(b"a" * 32, b"b" * 32, b"c" * 32, b"d" * 32))


@attrs.frozen
class CopyOnWriteSnapshot:
    """The snapshot as it was: the tree's dict, shared until the tree's next write."""

    _blocks: dict[bytes, BlockInfo] = attrs.field(eq=False, repr=False)
    _finalized: BlockRef
    _keepers: KeeperSet

    def block(self, block_id: bytes) -> BlockInfo | None:
        return self._blocks.get(block_id)


class CopyOnWriteTree:
    """The tree as it was (the baseline): the block table copied on the first write after every
    snapshot."""

    def __init__(self, keepers: KeeperSet) -> None:
        self._blocks: dict[bytes, BlockInfo] = {
            GENESIS_ID: BlockInfo(block_id=GENESIS_ID, parent_id=GENESIS_ID, seq_no=0, height=0)
        }
        self._shared = False
        self.states: dict[bytes, bytes] = {GENESIS_ID: GENESIS_STATE}
        self._finalized = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)
        self._keepers = keepers

    def snapshot(self) -> CopyOnWriteSnapshot:
        self._shared = True
        return CopyOnWriteSnapshot(self._blocks, self._finalized, self._keepers)

    def _writable(self) -> dict[bytes, BlockInfo]:
        if self._shared:
            self._blocks = dict(self._blocks)
            self._shared = False
        return self._blocks

    def add(
        self,
        block: ProducedBlock,
        *,
        data_ready: bool = True,
        selector: ProducerSelector | None = None,
    ) -> None:
        if block.block_id not in self._blocks:
            self._writable()[block.block_id] = BlockInfo(
                block_id=block.block_id,
                parent_id=block.parent_id,
                seq_no=block.seq_no,
                height=block.height,
                data_ready=data_ready,
                selector=selector,
            )
            self.states[block.block_id] = block.state

    def update(self, block_id: bytes, **changes: object) -> None:
        info = self._blocks.get(block_id)
        if info is not None:
            self._writable()[block_id] = attrs.evolve(info, **changes)  # type: ignore[arg-type]


def chain(length: int, start: int = 0) -> list[ProducedBlock]:
    """``length`` linked blocks (ids are hashes, so the table's keys are spread as in a run)."""
    out: list[ProducedBlock] = []
    parent = GENESIS_ID
    for n in range(start + 1, start + length + 1):
        block_id = hashlib.blake2b(n.to_bytes(8, "big"), digest_size=32).digest()
        out.append(
            ProducedBlock(
                block_id=block_id,
                parent_id=parent,
                seq_no=n,
                height=n,
                state=block_id,
                inputs=(),
                producer=KEEPERS.members[0],
            )
        )
        parent = block_id
    return out


def per_block(tree: Any, blocks: list[ProducedBlock]) -> float:
    """Seconds per block for add + update + snapshot + read over ``blocks``."""
    start = time.perf_counter()
    for block in blocks:
        tree.add(block)
        tree.update(block.block_id, attestations=3)
        view = tree.snapshot()
        assert view.block(block.block_id) is not None
    return (time.perf_counter() - start) / len(blocks)


def filled(cls: Any, prefill: list[ProducedBlock]) -> Any:
    tree = cls(KEEPERS)
    for block in prefill:
        tree.add(block)
    return tree


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200, help="timed blocks per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs per variant and size")
    parser.add_argument("--sizes", default="1000,10000,100000", help="tree sizes")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    chains = {size: (chain(size), chain(args.blocks, start=size)) for size in sizes}
    results: dict[int, tuple[list[float], list[float]]] = {size: ([], []) for size in sizes}
    for _ in range(args.repeat):  # every size and variant once per round, so rounds pair up
        for size, (prefill, timed) in chains.items():
            results[size][0].append(per_block(filled(CopyOnWriteTree, prefill), timed))
            results[size][1].append(per_block(filled(InMemoryBlockTree, prefill), timed))
    print(f"store work per block (add + update + snapshot + read), {args.blocks} blocks timed")
    print(f"{'size':>8} {'old µs':>10} {'new µs':>10} {'old/new':>9}")
    for size, (old_runs, new_runs) in results.items():
        ratio = statistics.median(o / n for o, n in zip(old_runs, new_runs, strict=True))
        print(
            f"{size:>8,} {statistics.median(old_runs) * 1e6:>10.1f}"
            f" {statistics.median(new_runs) * 1e6:>10.1f} {ratio:>8.1f}x"
        )
    small, large = sizes[0], sizes[-1]
    for name, k in (("old", 0), ("new", 1)):
        growth = statistics.median(
            b / a for a, b in zip(results[small][k], results[large][k], strict=True)
        )
        print(f"{name}: cost at {large:,} over cost at {small:,}: {growth:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
