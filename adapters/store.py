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
  the path and the size to raise, and leaves the store as it was.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from blockfsm.adapters.codec import (
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


class SigningRefused(StoreError):
    """A signature at or below a recorded signing guard was asked for."""


def _h(height: Height) -> bytes:
    return _U64.pack(height)


def _ch(height: Height) -> bytes:
    return _U64.pack(height + 1)


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
        return decode_block(raw) if raw is not None else None

    def blocks_from(self, start: Height, limit: int) -> tuple[Block, ...]:
        if start < 0 or limit <= 0 or start >= 2**64:
            return ()
        out: list[Block] = []
        with self._txn.cursor(db=self._store._blocks) as cur:
            if not cur.set_key(_h(start)):
                return ()
            for _, raw in cur:
                out.append(decode_block(raw))
                if len(out) >= limit:
                    break
        return tuple(out)

    def block_by_hash(self, block_hash: BlockHash) -> Block | None:
        raw = self._txn.get(block_hash, db=self._store._hashes)
        return self.block_at(_U64.unpack(raw)[0]) if raw is not None else None

    def certificate_at(self, height: Height) -> Certificate | None:
        raw = self._txn.get(_ch(height), db=self._store._certs)
        return decode_certificate(raw) if raw is not None else None

    def highest_certificate(self) -> Certificate:
        if self._cert is None:
            raw = self._txn.get(b"highest_cert", db=self._store._meta)
            self._cert = (
                decode_certificate(raw)
                if raw is not None
                else Certificate.genesis(self._store.chain_id)
            )
        return self._cert


class LmdbStore:
    """A node's chain on disk. Open one per data directory (LMDB locks it per process)."""

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
        if not readonly:
            self.path.mkdir(parents=True, exist_ok=True)
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
        self._blocks = self._env.open_db(b"blocks")
        self._hashes = self._env.open_db(b"hashes")
        self._certs = self._env.open_db(b"certs")
        self._meta = self._env.open_db(b"meta")
        if readonly:
            return
        with self._write() as txn:
            raw = txn.get(b"chain_id", db=self._meta)
            if raw is None:
                txn.put(b"chain_id", _U64.pack(chain_id), db=self._meta)
            elif _U64.unpack(raw)[0] != chain_id:
                raise StoreError(
                    f"{self.path} holds chain {_U64.unpack(raw)[0]}, not chain {chain_id}"
                )

    def close(self) -> None:
        self._env.close()

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
            raise StoreFullError(
                f"the chain store at {self.path} is full (map size {self.map_size} bytes); "
                "raise store.map_size in the node config"
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
            mine = decode_block(txn.get(_h(h), db=self._blocks))
            if mine.hash == block.hash:
                return
            if h <= self._committed(txn):
                raise StoreError(f"block at height {h} would rewrite committed history")
            for old in range(tip, h - 1, -1):
                gone = decode_block(txn.pop(_h(old), db=self._blocks))
                txn.delete(gone.hash, db=self._hashes)
        if h > 0:
            parent = decode_block(txn.get(_h(h - 1), db=self._blocks)).hash
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
        current = decode_certificate(raw) if raw is not None else None
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
        return decode_guard(raw) if raw is not None else None

    def producer_guard(self) -> SigningGuard | None:
        """The last ``PersistSigningGuard`` applied: the (round, height) slots the producer signed
        blocks at and the rounds it announced."""
        with self._env.begin() as txn:
            raw = txn.get(b"producer_guard", db=self._meta)
        return decode_signing_guard(raw) if raw is not None else None

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

    def put_meta(self, key: str, value: bytes) -> None:
        with self._write() as txn:
            txn.put(b"user/" + key.encode(), value, db=self._meta)

    def get_meta(self, key: str) -> bytes | None:
        with self._env.begin() as txn:
            raw = txn.get(b"user/" + key.encode(), db=self._meta)
        return bytes(raw) if raw is not None else None
