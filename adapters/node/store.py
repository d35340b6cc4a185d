"""The LMDB chain store: a node's blocks, certificates, final height and signing memory on disk.

Layout (one LMDB environment, a directory, with named databases):

- ``blocks``: height (u64 big-endian) -> block (msgpack, ``codec.encode_block``);
- ``hashes``: block hash -> height, for look-up by hash;
- ``certs``: height (u64 big-endian, offset by one so that -1 fits) -> the highest certificate
  seen for the block at that height;
- ``meta``: ``chain_id``, ``committed`` (final height, i64), ``highest_cert``, the attester's
  ``attester_guard`` (its lock and every (height, round, phase) it signed, from ``PersistGuard``),
  the producer's ``producer_guard`` (the slots it signed blocks at and the rounds it announced,
  from ``PersistSigningGuard``) and the generic signing guards ``guard/<name>`` (height, round) a
  signer must never go back on.

Consistency and durability:

- ``snapshot()`` opens one read transaction: a ``ChainView`` whose every answer is from the same
  instant (LMDB MVCC), however many writes happen meanwhile.
- ``apply(effects)`` applies a batch of write effects (``Persist``, ``Commit``,
  ``UpdateHighestCertificate``, ``PersistGuard``, ``PersistSigningGuard``) in one write
  transaction. The environment is
  opened with ``sync=True``, so when ``apply`` returns the batch is on disk; the runtime calls it
  before sending any message produced after those effects. A crash (even ``kill -9``) leaves
  either the whole batch or none of it.
- ``record_signed(name, height, round)`` persists a signing guard before the caller signs: after a
  restart the guard refuses any (height, round) not above it, so an honest node never signs twice.
- The map size is bounded (``map_size``); a write that does not fit raises ``StoreFullError`` with
  the path and the config key to raise (``map_size_mb`` in ``[store]``), and leaves the store as
  it was.

The store refuses to lie (every refusal a ``StoreError`` with a one-line message):

- every block read is checked: it decodes, sits at the height it is stored under, and its fields
  hash to its ``hash``; a block that fails is ``CorruptBlockError`` naming the height, never
  returned (LMDB keeps no checksums: one flipped bit in the data file would otherwise be served to
  peers, who would blame this node). Certificates and guards are checked as far as they decode;
  they carry no hash of their own;
- before LMDB maps the data file (``data.mdb``), its header is read with ordinary file reads: an
  empty data file, a missing one beside an existing ``lock.mdb``, a file that is not LMDB, or one
  shorter than the pages its header counts (truncated: mapping it would end the process with
  SIGBUS on the first read past the end) is refused; so is an LMDB environment that is not a
  chain store (other databases, or no chain id);
- one writer per data directory: the store holds an exclusive ``flock`` on ``node.lock`` in it
  while open (a read-only store takes none: LMDB readers never block the writer);
- ``check_signing_guard(key)``: a chain without a signing guard (the guard lost, or a data
  directory another key wrote) is refused before the node signs anything.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from blockfsm.adapters.node.codec import (
    CodecError,
    decode_block,
    decode_certificate,
    decode_guard,
    decode_signing_guard,
    encode_block,
    encode_certificate,
    encode_guard,
    encode_signing_guard,
)
from blockfsm.machine.attester import Guard, PersistGuard
from blockfsm.machine.producer import PersistSigningGuard
from blockfsm.machine.producer_view import SigningGuard
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ZERO_HASH, Block, BlockHash, Certificate, ChainId, Height

DEFAULT_MAP_SIZE = 256 * 1024 * 1024
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_GUARD = struct.Struct(">qq")

WRITE_EFFECTS = (Persist, Commit, UpdateHighestCertificate, PersistGuard, PersistSigningGuard)


class StoreError(RuntimeError):
    """The store cannot do what was asked (wrong chain, rewriting history); a clear message."""


class StoreFullError(StoreError):
    """The LMDB map is full."""


class CorruptBlockError(StoreError):
    """A stored block that does not decode, sits at the wrong height or does not match its hash."""


class CorruptStoreError(StoreError):
    """The data file is empty, missing, truncated, not LMDB, or not a chain store; or a stored
    certificate or guard does not decode."""


class StoreLockedError(StoreError):
    """Another process (or another open store in this one) holds the data directory."""


class SigningGuardMissing(StoreError):
    """The store holds a chain but no signing guard for this key: signing could sign twice."""


class SigningRefused(StoreError):
    """A signature at or below a recorded signing guard was asked for."""


STORE_FAILURES: tuple[type[BaseException], ...] = (
    CorruptBlockError,
    CorruptStoreError,
    StoreFullError,
    lmdb.Error,
)
"""What a read or write of the store may raise when the store, not the caller, is at fault: the
runtime stops the node on these instead of stepping on. (A write the store refuses as wrong, such
as one rewriting committed history, is a plain ``StoreError``: a bug upstream, logged like any
other.)"""

DATA_FILE = "data.mdb"
LOCK_FILE = "node.lock"
_NAMED_DBS = (b"blocks", b"hashes", b"certs", b"meta")

# LMDB 0.9 (the version py-lmdb bundles) data file header: two meta pages, at page 0 and page 1;
# each is a 16-byte page header then MDB_meta (native byte order, 64-bit size_t): magic u32,
# version u32, address, mapsize, two MDB_db records of 48 bytes (the first one's leading u32 is
# the page size), last_pg (the last page in use), txnid. LMDB uses the meta with the larger txnid.
_LMDB_MAGIC = 0xBEEFC0DE
_LMDB_DATA_VERSION = 1
_META_OFFSET = 16
_META = struct.Struct("=II8xQI44x48xQQ")
_MIN_PAGE = 512
_MAX_PAGE = 65536

_T = TypeVar("_T")


def _h(height: Height) -> bytes:
    return _U64.pack(height)


def _ch(height: Height) -> bytes:
    return _U64.pack(height + 1)


def check_data_file(path: Path) -> None:
    """Refuse (``CorruptStoreError``) a data directory whose data file LMDB must not map: empty,
    missing beside an existing lock file, not LMDB, or shorter than its header says. A directory
    with neither file is a new store."""
    data = path / DATA_FILE
    try:
        size = data.stat().st_size
    except FileNotFoundError:
        if (path / "lock.mdb").exists():
            raise CorruptStoreError(
                f"{path}: the data file {DATA_FILE} is missing but lock.mdb is there: the chain "
                "and the signing guard are gone; start a node that has signed nothing from an "
                "empty directory"
            ) from None
        return
    if size == 0:
        raise CorruptStoreError(
            f"{data} is empty: the chain and the signing guard are gone; start a node that has "
            "signed nothing from an empty directory"
        )
    if struct.calcsize("P") != 8:  # the layout below is the 64-bit one; LMDB checks the rest
        return
    with data.open("rb") as f:
        head = f.read(_META_OFFSET + _META.size)
        if len(head) < _META_OFFSET + _META.size:
            raise CorruptStoreError(f"{data} is truncated: {size} bytes, shorter than its header")
        first = _META.unpack_from(head, _META_OFFSET)
        page = first[3]
        if first[0] != _LMDB_MAGIC:
            raise CorruptStoreError(f"{data} is not an LMDB data file (a foreign file)")
        if first[1] != _LMDB_DATA_VERSION or not _MIN_PAGE <= page <= _MAX_PAGE:
            raise CorruptStoreError(f"{data}: an LMDB data file of an unsupported format")
        f.seek(page)
        head = f.read(_META_OFFSET + _META.size)
    if len(head) < _META_OFFSET + _META.size:
        raise CorruptStoreError(f"{data} is truncated: {size} bytes, shorter than its header")
    second = _META.unpack_from(head, _META_OFFSET)
    if second[0] != _LMDB_MAGIC:
        raise CorruptStoreError(f"{data}: the second LMDB meta page is damaged")
    meta = second if second[5] > first[5] else first
    needed = (meta[4] + 1) * page
    if size < needed:
        raise CorruptStoreError(
            f"{data} is truncated: {size} bytes where its header counts {needed}; restore it "
            "from a copy (the chain can be synced again, the signing guard cannot)"
        )


def _lock(path: Path) -> int:
    """An exclusive ``flock`` on the data directory's lock file; the descriptor holds it."""
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StoreLockedError(f"{path} is in use by another process{who}") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _decoded(decode: Callable[[bytes], _T], raw: bytes, what: str, path: Path) -> _T:
    try:
        return decode(raw)
    except CodecError as error:
        raise CorruptStoreError(f"the chain store at {path}: {what} is damaged ({error})") from None


