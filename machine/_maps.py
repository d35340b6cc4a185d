"""A persistent sorted map for machine states: updates share all but one small chunk.

A machine state is immutable, and a step returns a new one. A table kept as one tuple must be
rebuilt whole on every update, so a step costs time in proportion to the table (the sync server's
per-peer rate table and the sync client's server registry both did). ``SortedMap`` keeps its keys
sorted in chunks of at most ``CHUNK`` (128) entries: a lookup is two binary searches, and an update
rebuilds one chunk and the tuples that list the chunks (pointer copies, one per chunk). A table
of ``n`` entries has between ``n / CHUNK`` and ``4 n / CHUNK`` chunks, so up to a few thousand
entries a step's cost does not depend on the table's size, and past that it grows with
``n / CHUNK`` pointer copies, never with ``n`` interpreted steps.

Nothing here mutates a value once built: every update returns a new map, and the old one stays
valid (the conformance checker reads the state before and after every step, and the explorer
steps the same state many times). Keys must be totally ordered (bytes, ints, tuples of them); no
``hash()`` is used, so iteration order is the key order in every process.
"""

# Tuples are spliced by concatenation, which CPython 3.11 runs in half the time of the unpacking
# form ruff prefers (measured on the set/delete paths below).
# ruff: noqa: RUF005

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import pairwise
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

CHUNK = 128
"""A chunk that grows past this splits in two; one that shrinks below a quarter of it merges."""

_MIN = CHUNK // 4


