"""The ``transitions`` library as a second reading of a spec: diagrams and a replay oracle.

``build_oracle(spec)`` turns the rows into a ``transitions`` machine whose conditions are the
spec's guards. Replaying an observed run through it (``Oracle.fire``) must land in the same control
states the machine reported; a test does this for every campaign. ``mermaid(spec)`` renders the
state diagram through the same library, so the picture in docs/ is drawn from the rows themselves.
"""

from __future__ import annotations

from typing import Any

from transitions import EventData, Machine
from transitions.extensions import GraphMachine

from blockfsm.spec.language import MachineSpec, Row


class _Model:
    state: str


class Oracle:
    """A ``transitions`` machine built from a spec; fire events, read ``state``."""

    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self.model = _Model()
        self.machine = Machine(
            model=self.model,
            states=list(spec.states),
            initial=spec.initial,
            transitions=[t for r in spec.rows for t in _transitions(r)],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )

    @property
    def state(self) -> str:
        return self.model.state

    def fire(
        self, config: Any, state: Any, event: Any, view: Any, reported: str | None = None
    ) -> str:
        """Trigger the event's type with the step's inputs; return the oracle's new state.
        ``reported`` is the control state the step reported: a row with several targets moves
        the oracle there, and only there, if it is one of them."""
        self.model.trigger(  # type: ignore[attr-defined]
            type(event).__name__, inputs=(config, state, event, view), reported=reported
        )
        return self.model.state


def _transitions(r: Row) -> list[dict[str, Any]]:
    """One ``transitions`` transition per target of the row. A row with several targets (``also``)
    cannot say which the step takes: each of its transitions also asks that the step reported
    that target (``fire(..., reported=...)``), so the oracle still refuses any other."""
    guard = r.guard

    def condition_to(dest: str) -> Any:
        def condition(event_data: EventData) -> bool:
            config, state, event, view = event_data.kwargs["inputs"]
            if r.also and event_data.kwargs.get("reported") != dest:
                return False
            return guard is None or guard.holds(config, state, event, view)

        return condition

    if r.kind != "transition":  # it stays where it was taken, in each of its sources
        return [
            {"trigger": r.event, "source": src, "dest": src, "conditions": [condition_to(src)]}
            for src in r.sources
        ]
    return [
        {"trigger": r.event, "source": r.source, "dest": dest, "conditions": [condition_to(dest)]}
        for dest in r.targets
    ]


def mermaid(spec: MachineSpec) -> str:
    """The Mermaid state diagram of the transition rows (ignore and reject rows are in the table,
    not the picture, where they would only add self-loops)."""
    model = _Model()
    labels: dict[tuple[str, str, str], list[str]] = {}
    for r in spec.rows:
        if r.kind != "transition":
            continue
        # A colon ends a Mermaid transition label, so class names like "due:broadcast" are
        # drawn as "due/broadcast".
        label = r.guard.name.replace(":", "/") if r.guard else ""
        labels.setdefault((r.source, r.event, r.target), []).append(label)
    transitions = []
    for (source, event, target), guards in labels.items():
        named = [g for g in guards if g]
        trigger = event if not named else f"{event} [{' or '.join(named)}]"
        transitions.append({"trigger": trigger, "source": source, "dest": target})
    machine = GraphMachine(
        model=model,
        states=list(spec.states),
        initial=spec.initial,
        transitions=transitions,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=False,
        title=spec.title,
    )
    graph = machine.get_graph()
    text: str = graph.draw(None)
    # Drop the styling lines that mark the "current" state: a spec has no current state.
    lines = [
        line for line in text.splitlines() if not line.strip().startswith(("classDef ", "Class "))
    ]
    # Mermaid's front matter is YAML: the title needs its key to be shown as a title.
    if len(lines) > 2 and lines[0] == "---" and lines[2] == "---" and ":" not in lines[1]:
        lines[1] = f"title: {lines[1].strip()}"
    return "\n".join(line.rstrip() for line in lines if line.strip()) + "\n"
