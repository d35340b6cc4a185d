"""Tests that kill the mutants mutmut left alive in machine/_maps.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). ``SortedMap.check`` is the tests' statement of the map's layout,
so it is held here against maps broken on purpose (built with the module's private ``_make``);
the rest pins the layout ``SortedMap(items)`` builds at every size, and equality, hashing and the
printed form, which the property tests reach only through the sync machines.
"""

from __future__ import annotations

import pytest

from blockfsm.machine._maps import _MIN, CHUNK, SortedMap, _make


@pytest.mark.parametrize("n", [0, 1, _MIN, CHUNK // 2, CHUNK // 2 + 1, CHUNK, 3 * CHUNK + 5])
def test_a_map_built_from_items_has_half_full_chunks_of_legal_size(n: int) -> None:
    """``__init___mutmut_10`` (chunks of CHUNK // 3): built maps had chunks below the minimum."""
    m = SortedMap((k, -k) for k in range(n))
    m.check()
    assert len(m) == n and list(m.items()) == [(k, -k) for k in range(n)]


def test_every_size_up_to_four_chunks_builds_a_legal_map() -> None:
    for n in range(4 * CHUNK):
        SortedMap((k, k) for k in range(n)).check()


@pytest.mark.parametrize(
    ("firsts", "keys", "values"),
    [
        ((1,), ((1, 1),), (("a", "b"),)),  # a repeated key (check_7: a <= b)
        ((1,), ((1, 2),), (("a",),)),  # a chunk of keys longer than its values (check_18)
        ((0,), ((1, 2),), (("a", "b"),)),  # an index entry that is not its chunk's first key
        ((1, 3), ((1, 2), (3, 4)), (("a", "b"), ("c", "d"))),  # two chunks below the minimum
        ((1,), (tuple(range(1, CHUNK + 2)),), (tuple(range(CHUNK + 1)),)),  # one chunk too long
    ],
)
def test_check_refuses_a_map_that_breaks_its_layout(
    firsts: tuple[int, ...], keys: tuple[tuple[int, ...], ...], values: tuple[tuple[str, ...], ...]
) -> None:
    """``check_mutmut_7``, ``_18``, ``_19``, ``_20``: the checker let a repeated key, a chunk with
    fewer values than keys, or a wrong index entry through."""
    size = sum(len(k) for k in keys)
    with pytest.raises(AssertionError):
        _make(firsts, keys, values, size).check()


def test_maps_of_one_size_with_different_entries_differ() -> None:
    """``__eq___mutmut_4`` (``and`` became ``or``): any two maps of one size compared equal."""
    assert SortedMap([(1, "a")]) != SortedMap([(2, "a")])
    assert SortedMap([(1, "a")]) != SortedMap([(1, "b")])
    assert SortedMap([(1, "a")]) != SortedMap([(1, "a"), (2, "b")])
    assert SortedMap([(1, "a")]).set(2, "b") == SortedMap([(2, "b"), (1, "a")])


def test_equal_maps_hash_alike_and_print_their_entries() -> None:
    """``__hash___mutmut_1`` and ``__repr___mutmut_1``: neither was called by any selected test."""
    built = SortedMap([(2, "b"), (1, "a")])
    grown = SortedMap([(1, "a")]).set(2, "b")
    assert hash(built) == hash(grown) == hash(((1, "a"), (2, "b")))
    assert repr(built) == "SortedMap([(1, 'a'), (2, 'b')])"


def test_first_of_an_empty_map_raises_with_its_message() -> None:
    """``first_mutmut_2`` to ``_5``: the IndexError lost or changed its text."""
    with pytest.raises(IndexError) as raised:
        SortedMap().first()
    assert raised.value.args == ("first() of an empty SortedMap",)
    assert SortedMap([(2, "b"), (1, "a")]).first() == (1, "a")
