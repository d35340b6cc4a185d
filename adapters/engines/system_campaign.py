"""A Hypothesis campaign over any system: random actions (faults included) with shrinking, then
heal, a fair schedule and the system's liveness, the way a machine's campaign runs one machine.

``SystemTest`` is the base: a subclass sets ``SYSTEM`` to a system factory (a ``SpecSystem``
subclass, or any explorer ``System``) and, optionally, ``BOUND`` (actions of the fair schedule).
Every action runs the members' steps under their specs (each step through a ``Conformant`` runner,
as the explorer does), every reached state is checked against the system's invariants, and a
crash-restart is whatever action the system declares for it (a fault action that rebuilds a member
from what it persisted). Hypothesis shrinks a failing run to a short list of actions; the failure
names the property and the actions from the initial state. Run it under pytest as
``MySystemTest.TestCase``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import successor


class SystemViolation(AssertionError):
    """A property of a system failed: its id, and the actions from the initial state."""

    def __init__(self, property_id: str, message: str, actions: tuple[Any, ...]) -> None:
        super().__init__(f"{property_id}: {message} (after {len(actions)} actions: {actions})")
        self.property_id = property_id
        self.actions = actions


class SystemTest(RuleBasedStateMachine):
    SYSTEM: ClassVar[Any]
    BOUND: ClassVar[int] = 1_000

    def __init__(self) -> None:
        super().__init__()
        self.system = self.SYSTEM()
        self.state = self.system.initial()
        self.actions: list[Any] = []
        self._failed = False

    def _take(self, action: Any) -> None:
        self.actions.append(action)
        after, found = successor(self.system, self.state, action)
        if found is not None:
            self._failed = True
            raise SystemViolation(found[0], found[2].splitlines()[0], tuple(self.actions))
        self.state = after

    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        """One enabled action, faults included (the chaos phase)."""
        enabled = list(self.system.actions(self.state))
        if enabled:
            self._take(data.draw(st.sampled_from(enabled), label="action"))

    def teardown(self) -> None:
        """Heal, run the fair schedule (the enabled healed action taken least recently first)
        for ``BOUND`` actions, then assert every liveness property."""
        heal = getattr(self.system, "heal_actions", None)
        if self._failed or heal is None:
            return
        last: dict[bytes, int] = {}
        for turn in range(self.BOUND):
            enabled = list(heal(self.state))
            if not enabled:
                break
            keys = [itf.canonical(a) for a in enabled]
            pick = min(range(len(enabled)), key=lambda i: (last.get(keys[i], -1), i))
            last[keys[pick]] = turn
            self._take(enabled[pick])
        for prop in getattr(self.system, "liveness", ()):
            if not prop.check(self.state):
                raise SystemViolation(
                    prop.id, f"{prop.statement} (after heal)", tuple(self.actions)
                )
