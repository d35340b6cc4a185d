"""The producer's in-memory block tree: a snapshot is immutable (no write made after it shows in
it, however many snapshots and writes follow), and the tree itself reads as a plain table would.

The tree keeps every block: it does not prune below finality, because the producer tells a block
whose ancestry runs into a pruned fork (``FAILED_TO_BUILD_CHAIN``) from one whose ancestor is
missing (``ANCESTOR_NOT_READY_YET``) only by reading the blocks below finality.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from blockfsm.machine.producer_view import (
    GENESIS_ID,
    BlockInfo,
    BlockRef,
    BlockTreeSnapshot,
    InMemoryBlockTree,
    KeeperSet,
    ProducedBlock,
    build_block,
)

KEEPERS = KeeperSet(epoch=0, seed=b"s", members=(b"a" * 32, b"b" * 32))
GENESIS = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)

# One operation on the tree: ("add", parent index, input), ("update", block index, field value),
# ("snapshot",), ("finalize", block index), ("keepers", epoch).
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 1_000), st.integers(0, 3)),
        st.tuples(st.just("update"), st.integers(0, 1_000), st.integers(0, 5)),
        st.tuples(st.just("snapshot")),
        st.tuples(st.just("finalize"), st.integers(0, 1_000)),
        st.tuples(st.just("keepers"), st.integers(1, 9)),
    ),
    max_size=60,
)


def _change(value: int) -> dict[str, object]:
    if value < 3:
        return {"attestations": value + 1}
    if value == 3:
        return {"data_ready": False}
    if value == 4:
        return {"data_ready": True}
    return {"invalidated": True}


def replay(
    ops: list[tuple[object, ...]],
) -> tuple[
    InMemoryBlockTree,
    dict[bytes, BlockInfo],
    list[tuple[BlockTreeSnapshot, dict[bytes, BlockInfo], BlockRef, KeeperSet]],
]:
    """Run ``ops`` on a tree and on a plain dict model; every snapshot with a copy of the model
    as it was when the snapshot was taken."""
    tree = InMemoryBlockTree(KEEPERS)
    model: dict[bytes, BlockInfo] = {GENESIS_ID: tree.block(GENESIS_ID)}  # type: ignore[dict-item]
    refs = [GENESIS]
    snapshots = []
    for op in ops:
        kind = op[0]
        if kind == "add":
            parent = refs[int(op[1]) % len(refs)]  # type: ignore[call-overload]
            block: ProducedBlock = build_block(
                parent,
                tree.states[parent.block_id],
                (int(op[2]),),
                KEEPERS.members[0],  # type: ignore[call-overload]
            )
            known = block.block_id in model
            tree.add(block)
            if not known:
                model[block.block_id] = BlockInfo(
                    block_id=block.block_id,
                    parent_id=block.parent_id,
                    seq_no=block.seq_no,
                    height=block.height,
                )
                refs.append(block.ref)
        elif kind == "update":
            ref = refs[int(op[1]) % len(refs)]  # type: ignore[call-overload]
            changes = _change(int(op[2]))  # type: ignore[call-overload]
            tree.update(ref.block_id, **changes)
            old = model[ref.block_id]
            model[ref.block_id] = BlockInfo(
                block_id=old.block_id,
                parent_id=old.parent_id,
                seq_no=old.seq_no,
                height=old.height,
                attestations=int(changes.get("attestations", old.attestations)),  # type: ignore[call-overload]
                data_ready=bool(changes.get("data_ready", old.data_ready)),
                invalidated=bool(changes.get("invalidated", old.invalidated)),
                selector=old.selector,
            )
        elif kind == "snapshot":
            snapshots.append(
                (tree.snapshot(), dict(model), tree.last_finalized(), tree.keeper_set())
            )
        elif kind == "finalize":
            tree.finalize(refs[int(op[1]) % len(refs)].block_id)  # type: ignore[call-overload]
        else:
            tree.set_keeper_set(KeeperSet(epoch=int(op[1]), seed=b"s", members=KEEPERS.members))  # type: ignore[call-overload]
    return tree, model, snapshots


@given(operations)
def test_a_snapshot_never_sees_a_later_write(ops: list[tuple[object, ...]]) -> None:
    _, model, snapshots = replay(ops)
    for view, then, finalized, keepers in snapshots:
        for block_id in model:
            assert view.block(block_id) == then.get(block_id)
        assert view.last_finalized() == finalized
        assert view.keeper_set() == keepers


@given(operations)
def test_the_tree_reads_as_a_plain_table(ops: list[tuple[object, ...]]) -> None:
    tree, model, _ = replay(ops)
    assert tree.ids() == list(model)
    for block_id, info in model.items():
        assert tree.block(block_id) == info
        assert tree.snapshot().block(block_id) == info
        chain = tree.ancestry(block_id)
        assert chain[0] == info and chain[-1].block_id == GENESIS_ID
        assert all(a.parent_id == b.block_id for a, b in pairwise(chain))


def test_an_update_after_a_snapshot_is_invisible_to_it() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    block = build_block(GENESIS, tree.states[GENESIS_ID], (1,), KEEPERS.members[0])
    tree.add(block)
    tree.update(block.block_id, attestations=1)
    first = tree.snapshot()
    tree.update(block.block_id, attestations=2)  # opens a new version
    tree.update(block.block_id, attestations=3)  # replaces the entry at the open version
    second = tree.snapshot()
    tree.update(block.block_id, attestations=4)
    later = build_block(block.ref, tree.states[block.block_id], (2,), KEEPERS.members[0])
    tree.add(later)
    assert first.block(block.block_id).attestations == 1  # type: ignore[union-attr]
    assert second.block(block.block_id).attestations == 3  # type: ignore[union-attr]
    assert tree.block(block.block_id).attestations == 4  # type: ignore[union-attr]
    assert first.block(later.block_id) is None and second.block(later.block_id) is None
    assert tree.snapshot().block(later.block_id) is not None


def test_the_tree_keeps_blocks_below_finality() -> None:
    tree = InMemoryBlockTree(KEEPERS)
    parent, refs = GENESIS, []
    for n in range(5):
        block = build_block(parent, tree.states[parent.block_id], (n,), KEEPERS.members[0])
        tree.add(block)
        refs.append(block.ref)
        parent = block.ref
    assert tree.finalize(refs[-1].block_id)
    view = tree.snapshot()
    assert all(view.block(r.block_id) is not None for r in refs)
    assert len(tree.ancestry(refs[-1].block_id)) == 6
