"""Property-based campaigns: one Hypothesis ``RuleBasedStateMachine`` per machine.

A campaign module in this package exposes ``CAMPAIGN``, a ``Campaign``. The same state machine
class is run by pytest (``tests/``) and by ``blockfsm check``; both drive the machine through the
``Conformant`` wrapper, so every step is checked against the spec and every safety invariant, and
the counts land in the campaign's ``Stats``.

Liveness follows TigerBeetle's VOPR: the random rules are the chaos phase; ``teardown`` heals (no
more faults), runs a fair schedule for the property's bound and asserts progress.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from typing import Any, ClassVar

import attrs
from hypothesis.stateful import RuleBasedStateMachine

from blockfsm.spec.conformance import Conformant, Stats, SteppableMachine
from blockfsm.spec.language import MachineSpec


@attrs.frozen(kw_only=True)
class Campaign:
    spec: MachineSpec
    test_class: type[RuleBasedStateMachine]
    stats: Stats
    rules: Counter[str] | None = None
    """Per single-rule strategy, inputs rejected by that rule alone (reset with ``stats``)."""
    rule_names: tuple[str, ...] = ()
    """Every rule ``rules`` counts, so a rule no input reached shows as 0."""
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

    def teardown(self) -> None:
        if self.runner is None:
            return
        if not self._failed:
            try:
                self.check_liveness()
            finally:
                self.runner.finish()
        else:
            self.runner.finish()


def all_campaigns() -> list[Campaign]:
    """Every campaign module in this package, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        campaign = getattr(module, "CAMPAIGN", None)
        if isinstance(campaign, Campaign):
            found.append(campaign)
    return found
