"""The LMDB chain store: snapshots, batched durable writes, guards, a full map, and kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from blockfsm.adapters.node.store import LmdbStore, SigningRefused, StoreError, StoreFullError
from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, certify
from blockfsm.machine.view import InMemoryChain

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

CHAIN = 7
SIGNERS = [StandInSigner.from_seed(i) for i in range(4)]


def make_chain(
    n: int, payload: bytes = b"", fork: int = 0
) -> tuple[list[Block], list[Certificate]]:
    blocks: list[Block] = []
    certs: list[Certificate] = []
    justify = Certificate.genesis(CHAIN)
    parent = ZERO_HASH
    for h in range(n):
        b = Block.make(
            chain_id=CHAIN,
            height=h,
            parent_hash=parent,
            justify=justify,
            payload=payload + bytes([fork]) + h.to_bytes(8, "big"),
        )
        justify = certify(chain_id=CHAIN, view=h + 1, block=b, signers=SIGNERS[:3])
        blocks.append(b)
        certs.append(justify)
        parent = b.hash
    return blocks, certs


def test_snapshot_is_consistent_while_writes_happen(tmp_path: Path) -> None:
    blocks, certs = make_chain(6)
    with LmdbStore(tmp_path, CHAIN) as store:
        store.apply([Persist(block=b) for b in blocks[:3]] + [Commit(height=1)])
        with store.snapshot() as view:
            store.apply(
                [Persist(block=b) for b in blocks[3:]]
                + [Commit(height=4), UpdateHighestCertificate(certificate=certs[5])]
            )
            assert view.highest_height() == 2
            assert view.committed_height() == 1
            assert view.highest_certificate().is_genesis
            assert view.blocks_from(1, 10) == tuple(blocks[1:3])
            assert view.block_at(4) is None
        with store.snapshot() as view:
            assert view.highest_height() == 5
            assert view.committed_height() == 4
            assert view.highest_certificate() == certs[5]
            assert view.blocks_from(2, 2) == tuple(blocks[2:4])
            assert view.block_by_hash(blocks[3].hash) == blocks[3]
            assert view.certificate_at(5) == certs[5]


def test_store_agrees_with_the_in_memory_chain_on_a_fork(tmp_path: Path) -> None:
    main, _ = make_chain(5)
    fork, _ = make_chain(5, fork=1)
    mem = InMemoryChain(CHAIN)
    with LmdbStore(tmp_path, CHAIN) as store:
        ops = [Persist(block=b) for b in main] + [Commit(height=1)]
        ops += [Persist(block=b) for b in fork]  # replaces the uncommitted suffix from height 0?
        # height 0 and 1 are committed: the fork differs from height 0, so it must be refused
        with pytest.raises(StoreError, match="committed history"):
            store.apply(ops)
        assert store.highest_height == -1  # nothing of the failed batch is visible
        store.apply([Persist(block=b) for b in main] + [Commit(height=1)])
        for b in main:
            mem.persist(b)
        mem.commit(1)
        # a fork sharing the committed prefix replaces the uncommitted suffix
        alt = main[:2]
        parent = main[1].hash
        for h in range(2, 4):
            b = Block.make(
                chain_id=CHAIN, height=h, parent_hash=parent, justify=main[h].justify, payload=b"x"
            )
            alt.append(b)
            parent = b.hash
        store.apply([Persist(block=b) for b in alt[2:]])
        for b in alt[2:]:
            mem.persist(b)
        with store.snapshot() as view:
            assert view.highest_height() == mem.highest_height == 3
            assert view.blocks_from(0, 10) == tuple(mem.snapshot().blocks_from(0, 10))
            assert view.block_by_hash(main[4].hash) is None


def test_unlinked_block_and_wrong_chain_are_refused(tmp_path: Path) -> None:
    blocks, _ = make_chain(3)
    with LmdbStore(tmp_path, CHAIN) as store:
        with pytest.raises(StoreError, match="does not touch"):
            store.apply([Persist(block=blocks[1])])
        with pytest.raises(StoreError, match="above tip"):
            store.apply([Commit(height=0)])
    with pytest.raises(StoreError, match="holds chain 7"):
        LmdbStore(tmp_path, CHAIN + 1)


def test_signing_guard_survives_reopen(tmp_path: Path) -> None:
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.signing_guard("producer") is None
        store.record_signed("producer", 5, 0)
        store.record_signed("producer", 5, 1)
        with pytest.raises(SigningRefused):
            store.record_signed("producer", 5, 1)
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.signing_guard("producer") == (5, 1)
        with pytest.raises(SigningRefused):
            store.record_signed("producer", 4, 9)
        store.record_signed("producer", 6, 0)
        store.put_meta("note", b"x")
        assert store.get_meta("note") == b"x"


def test_the_attester_guard_is_applied_with_the_batch_and_survives_reopen(tmp_path: Path) -> None:
    from blockfsm.machine.attester import Guard, PersistGuard

    blocks, _ = make_chain(2)
    guard = Guard(height=1, locked_round=2, locked_hash=blocks[1].hash, signed=((2, 0, ZERO_HASH),))
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.attester_guard() is None
        with pytest.raises(StoreError):  # the batch fails as a whole: no guard either
            store.apply([PersistGuard(guard=guard), Persist(block=blocks[1])])
        assert store.attester_guard() is None
        store.apply([Persist(block=blocks[0]), PersistGuard(guard=guard)])
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.attester_guard() == guard


def test_a_full_map_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    blocks, _ = make_chain(200, payload=bytes(4000))
    with LmdbStore(tmp_path, CHAIN, map_size=256 * 1024) as store:
        written = 0
        with pytest.raises(StoreFullError, match="full"):
            for b in blocks:
                store.apply([Persist(block=b)])
                written += 1
        assert store.highest_height == written - 1
        assert store.block_at(written - 1) == blocks[written - 1]


WRITER = textwrap.dedent(
    """
    import sys
    from blockfsm.adapters.node.store import LmdbStore
    from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
    sys.path.insert(0, sys.argv[2])
    from test_store import CHAIN, make_chain
    blocks, certs = make_chain(int(sys.argv[3]), payload=bytes(300))
    store = LmdbStore(sys.argv[1], CHAIN)
    tip = store.highest_height
    step = 1
    while tip + 1 < len(blocks):
        batch = blocks[tip + 1 : tip + 1 + step]
        top = batch[-1].height
        store.apply(
            [Persist(block=b) for b in batch]
            + [UpdateHighestCertificate(certificate=certs[top])]
            + ([Commit(height=top - 1)] if top > 0 else [])
        )
        print(top - 1, flush=True)
        tip = top
        step = step % 5 + 1
    """
)


def test_kill_9_loses_nothing_final_and_shows_nothing_half_written(tmp_path: Path) -> None:
    """Twenty SIGKILLs, each while a writer is mid-chain; after each, the store is reopened and
    checked. A writer that finished the chain before its kill does not count (a fast machine can
    write all of it in one sleep): the chain starts over in a fresh directory."""
    n_blocks = 4000
    blocks, certs = make_chain(n_blocks, payload=bytes(300))
    rng = random.Random(11)
    generation = 0
    data = tmp_path / f"chain{generation}"
    reported = -1
    kills = 0
    env = dict(os.environ)
    for _ in range(200):
        if kills >= 20:
            break
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), str(Path(__file__).parent), str(n_blocks)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it is writing
        if first.strip():
            reported = max(reported, int(first))
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.split():
            reported = max(reported, int(line))
        with LmdbStore(data, CHAIN) as store, store.snapshot() as view:
            tip = view.highest_height()
            committed = view.committed_height()
            # nothing final lost: every batch reported done is there
            assert committed >= reported
            # nothing half-written: batches are atomic, so the tip is certified and commits tip-1
            assert committed == tip - 1
            assert view.highest_certificate() == certs[tip]
            assert view.blocks_from(0, tip + 1) == tuple(blocks[: tip + 1])
        if proc.returncode == -signal.SIGKILL and tip + 1 < n_blocks:
            kills += 1
        if tip + 1 == n_blocks:
            generation += 1
            data = tmp_path / f"chain{generation}"
            reported = -1
    assert kills >= 20


def test_the_producer_guard_is_applied_with_the_batch_and_survives_reopen(tmp_path: Path) -> None:
    from blockfsm.machine.producer import PersistSigningGuard
    from blockfsm.machine.producer_view import SigningGuard

    blocks, _ = make_chain(2)
    guard = SigningGuard(blocks=((0, 4, 4), (1, 7, 7)), announced=((1, 6, b"\x05" * 32),))
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.producer_guard() is None
        with pytest.raises(StoreError):  # the batch fails as a whole: no guard either
            store.apply([PersistSigningGuard(guard=guard), Persist(block=blocks[1])])
        assert store.producer_guard() is None
        store.apply([Persist(block=blocks[0]), PersistSigningGuard(guard=guard)])
    with LmdbStore(tmp_path, CHAIN) as store:
        assert store.producer_guard() == guard
