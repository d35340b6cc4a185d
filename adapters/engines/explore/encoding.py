"""``StateEncoder``: the explorer's canonical state encoding, sharing the encodings of unchanged
parts between states."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.adapters.engines import itf

# --- the cluster system: nodes (attester, sync server, sync client) and an equivocator ----------


class StateEncoder:
    """Canonical bytes of an immutable value, for state keys: equal values give equal bytes in
    every process (no ``hash()``, sets and maps sorted), and every encoding is self-delimiting
    (lengths and counts first), so unequal values give unequal bytes. It is not ITF (traces are
    written by ``itf``); it is a compact form of the same values, several times cheaper to make.

    Each tuple, frozenset and attrs instance (immutable: the explored states are made of frozen
    records) is encoded once per object and the encoding kept: successive states share most of
    their parts. The cache holds the object, so its ``id`` is not reused while the entry lives.
    Lists, sets and dicts are encoded afresh each time.

    The cache has two generations: when the young one is full it becomes the old one (the older
    is dropped), and an entry found in the old one moves back to the young one. The parts of the
    states a breadth-first search is expanding are the ones asked for again; dropping the whole
    cache at once made every part of the next states be encoded again from the leaves."""

    limit = 100_000
    """Entries per generation (each holds its object alive): about 100 MB in the cluster."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, bytes]] = {}
        self._old: dict[int, tuple[Any, bytes]] = {}
        self._fields: dict[type, tuple[bytes, tuple[str, ...]]] = {}

    def __call__(self, value: Any) -> bytes:
        kind = type(value)
        if kind is int:
            return b"i%d;" % value
        if kind is bytes:
            return b"b%d;%b" % (len(value), value)
        if kind is str:
            text = value.encode()
            return b"s%d;%b" % (len(text), text)
        if value is None:
            return b"N"
        if kind is bool:
            return b"T" if value else b"F"
        if kind is list:  # mutable containers: encoded every time, never kept
            return b"(%d;%b" % (len(value), b"".join([self(v) for v in value]))
        if kind is set:
            return b"{%d;%b" % (len(value), b"".join(sorted([self(v) for v in value])))
        if kind is dict:
            items = sorted([self(k) + self(v) for k, v in value.items()])
            return b"[%d;%b" % (len(items), b"".join(items))
        ident = id(value)
        hit = self._cache.get(ident)
        if hit is not None and hit[0] is value:
            return hit[1]
        hit = self._old.get(ident)
        if hit is not None and hit[0] is value:
            self._keep(ident, hit)
            return hit[1]
        if kind is tuple:
            encoded = b"(%d;%b" % (len(value), b"".join(self._all(value)))
        elif kind is frozenset:
            encoded = b"{%d;%b" % (len(value), b"".join(sorted(self._all(value))))
        elif kind in self._fields or attrs.has(kind):
            known = self._fields.get(kind)
            if known is None:
                name = f"{kind.__module__}.{kind.__qualname__}".encode()
                fields = tuple(f.name for f in attrs.fields(kind) if f.eq)
                known = self._fields[kind] = (b"<%d;%b" % (len(name), name), fields)
            head, fields = known
            encoded = head + b"".join(self._all([getattr(value, f) for f in fields]))
        else:
            text = itf.canonical(value)
            encoded = b"?%d;%b" % (len(text), text)
        self._keep(ident, (value, encoded))
        return encoded

    def _all(self, values: Any) -> list[bytes]:
        """The encodings of ``values``, in order: integers and parts already kept are read here
        (most parts of a new state are), the rest through ``__call__``."""
        cache = self._cache
        out: list[bytes] = []
        for v in values:
            kind = type(v)
            if kind is int:
                out.append(b"i%d;" % v)
                continue
            hit = cache.get(id(v))
            if hit is not None and hit[0] is v:
                out.append(hit[1])
            else:
                out.append(self(v))
        return out

    def _keep(self, ident: int, entry: tuple[Any, bytes]) -> None:
        if len(self._cache) >= self.limit:
            # A memo only: dropping the old generation costs time, never correctness.
            self._old = self._cache
            self._cache = {}
        self._cache[ident] = entry
