"""Systems by name, exploration traces (ITF, ``#meta.kind == "system"``) and their replay, and a
machine step checked under its spec, which every system's step function uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import (
    StepViolation,
    System,
    Violation,
    describe_action,
    successor,
)
from blockfsm.adapters.engines.results import ReplayResult, differences

# --- system traces -------------------------------------------------------------------------------

SYSTEM_VARS = ["system", "action", "mbt::actionTaken"]


def system_document(system: System, violation: Violation) -> dict[str, Any]:
    """The shortest path to ``violation`` as an ITF trace: the system state after each action."""
    state = system.initial()
    states: list[dict[str, Any]] = [
        {
            "#meta": {"index": 0},
            "system": itf.encode(state),
            "action": itf.encode(None),
            "mbt::actionTaken": "init",
        }
    ]
    for index, action in enumerate(violation.actions, start=1):
        try:
            state = system.step(state, action)
            encoded = itf.encode(state)
            meta: dict[str, Any] = {"index": index}
        except StepViolation as error:
            encoded = itf.encode(state)
            meta = {"index": index, "raised": str(error).splitlines()[0]}
        states.append(
            {
                "#meta": meta,
                "system": encoded,
                "action": itf.encode(action),
                "mbt::actionTaken": str(action[0] if isinstance(action, tuple) else action),
            }
        )
    return {
        "#meta": {
            "format": "ITF",
            "format-description": itf.FORMAT_DESCRIPTION,
            "source": "blockfsm explore",
            "kind": "system",
            "length": len(states),
            "system": system.name,
            "parameters": itf.encode(dict(system.parameters)),
            "violation": {
                "property": violation.property_id,
                "message": violation.message.splitlines()[0],
                "step": len(violation.actions),
            },
            "description": (
                f"shortest path ({len(violation.actions)} actions) from the initial state of "
                f"{system.name} to a state that breaks {violation.property_id}"
            ),
        },
        "vars": SYSTEM_VARS,
        "states": states,
    }


def replay_system(document: dict[str, Any]) -> ReplayResult:
    """Replay an exploration trace: each recorded action through the current step functions."""
    meta = document["#meta"]
    from blockfsm.adapters.engines.registry import systems

    known = systems()
    factory = known.get(meta.get("system"))
    if factory is None:
        raise itf.ITFError(
            f"unknown system {meta.get('system')!r}; known: {', '.join(sorted(known))} (a system "
            "of your own: declare its module, or name it with --module)"
        )
    system = factory(**itf.decode(meta["parameters"], strict=True))
    recorded = meta.get("violation")
    raw_states = document["states"]
    total = len(raw_states) - 1
    state = system.initial()
    first = itf.decode(raw_states[0]["system"], strict=True)
    if itf.canonical(first) != itf.canonical(state):
        return ReplayResult(
            verdict="diverges",
            steps=total,
            replayed=0,
            step=0,
            detail="the initial state differs from the recording",
            differences=tuple(differences("system", first, state)),
        )
    for index, raw in enumerate(raw_states[1:], start=1):
        action = itf.decode(raw["action"], strict=True)
        after, found = successor(system, state, action)
        if found is not None:
            same = recorded is not None and recorded.get("step") == index
            return ReplayResult(
                verdict="reproduces" if same and recorded.get("property") == found[0] else "fails",
                steps=total,
                replayed=index,
                step=index,
                detail=f"{found[0]} fails at step {index}: {found[2].splitlines()[0]}",
            )
        expected = itf.decode(raw["system"], strict=True)
        if itf.canonical(expected) != itf.canonical(after):
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=index,
                step=index,
                detail=f"step {index} ({describe_action(action)}) differs from the recording",
                differences=tuple(differences("system", expected, after)),
            )
        state = after
    if recorded is not None:
        return ReplayResult(
            verdict="diverges",
            steps=total,
            replayed=total,
            step=recorded.get("step"),
            detail=f"recorded {recorded.get('property')} at step {recorded.get('step')}, "
            "but every step now passes its checks",
        )
    return ReplayResult(
        verdict="matches", steps=total, replayed=total, detail=f"all {total} steps match"
    )


SYSTEMS: dict[str, Callable[..., System]] = {}
"""blockfsm's own system factories by name (each takes its parameters as keywords), declared
through the ``blockfsm.machines`` entry point group like any other (``blockfsm.adapters.engines.
explore`` exposes them); the engines find every system with ``registry.systems()``."""


def register(name: str) -> Callable[[Callable[..., System]], Callable[..., System]]:
    def add(factory: Callable[..., System]) -> Callable[..., System]:
        SYSTEMS[name] = factory
        return factory

    return add


# --- checked machine steps -----------------------------------------------------------------------


def checked_step(
    machine: Any,
    config: Any,
    state: Any,
    event: Any,
    view: Any,
    runners: dict[int, Any] | None = None,
) -> Any:
    """One machine step under its spec: exactly one row, its target and effects, and every
    per-step safety invariant. (Invariants kept by a monitor need the run's history, which is not
    part of an explored state: campaigns and replay check those.)

    ``runners``, when given, keeps the conformance runner of each config (by ``id``, the config
    held beside it) for the next step: a runner without invariants keeps nothing between steps
    that decides anything, only counts and the last step of its trace."""
    from blockfsm.spec.conformance import ConformanceError, Conformant, StepRaised
    from blockfsm.spec.language import Transition

    if runners is None:
        runner = Conformant(machine, config, check_invariants=False)
    else:
        kept = runners.get(id(config))
        if kept is None or kept.config is not config or kept.machine is not machine:
            kept = runners[id(config)] = Conformant(
                machine, config, check_invariants=False, trace_limit=1
            )
        runner = kept
    try:
        after, effects = runner.step(state, event, view)
    except ConformanceError as error:
        kind = "crash" if isinstance(error, StepRaised) else "conformance"
        raise StepViolation(kind, str(error).splitlines()[0]) from None
    transition = Transition(
        config=config, before=state, event=event, after=after, effects=effects, view=view
    )
    for inv in machine.spec.invariants:
        if inv.check is not None and not inv.check(transition):
            raise StepViolation(inv.id, f"{machine.name} {inv.id} violated: {inv.statement}")
    return after, effects
