"""``blockfsm replay TRACE``: run an ITF trace against the current code.

A machine trace (what ``blockfsm check`` writes for a counterexample) holds the machine's config,
the state it started from, and per step the event, the chain view the step read, and the state
and effects that followed. Replay feeds each recorded event and view to the current ``step``
under the ``Conformant`` wrapper (so every spec row and safety invariant is checked again) and
compares the new state and effects with the recorded ones, by their canonical ITF encoding.

The verdict is the first thing that happens:

- ``reproduces``: the recorded violation happens again, at the same step, for the same property
  (exit status 1);
- ``fails``: a property fails that the trace did not record there (exit status 3: the code now
  behaves differently);
- ``diverges``: the state or the effects of some step differ from the recording, or the recorded
  violation no longer happens (exit status 3); the report names the step and the paths that
  differ;
- ``matches``: every step did what the trace records and nothing failed (exit status 0).

A file that is not a trace (unreadable, not JSON, not ITF, a kind replay does not know, or states
cut off: fewer than its ``#meta.length`` says) is refused with one line and exit status 4.

An exploration trace (``#meta.kind == "system"``, written by ``blockfsm explore``) is replayed by
its system's own step function; see ``blockfsm.adapters.engines.explore``. A simulation trace
(``#meta.kind == "simulation"``, written by ``blockfsm simulate``) is replayed node by node through
the simulator's step path; see ``blockfsm.adapters.engines.simtrace``. A model trace
(``#meta.kind == "model"``, written by the consensus model-based test) holds one attester's events
and the Quint model's view of it after each step: the verdict is ``diverges`` at the first step
where the code is not where the model is, ``matches`` otherwise; see
``blockfsm.adapters.engines.modeltrace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blockfsm.adapters.engines.itf import (
    ITFError,
    MachineTrace,
    load,
    read_machine_trace,
    violated_property,
)
from blockfsm.adapters.engines.results import ReplayResult, differences
from blockfsm.adapters.exits import (
    EXIT_DIFFERS,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_VIOLATION,
)

EXIT_MATCHES = EXIT_OK
EXIT_REPRODUCES = EXIT_VIOLATION
EXIT_DIVERGES = EXIT_DIFFERS
EXIT_NOT_A_TRACE = EXIT_INPUT


def machines() -> dict[str, Any]:
    """Every declared ``MachineDef`` (``blockfsm.adapters.engines.registry``), by name."""
    from blockfsm.adapters.engines.registry import machines as declared

    return declared()


def replay_machine(trace: MachineTrace) -> ReplayResult:
    from blockfsm.spec.conformance import ConformanceError, Conformant, InvariantViolation

    known = machines()
    machine = known.get(trace.machine)
    if machine is None:
        raise ITFError(f"unknown machine {trace.machine!r}; known: {', '.join(sorted(known))}")
    runner = Conformant(machine, trace.config)
    recorded = trace.violation
    total = len(trace.steps)
    state = trace.initial
    for index, step in enumerate(trace.steps, start=1):
        try:
            after, effects = runner.step(state, step.event, step.view)
        except (ConformanceError, InvariantViolation) as error:
            prop = violated_property(error)
            message = str(error).splitlines()[0]
            if recorded is not None and recorded.get("step") == index:
                if recorded.get("property") == prop:
                    return ReplayResult(
                        verdict="reproduces",
                        steps=total,
                        replayed=index,
                        step=index,
                        detail=f"{prop} fails again at step {index}: {message}",
                    )
            return ReplayResult(
                verdict="fails",
                steps=total,
                replayed=index,
                step=index,
                detail=f"{prop} fails at step {index} (recorded: {_recorded(recorded)}): {message}",
            )
        if step.raised is not None:
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=index,
                step=index,
                detail=f"step {index} raised when recorded ({step.raised}); now it returns",
            )
        found = differences("state", step.state, after)
        found += differences("effects", list(step.effects), list(effects))
        if found:
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=index,
                step=index,
                detail=f"step {index} ({type(step.event).__name__}) differs from the recording",
                differences=tuple(found),
            )
        state = after
    if recorded is not None and recorded.get("step", 0) <= total:
        return ReplayResult(
            verdict="diverges",
            steps=total,
            replayed=total,
            step=recorded.get("step"),
            detail=f"recorded {_recorded(recorded)}, but every step now passes its checks",
        )
    detail = f"all {total} steps match the recording"
    if recorded is not None:
        detail += (
            f"; the recorded {recorded.get('property')} failure came after the last step "
            "(a campaign-level liveness check, not a step: rerun the campaign to check it)"
        )
    return ReplayResult(verdict="matches", steps=total, replayed=total, detail=detail)


def _recorded(recorded: dict[str, Any] | None) -> str:
    if recorded is None:
        return "no violation"
    return f"{recorded.get('property')} at step {recorded.get('step')}"


def check_document(document: dict[str, Any]) -> None:
    """``ITFError`` unless ``document`` has the shape of a trace and every state it was written
    with: a trace whose states were cut off would otherwise replay as a shorter run."""
    meta = document.get("#meta", {})
    if not isinstance(meta, dict):
        raise ITFError("#meta is not an object")
    states = document.get("states")
    if not isinstance(states, list) or not all(isinstance(s, dict) for s in states):
        raise ITFError("states is not a list of objects")
    if meta.get("kind") not in ("machine", "system", "simulation", "model"):
        return  # refused by kind, with the kinds replay knows
    length = meta.get("length")
    if type(length) is not int:
        raise ITFError(
            "the trace has no #meta.length, so states cut off cannot be told from a shorter run"
        )
    if len(states) != length:
        raise ITFError(
            f"the trace's states were cut off: #meta.length is {length}, the file holds "
            f"{len(states)}"
        )
    for position, state in enumerate(states):
        index = state.get("#meta", {}).get("index", position)
        if index != position:
            raise ITFError(
                f"the trace's states are not in order: state {position} has index {index}"
            )


def replay_document(document: dict[str, Any]) -> ReplayResult:
    check_document(document)
    kind = document.get("#meta", {}).get("kind")
    if kind == "machine":
        return replay_machine(read_machine_trace(document))
    if kind == "system":
        from blockfsm.adapters.engines.explore import replay_system

        return replay_system(document)
    if kind == "simulation":
        from blockfsm.adapters.engines.simtrace import replay_simulation

        return replay_simulation(document)
    if kind == "model":
        from blockfsm.adapters.engines.modeltrace import replay_model

        return replay_model(document)
    raise ITFError(
        f"cannot replay a trace of kind {kind!r} (expected 'machine', 'system', 'simulation' "
        "or 'model')"
    )


def replay_path(path: Path) -> ReplayResult:
    return replay_document(load(path))
