"""The spec language: a machine declared as data.

A machine spec lists its control states, the event and effect types it speaks (by class name, so a
harness in another language can read the same spec), and transition rows
``(source, event type, guard, target, effect pattern)``. Rows are of three kinds:

- ``transition``: the step moves to ``target`` (possibly the same state) and emits effects whose
  type names match ``effects``;
- ``ignore``: the step changes nothing and emits nothing;
- ``reject``: the step changes nothing and emits exactly one ``Rejected`` effect whose ``reason`` is
  the row's ``reason`` (a counted rejection).

An effect pattern is a tuple of effect type names, each optionally suffixed with ``*`` (zero or
more), ``+`` (one or more) or ``?`` (zero or one); the observed effect names must match it in order.

Guards, invariants and liveness progress predicates are plain predicates over the machine's own
objects; this module never imports the machine, so the dependency runs one way: machine -> spec.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    from blockfsm.machine.core import Step

Predicate = Callable[[Any, Any, Any, Any], bool]
"""A guard predicate over ``(config, state, event, view)``."""

T = TypeVar("T")
Predicate4 = Callable[[Any, Any, Any, Any], T]
"""A function of a step's inputs ``(config, state, event, view)``."""

RowKind = Literal["transition", "ignore", "reject"]


class SpecError(ValueError):
    """A spec declaration is malformed (raised at import time, never from a step)."""


@attrs.frozen(kw_only=True)
class Guard:
    """A named condition on a row; ``text`` is what the docs show.

    A guard built by ``classified`` also carries its classification function and class, so a
    checker can classify a step's inputs once and compare the class with every candidate row,
    instead of running the rule once per row (``MachineSpec.matching_rows`` does).
    """

    name: str
    text: str
    holds: Predicate = attrs.field(eq=False, hash=False, repr=False)
    classify: Predicate4[str] | None = attrs.field(default=None, eq=False, hash=False, repr=False)
    kind: str = attrs.field(default="", eq=False, hash=False, repr=False)


def classified(classify: Predicate4[str], kind: str, text: str) -> Guard:
    """The guard "``classify`` puts this step's inputs in class ``kind``".

    Every spec states each rule once, as a function that sorts a step's inputs
    ``(config, state, event, view)`` into named classes; each row of a (state, event) pair takes
    one class. Guards built this way are mutually exclusive by construction, and the function is
    the one place a reader looks for the rule.
    """
    return Guard(
        name=kind,
        text=text,
        holds=lambda c, s, e, v: classify(c, s, e, v) == kind,
        classify=classify,
        kind=kind,
    )


@attrs.frozen(kw_only=True)
class Row:
    id: str
    source: str
    event: str
    target: str
    guard: Guard | None = None
    effects: tuple[str, ...] = ()
    kind: RowKind = "transition"
    reason: str | None = None
    note: str = ""
    also: tuple[str, ...] = ()
    """Other control states the step may end in besides ``target`` (a transition row of a
    machine whose next state depends on more than its guard can say: the attester, whose step
    after an event depends on the votes in hand). ``target`` is the one the diagram draws."""

    also_from: tuple[str, ...] = ()
    """Other control states the row applies in besides ``source``, alike for this event and
    guard (an ignore or reject row; the row stays in the state it was taken in)."""

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.target, *self.also)

    @property
    def sources(self) -> tuple[str, ...]:
        return (self.source, *self.also_from)


@attrs.frozen(kw_only=True)
class Transition:
    """One observed step, as seen by invariants: the inputs, the new state and the effects."""

    config: Any
    before: Any
    event: Any
    after: Any
    effects: tuple[Any, ...]
    view: Any


class Monitor(Protocol):
    """A safety check that needs history: fed every transition of one run, in order."""

    def observe(self, t: Transition) -> bool: ...


@attrs.frozen(kw_only=True)
class Invariant:
    """A safety invariant, checked after every step.

    Exactly one of ``check`` (a predicate over one transition) and ``monitor`` (a factory of a
    history-keeping ``Monitor``, one per run) is given. ``catches`` names the upstream bug or the
    failure mode the invariant exists to catch.
    """

    id: str
    statement: str
    check: Callable[[Transition], bool] | None = attrs.field(
        default=None, eq=False, hash=False, repr=False
    )
    monitor: Callable[[], Monitor] | None = attrs.field(
        default=None, eq=False, hash=False, repr=False
    )
    catches: str = ""


