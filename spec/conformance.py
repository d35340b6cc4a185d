"""Conformance: every observed step of a machine must match exactly one row of its spec.

``Conformant`` wraps any machine. On each step it

1. finds the rows of the spec for (control state, event type) whose guard holds, and requires
   exactly one (the spec is total and its guards mutually exclusive, *in fact*, for these inputs);
2. runs the machine's own ``step``;
3. requires the new control state to be the row's target and the effect type names to match the
   row's effect pattern; an ``ignore`` or ``reject`` row must leave the state unchanged, and a
   ``reject`` row must emit one ``Rejected`` with the row's reason;
4. checks every safety invariant of the spec on the transition;
5. counts row coverage and invariant checks into a ``Stats`` shared with the campaign runner.

Coverage costs one dictionary update per step: the key (row before, control state, row) says
which row was taken, in which state, after which row. Every other figure is derived from it after
the run (``blockfsm.spec.coverage``): rows hit, guard outcomes (exactly one row matched, so every
other row of the pair saw its guard false), and row pairs.

The step function and the spec's guards are written separately, so a disagreement between them is
a real finding, not a tautology.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import attrs

from blockfsm.spec.language import Invariant, MachineSpec, Monitor, Row, Transition


class SteppableMachine(Protocol):
    """What ``Conformant`` runs: a name, a spec, ``initial`` and ``step`` (a ``MachineDef`` is
    one)."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> MachineSpec: ...

    @property
    def step(self) -> Callable[[Any, Any, Any, Any], Any]: ...


class ConformanceError(AssertionError):
    """A step did not match its spec (wrong row count, target or effects)."""

    def __init__(self, message: str, trace: list[str]) -> None:
        super().__init__(message + "\n" + format_trace(trace))
        self.trace = trace


class StepRaised(ConformanceError):
    """The step function raised. Machines are total, so in a conformance run this is a bug."""


class InvariantViolation(AssertionError):
    """A safety invariant (or a liveness property, when a campaign asserts one) failed."""

    def __init__(self, machine: str, invariant_id: str, statement: str, trace: list[str]) -> None:
        super().__init__(f"{machine} {invariant_id} violated: {statement}\n" + format_trace(trace))
        self.machine = machine
        self.invariant_id = invariant_id
        self.statement = statement
        self.trace = trace


def format_trace(trace: list[str]) -> str:
    return "\n".join(f"  {n:>3}. {line}" for n, line in enumerate(trace, start=1))


_BYTES = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")


def _short_bytes(match: re.Match[str]) -> str:
    literal = match.group(0)
    if len(literal) <= 20:
        return literal
    value: bytes = ast.literal_eval(literal)
    return f"<{value[:4].hex()}..{len(value)}B>"


def describe(obj: object, limit: int = 400) -> str:
    """A one-line repr for traces: long byte strings shortened, the whole capped at ``limit``."""
    text = _BYTES.sub(_short_bytes, repr(obj))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@attrs.define
class Stats:
    """Counts gathered across every run of one machine's campaign."""

    examples: Counter[str] = attrs.field(factory=Counter)
    steps: Counter[str] = attrs.field(factory=Counter)
    rows: Counter[str] = attrs.field(factory=Counter)
    runs: int = 0
    taken: dict[tuple[str | None, str, str], int] = attrs.field(factory=dict)
    """Per (row taken before in the run or None, control state, row): how many steps."""

    def reset(self) -> None:
        self.examples.clear()
        self.steps.clear()
        self.rows.clear()
        self.taken.clear()
        self.runs = 0


Observer = Callable[["Conformant", Row, Any, Any, Any, Any], None]
"""Called after each conforming step with (runner, row, before, event, view, after)."""


