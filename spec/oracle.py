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
            transitions=[_transition(r) for r in spec.rows],
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )

    @property
    def state(self) -> str:
        return self.model.state

    def fire(self, config: Any, state: Any, event: Any, view: Any) -> str:
        """Trigger the event's type with the step's inputs; return the oracle's new state."""
        self.model.trigger(  # type: ignore[attr-defined]
            type(event).__name__, inputs=(config, state, event, view)
        )
        return self.model.state


def _transition(r: Row) -> dict[str, Any]:
    guard = r.guard

    def condition(event_data: EventData) -> bool:
        if guard is None:
            return True
        config, state, event, view = event_data.kwargs["inputs"]
        return guard.holds(config, state, event, view)

    return {
        "trigger": r.event,
        "source": r.source,
        "dest": r.target,
        "conditions": [condition],
    }


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
