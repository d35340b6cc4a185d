"""Tests that kill the mutants mutmut left alive in machine/producer_view.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). The executor stand-in and the block ids are restated here with
``hashlib`` from their documented definition: ids name blocks in recorded runs and traces, so
their derivation is part of the format, and the machine's own tests only compare ids with ids.
"""

from __future__ import annotations

import hashlib
import struct

from blockfsm.machine.producer_view import (
    EXECUTOR_DOMAIN,
    GENESIS_ID,
    GENESIS_STATE,
    ID_SIZE,
    BlockRef,
    InMemoryBlockTree,
    KeeperSet,
    build_block,
    execute,
)

KEEPERS = KeeperSet(epoch=0, seed=b"s", members=(b"a" * 32, b"b" * 32))
GENESIS = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def test_the_executor_state_is_the_domain_tagged_hash_of_parent_state_and_inputs() -> None:
    """``x_execute__mutmut_4`` (the parent state left out: every parent gave one state) and
    ``_5`` (a 64-byte state)."""
    inputs = (1, 2, 2**64 - 1)
    h = hashlib.blake2b(EXECUTOR_DOMAIN + GENESIS_STATE, digest_size=ID_SIZE)
    for message in inputs:
        h.update(_u64(message))
    assert execute(GENESIS_STATE, inputs) == h.digest()
    assert len(execute(GENESIS_STATE, ())) == ID_SIZE
    assert execute(GENESIS_STATE, inputs) != execute(bytes(ID_SIZE), inputs)


def _tree_of_two() -> tuple[InMemoryBlockTree, bytes, bytes]:
    tree = InMemoryBlockTree(KEEPERS)
    first = build_block(GENESIS, GENESIS_STATE, (1,), KEEPERS.members[0])
    second = build_block(first.ref, first.state, (2,), KEEPERS.members[1])
    tree.add(first)
    tree.add(second, data_ready=False)
    return tree, first.block_id, second.block_id


def test_an_unknown_block_is_none_and_data_readiness_is_kept() -> None:
    """``InMemoryBlockTree.block_mutmut_3`` (an unknown id raised) and ``add_mutmut_14`` (a
    block added as not ready read as ready)."""
    tree, first, second = _tree_of_two()
    assert tree.block(b"\x09" * ID_SIZE) is None
    assert tree.block(first) is not None and tree.block(first).data_ready  # type: ignore[union-attr]
    info = tree.block(second)
    assert info is not None and not info.data_ready
    assert tree.snapshot().block(second) == info


def test_finalize_moves_only_forward_and_only_to_known_blocks() -> None:
    """``finalize_mutmut_3`` (an unknown id raised), ``_5`` (finalizing the finalized block again
    reported a move) and ``_6`` (a refused move reported as made)."""
    tree, first, second = _tree_of_two()
    assert not tree.finalize(b"\x09" * ID_SIZE)
    assert tree.finalize(second)
    assert not tree.finalize(second)
    assert not tree.finalize(first)
    assert tree.last_finalized().block_id == second


def test_writes_between_two_snapshots_share_one_version_entry() -> None:
    """``_open_version_mutmut_5`` (every write opened a new version) and ``update_mutmut_14`` (an
    update never replaced the entry at the open version): the history of a block grew by one
    entry per write instead of one per snapshot, as the tree's docstring states."""
    tree, first, _ = _tree_of_two()
    before = tree.snapshot()
    for count in range(1, 5):
        tree.update(first, attestations=count)
    assert len(tree._blocks[first]) == 2
    assert tree.block(first).attestations == 4  # type: ignore[union-attr]
    assert before.block(first).attestations == 0  # type: ignore[union-attr]
    after = tree.snapshot()
    tree.update(first, attestations=5)
    assert len(tree._blocks[first]) == 3
    assert after.block(first).attestations == 4  # type: ignore[union-attr]
