"""A store that refuses to lie: each damage done for real to the files on disk (a flipped bit, a
truncated, emptied, deleted or foreign data file, a lost signing guard, a second process, a full
map), and each seen as a clear error, never as data served or a crash without a message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest

from blockfsm.adapters.exits import EXIT_INPUT, EXIT_OK
from blockfsm.adapters.node.codec import encode_block
from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.keys import write_key_file
from blockfsm.adapters.node.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
from blockfsm.adapters.node.store import (
    DATA_FILE,
    CorruptBlockError,
    CorruptStoreError,
    LmdbStore,
    SigningGuardMissing,
    StoreFullError,
    StoreLockedError,
)
from blockfsm.machine.attester import Guard, PersistGuard
from blockfsm.machine.core import Step, Tick
from blockfsm.machine.crypto import Signer
from blockfsm.machine.messages import SyncRequest, SyncRequestReceived, SyncResponse
from blockfsm.machine.sync_client import Persist
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet

pytestmark = pytest.mark.timeout(60)
"""This module waits on processes and files: a hang fails the test at this deadline."""

CHAIN = 3
SOURCE_KEYS = [Ed25519Signer.from_seed(bytes([i + 40]) * 32) for i in range(3)]
SOURCE: list[Signer] = list(SOURCE_KEYS)


def payload(height: int) -> bytes:
    return b"payload-of-height-%06d" % height


def build_chain(path: Path, n: int, map_size: int = 1 << 24) -> list[Block]:
    """A store at ``path`` with ``n`` certified blocks, each with a payload found nowhere else."""
    with LmdbStore(path, CHAIN, map_size=map_size) as store:
        source = BlockSource(store, SOURCE)
        for _ in range(n):
            effects = source.next_effects()
            block = effects[0].block
            effects[0] = Persist(block=Block.make(
                chain_id=CHAIN, height=block.height, parent_hash=block.parent_hash,
                justify=block.justify, payload=payload(block.height),
            ))  # fmt: skip
            store.apply(effects)
        return [b for b in (store.block_at(h) for h in range(n)) if b is not None]


def flip_bit(path: Path, needle: bytes, offset: int) -> None:
    """Flip the lowest bit of the byte at ``offset`` into ``needle`` wherever it is stored (LMDB
    copies on write: a page that held it before may still be in the file, free)."""
    data = bytearray((path / DATA_FILE).read_bytes())
    at = data.find(needle)
    assert at >= 0
    while at >= 0:
        data[at + offset] ^= 1
        at = data.find(needle, at + 1)
    (path / DATA_FILE).write_bytes(bytes(data))


# --- a flipped bit ------------------------------------------------------------------------------

# Where in the stored block the bit flips: its payload, its own hash, its parent's hash.
FIELDS: dict[str, Callable[[Block, bytes], int]] = {
    "payload": lambda b, enc: enc.index(b.payload) + 3,
    "hash": lambda b, enc: len(enc) - 1,
    "parent_hash": lambda b, enc: enc.index(b.parent_hash) + 7,
}


@pytest.mark.parametrize("field", list(FIELDS))
def test_a_flipped_bit_in_a_block_is_an_error_naming_its_height(tmp_path: Path, field: str) -> None:
    blocks = build_chain(tmp_path, 12)
    damaged = blocks[7]
    encoded = encode_block(damaged)
    flip_bit(tmp_path, encoded, FIELDS[field](damaged, encoded))
    with LmdbStore(tmp_path, CHAIN) as store, store.snapshot() as view:
        assert view.block_at(6) == blocks[6]
        assert view.blocks_from(8, 10) == tuple(blocks[8:])
        with pytest.raises(CorruptBlockError, match="height 7 does not match its hash"):
            view.block_at(7)
        with pytest.raises(CorruptBlockError, match="height 7"):
            view.blocks_from(3, 10)
        with pytest.raises(CorruptBlockError, match="height 7"):
            view.block_by_hash(damaged.hash)


class Recorder:
    """Stands in for the transport: keeps every message the runtime sends."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, peer: bytes, message: object) -> bool:
        self.sent.append(message)
        return True

    def broadcast(self, message: object) -> None:
        self.sent.append(message)


