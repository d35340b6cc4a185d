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


def _chunk_sizes(m: SortedMap[int, int]) -> list[int]:
    return [len(ks) for ks in m._keys]


def _built(sizes: list[int]) -> tuple[SortedMap[int, int], dict[int, int]]:
    """A map whose chunks have ``sizes`` (keys 0, 10, 20, ... so that any key fits between),
    grown from half-full chunks by inserting keys."""
    m: SortedMap[int, int] = SortedMap((10 * k, k) for k in range(len(sizes) * CHUNK // 2))
    assert _chunk_sizes(m) == [CHUNK // 2] * len(sizes)
    for c, size in enumerate(sizes):
        base = 10 * c * CHUNK // 2
        for k in range(size - CHUNK // 2):  # grow: keys between those of chunk c
            m = m.set(base + 1 + k % 9 + 10 * (k // 9), -1)
        for k in range(CHUNK // 2 - size):  # shrink: its last keys
            m = m.delete(base + 10 * (CHUNK // 2 - 1 - k))
    m.check()
    assert _chunk_sizes(m) == sizes
    return m, dict(m.items())


def _delete(m: SortedMap[int, int], model: dict[int, int], key: int) -> SortedMap[int, int]:
    m = m.delete(key)
    del model[key]
    m.check()
    assert list(m.items()) == sorted(model.items())
    return m


@pytest.mark.parametrize("before", [CHUNK // 2, CHUNK - 10])
def test_the_last_chunk_shrunk_below_a_quarter_merges_into_the_one_before(before: int) -> None:
    """``delete_mutmut_34`` to ``_52``: the merge of the *last* chunk with its previous one (the
    property tests seldom shrink the last chunk) read past the end or merged the wrong chunks;
    with a full previous chunk the merged one splits again."""
    m, model = _built([CHUNK // 2, before, _MIN])
    last = max(model)
    m = _delete(m, model, last)
    merged = before + _MIN - 1
    expect = (
        [CHUNK // 2, merged] if merged <= CHUNK else [CHUNK // 2, merged // 2, merged - merged // 2]
    )
    assert _chunk_sizes(m) == expect
    for key in sorted(model, reverse=True):  # and down to nothing
        m = _delete(m, model, key)
    assert len(m) == 0


def test_a_chunk_merges_only_below_a_quarter_and_splits_only_past_chunk() -> None:
    """``delete_mutmut_31`` (``<= _MIN``: a chunk at exactly a quarter merged) and ``_53``
    (``>= CHUNK``: a merged chunk of exactly CHUNK entries split): the layout the module's
    docstring states."""
    m, model = _built([_MIN + 1, CHUNK - _MIN + 1])
    m = _delete(m, model, min(model))
    assert _chunk_sizes(m) == [_MIN, CHUNK - _MIN + 1]  # a quarter full: kept
    m = _delete(m, model, min(model))
    assert _chunk_sizes(m) == [CHUNK]  # merged into exactly CHUNK: not split


def test_a_middle_chunk_merged_and_split_keeps_the_chunks_after_it() -> None:
    """``delete_mutmut_56`` (a split into a third and two thirds), ``_69``, ``_73``, ``_77`` (the
    chunk after the merged pair dropped from the index, the keys or the values)."""
    m, model = _built([_MIN, CHUNK - 10, CHUNK // 2, CHUNK // 2])
    m = _delete(m, model, min(model))
    merged = _MIN - 1 + CHUNK - 10
    assert _chunk_sizes(m) == [merged // 2, merged - merged // 2, CHUNK // 2, CHUNK // 2]


def test_setting_keys_in_a_middle_chunk_keeps_the_chunks_after_it() -> None:
    """``set_mutmut_51`` (a new value for a key in a middle chunk dropped the next chunk's values),
    ``_58`` (a chunk of exactly CHUNK entries split), ``_61`` (a split into a third and two
    thirds), ``_74``, ``_78``, ``_82`` (a split of a middle chunk dropped the next chunk)."""
    m, model = _built([CHUNK // 2, CHUNK - 1, CHUNK // 2])
    middle = 10 * (CHUNK // 2 + 8)  # a key of the middle chunk; the two below it are free
    assert middle in model and middle - 9 not in model and middle - 8 not in model
    m = m.set(middle, 99)
    model[middle] = 99
    m.check()
    assert list(m.items()) == sorted(model.items())
    expected = {
        middle - 9: [CHUNK // 2, CHUNK, CHUNK // 2],
        middle - 8: [CHUNK // 2, CHUNK // 2, CHUNK // 2 + 1, CHUNK // 2],
    }
    for key, sizes in expected.items():  # to exactly CHUNK: no split; one more: halves
        m = m.set(key, 7)
        model[key] = 7
        m.check()
        assert list(m.items()) == sorted(model.items())
        assert _chunk_sizes(m) == sizes


def test_a_new_least_key_and_a_new_middle_key_keep_the_chunks_after_them() -> None:
    """``set_mutmut_91``, ``_103``, ``_107``: an insert without a split dropped the next chunk
    from the index, the keys or the values (a new least key is the one insert that changes an
    index entry)."""
    m, model = _built([CHUNK // 2, CHUNK // 2, CHUNK // 2])
    for key in (-5, 10 * (CHUNK // 2 + 3) + 1):
        m = m.set(key, 1)
        model[key] = 1
        m.check()
        assert list(m.items()) == sorted(model.items())
        assert len(_chunk_sizes(m)) == 3
