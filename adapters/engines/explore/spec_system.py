"""A system declared by a ``SystemSpec`` (``blockfsm.spec.system``), for the explorer and the
system simulator.

``SpecSystem`` takes everything the engines check from the spec: the invariants over the system
state, the liveness predicates, which actions the fair schedule after heal may take (those not
declared ``fault``), and the set of actions: a step whose action the spec does not declare is a
violation (``undeclared-action``), never a silent extra transition. A subclass says how the world
starts (``initial``), which actions are enabled (``actions``) and what one does (``apply``); a
member machine's step goes through ``run``, which checks it under the member's spec.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import StateInvariant, StepViolation
from blockfsm.adapters.engines.explore.traces import checked_step
from blockfsm.spec.system import SystemSpec


class SpecSystem(ABC):
    spec: ClassVar[SystemSpec]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.spec.name

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    @property
    def invariants(self) -> tuple[StateInvariant, ...]:
        return tuple(StateInvariant(i.id, i.statement, i.check) for i in self.spec.invariants)

    @property
    def liveness(self) -> tuple[StateInvariant, ...]:
        return tuple(StateInvariant(lv.id, lv.statement, lv.holds) for lv in self.spec.liveness)

    @abstractmethod
    def initial(self) -> Any:
        """Filled in by each system (see the module docstring)."""

    @abstractmethod
    def actions(self, state: Any) -> Iterable[Any]:
        """Filled in by each system (see the module docstring)."""

    @abstractmethod
    def apply(self, state: Any, action: Any) -> Any:
        """Filled in by each system (see the module docstring)."""

    def heal_actions(self, state: Any) -> Iterable[Any]:
        """The enabled actions the spec does not declare as faults."""
        for action in self.actions(state):
            declared = self.spec.action(_name(action))
            if declared is not None and not declared.fault:
                yield action

    def step(self, state: Any, action: Any) -> Any:
        if self.spec.action(_name(action)) is None:
            raise StepViolation(
                "undeclared-action",
                f"{self.spec.name}: action {_name(action)!r} is not declared in its spec",
            )
        return self.apply(state, action)

    def run(self, member: str, machine: Any, config: Any, state: Any, event: Any, view: Any) -> Any:
        """One step of ``member``, checked under its spec (rows, target, effects, per-step
        invariants); ``machine`` must be the member's machine, under the spec declared for it."""
        declared = {m.name: m.spec for m in self.spec.machines}
        if declared.get(member) is not machine.spec:
            raise StepViolation(
                "undeclared-member",
                f"{self.spec.name}: {member!r} does not run under the spec {machine.spec.name}",
            )
        return checked_step(machine, config, state, event, view)

    def key(self, state: Any) -> bytes:
        return itf.canonical(state)


def _name(action: Any) -> str:
    return str(action[0] if isinstance(action, tuple) else action)