class SortedMap(Generic[K, V]):
    """An immutable map ordered by key; ``set`` and ``delete`` return a new map."""

    __slots__ = ("_firsts", "_keys", "_len", "_values")

    _firsts: tuple[Any, ...]
    _keys: tuple[tuple[Any, ...], ...]
    _values: tuple[tuple[Any, ...], ...]
    _len: int

    def __init__(self, items: Any = ()) -> None:
        """A map of ``items`` (pairs; a later pair for the same key wins)."""
        merged: dict[Any, Any] = {}
        for key, value in items:
            merged[key] = value
        keys = sorted(merged)
        # Chunks half full, of even length: room to grow before a split, none below _MIN.
        count = -(-len(keys) // (CHUNK // 2))
        bounds = [len(keys) * c // count for c in range(count + 1)] if keys else [0]
        chunks = [keys[a:b] for a, b in pairwise(bounds)]
        _set_firsts(self, tuple(c[0] for c in chunks))
        _set_keys(self, tuple(tuple(c) for c in chunks))
        _set_values(self, tuple(tuple(merged[k] for k in c) for c in chunks))
        _set_len(self, len(keys))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SortedMap is immutable")

    # --- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def get(self, key: K, default: V | None = None) -> V | None:
        i = bisect_right(self._firsts, key) - 1
        if i < 0:
            return default
        ks = self._keys[i]
        j = bisect_left(ks, key)
        if j < len(ks) and ks[j] == key:
            return self._values[i][j]  # type: ignore[no-any-return]
        return default

    def __contains__(self, key: object) -> bool:
        i = bisect_right(self._firsts, key) - 1
        if i < 0:
            return False
        ks = self._keys[i]
        j = bisect_left(ks, key)
        return j < len(ks) and ks[j] == key

    def first(self) -> tuple[K, V]:
        """The entry with the least key; ``IndexError`` when empty."""
        if not self._len:
            raise IndexError("first() of an empty SortedMap")
        return self._keys[0][0], self._values[0][0]

    def keys(self) -> Iterator[K]:
        for ks in self._keys:
            yield from ks

    def values(self) -> Iterator[V]:
        for vs in self._values:
            yield from vs

    def items(self) -> Iterator[tuple[K, V]]:
        for ks, vs in zip(self._keys, self._values, strict=True):
            yield from zip(ks, vs, strict=True)

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, SortedMap)
        return self._len == other._len and list(self.items()) == list(other.items())

    def __hash__(self) -> int:
        return tuple(self.items()).__hash__()

    def __repr__(self) -> str:
        return f"SortedMap({list(self.items())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (SortedMap, (list(self.items()),))

    # --- updating --------------------------------------------------------------------------

    def set(self, key: K, value: V) -> SortedMap[K, V]:
        """This map with ``key`` mapped to ``value``."""
        firsts = self._firsts
        keys = self._keys
        values = self._values
        if not firsts:
            return _make((key,), ((key,),), ((value,),), 1)
        i = bisect_right(firsts, key) - 1
        if i < 0:
            i = 0
        ks = keys[i]
        vs = values[i]
        j = bisect_left(ks, key)
        if j < len(ks) and ks[j] == key:
            vs = vs[:j] + (value,) + vs[j + 1 :]
            return _make(firsts, keys, values[:i] + (vs,) + values[i + 1 :], self._len)
        ks = ks[:j] + (key,) + ks[j:]
        vs = vs[:j] + (value,) + vs[j:]
        if len(ks) > CHUNK:
            h = len(ks) // 2
            return _make(
                firsts[:i] + (ks[0], ks[h]) + firsts[i + 1 :],
                keys[:i] + (ks[:h], ks[h:]) + keys[i + 1 :],
                values[:i] + (vs[:h], vs[h:]) + values[i + 1 :],
                self._len + 1,
            )
        if j == 0:
            firsts = firsts[:i] + (key,) + firsts[i + 1 :]
        return _make(
            firsts,
            keys[:i] + (ks,) + keys[i + 1 :],
            values[:i] + (vs,) + values[i + 1 :],
            self._len + 1,
        )

    def delete(self, key: K) -> SortedMap[K, V]:
        """This map without ``key`` (the same map when it has no such key)."""
        firsts = self._firsts
        i = bisect_right(firsts, key) - 1
        if i < 0:
            return self
        keys = self._keys
        values = self._values
        ks = keys[i]
        j = bisect_left(ks, key)
        if j >= len(ks) or ks[j] != key:
            return self
        ks = ks[:j] + ks[j + 1 :]
        vs = values[i][:j] + values[i][j + 1 :]
        if len(ks) < _MIN and len(keys) > 1:
            # Merge with a neighbour (the next chunk, or the previous one for the last chunk),
            # splitting again if the two together are too long.
            if i + 1 < len(keys):
                lo, ks, vs = i, ks + keys[i + 1], vs + values[i + 1]
            else:
                lo, ks, vs = i - 1, keys[i - 1] + ks, values[i - 1] + vs
            if len(ks) > CHUNK:
                h = len(ks) // 2
                return _make(
                    firsts[:lo] + (ks[0], ks[h]) + firsts[lo + 2 :],
                    keys[:lo] + (ks[:h], ks[h:]) + keys[lo + 2 :],
                    values[:lo] + (vs[:h], vs[h:]) + values[lo + 2 :],
                    self._len - 1,
                )
            return _make(
                firsts[:lo] + (ks[0],) + firsts[lo + 2 :],
                keys[:lo] + (ks,) + keys[lo + 2 :],
                values[:lo] + (vs,) + values[lo + 2 :],
                self._len - 1,
            )
        if not ks:
            return _make((), (), (), 0)
        return _make(
            firsts[:i] + (ks[0],) + firsts[i + 1 :] if j == 0 else firsts,
            keys[:i] + (ks,) + keys[i + 1 :],
            values[:i] + (vs,) + values[i + 1 :],
            self._len - 1,
        )

    def check(self) -> None:
        """Raise ``AssertionError`` unless the chunks are sorted, sized and indexed as they must be
        (for tests)."""
        assert len(self._firsts) == len(self._keys) == len(self._values)
        flat: list[Any] = list(self.keys())
        assert self._len == len(flat)
        assert all(a < b for a, b in pairwise(flat))
        for f, ks, vs in zip(self._firsts, self._keys, self._values, strict=True):
            assert ks and f == ks[0] and len(ks) == len(vs) and len(ks) <= CHUNK
            assert len(ks) >= _MIN or len(self._keys) == 1


# The slots' own setters: a new map is filled through them (``__setattr__`` refuses), which costs
# a third less than ``object.__setattr__`` by name on this hot path.
_set_firsts = vars(SortedMap)["_firsts"].__set__
_set_keys = vars(SortedMap)["_keys"].__set__
_set_values = vars(SortedMap)["_values"].__set__
_set_len = vars(SortedMap)["_len"].__set__
_new = object.__new__


def _make(
    firsts: tuple[Any, ...],
    keys: tuple[tuple[Any, ...], ...],
    values: tuple[tuple[Any, ...], ...],
    size: int,
) -> SortedMap[Any, Any]:
    new: SortedMap[Any, Any] = _new(SortedMap)
    _set_firsts(new, firsts)
    _set_keys(new, keys)
    _set_values(new, values)
    _set_len(new, size)
    return new
