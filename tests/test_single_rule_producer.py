"""One rule at a time, for the producer: every check the producer makes on what it is given (a
Start's params, its NextRound votes and the locked candidate a vote reports, the executor's
BlockBuilt, the clock, the keeper set, the block tree's notices) is the one that decides an input
breaking that rule alone, while the valid input it was made from takes its accepting class in the
same state. Every step runs under ``Conformant``, so a machine check that is missing, misplaced
or decided by another rule fails here."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockfsm.spec.campaigns.producer import run_producer_single_rule
from blockfsm.spec.conformance import Stats
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.strategies.producer_single_rule import (
    PRODUCER_RULES,
    RULE_NAMES,
    producer_single_rule_cases,
)

EXAMPLES = 15


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_alone(rule: str) -> None:
    @settings(max_examples=EXAMPLES)
    @given(case=producer_single_rule_cases(rule))
    def check(case: object) -> None:
        outcome = run_producer_single_rule(case, Stats())  # type: ignore[arg-type]
        assert outcome.alone, (
            f"{rule}: valid took {outcome.valid_row.id} ({outcome.valid_row.guard}), "
            f"broken took {outcome.broken_row.id} ({outcome.broken_row.guard})"
        )

    check()


def test_every_start_and_build_refusal_is_reached_by_a_single_rule() -> None:
    """Each refusal of a Start (by its reason) and each class of a refused BlockBuilt is the
    decision of some rule's broken inputs."""
    seen: set[str] = set()
    for rule in RULE_NAMES:
        if PRODUCER_RULES[rule].event not in ("Start", "BlockBuilt"):
            continue

        @settings(max_examples=5)
        @given(case=producer_single_rule_cases(rule))
        def collect(case: object) -> None:
            outcome = run_producer_single_rule(case, Stats())  # type: ignore[arg-type]
            row = outcome.broken_row
            seen.add(row.reason if row.reason else str(row.guard.name if row.guard else ""))

        collect()
    refusals = {
        r.reason
        for r in PRODUCER.spec.rows
        if r.event in ("Start", "BlockBuilt") and r.kind == "reject" and r.reason
    }
    assert refusals <= seen, sorted(refusals - seen)


def test_single_rule_inputs_are_not_vacuous() -> None:
    @settings(max_examples=60)
    @given(case=st.sampled_from(RULE_NAMES).flatmap(producer_single_rule_cases))
    def check(case: object) -> None:
        c = case
        assert (c.broken, c.state_for_broken) != (c.valid, c.state)  # type: ignore[attr-defined]

    check()
