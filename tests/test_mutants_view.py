"""Tests that kill the mutants mutmut left alive in machine/view.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). ``InMemoryChain`` is the store the simulator and the tests write
through; its refusals are a caller's bug surfacing, so each is pinned with its exact message, and
its bounds (committed history, the tip) at the boundary itself.
"""

from __future__ import annotations

import attrs
import pytest

from blockfsm.machine.types import ZERO_HASH, Block, Certificate
from blockfsm.machine.view import ChainWriteError, InMemoryChain

CHAIN = 5


def _chain(length: int) -> tuple[InMemoryChain, list[Block]]:
    chain = InMemoryChain(CHAIN)
    blocks: list[Block] = []
    parent = ZERO_HASH
    for h in range(length):
        b = Block.make(
            chain_id=CHAIN,
            height=h,
            parent_hash=parent,
            justify=Certificate.genesis(CHAIN),
            payload=b"main",
        )
        chain.persist(b)
        blocks.append(b)
        parent = b.hash
    return chain, blocks


def _fork(parent: Block | None, height: int) -> Block:
    return Block.make(
        chain_id=CHAIN,
        height=height,
        parent_hash=ZERO_HASH if parent is None else parent.hash,
        justify=Certificate.genesis(CHAIN),
        payload=b"fork",
    )


@pytest.mark.parametrize("height", [-1, 4, 9])
def test_a_block_that_does_not_touch_the_chain_is_refused_by_name(height: int) -> None:
    """``persist_mutmut_2`` (``or`` became ``and``: a block above the tip was appended) and
    ``_6`` (the message lost)."""
    chain, blocks = _chain(3)
    stray = attrs.evolve(_fork(blocks[-1], max(height, 0)), height=height)
    with pytest.raises(ChainWriteError) as raised:
        chain.persist(stray)
    assert str(raised.value) == f"block at height {height} does not touch the chain (tip 2)"
    assert chain.highest_height == 2


def test_the_committed_tip_itself_cannot_be_rewritten() -> None:
    """``persist_mutmut_9`` (``h < committed``: the committed block itself was replaced) and
    ``_10`` (the message lost)."""
    chain, blocks = _chain(3)
    chain.commit(1)
    with pytest.raises(ChainWriteError) as raised:
        chain.persist(_fork(blocks[0], 1))
    assert str(raised.value) == "block at height 1 would rewrite committed history"
    assert chain.block_at(1) == blocks[1]
    chain.persist(_fork(blocks[1], 2))  # above the committed height: the suffix is replaced
    assert chain.block_at(2) == _fork(blocks[1], 2) and chain.highest_height == 2


def test_a_block_that_does_not_link_to_its_parent_is_refused_by_name() -> None:
    """``persist_mutmut_21``: the message lost."""
    chain, _ = _chain(2)
    with pytest.raises(ChainWriteError) as raised:
        chain.persist(_fork(None, 2))
    assert str(raised.value) == "block at height 2 does not link to its parent"


def test_a_commit_above_the_tip_is_refused_by_name_and_the_tip_itself_commits() -> None:
    """``commit_mutmut_2``: the message lost (``_1``, the tip refused, timed out the suite)."""
    chain, _ = _chain(3)
    with pytest.raises(ChainWriteError) as raised:
        chain.commit(3)
    assert str(raised.value) == "cannot commit height 3 above tip 2"
    chain.commit(2)
    chain.commit(1)
    assert chain.committed_height == 2


def _certificate(view: int, block_hash: bytes) -> Certificate:
    return Certificate(chain_id=CHAIN, view=view, height=0, block_hash=block_hash)


def test_a_certificate_of_an_equal_view_replaces_the_highest_as_the_store_does() -> None:
    """``set_highest_certificate_mutmut_1`` (``>``: an equal view kept the older certificate):
    the LMDB store (``adapters/node/store.py``) keeps the later one, and a runtime and a simulation
    must agree on what a node advertises."""
    chain, _ = _chain(1)
    first, second = _certificate(4, b"\x01" * 32), _certificate(4, b"\x02" * 32)
    chain.set_highest_certificate(first)
    chain.set_highest_certificate(second)
    assert chain.highest_certificate == second
    chain.set_highest_certificate(_certificate(3, b"\x03" * 32))
    assert chain.highest_certificate == second


def test_a_new_chain_holds_its_own_genesis_certificate() -> None:
    """``InMemoryChain.__init___mutmut_7``: the genesis certificate named no chain."""
    chain = InMemoryChain(CHAIN)
    assert chain.highest_certificate == Certificate.genesis(CHAIN)
    assert chain.snapshot().highest_certificate() == Certificate.genesis(CHAIN)


@pytest.mark.parametrize(("start", "limit"), [(-1, 5), (-3, 2), (0, 0), (1, -1)])
def test_a_negative_start_or_an_empty_limit_reads_nothing(start: int, limit: int) -> None:
    """``InMemoryChainView.blocks_from_mutmut_1`` (``or`` became ``and``: a negative start with a
    positive limit read a slice from the end of the list)."""
    chain, blocks = _chain(3)
    view = chain.snapshot()
    assert view.blocks_from(start, limit) == ()
    assert view.blocks_from(1, 5) == tuple(blocks[1:])
