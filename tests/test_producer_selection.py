"""Property tests of producer selection and attestation targets (pure functions)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from blockfsm.machine.producer_selection import (
    ProducerSelector,
    distance,
    fallback_threshold,
    misses_primary,
    position,
    primary_threshold,
    required_attestations,
    selector_for,
    shuffle,
)

keys = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=12, unique=True)
seeds = st.binary(max_size=16)


@given(keys, seeds, st.randoms())
def test_shuffle_is_a_permutation_independent_of_listing_order(members, seed, rnd) -> None:
    order = shuffle(members, seed)
    assert sorted(order) == sorted(members)
    listed = list(members)
    rnd.shuffle(listed)
    assert shuffle(listed, seed) == order


@given(keys, seeds, st.integers(min_value=0, max_value=10**6))
def test_every_keeper_becomes_producer_within_n_rounds(members, seed, index) -> None:
    n = len(members)
    selector = ProducerSelector(seed=seed, index=index % n)
    producers = {selector.move_by_round(r, n).producer(members) for r in range(n)}
    assert producers == set(members)


@given(keys, seeds, st.data())
def test_distances_form_a_bijection_and_agree_with_rounds(members, seed, data) -> None:
    n = len(members)
    start = data.draw(st.sampled_from(members))
    dists = [distance(members, seed, start, other) for other in members]
    assert sorted(dists) == list(range(n))
    for other, d in zip(members, dists, strict=True):
        base = selector_for(members, seed, start)
        assert base is not None
        assert base.move_by_round(d, n).producer(members) == other


@given(keys, seeds, st.data())
def test_selector_for_names_its_node(members, seed, data) -> None:
    node = data.draw(st.sampled_from(members))
    selector = selector_for(members, seed, node)
    assert selector is not None and selector.names(members, node)
    assert position(members, seed, b"\x00" * 31) is None
    assert selector_for(members, seed, b"\x00" * 31) is None


@given(st.integers(min_value=1, max_value=10_000))
def test_thresholds(n: int) -> None:
    assert primary_threshold(n) == math.ceil(2 * n / 3)
    assert fallback_threshold(n) == math.floor(n / 2) + 1
    assert fallback_threshold(n) <= primary_threshold(n) <= n
    # two fallback quorums always share a keeper; two primary quorums share more than n/3 - 1
    assert 2 * fallback_threshold(n) > n
    assert 2 * primary_threshold(n) - n >= math.ceil(n / 3)


@given(
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=0, max_value=60),
)
def test_deadlines(n: int, depth: int, primary: int, extra: int, count: int) -> None:
    fallback = primary + extra
    required = required_attestations(n, depth, primary, fallback)
    assert required == (0 if depth < fallback else fallback_threshold(n))
    assert misses_primary(count, n, depth, primary) == (
        depth >= primary and count < primary_threshold(n)
    )
