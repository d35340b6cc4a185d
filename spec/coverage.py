"""Coverage of a spec by a campaign: rows, guard outcomes and row pairs, and what is still missing.

Everything here is derived after a run from one count per step, ``Stats.taken``: the key (row
taken before it in the run, or None at the start; the control state; the row taken). The
conformance wrapper requires exactly one row of a (state, event) pair to match each step, so a
step that took row R in state S also saw the guard of every other row of (S, event) false; the
guard of R was seen true. For a classified guard that is the same as "each class was seen at each
(state, event) pair". A guard is only asked to be seen false where its pair has another row (a
lone guarded row whose guard is false would be a conformance failure, not a gap).

A gap is a row never taken, or a guard outcome never seen; row pairs are reported, not required
(most pairs of a large spec are unreachable in a row, and which are is not declared).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from blockfsm.spec.language import MachineSpec

Key = tuple[str | None, str, str]


@attrs.frozen(kw_only=True)
class GuardOutcome:
    """The guard of ``row`` at the pair (``state``, ``event``): how often seen true and false
    (``false`` is None where the pair has no other row, so the guard cannot be false)."""

    row: str
    state: str
    event: str
    guard: str
    true: int
    false: int | None

    @property
    def covered(self) -> bool:
        return self.true > 0 and (self.false is None or self.false > 0)


@attrs.frozen(kw_only=True)
class Coverage:
    """What one machine's campaign covered of its spec."""

    machine: str
    rows: tuple[tuple[str, int], ...]
    guards: tuple[GuardOutcome, ...]
    pairs: tuple[tuple[str | None, str, int], ...]
    """Consecutive rows of one run (None first: the run's first row), with how often."""

    def gaps(self) -> list[str]:
        """One line per uncovered row or guard outcome."""
        out = [f"{self.machine}: row {row} never taken" for row, n in self.rows if not n]
        for g in self.guards:
            if not g.true:
                out.append(
                    f"{self.machine}: guard of row {g.row} ({g.guard}) never true in "
                    f"({g.state}, {g.event})"
                )
            if g.false == 0:
                out.append(
                    f"{self.machine}: guard of row {g.row} ({g.guard}) never false in "
                    f"({g.state}, {g.event})"
                )
        return out

    def as_json(self) -> dict[str, object]:
        outcomes = [o for g in self.guards for o in (g.true, g.false) if o is not None]
        return {
            "rows": {
                "hit": sum(1 for _, n in self.rows if n),
                "declared": len(self.rows),
                "counts": dict(self.rows),
            },
            "guards": {
                "outcomes_seen": sum(1 for o in outcomes if o),
                "outcomes_declared": len(outcomes),
                "each": [
                    {
                        "row": g.row,
                        "state": g.state,
                        "event": g.event,
                        "guard": g.guard,
                        "true": g.true,
                        "false": g.false,
                    }
                    for g in self.guards
                ],
            },
            "row_pairs": {
                "distinct": len(self.pairs),
                "taken": [[first or "start", then, n] for first, then, n in self.pairs],
            },
            "gaps": self.gaps(),
        }


def coverage(spec: MachineSpec, taken: Mapping[Key, int]) -> Coverage:
    """The coverage of ``spec`` by the steps counted in ``taken`` (``Stats.taken``)."""
    rows: dict[str, int] = {r.id: 0 for r in spec.rows}
    at: dict[tuple[str, str], int] = {}
    pairs: dict[tuple[str | None, str], int] = {}
    for (before, state, row), n in taken.items():
        rows[row] = rows.get(row, 0) + n
        at[state, row] = at.get((state, row), 0) + n
        pairs[before, row] = pairs.get((before, row), 0) + n
    guards = []
    for state in spec.states:
        for event in spec.events:
            candidates = spec.rows_for(state, event)
            for r in candidates:
                if r.guard is None:
                    continue
                others = [o for o in candidates if o is not r]
                guards.append(
                    GuardOutcome(
                        row=r.id,
                        state=state,
                        event=event,
                        guard=r.guard.name,
                        true=at.get((state, r.id), 0),
                        false=sum(at.get((state, o.id), 0) for o in others) if others else None,
                    )
                )
    return Coverage(
        machine=spec.name,
        rows=tuple(rows.items()),
        guards=tuple(guards),
        pairs=tuple(
            (first, then, n)
            for (first, then), n in sorted(pairs.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
        ),
    )