def _sync_config() -> Any:
    me = Ed25519Signer.from_seed(bytes([9]) * 32)
    return sync_node_config(
        chain_id=CHAIN,
        signer=me,
        validators=ValidatorSet.equal(s.public_key for s in SOURCE),
        verifier=Ed25519Verifier(),
    )


async def _until(cond: Any, rounds: int = 400) -> bool:
    for _ in range(rounds):
        if cond():
            return True
        await asyncio.sleep(0.01)
    return bool(cond())


def test_a_node_asked_for_a_damaged_block_serves_nothing_and_stops(tmp_path: Path) -> None:
    """The sync server is asked for a range holding the damaged block: no response leaves, the
    runtime stops on the error naming the height, and it steps no more."""
    blocks = build_chain(tmp_path, 12)
    encoded = encode_block(blocks[5])
    flip_bit(tmp_path, encoded, encoded.index(blocks[5].payload))

    async def main() -> None:
        store = LmdbStore(tmp_path, CHAIN)
        wire = Recorder()
        runtime = Runtime(SYNC_NODE, _sync_config(), store, wire, tick_ms=10)  # type: ignore[arg-type]
        fatal: list[BaseException] = []
        runtime.on_fatal = fatal.append
        await runtime.start()
        request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=12)
        runtime.put(SyncRequestReceived(peer=SOURCE[0].public_key, request=request))
        assert await _until(lambda: runtime.fatal is not None)
        steps = runtime.steps
        for _ in range(20):
            runtime.put(SyncRequestReceived(peer=SOURCE[1].public_key, request=request))
            await asyncio.sleep(0.01)
        await runtime.stop()
        store.close()
        assert not [m for m in wire.sent if type(m) is SyncResponse]
        assert fatal == [runtime.fatal]
        assert isinstance(runtime.fatal, CorruptBlockError)
        assert "height 5" in str(runtime.fatal)
        assert runtime.steps == steps and runtime.failures == 0

    asyncio.run(main())


# --- the node's command line against damaged data directories ----------------------------------


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """A directory with the key file of a one-validator node (its public key in key.hex)."""
    signer = write_key_file(tmp_path / "n.key")
    (tmp_path / "key.hex").write_text(signer.public_key.hex())
    return tmp_path


def node_config(directory: Path, extra: str = "") -> Path:
    key = (directory / "key.hex").read_text()
    path = directory / "node.toml"
    path.write_text(
        f'chain_id = {CHAIN}\nkey_file = "n.key"\ndata_dir = "data"\n'
        f'listen = "127.0.0.1:0"\nvalidators = ["{key}"]\n{extra}'
    )
    return path


def node_command(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "blockfsm", "node", "--config", str(config), "--log-level",
            "ERROR", *extra]  # fmt: skip


def run_node(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``blockfsm node`` in its own process: it must fail at start, well within 20 s (one that
    runs instead is killed then, and fails the test)."""
    try:
        return subprocess.run(
            node_command(config, *extra), capture_output=True, text=True, timeout=20, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the node ran instead of refusing to start")


def one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The node failed with exit status 4 and exactly one line holding every one of ``words``."""
    assert result.returncode == EXIT_INPUT, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _keeper_store(directory: Path, n: int = 40) -> Path:
    """The data directory of a keeper that has signed: a chain, its signer recorded, a guard."""
    data = directory / "data"
    build_chain(data, n)
    key = bytes.fromhex((directory / "key.hex").read_text())
    with LmdbStore(data, CHAIN) as store:
        store.check_signing_guard(key, allow_missing=True)
        guard = Guard(height=n, locked_round=-1, locked_hash=ZERO_HASH, signed=((0, 0, ZERO_HASH),))
        store.apply([PersistGuard(guard=guard)])
    return data


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (lambda full: full // 2, ("is truncated", "where its header counts")),
        (lambda full: 4096 + 200, ("is truncated",)),
        (lambda full: 100, ("is truncated", "shorter than its header")),
        (lambda full: 0, ("is empty", "signing guard are gone")),
    ],
    ids=["half", "two-pages", "100-bytes", "emptied"],
)
def test_a_truncated_or_emptied_data_file_is_one_line_not_sigbus(
    node_dir: Path, size: Any, words: tuple[str, ...]
) -> None:
    data = _keeper_store(node_dir, n=300)
    full = (data / DATA_FILE).stat().st_size
    os.truncate(data / DATA_FILE, size(full))
    one_line(run_node(node_config(node_dir)), "data_dir", "cannot open the chain store", *words)