@attrs.frozen(kw_only=True)
class Liveness:
    """A liveness property: under ``fairness``, ``statement`` holds within ``bound``.

    Liveness is checked the way TigerBeetle's VOPR checks it: chaos, then heal, then a fair
    schedule of at most ``bound_ticks`` ticks, then the progress assertion. The campaign that
    drives the machine evaluates it and reports it under this ``id``.
    """

    id: str
    statement: str
    fairness: str
    bound: str
    bound_ticks: int
    catches: str = ""


@attrs.frozen(kw_only=True)
class MachineSpec:
    name: str
    title: str
    summary: str
    states: tuple[str, ...]
    initial: str
    events: tuple[str, ...]
    effects: tuple[str, ...]
    rows: tuple[Row, ...]
    invariants: tuple[Invariant, ...]
    liveness: tuple[Liveness, ...] = ()
    notes: tuple[str, ...] = ()
    _index: dict[tuple[str, str], tuple[Row, ...]] = attrs.field(
        init=False, eq=False, hash=False, repr=False
    )
    _patterns: dict[str, re.Pattern[str]] = attrs.field(
        init=False, eq=False, hash=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        index: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows:
            for source in row.sources:
                index.setdefault((source, row.event), []).append(row)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})
        object.__setattr__(
            self, "_patterns", {row.id: compile_effect_pattern(row.effects) for row in self.rows}
        )

    def rows_for(self, state: str, event: str) -> tuple[Row, ...]:
        return self._index.get((state, event), ())

    def row(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise KeyError(row_id)

    def matching_rows(self, config: Any, state: Any, event: Any, view: Any) -> list[Row]:
        """Every row whose source, event type and guard hold for this step's inputs.

        Every row of the pair is tested, so a step that matches two rows is still seen; but a
        classification function shared by several rows runs once per step, not once per row
        (a response's classification verifies signatures: per row it multiplied that cost).
        """
        rows = self.rows_for(state.control, type(event).__name__)
        found: list[Row] = []
        classes: dict[Predicate4[str], str] = {}
        for r in rows:
            guard = r.guard
            if guard is None:
                found.append(r)
                continue
            classify = guard.classify
            if classify is None:
                if guard.holds(config, state, event, view):
                    found.append(r)
                continue
            kind = classes.get(classify)
            if kind is None:
                kind = classify(config, state, event, view)
                classes[classify] = kind
            if kind == guard.kind:
                found.append(r)
        return found

    def effects_match(self, row: Row, effect_names: Iterable[str]) -> bool:
        observed = "".join(name + ";" for name in effect_names)
        return self._patterns[row.id].fullmatch(observed) is not None

    def invariant(self, invariant_id: str) -> Invariant:
        for inv in self.invariants:
            if inv.id == invariant_id:
                return inv
        raise KeyError(invariant_id)


_QUANTIFIERS = {"*", "+", "?"}


def compile_effect_pattern(pattern: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for item in pattern:
        quant = item[-1] if item and item[-1] in _QUANTIFIERS else ""
        name = item[:-1] if quant else item
        if not name.isidentifier():
            raise SpecError(f"bad effect name in pattern: {item!r}")
        parts.append(f"(?:{re.escape(name)};){quant}")
    return re.compile("".join(parts))


def effect_names(pattern: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(item.rstrip("*+?") for item in pattern)


def define_machine(
    *,
    name: str,
    title: str,
    summary: str,
    states: Iterable[str],
    initial: str,
    events: Iterable[str],
    effects: Iterable[str],
    rows: Iterable[RowDraft],
    invariants: Iterable[Invariant],
    liveness: Iterable[Liveness] = (),
    notes: Iterable[str] = (),
    row_prefix: str = "R",
) -> MachineSpec:
    """Build a spec, numbering rows in order (``R1``, ``R2``, ...) and validating references."""
    states_t = tuple(states)
    events_t = tuple(events)
    effects_t = tuple(effects)
    numbered = tuple(draft.build(f"{row_prefix}{n}") for n, draft in enumerate(rows, start=1))
    spec = MachineSpec(
        name=name,
        title=title,
        summary=summary,
        states=states_t,
        initial=initial,
        events=events_t,
        effects=effects_t,
        rows=numbered,
        invariants=tuple(invariants),
        liveness=tuple(liveness),
        notes=tuple(notes),
    )
    _validate_references(spec)
    return spec


@attrs.frozen(kw_only=True)
class RowDraft:
    """A row before it is numbered; see ``row``, ``ignore`` and ``reject``."""

    source: str
    event: str
    target: str
    guard: Guard | None
    effects: tuple[str, ...]
    kind: RowKind
    reason: str | None
    note: str
    also: tuple[str, ...] = ()
    also_from: tuple[str, ...] = ()

    def build(self, row_id: str) -> Row:
        return Row(
            id=row_id,
            source=self.source,
            event=self.event,
            target=self.target,
            guard=self.guard,
            effects=self.effects,
            kind=self.kind,
            reason=self.reason,
            note=self.note,
            also=self.also,
            also_from=self.also_from,
        )


def row(
    source: str,
    event: str,
    target: str,
    *,
    guard: Guard | None = None,
    effects: tuple[str, ...] = (),
    note: str = "",
    also: tuple[str, ...] = (),
) -> RowDraft:
    """A transition row: to ``target``, or, where ``also`` names others, to one of them."""
    return RowDraft(
        source=source,
        event=event,
        target=target,
        guard=guard,
        effects=effects,
        kind="transition",
        reason=None,
        note=note,
        also=tuple(t for t in also if t != target),
    )


def ignore(
    source: str | tuple[str, ...],
    event: str,
    *,
    guard: Guard | None = None,
    note: str = "",
) -> RowDraft:
    """An ignore row; ``source`` may name several states, in each of which it applies alike."""
    first, *rest = (source,) if isinstance(source, str) else source
    return RowDraft(
        source=first,
        event=event,
        target=first,
        guard=guard,
        effects=(),
        kind="ignore",
        reason=None,
        note=note,
        also_from=tuple(rest),
    )


def reject(
    source: str | tuple[str, ...],
    event: str,
    reason: str,
    *,
    guard: Guard | None = None,
    note: str = "",
) -> RowDraft:
    """A reject row; ``source`` may name several states, in each of which it applies alike."""
    first, *rest = (source,) if isinstance(source, str) else source
    return RowDraft(
        source=first,
        event=event,
        target=first,
        guard=guard,
        effects=("Rejected",),
        kind="reject",
        reason=reason,
        note=note,
        also_from=tuple(rest),
    )


def _validate_references(spec: MachineSpec) -> None:
    if spec.initial not in spec.states:
        raise SpecError(f"{spec.name}: initial state {spec.initial!r} is not declared")
    if len(set(spec.states)) != len(spec.states):
        raise SpecError(f"{spec.name}: duplicate control state")
    ids = [inv.id for inv in spec.invariants] + [lv.id for lv in spec.liveness]
    if len(set(ids)) != len(ids):
        raise SpecError(f"{spec.name}: duplicate invariant or liveness id")
    for inv in spec.invariants:
        if (inv.check is None) == (inv.monitor is None):
            raise SpecError(f"{spec.name}: {inv.id} needs exactly one of check and monitor")
    for r in spec.rows:
        if any(x not in spec.states for x in (*r.sources, *r.targets)):
            raise SpecError(f"{spec.name} {r.id}: unknown state in {r.sources} -> {r.targets}")
        if r.also_from and r.kind == "transition":
            raise SpecError(f"{spec.name} {r.id}: a transition row has one source")
        if r.event not in spec.events:
            raise SpecError(f"{spec.name} {r.id}: undeclared event {r.event!r}")
        for name in effect_names(r.effects):
            if name not in spec.effects:
                raise SpecError(f"{spec.name} {r.id}: undeclared effect {name!r}")
        if r.kind == "reject" and not r.reason:
            raise SpecError(f"{spec.name} {r.id}: a reject row needs a reason")


C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")
V = TypeVar("V")


@attrs.frozen(kw_only=True)
class MachineDef(Generic[C, S, E, V]):
    """A machine as the runners see it: its spec, how to start it, and its step function.

    The machine module owns ``initial`` and ``step``; the spec names the machine it specifies
    (``blockfsm.spec.machines`` pairs the built-in ones), so ``blockfsm.machine`` imports nothing
    from ``blockfsm.spec``."""

    name: str
    spec: MachineSpec
    initial: Callable[[C], S] = attrs.field(eq=False, repr=False)
    step: Callable[[C, S, E, V], Step] = attrs.field(eq=False, repr=False)
