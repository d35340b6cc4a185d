"""Tests that kill the mutants mutmut left alive in machine/producer_selection.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). The property tests of the module draw their inputs at random; a
boundary they reach only by luck is pinned here with explicit values.
"""

from __future__ import annotations

import pytest

from blockfsm.machine.producer_selection import misses_primary, primary_threshold


@pytest.mark.parametrize("n", [1, 3, 4, 7, 10])
def test_an_ancestor_at_exactly_the_primary_deadline_misses_it_without_the_target(n: int) -> None:
    """``x_misses_primary__mutmut_2`` (``depth > primary_deadline``): the primary deadline is
    missed at the deadline itself, not one block later."""
    short = primary_threshold(n) - 1
    assert misses_primary(short, n, depth=4, primary_deadline=4)
    assert not misses_primary(short, n, depth=3, primary_deadline=4)
    assert not misses_primary(primary_threshold(n), n, depth=4, primary_deadline=4)
