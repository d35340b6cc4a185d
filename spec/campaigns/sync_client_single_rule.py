"""The sync client campaign's single-rule inputs: each case's valid and broken inputs stepped,
and counted per rule (``SyncClientTest.single_rule_inputs``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from blockfsm.spec.campaigns import single_rule_rows
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import Row
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.single_rule import (
    ACCEPTED,
    RULES,
    Case,
)

RULES_PER_CALL = 6
"""Single-rule cases per call of the campaign's ``single_rule_inputs`` rule."""
RULE_COUNTS: Counter[str] = Counter()
"""Per single-rule strategy (``blockfsm.spec.strategies.single_rule.RULES``): how many broken
inputs were decided by that rule's own classification while the valid input they were made from
was accepted in the same state. ``blockfsm check`` reports it."""


@attrs.frozen(kw_only=True)
class RuleOutcome:
    rule: str
    valid_row: Row
    broken_row: Row

    @property
    def alone(self) -> bool:
        """The valid input was accepted (or, where nothing can be, took the rule's baseline
        class) and the broken one was decided by the rule's own class."""
        rule = RULES[self.rule]
        accepted = rule.baseline or ACCEPTED[self.valid_row.event]
        expected = rule.decided_by
        return _class(self.valid_row) in accepted and _class(self.broken_row) in expected


def _class(row: Row) -> str:
    return row.guard.name if row.guard is not None else ""


def run_single_rule(case: Case, stats: Stats) -> RuleOutcome:
    """Step the case's valid and broken inputs from its state, each under its own
    ``Conformant`` (``blockfsm.spec.campaigns.single_rule_rows``). Raises what the conformance
    check raises."""
    machine: Any = SYNC_CLIENT if RULES[case.rule].machine == "sync_client" else SYNC_SERVER
    valid_row, broken_row = single_rule_rows(machine, case, stats)
    return RuleOutcome(rule=case.rule, valid_row=valid_row, broken_row=broken_row)
