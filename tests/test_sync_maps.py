"""The persistent tables under the sync machines' states, against plain models of what they hold.

``SortedMap`` against a dict; the server's ``RateTable`` against the tuple it replaced (pairs in
the order peers entered, a new peer at a full table replacing the one with the fewest responses,
the earliest of those); the client's ``Registry`` against a tuple of registrations sorted by
peer. Every version ever built is checked again at the end: an update must never change a value
that was already handed out (the conformance checker reads the state before and after each step,
and the explorer steps one state many times)."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from blockfsm.adapters.engines import itf
from blockfsm.machine._maps import CHUNK, SortedMap
from blockfsm.machine.sync_client import Registration, Registry
from blockfsm.machine.sync_server import EMPTY_TABLE, RateTable

_ops = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=3 * CHUNK)),
    max_size=6 * CHUNK,
)


@given(_ops)
@settings(max_examples=60)
def test_sorted_map_holds_what_a_dict_holds_and_old_versions_stay(
    ops: list[tuple[bool, int]],
) -> None:
    current: SortedMap[int, int] = SortedMap()
    model: dict[int, int] = {}
    history = []
    for n, (put, key) in enumerate(ops):
        if put:
            current = current.set(key, n)
            model[key] = n
        else:
            current = current.delete(key)
            model.pop(key, None)
        current.check()
        assert list(current.items()) == sorted(model.items())
        assert len(current) == len(model) and (key in current) == (key in model)
        assert current.get(key) == model.get(key)
        history.append((current, sorted(model.items())))
    for version, items in history:
        assert list(version.items()) == items
    assert SortedMap(model.items()) == current
    assert pickle.loads(pickle.dumps(current)) == current


def test_sorted_map_splits_and_merges_chunks() -> None:
    m: SortedMap[int, int] = SortedMap()
    for k in range(10 * CHUNK):
        m = m.set(k, k)
    m.check()
    assert len(m._keys) > 10  # split as it grew
    for k in range(10 * CHUNK - 3):
        m = m.delete(k)
        m.check()
    assert list(m.items()) == [(k, k) for k in range(10 * CHUNK - 3, 10 * CHUNK)]
    assert len(m._keys) == 1  # merged as it shrank


def _model_record(
    table: tuple[tuple[bytes, int], ...], peer: bytes, capacity: int
) -> tuple[tuple[bytes, int], ...]:
    """The rate table as the tuple it was before: served peers keep their place, a new peer goes
    last, and at capacity the first of the entries with the fewest responses is dropped."""
    if any(p == peer for p, _ in table):
        return tuple((p, n + 1) if p == peer else (p, n) for p, n in table)
    if len(table) >= capacity and table:
        fewest = min(range(len(table)), key=lambda i: table[i][1])
        table = table[:fewest] + table[fewest + 1 :]
    return (*table, (peer, 1))


@given(
    st.integers(min_value=1, max_value=12),
    st.lists(st.integers(min_value=0, max_value=30), max_size=300),
)
@settings(max_examples=80)
def test_rate_table_records_and_evicts_as_the_tuple_did(capacity: int, peers: list[int]) -> None:
    table = EMPTY_TABLE
    model: tuple[tuple[bytes, int], ...] = ()
    history = []
    for p in peers:
        peer = bytes([p]) * 4
        assert table.served(peer) == dict(model).get(peer, 0)
        table = table.record(peer, capacity)
        model = _model_record(model, peer, capacity)
        assert table.entries == model and len(table) == len(model)
        history.append((table, model))
    for version, entries in history:
        assert tuple(version) == entries
    rebuilt = RateTable(model)
    assert rebuilt == table and itf.decode(itf.encode(table)) == table
    assert itf.canonical(rebuilt) == itf.canonical(table)
    assert pickle.loads(pickle.dumps(table)) == table
    # A rebuilt table behaves as the one it equals (its entry numbers start afresh).
    for p in peers[:20]:
        peer = bytes([p + 1]) * 4
        table, rebuilt = table.record(peer, capacity), rebuilt.record(peer, capacity)
        assert table == rebuilt


def test_rate_table_eviction_after_counts_moved_on() -> None:
    """The eviction index records a peer's count when it entered; a peer served since must not be
    taken for the lightest."""
    a, b, c, d = (bytes([i]) * 4 for i in range(4))
    table = EMPTY_TABLE
    for peer in (a, b, c, a, a, b):
        table = table.record(peer, 3)
    assert table.entries == ((a, 3), (b, 2), (c, 1))
    table = table.record(d, 3)
    assert table.entries == ((a, 3), (b, 2), (d, 1))
    table = table.record(d, 3).record(d, 3).record(c, 3)  # d at 3, b is now the lightest
    assert table.entries == ((a, 3), (d, 3), (c, 1))


def test_rate_table_lists_each_peer_once() -> None:
    try:
        RateTable(((b"p", 1), (b"p", 2)))
    except ValueError:
        return
    raise AssertionError("a table with a peer listed twice was accepted")


_regs = st.builds(
    Registration,
    peer=st.integers(min_value=0, max_value=40).map(lambda i: bytes([i]) * 32),
    height=st.integers(min_value=-1, max_value=50),
    timestamp=st.integers(min_value=0, max_value=100),
    received=st.integers(min_value=0, max_value=100),
)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("put"), _regs),
            st.tuples(st.just("drop"), _regs),
            st.tuples(st.just("expire"), st.integers(min_value=0, max_value=120)),
        ),
        max_size=200,
    )
)
@settings(max_examples=80)
def test_registry_holds_what_a_sorted_tuple_holds(ops: list[tuple[str, object]]) -> None:
    registry = Registry(())
    model: dict[bytes, Registration] = {}
    history = []
    for kind, arg in ops:
        if kind == "put":
            assert isinstance(arg, Registration)
            registry = registry.put(arg)
            model[arg.peer] = arg
        elif kind == "drop":
            assert isinstance(arg, Registration)
            registry = registry.without(arg.peer)
            model.pop(arg.peer, None)
        else:
            assert isinstance(arg, int)
            registry = registry.expire(arg)
            model = {p: e for p, e in model.items() if e.received > arg}
        expected = tuple(model[p] for p in sorted(model))
        assert registry.entries == expected and tuple(registry) == expected
        assert len(registry) == len(expected)
        for peer in model:
            assert registry.get(peer) == model[peer]
        history.append((registry, expected))
    for version, entries in history:
        assert tuple(version) == entries
    rebuilt = Registry(tuple(model.values()))
    assert rebuilt == registry and itf.decode(itf.encode(registry)) == registry
    assert pickle.loads(pickle.dumps(registry)) == registry
