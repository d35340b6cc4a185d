"""One rule at a time: for every validation rule of the sync client (and the sync server's request
checks), inputs that break that rule alone are decided by that rule's own spec classification,
while the valid inputs they were made from are accepted in the same state. Every step runs under
``Conformant``, so a machine check that is missing or misplaced fails here as a conformance error
(the spec still refuses what the machine accepts, or refuses it for another reason)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockfsm.spec.campaigns.sync_client import run_single_rule
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import MachineSpec, Row
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.single_rule import (
    CLIENT_RULES,
    RULES,
    SERVER_RULES,
    single_rule_cases,
)
from blockfsm.spec.sync_client import SPEC as CLIENT_SPEC

EXAMPLES = 25


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_alone(rule: str) -> None:
    @settings(max_examples=EXAMPLES)
    @given(case=single_rule_cases(rule))
    def check(case: object) -> None:
        outcome = run_single_rule(case, Stats())  # type: ignore[arg-type]
        assert outcome.alone, (
            f"{rule}: valid took {outcome.valid_row.id}, broken took {outcome.broken_row.id}"
        )

    check()


def rule_specific_refusals(spec: MachineSpec) -> set[str]:
    """Rows that refuse an input for one rule: reject rows, rows that emit a ``Rejected`` or a
    ``Blacklisted``, and guarded ignore rows (a rule decided to drop the input)."""
    out = set()
    for row in spec.rows:
        names = {e.rstrip("*+?") for e in row.effects}
        if (
            row.kind == "reject"
            or "Rejected" in names
            or "Blacklisted" in names
            or (row.kind == "ignore" and row.guard is not None)
        ):
            out.add(row.id)
    return out


def decided_rows(rules: tuple[str, ...], examples: int) -> dict[str, set[str]]:
    """Row id -> the rules whose broken inputs it decided, over ``examples`` cases per rule."""
    seen: dict[str, set[str]] = {}
    for rule in rules:
        _collect(rule, examples, seen)
    return seen


def _collect(rule: str, examples: int, seen: dict[str, set[str]]) -> None:
    @settings(max_examples=examples)
    @given(case=single_rule_cases(rule))
    def collect(case: object) -> None:
        outcome = run_single_rule(case, Stats())  # type: ignore[arg-type]
        assert outcome.alone
        seen.setdefault(outcome.broken_row.id, set()).add(rule)

    collect()


@pytest.mark.parametrize(
    ("spec", "rules", "events"),
    [
        (CLIENT_SPEC, CLIENT_RULES, None),
        # The server's request checks (its Tick rows are no validation of a peer's input).
        (SYNC_SERVER.spec, SERVER_RULES, {"SyncRequestReceived"}),
    ],
)
def test_every_refusal_row_is_reached_by_single_rule_inputs(
    spec: MachineSpec, rules: tuple[str, ...], events: set[str] | None
) -> None:
    decided = decided_rows(rules, 20)
    wanted = {
        r for r in rule_specific_refusals(spec) if events is None or spec.row(r).event in events
    }
    missing = sorted(wanted - set(decided), key=_row_order(spec))
    assert not missing, "refusal rows no single-rule input reached: " + ", ".join(
        f"{r} ({spec.row(r).source}, {spec.row(r).event}, {_name(spec.row(r))})" for r in missing
    )


def _name(row: Row) -> str:
    return row.guard.name if row.guard is not None else "-"


def _row_order(spec: MachineSpec) -> object:
    ids = [r.id for r in spec.rows]
    return ids.index


def test_single_rule_inputs_are_not_vacuous() -> None:
    """The strategies really differ from their valid inputs."""

    @settings(max_examples=60)
    @given(case=st.sampled_from(sorted(RULES)).flatmap(single_rule_cases))
    def check(case: object) -> None:
        c = case
        assert (c.broken, c.state_for_broken) != (c.valid, c.state)  # type: ignore[attr-defined]

    check()