class Conformant:
    """A machine run under its spec. One instance per run (a Hypothesis example, a sim node).

    ``observers`` (class-wide, normally empty) see every conforming step; the oracle test uses
    them to record runs for replay.
    """

    observers: ClassVar[list[Observer]] = []

    def __init__(
        self,
        machine: SteppableMachine,
        config: Any,
        *,
        stats: Stats | None = None,
        check_invariants: bool = True,
        trace_limit: int = 10_000,
    ) -> None:
        self.machine = machine
        self.spec = machine.spec
        self.config = config
        self.stats = stats if stats is not None else Stats()
        # Steps are recorded raw and formatted only when a trace is read (on failure): the
        # formatting costs more than the step itself.
        # Only the last ``trace_limit`` steps are kept, so a long embedded run stays bounded.
        self._log: deque[tuple[Any, str, str | None, str | None, tuple[str, ...]]] = deque(
            maxlen=trace_limit
        )
        self._logged = 0
        self._step = machine.step
        self._checks: list[tuple[Invariant, Callable[[Transition], bool]]] = []
        if check_invariants:
            for inv in self.spec.invariants:
                if inv.check is not None:
                    self._checks.append((inv, inv.check))
                else:
                    assert inv.monitor is not None
                    monitor: Monitor = inv.monitor()
                    self._checks.append((inv, monitor.observe))
        self._checked_here: set[str] = set()
        self._previous: str | None = None
        self.fresh = 0.0
        """How rare this run's steps were: the sum, over its steps, of 1 / (how many steps of
        the runs counted in ``stats`` took the same key before, plus one). A key never taken
        before adds 1. What a campaign that steers maximizes (``blockfsm.spec.campaigns``)."""
        self.stats.runs += 1

    @property
    def trace(self) -> list[str]:
        """The run so far as readable lines: the config, then each event and what it did."""
        lines = [f"start {self.machine.name} with {describe(self.config, 1200)}"]
        omitted = self._logged - len(self._log)
        if omitted:
            lines.append(f"... {omitted} earlier steps not kept (trace_limit)")
        for event, before, after, row_id, effect_names in self._log:
            if row_id is None:
                lines.append(f"{describe(event)}  [in {before}]")
            else:
                lines.append(
                    f"{describe(event)}  [{before} -> {after} by {row_id}; effects: "
                    f"{', '.join(effect_names) or 'none'}]"
                )
        return lines

    def step(self, state: Any, event: Any, view: Any) -> Any:
        spec = self.spec
        matching = spec.matching_rows(self.config, state, event, view)
        event_name = type(event).__name__
        self._logged += 1
        if len(matching) != 1:
            self._log.append((event, state.control, None, None, ()))
            ids = ", ".join(r.id for r in matching) or "none"
            raise ConformanceError(
                f"{spec.name}: ({state.control}, {event_name}) matched {len(matching)} rows "
                f"({ids}); exactly one must",
                self.trace,
            )
        row = matching[0]
        try:
            result = self._step(self.config, state, event, view)
        except (InvariantViolation, ConformanceError):
            # A verdict of a checker inside this step (a part of a composed machine that runs
            # under its own spec): it passes through as it is, not as a crash of this machine.
            self._log.append((event, state.control, None, None, ()))
            raise
        except Exception as error:
            self._log.append((event, state.control, None, None, ()))
            raise StepRaised(
                f"{spec.name}: step raised {type(error).__name__}: {error} (row {row.id} "
                "matched; a total machine answers bad input with a reject row)",
                self.trace,
            ) from error
        after, effects = result
        self._log.append(
            (event, state.control, after.control, row.id, tuple(type(e).__name__ for e in effects))
        )
        self._check_row(row, state, after, effects)
        row_id = row.id
        self.stats.rows[row_id] += 1
        key = (self._previous, state.control, row_id)
        taken = self.stats.taken
        n = taken.get(key, 0)
        taken[key] = n + 1
        self.fresh += 1.0 / (n + 1)
        self._previous = row_id
        for observer in self.observers:
            observer(self, row, state, event, view, after)
        if self._checks:
            t = Transition(
                config=self.config,
                before=state,
                event=event,
                after=after,
                effects=effects,
                view=view,
            )
            for inv, check in self._checks:
                self.stats.steps[inv.id] += 1
                self._checked_here.add(inv.id)
                if not check(t):
                    raise InvariantViolation(spec.name, inv.id, inv.statement, self.trace)
        return result

    def _check_row(self, row: Row, before: Any, after: Any, effects: tuple[Any, ...]) -> None:
        problem = None
        targets = row.targets if row.kind == "transition" else (before.control,)
        if after.control not in targets:
            says = " or ".join(targets)
            problem = f"target is {after.control}, row {row.id} says {says}"
        elif not self.spec.effects_match(row, (type(e).__name__ for e in effects)):
            problem = f"effects do not match row {row.id}'s pattern {row.effects}"
        elif row.kind != "transition" and after != before:
            problem = f"row {row.id} is an {row.kind} row but the state changed"
        elif row.kind == "reject" and getattr(effects[0], "reason", None) != row.reason:
            problem = f"row {row.id} rejects for {row.reason!r}, step said {effects[0]!r}"
        if problem is not None:
            raise ConformanceError(f"{self.spec.name}: {problem}", self.trace)

    def fail(self, property_id: str, statement: str) -> InvariantViolation:
        """Build the violation a campaign raises when a liveness property fails."""
        return InvariantViolation(self.spec.name, property_id, statement, self.trace)

    def count(self, property_id: str) -> None:
        """Record that a campaign checked ``property_id`` (a liveness property) once."""
        self.stats.steps[property_id] += 1
        self._checked_here.add(property_id)

    def finish(self) -> None:
        """Close the run: each property checked at least once counts one example."""
        for pid in self._checked_here:
            self.stats.examples[pid] += 1
        self._checked_here.clear()