def checked_block(raw: bytes, height: Height, path: Path) -> Block:
    """The block stored at ``height``, or ``CorruptBlockError``: it must decode, be at that
    height and hash to its ``hash``."""
    try:
        block = decode_block(raw)
    except CodecError as error:
        raise CorruptBlockError(
            f"the chain store at {path}: the block at height {height} does not decode ({error}); "
            "it is not served"
        ) from None
    if block.height != height or not block.hash_is_valid():
        raise CorruptBlockError(
            f"the chain store at {path}: the block at height {height} does not match its hash "
            "(the data file is damaged); it is not served"
        )
    return block


class LmdbChainView:
    """A ``ChainView`` over one LMDB read transaction: a consistent snapshot."""

    def __init__(self, store: LmdbStore, txn: lmdb.Transaction) -> None:
        self._store = store
        self._txn = txn
        self._tip: Height | None = None
        self._committed: Height | None = None
        self._cert: Certificate | None = None

    def highest_height(self) -> Height:
        if self._tip is None:
            with self._txn.cursor(db=self._store._blocks) as cur:
                self._tip = _U64.unpack(cur.key())[0] if cur.last() else -1
        return self._tip

    def committed_height(self) -> Height:
        if self._committed is None:
            raw = self._txn.get(b"committed", db=self._store._meta)
            self._committed = _I64.unpack(raw)[0] if raw is not None else -1
        return self._committed

    def block_at(self, height: Height) -> Block | None:
        if height < 0 or height >= 2**64:
            return None
        raw = self._txn.get(_h(height), db=self._store._blocks)
        return checked_block(raw, height, self._store.path) if raw is not None else None

    def blocks_from(self, start: Height, limit: int) -> tuple[Block, ...]:
        if start < 0 or limit <= 0 or start >= 2**64:
            return ()
        out: list[Block] = []
        with self._txn.cursor(db=self._store._blocks) as cur:
            if not cur.set_key(_h(start)):
                return ()
            for key, raw in cur:
                out.append(checked_block(raw, _U64.unpack(key)[0], self._store.path))
                if len(out) >= limit:
                    break
        return tuple(out)

    def block_by_hash(self, block_hash: BlockHash) -> Block | None:
        raw = self._txn.get(block_hash, db=self._store._hashes)
        if raw is None:
            return None
        height = _U64.unpack(raw)[0] if len(raw) == _U64.size else -1
        block = self.block_at(height)
        if block is None or block.hash != block_hash:
            raise CorruptStoreError(
                f"the chain store at {self._store.path}: the hash index names a block that is "
                f"not at height {height}"
            )
        return block

    def certificate_at(self, height: Height) -> Certificate | None:
        raw = self._txn.get(_ch(height), db=self._store._certs)
        if raw is None:
            return None
        return _decoded(
            decode_certificate, raw, f"the certificate at height {height}", self._store.path
        )

    def highest_certificate(self) -> Certificate:
        if self._cert is None:
            raw = self._txn.get(b"highest_cert", db=self._store._meta)
            self._cert = (
                _decoded(decode_certificate, raw, "the highest certificate", self._store.path)
                if raw is not None
                else Certificate.genesis(self._store.chain_id)
            )
        return self._cert


