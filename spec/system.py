"""A system as a spec: named machines, a world, the actions between them, invariants over the
system state, and liveness after heal.

Protocols are usually several cooperating machines. A ``SystemSpec`` states what a system is made
of and what must hold of it, as data, the way a ``MachineSpec`` does for one machine:

- ``machines``: each named member (``"server"``, ``"client"``) and the ``MachineSpec`` it runs
  under; every step of a member is checked against that spec's rows and per-step invariants;
- ``world``: what the system state holds besides the members' states (the network, a clock);
- ``actions``: every kind of action between them, by name; a ``fault`` action (a drop, a crash,
  a forgery) is taken only before heal;
- ``invariants``: safety over the whole system state, checked in every state reached;
- ``liveness``: predicates over the system state that must hold once heal has stopped the faults
  and a fair schedule has run for the stated bound.

An engine makes it executable: the explorer and the system simulator run a system object whose
``spec`` is a ``SystemSpec`` (``blockfsm.adapters.engines.explore.SpecSystem``), and they refuse an
action the spec does not declare. ``blockfsm spec render`` writes its page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from blockfsm.spec.language import MachineSpec, SpecError


@attrs.frozen(kw_only=True)
class Member:
    """A named machine of the system and the spec it runs under."""

    name: str
    spec: MachineSpec
    role: str = ""


@attrs.frozen(kw_only=True)
class Action:
    """A kind of action, named by the first element of the engine's action tuples."""

    name: str
    statement: str
    fault: bool = False
    """Taken only before heal: after heal the fair schedule offers no fault action."""


@attrs.frozen(kw_only=True)
class SystemInvariant:
    """A safety property of the whole system state, checked in every state reached."""

    id: str
    statement: str
    check: Callable[[Any], bool] = attrs.field(eq=False, hash=False, repr=False)
    catches: str = ""


@attrs.frozen(kw_only=True)
class SystemLiveness:
    """A predicate over the system state that holds after heal and a fair schedule of ``bound``
    actions (``fairness`` says what the schedule guarantees)."""

    id: str
    statement: str
    fairness: str
    bound: str
    holds: Callable[[Any], bool] = attrs.field(eq=False, hash=False, repr=False)
    catches: str = ""


@attrs.frozen(kw_only=True)
class SystemSpec:
    name: str
    title: str
    summary: str
    machines: tuple[Member, ...]
    world: str
    actions: tuple[Action, ...]
    invariants: tuple[SystemInvariant, ...]
    liveness: tuple[SystemLiveness, ...] = ()
    notes: tuple[str, ...] = ()

    def action(self, name: str) -> Action | None:
        """The declared action ``name``, or None."""
        for action in self.actions:
            if action.name == name:
                return action
        return None


def define_system(
    *,
    name: str,
    title: str,
    summary: str,
    machines: Iterable[Member],
    world: str,
    actions: Iterable[Action],
    invariants: Iterable[SystemInvariant],
    liveness: Iterable[SystemLiveness] = (),
    notes: Iterable[str] = (),
) -> SystemSpec:
    """A ``SystemSpec``; ``SpecError`` for two members, actions or properties of one name."""
    spec = SystemSpec(
        name=name,
        title=title,
        summary=summary,
        machines=tuple(machines),
        world=world,
        actions=tuple(actions),
        invariants=tuple(invariants),
        liveness=tuple(liveness),
        notes=tuple(notes),
    )
    for kind, names in (
        ("member", [m.name for m in spec.machines]),
        ("action", [a.name for a in spec.actions]),
        ("property", [i.id for i in spec.invariants] + [lv.id for lv in spec.liveness]),
    ):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"system {name}: {kind} {', '.join(twice)} declared twice")
    return spec
