"""Structural checks of a machine spec that need no execution.

``problems(spec)`` returns a list of human-readable findings; an empty list means the spec is:

- **total**: every (control state, event type) pair has at least one row;
- **unambiguous on paper**: a pair with several rows has a guard on every one of them, and no two
  rows of a pair share a guard name (that guards are mutually exclusive *in fact* is checked over
  real states with Hypothesis, see ``blockfsm.spec.strategies.guards``);
- **connected**: every control state is reachable from the initial state through transition rows;
- **free of dead rows**: no row leaves from an unreachable state, and no row is an exact duplicate.
"""

from __future__ import annotations

from blockfsm.spec.language import MachineSpec, Row


def reachable_states(spec: MachineSpec) -> set[str]:
    seen = {spec.initial}
    frontier = [spec.initial]
    while frontier:
        state = frontier.pop()
        for r in spec.rows:
            if state not in r.sources:
                continue
            for target in r.targets:
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
    return seen


def problems(spec: MachineSpec) -> list[str]:
    found: list[str] = []
    for state in spec.states:
        for event in spec.events:
            rows = spec.rows_for(state, event)
            if not rows:
                found.append(f"not total: no row for ({state}, {event})")
                continue
            if len(rows) > 1:
                unguarded = [r.id for r in rows if r.guard is None]
                if unguarded:
                    found.append(
                        f"ambiguous: ({state}, {event}) has {len(rows)} rows and "
                        f"unguarded {', '.join(unguarded)}"
                    )
                names = [r.guard.name for r in rows if r.guard is not None]
                if len(set(names)) != len(names):
                    found.append(f"ambiguous: ({state}, {event}) repeats a guard name")
                found.extend(_classifier_problems(state, event, rows))
    reachable = reachable_states(spec)
    for state in spec.states:
        if state not in reachable:
            found.append(f"unreachable state: {state}")
    seen_rows: set[tuple[object, ...]] = set()
    for r in spec.rows:
        for source in r.sources:
            if source not in reachable:
                found.append(f"dead row {r.id}: leaves unreachable state {source}")
            key = (source, r.event, r.guard.name if r.guard else None)
            if key in seen_rows:
                found.append(f"dead row {r.id}: duplicates an earlier row")
            seen_rows.add(key)
    return found


def _classifier_problems(state: str, event: str, rows: tuple[Row, ...]) -> list[str]:
    """Guards of one (state, event) pair are exclusive by construction only when one classifier
    sorts the step's inputs for all of them (``classified``): rows whose guards come from two
    classifiers, or from a classifier and a plain predicate, may both match one step."""
    classifiers: list[object] = []
    for r in rows:
        if r.guard is not None and r.guard.classify is not None:
            if not any(r.guard.classify is c for c in classifiers):
                classifiers.append(r.guard.classify)
    plain = [r.id for r in rows if r.guard is not None and r.guard.classify is None]
    out = []
    if len(classifiers) > 1:
        names = sorted(getattr(c, "__name__", repr(c)) for c in classifiers)
        out.append(
            f"ambiguous: ({state}, {event}) has rows classified by {len(names)} classifiers "
            f"({', '.join(names)}), which can both match one step"
        )
    if classifiers and plain:
        out.append(
            f"ambiguous: ({state}, {event}) mixes classified rows with plain guards "
            f"({', '.join(plain)}), which can both match one step"
        )
    return out
