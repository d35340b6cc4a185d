"""One seed of a simulation sweep (``blockfsm simulate --seeds N``), as a plain function of plain
data: a sweep runs its seeds in turn here, or hands them to workers through a queue
(``blockfsm.adapters.engines.work_queue``); each seed's entry is the same either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.engines.shrink import write_simulation_trace
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig, liveness
from blockfsm.adapters.engines.simtrace import TracedSimulation


def config_json(config: SimConfig) -> dict[str, Any]:
    return attrs.asdict(config)


def config_from_json(data: dict[str, Any]) -> SimConfig:
    fields = {f.name for f in attrs.fields(SimConfig)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
    return SimConfig(**values)


def run_seed(
    base: SimConfig, k: int, ticks: int, no_heal: bool, unsafe: bool, trace_dir: Path
) -> dict[str, Any]:
    """Run ``k``-th seed of the sweep from ``base``: seed ``base.seed + k``, the behaviour list
    started at ``k``, so the Byzantine nodes of a sweep take every behaviour in turn. The entry
    has the seed's verdicts and final heights, and ``acted``: the adversary's actions."""
    names = base.behaviours
    turn = k % len(names)
    config = attrs.evolve(base, seed=base.seed + k, behaviours=names[turn:] + names[:turn])
    sim = TracedSimulation(config)
    sim.checking = not unsafe
    entry: dict[str, Any] = {"seed": config.seed, "byzantine": list(config.behaviours[:1])}
    try:
        sim.run(ticks * config.tick_ms)
        result = {"verdict": "skipped"} if no_heal or unsafe else liveness(sim)
        entry["safety"] = "held" if not unsafe else "not checked"
    except SafetyViolation as error:
        written, _ = write_simulation_trace(sim, error, trace_dir)
        entry["safety"] = {"violated": error.invariant_id, "trace_file": str(written)}
        result = {"verdict": "not run"}
    entry["liveness"] = result["verdict"]
    entry["final_height"] = [n.chain.committed_height for n in sim.nodes]
    entry["byzantine_nodes"] = ", ".join(
        f"{n.index}: {n.behaviour}" for n in sim.nodes if not n.honest
    )
    entry["acted"] = {
        key[len("adversary:") :]: n
        for key, n in sorted(sim.counters.items())
        if key.startswith("adversary:")
    }
    return entry