def test_a_deleted_data_file_beside_its_lock_file_is_refused(node_dir: Path) -> None:
    data = _keeper_store(node_dir)
    (data / DATA_FILE).unlink()
    one_line(run_node(node_config(node_dir)), "data.mdb is missing but lock.mdb is there")


def test_a_foreign_lmdb_environment_or_file_is_refused(node_dir: Path) -> None:
    data = node_dir / "data"
    env = lmdb.open(str(data), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(b"someone-else", b"their data")
    env.close()
    config = node_config(node_dir)
    one_line(run_node(config), "not a chain store", "someone-else")
    (data / DATA_FILE).write_bytes(b"\x00" * 20_000)
    one_line(run_node(config), "not an LMDB data file")


# --- a chain without its signing guard ------------------------------------------------------------


def test_the_signing_guard_records_its_key_and_refuses_a_chain_without_one(tmp_path: Path) -> None:
    me, other = SOURCE[0].public_key, SOURCE[1].public_key
    with LmdbStore(tmp_path / "new", CHAIN) as store:
        store.check_signing_guard(me)  # no chain: a new store, its signer recorded
        BlockSource(store, SOURCE).extend(3)
        store.check_signing_guard(me)
        with pytest.raises(SigningGuardMissing, match="signing guard of key"):
            store.check_signing_guard(other)
        with pytest.raises(SigningGuardMissing, match="signing guard of key"):
            store.check_signing_guard(other, allow_missing=True)
    build_chain(tmp_path / "follower", 3)
    with LmdbStore(tmp_path / "follower", CHAIN) as store:
        with pytest.raises(SigningGuardMissing, match=r"holds a chain \(height 2\) but no"):
            store.check_signing_guard(me)
        store.check_signing_guard(me, allow_missing=True)
        store.check_signing_guard(me)  # recorded by the override


def test_a_keeper_whose_guard_is_lost_will_not_sign_unless_told_to(node_dir: Path) -> None:
    """The guard and the signer record deleted from a keeper's store (the chain left as it was):
    the node refuses to start; ``--allow-missing-guard`` starts it."""
    data = _keeper_store(node_dir)
    env = lmdb.open(str(data), max_dbs=8)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        assert txn.delete(b"attester_guard", db=meta) and txn.delete(b"signer", db=meta)
    env.close()
    config = node_config(node_dir)
    one_line(run_node(config), "holds a chain (height 39) but no signing guard",
             "--allow-missing-guard")  # fmt: skip
    proc = subprocess.Popen(
        node_command(config, "--allow-missing-guard", "--log-level", "INFO"),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=50)
    assert '"listening"' in first, first + rest
    assert proc.returncode == EXIT_OK, rest


# --- one process per data directory ---------------------------------------------------------------


def test_a_second_store_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with LmdbStore(tmp_path, CHAIN):
        with pytest.raises(
            StoreLockedError, match=f"in use by another process \\(pid {os.getpid()}"
        ):
            LmdbStore(tmp_path, CHAIN)
    with LmdbStore(tmp_path, CHAIN):  # released on close
        pass


HOLDER = textwrap.dedent(
    """
    import sys
    from blockfsm.adapters.node.store import LmdbStore
    store = LmdbStore(sys.argv[1], int(sys.argv[2]))
    print("open", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def holder(node_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the node's data directory open."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(node_dir / "data"), str(CHAIN)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "open\n"
    yield proc
    proc.kill()
    proc.wait(timeout=30)


def test_a_second_process_on_the_same_data_dir_is_refused(
    node_dir: Path, holder: subprocess.Popen[str]
) -> None:
    config = node_config(node_dir)
    one_line(run_node(config), "data_dir", "is in use by another process", f"pid {holder.pid}")
    holder.send_signal(signal.SIGKILL)  # the kernel releases the lock of a killed process
    holder.wait(timeout=30)
    with LmdbStore(node_dir / "data", CHAIN):
        pass


# --- a full map -----------------------------------------------------------------------------------


def _fill(path: Path, map_size: int) -> int:
    """Extend the chain at ``path`` until the map is full; the height reached."""
    with LmdbStore(path, CHAIN, map_size=map_size) as store:
        source = BlockSource(store, SOURCE, payload_size=2048)
        with pytest.raises(StoreFullError):
            for _ in range(10_000):
                source.extend()
        return store.highest_height


def source_node_config(directory: Path, extra: str = "") -> Path:
    """A sync-only node that extends its chain with blocks certified by the ``SOURCE`` keys
    (the validators); reading its tip block for the next block's parent is its first read."""
    keys = []
    for i, signer in enumerate(SOURCE_KEYS):
        write_key_file(directory / f"s{i}.key", signer)
        keys.append(f'"s{i}.key"')
    config = node_config(directory, f"{extra}[source]\nkey_files = [{', '.join(keys)}]\n"
                         "interval = 1\n")  # fmt: skip
    config.write_text(
        config.read_text().replace(
            f'validators = ["{(directory / "key.hex").read_text()}"]',
            "validators = [" + ", ".join(f'"{s.public_key.hex()}"' for s in SOURCE) + "]",
        )
    )
    return config


def test_a_full_store_stops_the_node_with_one_line_naming_the_config_key(node_dir: Path) -> None:
    _fill(node_dir / "data", 1 << 20)
    config = source_node_config(node_dir, "[store]\nmap_size_mb = 1\n")
    line = one_line(run_node(config), "the node stopped", "is full", "map_size_mb", "[store]")
    assert "store.map_size" not in line


def test_a_node_reading_a_damaged_block_stops_with_one_line_naming_the_height(
    node_dir: Path,
) -> None:
    blocks = build_chain(node_dir / "data", 30)
    encoded = encode_block(blocks[29])
    flip_bit(node_dir / "data", encoded, encoded.index(blocks[29].payload))
    one_line(run_node(source_node_config(node_dir)), "the node stopped",
             "the block at height 29 does not match its hash", "it is not served")  # fmt: skip


class Grower:
    """A machine that asks for one more block on every tick: a chain that keeps growing."""

    def initial(self, config: Any) -> Any:
        return (-1, ZERO_HASH)

    def step(self, config: Any, state: Any, event: Any, view: Any) -> Step:
        if type(event) is not Tick:
            return Step(state, ())
        tip = view.highest_height()
        parent = view.block_at(tip).hash if tip >= 0 else ZERO_HASH
        block = Block.make(
            chain_id=CHAIN,
            height=tip + 1,
            parent_hash=parent,
            justify=Certificate.genesis(CHAIN),
            payload=bytes(3000),
        )
        return Step(state, (Persist(block=block),))


def test_a_full_store_stops_the_runtime_once_instead_of_failing_every_tick(tmp_path: Path) -> None:
    async def main() -> None:
        store = LmdbStore(tmp_path, CHAIN, map_size=1 << 20)
        runtime = Runtime(Grower(), None, store, None, tick_ms=1)
        await runtime.start()
        assert await _until(lambda: runtime.fatal is not None, rounds=2000)
        steps = runtime.steps
        for _ in range(20):
            runtime.put(Tick(now=0))
            await asyncio.sleep(0.01)
        await runtime.stop()
        tip = store.highest_height
        store.close()
        assert isinstance(runtime.fatal, StoreFullError)
        assert "map_size_mb" in str(runtime.fatal)
        assert runtime.steps == steps and runtime.failures == 0
        assert tip > 0

    asyncio.run(main())


def test_a_damaged_certificate_is_a_store_error_not_a_traceback(tmp_path: Path) -> None:
    build_chain(tmp_path, 4)
    env = lmdb.open(str(tmp_path), max_dbs=8)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"highest_cert", b"\x93\x01\x02", db=meta)
    env.close()
    with LmdbStore(tmp_path, CHAIN) as store, pytest.raises(CorruptStoreError, match="highest"):
        store.highest_certificate  # noqa: B018