class LmdbStore:
    """A node's chain on disk. One writer per data directory: a second ``LmdbStore`` on the same
    directory, in this process or another, is refused (``StoreLockedError``) while this one is
    open."""

    def __init__(
        self,
        path: str | Path,
        chain_id: ChainId,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.chain_id = chain_id
        self.map_size = map_size
        self._lock_fd = -1
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.path)
        try:
            check_data_file(self.path)
            self._env = lmdb.open(
                str(self.path),
                map_size=map_size,
                max_dbs=8,
                sync=True,
                metasync=True,
                lock=True,
                readahead=False,
                readonly=readonly,
            )
        except BaseException:
            self._unlock()
            raise
        try:
            self._open_dbs(readonly)
        except BaseException:
            self.close()
            raise

    def _open_dbs(self, readonly: bool) -> None:
        """The four named databases, created with the chain id in one transaction; an environment
        holding anything else, or its databases without a chain id, is not a chain store."""
        with self._env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
        foreign = [n for n in names if n not in _NAMED_DBS]
        if foreign:
            raise CorruptStoreError(
                f"{self.path} is an LMDB environment but not a chain store (it holds "
                f"{foreign[0]!r})"
            )
        if readonly or len(names) == len(_NAMED_DBS):
            self._blocks = self._env.open_db(b"blocks", create=False)
            self._hashes = self._env.open_db(b"hashes", create=False)
            self._certs = self._env.open_db(b"certs", create=False)
            self._meta = self._env.open_db(b"meta", create=False)
        else:
            with self._write() as txn:
                self._blocks = self._env.open_db(b"blocks", txn=txn)
                self._hashes = self._env.open_db(b"hashes", txn=txn)
                self._certs = self._env.open_db(b"certs", txn=txn)
                self._meta = self._env.open_db(b"meta", txn=txn)
                if not names:
                    txn.put(b"chain_id", _U64.pack(self.chain_id), db=self._meta)
        with self._env.begin() as txn:
            raw = txn.get(b"chain_id", db=self._meta)
        if raw is None or len(raw) != _U64.size:
            raise CorruptStoreError(f"{self.path} is an LMDB environment but not a chain store")
        if _U64.unpack(raw)[0] != self.chain_id:
            raise StoreError(
                f"{self.path} holds chain {_U64.unpack(raw)[0]}, not chain {self.chain_id}"
            )

    def close(self) -> None:
        self._env.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[lmdb.Transaction]:
        try:
            with self._env.begin(write=True) as txn:
                yield txn
        except lmdb.MapFullError:
            size = self.map_size
            shown = f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size:,} bytes"
            raise StoreFullError(
                f"the chain store at {self.path} is full (map size {shown}): raise map_size_mb "
                "in the [store] table of the node config"
            ) from None

    @contextmanager
    def snapshot(self) -> Iterator[LmdbChainView]:
        """A consistent read-only ``ChainView``, valid inside the ``with`` block."""
        with self._env.begin(write=False) as txn:
            yield LmdbChainView(self, txn)

    # --- convenience reads (each its own snapshot) ---------------------------------------------

    @property
    def highest_height(self) -> Height:
        with self.snapshot() as v:
            return v.highest_height()

    @property
    def committed_height(self) -> Height:
        with self.snapshot() as v:
            return v.committed_height()

    @property
    def highest_certificate(self) -> Certificate:
        with self.snapshot() as v:
            return v.highest_certificate()

    def block_at(self, height: Height) -> Block | None:
        with self.snapshot() as v:
            return v.block_at(height)

    def block_by_hash(self, block_hash: BlockHash) -> Block | None:
        with self.snapshot() as v:
            return v.block_by_hash(block_hash)

    # --- writes ------------------------------------------------------------------------------

    def apply(self, effects: Iterable[Any]) -> int:
        """Apply write effects in order in one durable write transaction; returns how many.

        Raises ``StoreError`` (and writes nothing) if a block would rewrite committed history or
        not link to its parent: the machines never ask for that, so it is a bug upstream.
        """
        n = 0
        with self._write() as txn:
            for effect in effects:
                kind = type(effect)
                if kind is Persist:
                    self._persist(txn, effect.block)
                elif kind is Commit:
                    self._commit(txn, effect.height)
                elif kind is UpdateHighestCertificate:
                    self._set_cert(txn, effect.certificate)
                elif kind is PersistGuard:
                    txn.put(b"attester_guard", encode_guard(effect.guard), db=self._meta)
                elif kind is PersistSigningGuard:
                    raw = encode_signing_guard(effect.guard)
                    txn.put(b"producer_guard", raw, db=self._meta)
                else:
                    raise TypeError(f"not a write effect: {kind.__name__}")
                n += 1
        return n

    def _tip(self, txn: lmdb.Transaction) -> Height:
        with txn.cursor(db=self._blocks) as cur:
            return int(_U64.unpack(cur.key())[0]) if cur.last() else -1

    def _committed(self, txn: lmdb.Transaction) -> Height:
        raw = txn.get(b"committed", db=self._meta)
        return int(_I64.unpack(raw)[0]) if raw is not None else -1

    def _persist(self, txn: lmdb.Transaction, block: Block) -> None:
        h = block.height
        if block.chain_id != self.chain_id:
            raise StoreError(f"block for chain {block.chain_id} in the store of {self.chain_id}")
        tip = self._tip(txn)
        if h < 0 or h > tip + 1:
            raise StoreError(f"block at height {h} does not touch the chain (tip {tip})")
        if h <= tip:
            mine = checked_block(txn.get(_h(h), db=self._blocks), h, self.path)
            if mine.hash == block.hash:
                return
            if h <= self._committed(txn):
                raise StoreError(f"block at height {h} would rewrite committed history")
            for old in range(tip, h - 1, -1):
                gone = checked_block(txn.pop(_h(old), db=self._blocks), old, self.path)
                txn.delete(gone.hash, db=self._hashes)
        if h > 0:
            parent = checked_block(txn.get(_h(h - 1), db=self._blocks), h - 1, self.path).hash
        else:
            parent = ZERO_HASH
        if block.parent_hash != parent:
            raise StoreError(f"block at height {h} does not link to its parent")
        txn.put(_h(h), encode_block(block), db=self._blocks)
        txn.put(block.hash, _h(h), db=self._hashes)

    def _commit(self, txn: lmdb.Transaction, height: Height) -> None:
        tip = self._tip(txn)
        if height > tip:
            raise StoreError(f"cannot commit height {height} above tip {tip}")
        if height > self._committed(txn):
            txn.put(b"committed", _I64.pack(height), db=self._meta)

    def _set_cert(self, txn: lmdb.Transaction, cert: Certificate) -> None:
        raw = txn.get(b"highest_cert", db=self._meta)
        current = (
            _decoded(decode_certificate, raw, "the highest certificate", self.path)
            if raw is not None
            else None
        )
        encoded = encode_certificate(cert)
        if current is None or cert.view >= current.view:
            txn.put(b"highest_cert", encoded, db=self._meta)
        if cert.height >= 0:
            txn.put(_ch(cert.height), encoded, db=self._certs)

    # --- signing guards and node metadata ------------------------------------------------------

    def attester_guard(self) -> Guard | None:
        """The last ``PersistGuard`` applied: what the attester signed and locked on."""
        with self._env.begin() as txn:
            raw = txn.get(b"attester_guard", db=self._meta)
        if raw is None:
            return None
        return _decoded(decode_guard, raw, "the attester's guard", self.path)

    def producer_guard(self) -> SigningGuard | None:
        """The last ``PersistSigningGuard`` applied: the (round, height) slots the producer signed
        blocks at and the rounds it announced."""
        with self._env.begin() as txn:
            raw = txn.get(b"producer_guard", db=self._meta)
        if raw is None:
            return None
        return _decoded(decode_signing_guard, raw, "the producer's guard", self.path)

    def signing_guard(self, name: str) -> tuple[int, int] | None:
        """The highest (height, round) recorded as signed under ``name``, or None."""
        with self._env.begin() as txn:
            raw = txn.get(b"guard/" + name.encode(), db=self._meta)
        return _GUARD.unpack(raw) if raw is not None else None

    def record_signed(self, name: str, height: int, round_: int) -> None:
        """Durably record that ``name`` is about to sign at (height, round); refuses anything not
        strictly above the recorded guard (``SigningRefused``). Call before signing."""
        key = b"guard/" + name.encode()
        with self._write() as txn:
            raw = txn.get(key, db=self._meta)
            if raw is not None and (height, round_) <= _GUARD.unpack(raw):
                raise SigningRefused(
                    f"{name}: already signed at {_GUARD.unpack(raw)}, refusing {(height, round_)}"
                )
            txn.put(key, _GUARD.pack(height, round_), db=self._meta)

    def check_signing_guard(self, key: bytes, *, allow_missing: bool = False) -> None:
        """Before a node signs with ``key`` from this store: refuse (``SigningGuardMissing``) a
        store that holds a chain but no signing guard of ``key``, since what the key signed
        before is unknown and signing again could sign twice. A store with no chain is new: it
        records ``key`` as its signer, so the guard it gathers is known to be complete. A store
        whose recorded signer is another key is refused. ``allow_missing`` (the node's
        ``--allow-missing-guard``) accepts a chain without a guard, for a key that has never
        signed on this chain (a follower's store turned validator, say)."""
        with self._write() as txn:
            signer = txn.get(b"signer", db=self._meta)
            if signer is not None and bytes(signer) != key:
                raise SigningGuardMissing(
                    f"{self.path} holds the signing guard of key {bytes(signer).hex()[:16]}..., "
                    f"not of this node's key {key.hex()[:16]}...: give each key its own data_dir"
                )
            if signer is None:
                has_guard = any(
                    txn.get(k, db=self._meta) is not None
                    for k in (b"attester_guard", b"producer_guard")
                )
                tip = self._tip(txn)
                if tip >= 0 and not has_guard and not allow_missing:
                    raise SigningGuardMissing(
                        f"{self.path} holds a chain (height {tip}) but no signing guard: what this "
                        "key signed before is unknown, so the node will not sign; start it with "
                        "--allow-missing-guard only if the key has never signed on this chain"
                    )
                txn.put(b"signer", key, db=self._meta)

    def signer_key(self) -> bytes | None:
        """The key this store records as its signer (``check_signing_guard``), or None."""
        with self._env.begin() as txn:
            raw = txn.get(b"signer", db=self._meta)
        return bytes(raw) if raw is not None else None

    def put_meta(self, key: str, value: bytes) -> None:
        with self._write() as txn:
            txn.put(b"user/" + key.encode(), value, db=self._meta)

    def get_meta(self, key: str) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(b"user/" + key.encode(), db=self._meta)
        return bytes(raw) if raw is not None else None
