"""The producer campaign's single-rule inputs: each case's valid and broken inputs stepped,
and counted per rule (``ProducerTest.single_rule_inputs``)."""

from __future__ import annotations

from collections import Counter

import attrs

from blockfsm.spec.campaigns import single_rule_rows
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import Row
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.strategies.producer_single_rule import PRODUCER_RULES
from blockfsm.spec.strategies.single_rule import Case

RULES_PER_CALL = 6
"""Single-rule cases per call of the campaign's ``single_rule_inputs`` rule."""
RULE_COUNTS: Counter[str] = Counter()
"""Per single-rule strategy (``blockfsm.spec.strategies.producer_single_rule``): how many broken
inputs were decided by that rule's own classification while the valid input they were made from
took its accepting class in the same state. ``blockfsm check`` reports it."""


@attrs.frozen(kw_only=True)
class ProducerRuleOutcome:
    rule: str
    valid_row: Row
    broken_row: Row

    @property
    def alone(self) -> bool:
        """The valid input took the rule's accepting class (any class but the rule's own, where
        the rule names none) and the broken one the rule's own class."""
        rule = PRODUCER_RULES[self.rule]
        valid = _class(self.valid_row)
        broken = _class(self.broken_row)
        if rule.valid_classes:
            valid_ok = valid in rule.valid_classes
        else:
            valid_ok = valid not in rule.decided_by
        return valid_ok and broken in rule.decided_by


def _class(row: Row) -> str:
    return row.guard.name if row.guard is not None else ""


def run_producer_single_rule(case: Case, stats: Stats) -> ProducerRuleOutcome:
    """Step a producer single-rule case's valid and broken inputs, each under its own
    ``Conformant`` (``blockfsm.spec.campaigns.single_rule_rows``)."""
    valid_row, broken_row = single_rule_rows(PRODUCER, case, stats)
    return ProducerRuleOutcome(rule=case.rule, valid_row=valid_row, broken_row=broken_row)
