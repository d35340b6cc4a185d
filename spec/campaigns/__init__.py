"""Property-based campaigns: one Hypothesis ``RuleBasedStateMachine`` per machine.

A campaign module exposes ``CAMPAIGN``, a ``Campaign``, and is declared under the
``blockfsm.machines`` entry point group (``blockfsm.adapters.engines.registry``). The same state
machine class is run by pytest (``tests/``) and by ``blockfsm check``; both drive the machine
through the ``Conformant`` wrapper, so every step is checked against the spec and every safety
invariant, and the counts land in the campaign's ``Stats``.

Liveness follows TigerBeetle's VOPR: the random rules are the chaos phase; ``teardown`` heals (no
more faults), runs a fair schedule for the property's bound and asserts progress.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from hypothesis import target
from hypothesis.stateful import RuleBasedStateMachine

from blockfsm.spec.conformance import Conformant, InvariantViolation, Stats, SteppableMachine
from blockfsm.spec.language import MachineSpec, Row, Transition

_steering = [False]


def set_steering(on: bool) -> None:
    """Whether each example of a campaign reports, with Hypothesis's ``target``, how rare its
    coverage keys (row, in which state, after which row) were (``Conformant.fresh``); Hypothesis
    then favours and mutates the examples that took rare ones. Off by default (``check
    --steer`` turns it on): measured, it does not yet reach every row in fewer examples at the
    median, and it changes what a seeded run draws (docs/performance.md)."""
    _steering[0] = on


@attrs.frozen(kw_only=True)
class Campaign:
    spec: MachineSpec
    test_class: type[RuleBasedStateMachine]
    stats: Stats
    rules: Counter[str] | None = None
    """Per single-rule strategy, inputs rejected by that rule alone (reset with ``stats``)."""
    rule_names: tuple[str, ...] = ()
    """Every rule ``rules`` counts, so a rule no input reached shows as 0."""
    behaviours: tuple[str, ...] = ()
    """The adversary's behaviours this campaign draws from; each one's actions are counted in
    ``stats.steps["adversary:<name>"]`` and reported by ``blockfsm check``."""
    also: tuple[tuple[MachineSpec, Stats], ...] = ()
    """Machines this campaign also runs under their specs (the cluster runs the node and the
    attester): reported beside it, with their own properties and row coverage."""

    @property
    def machine(self) -> str:
        return self.spec.name


class MachineTest(RuleBasedStateMachine):
    """Base of every campaign's state machine: runs one machine under its spec.

    Subclasses set ``STATS``, call ``start(machine, config)`` from an ``@initialize`` rule (or
    ``__init__``), feed events with ``apply`` and implement ``check_liveness`` for the heal phase.
    """

    STATS: ClassVar[Stats]

    def __init__(self) -> None:
        super().__init__()
        self._failed = False
        self.runner: Conformant | None = None
        self.state: Any = None

    def start(self, machine: SteppableMachine, config: Any, state: Any) -> None:
        self.runner = Conformant(machine, config, stats=self.STATS)
        self.state = state

    def apply(self, event: Any, view: Any) -> tuple[Any, ...]:
        assert self.runner is not None, "start() was not called"
        try:
            self.state, effects = self.runner.step(self.state, event, view)
        except BaseException:
            self._failed = True
            raise
        return effects  # type: ignore[no-any-return]

    def check_liveness(self) -> None:
        """Heal, run the fair schedule, assert every liveness property (override)."""

    def single_rule_batch(
        self,
        data: Any,
        names: tuple[str, ...],
        turn: int,
        cases: Callable[[str], Any],
        run: Callable[[Any, Stats], Any],
        counts: Counter[str],
        size: int,
    ) -> int:
        """Draw and run ``size`` single-rule cases, rules ``names[turn]``, ``names[turn + 1]``,
        ... in turn (so one batch of examples reaches every rule, where a drawn rule would favour
        the first ones); count each in ``counts``. ``run(case, stats)`` returns an outcome with
        ``alone``, ``valid_row`` and ``broken_row``. Returns the next turn."""
        assert self.runner is not None
        for _ in range(size):
            name = names[turn % len(names)]
            turn += 1
            case = data.draw(cases(name), label=name)
            outcome = run(case, self.STATS)
            if not outcome.alone:
                raise self.runner.fail(
                    "single-rule",
                    f"{case.rule}: the valid input took {outcome.valid_row.id} and the broken "
                    f"one {outcome.broken_row.id}; the rule's own classification must decide it",
                )
            counts[case.rule] += 1
        return turn

    def teardown(self) -> None:
        if self.runner is None:
            return
        if not self._failed:
            try:
                self.check_liveness()
            finally:
                self.runner.finish()
            if _steering[0]:
                target(self.runner.fresh, label="rare coverage")
        else:
            self.runner.finish()


def single_rule_rows(machine: SteppableMachine, case: Any, stats: Stats) -> tuple[Row, Row]:
    """The rows a single-rule case's valid and broken inputs take (``case`` is a
    ``blockfsm.spec.strategies.single_rule.Case``).

    Each input is stepped from its state under its own ``Conformant`` (the row, its target and
    effects checked), then every single-transition safety invariant is checked; the machine is
    pure, so neither step disturbs the other. History-keeping monitors are left out: the case's
    state was built, not reached by a history they could have seen. Raises what the conformance
    check raises."""
    spec = machine.spec
    rows = []
    for state, event in ((case.state, case.valid), (case.state_for_broken, case.broken)):
        runner = Conformant(machine, case.config, stats=stats, check_invariants=False)
        # One case is part of the enclosing run, not an example of its own.
        stats.runs -= 1
        after, effects = runner.step(state, event, case.view)
        t = Transition(
            config=case.config,
            before=state,
            event=event,
            after=after,
            effects=tuple(effects),
            view=case.view,
        )
        for inv in spec.invariants:
            if inv.check is not None:
                stats.steps[inv.id] += 1
                if not inv.check(t):
                    raise InvariantViolation(spec.name, inv.id, inv.statement, runner.trace)
        (row,) = spec.matching_rows(case.config, state, event, case.view)
        rows.append(row)
    return rows[0], rows[1]
