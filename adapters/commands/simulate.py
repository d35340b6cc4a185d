"""``blockfsm simulate``: one seeded cluster simulation, summarized.

The run is a chaos phase of ``--ticks`` ticks with the chosen faults, then (unless ``--no-heal``)
the VOPR-style heal and fair schedule that checks the liveness properties C-L1 and C-L2. The
cluster safety invariants are checked after every step throughout. The same options print the
same output, byte for byte (``--json``); a live progress line goes to a terminal's stderr.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from blockfsm.adapters.engines.sim import (
    ALL_BEHAVIOURS,
    BEHAVIOURS,
    EXTRA_FAULTS,
    FAULTS,
    SafetyViolation,
    SimConfig,
    liveness,
)
from blockfsm.adapters.engines.simtrace import TracedSimulation, write_simulation_trace
from blockfsm.adapters.engines.sweep import run_seed

CHUNK_TICKS = 20


def _faults(value: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in value.split(",") if x.strip())
    if value.strip() in ("none", ""):
        return ()
    known = FAULTS + EXTRA_FAULTS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(f"unknown fault {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def _behaviours(value: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in value.split(",") if x.strip())
    unknown = [n for n in names if n not in ALL_BEHAVIOURS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown behaviour {', '.join(unknown)}; known: {', '.join(ALL_BEHAVIOURS)}"
        )
    return names


@click.command()
@click.option("--nodes", type=click.IntRange(2, 64), default=4, show_default=True)
@click.option(
    "--byzantine",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help=f"Byzantine nodes, behaviours in turn: {', '.join(BEHAVIOURS)}.",
)
@click.option("--seed", type=click.IntRange(0, 2**32), default=0, show_default=True)
@click.option(
    "--ticks",
    type=click.IntRange(1, 10_000_000),
    default=400,
    show_default=True,
    help="Ticks of the chaos phase (one tick is 50 ms of simulated time).",
)
@click.option(
    "--faults",
    default=",".join(FAULTS),
    show_default=True,
    help="Comma-separated faults, or 'none'.",
)
@click.option(
    "--behaviours",
    default=",".join(BEHAVIOURS),
    show_default=True,
    help=f"Comma-separated behaviours the Byzantine nodes take in turn; known: "
    f"{', '.join(ALL_BEHAVIOURS)}.",
)
@click.option(
    "--seeds",
    type=click.IntRange(1, 100_000),
    default=1,
    show_default=True,
    help="Run this many seeds, from --seed up; the Byzantine nodes' behaviours turn with the "
    "seed, so a sweep runs each behaviour in turn. Prints one line per seed and the totals.",
)
@click.option(
    "--queue",
    default=None,
    metavar="URL",
    help="With --seeds: put each seed on the work queue at redis://host:port/db and collect the "
    "results from `blockfsm worker --connect URL` processes on any machine (same output).",
)
@click.option("--ed25519", is_flag=True, help="Sign with Ed25519 instead of the stand-in signer.")
@click.option("--no-heal", is_flag=True, help="Skip the heal phase and the liveness check.")
@click.option("--conformant", is_flag=True, help="Run every honest node's parts under their specs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("traces"),
    show_default=True,
    help="Where a safety violation is written as an ITF trace (replay it with `blockfsm replay`).",
)
@click.option(
    "--allow-unsafe-byzantine",
    is_flag=True,
    help="Run even with a third or more Byzantine nodes (n <= 3f), where no safety claim holds: "
    "no invariant is checked and the verdict is 'unchecked'.",
)
def simulate(
    nodes: int,
    byzantine: int,
    seed: int,
    ticks: int,
    faults: str,
    behaviours: str,
    seeds: int,
    queue: str | None,
    ed25519: bool,
    no_heal: bool,
    conformant: bool,
    as_json: bool,
    trace_dir: Path,
    allow_unsafe_byzantine: bool,
) -> None:
    """Simulate a cluster of nodes under faults and report safety and liveness.

    Exit status: 0 safety and liveness held (or, with --allow-unsafe-byzantine and a third or
    more Byzantine nodes, the run ended with no invariant checked: verdict 'unchecked'), 1 a
    property was violated, 2 a bad option (among them a third or more Byzantine nodes without
    --allow-unsafe-byzantine).
    """
    if byzantine > nodes:
        raise click.UsageError("--byzantine cannot exceed --nodes")
    if queue is not None and seeds == 1:
        raise click.UsageError("--queue spreads a sweep: give --seeds 2 or more")
    unsafe = 3 * byzantine >= nodes
    if unsafe and not allow_unsafe_byzantine:
        raise click.UsageError(
            f"--byzantine {byzantine} of --nodes {nodes} is a third or more: no safety claim "
            "holds unless nodes > 3 * byzantine; use more nodes, fewer Byzantine ones, or "
            "--allow-unsafe-byzantine to run with no invariant checked"
        )
    config = SimConfig(
        nodes=nodes,
        byzantine=byzantine,
        seed=seed,
        faults=_faults(faults),
        behaviours=_behaviours(behaviours),
        ed25519=ed25519,
        conformant=conformant,
    )
    if seeds > 1:
        _sweep(config, seeds, ticks, no_heal, unsafe, as_json, trace_dir, queue)
        return
    sim = TracedSimulation(config)
    sim.checking = not unsafe
    summary: dict[str, Any]
    violation = None
    live = not as_json and sys.stderr.isatty()
    try:
        done = 0
        while done < ticks:
            n = min(CHUNK_TICKS, ticks - done)
            sim.run(n * config.tick_ms)
            done += n
            if live:
                heights = ",".join(str(n.chain.committed_height) for n in sim.nodes)
                click.echo(
                    f"\r{done}/{ticks} ticks  final heights {heights}  "
                    f"events {sim.counters['events']}",
                    err=True,
                    nl=False,
                )
        if live:
            click.echo("", err=True)
        if unsafe:
            result = {"verdict": "not checked"}
        else:
            result = {"verdict": "skipped"} if no_heal else liveness(sim)
    except SafetyViolation as error:
        violation = error
        result = {"verdict": "not run"}
    summary = sim.summary()
    summary["chaos_ticks"] = ticks
    summary["faults_enabled"] = list(config.faults)
    summary["signer"] = "ed25519" if ed25519 else "stand-in"
    summary["liveness"] = result
    if unsafe:
        summary["safety"] = "not checked"
    elif violation is None:
        summary["safety"] = "held"
    else:
        written = write_simulation_trace(sim, violation, trace_dir)
        summary["safety"] = {
            "violated": violation.invariant_id,
            "detail": str(violation),
            "trace_file": str(written)
            if written is not None
            else "not written: the run outgrew the recording bound; rerun it from its seed",
        }
    ok = violation is None and result["verdict"] in ("held", "skipped", "unrecoverable")
    summary["verdict"] = "ok" if ok else "failed"
    if unsafe:
        summary["verdict"] = "unchecked"
        summary["unchecked"] = (
            f"Byzantine nodes: {byzantine} of {nodes}, a third or more (n <= 3f): no safety or "
            "liveness claim holds, so no invariant was checked"
        )
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        for key in sorted(summary):
            click.echo(f"{key:>20}: {summary[key]}")
    sys.exit(0 if ok or unsafe else 1)


def _sweep(
    base: SimConfig,
    seeds: int,
    ticks: int,
    no_heal: bool,
    unsafe: bool,
    as_json: bool,
    trace_dir: Path,
    queue: str | None = None,
) -> None:
    """``seeds`` runs from ``base.seed`` up; run k starts the behaviour list at k, so the
    Byzantine nodes of a sweep take every behaviour in turn."""
    runs: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    acted: Counter[str] = Counter()
    if queue is not None:
        entries = _queued(queue, base, seeds, ticks, no_heal, unsafe, trace_dir)
    else:
        entries = (run_seed(base, k, ticks, no_heal, unsafe, trace_dir) for k in range(seeds))
    for entry in entries:
        acted.update(entry.pop("acted"))
        if not isinstance(entry["safety"], str):
            totals["safety violated"] += 1
        totals[f"liveness {entry['liveness']}"] += 1
        runs.append(entry)
        if not as_json:
            click.echo(
                f"seed {entry['seed']:>6}  byzantine {','.join(entry['byzantine']) or '-':<18}"
                f"  safety {entry['safety'] if isinstance(entry['safety'], str) else 'VIOLATED'}"
                f"  liveness {entry['liveness']:<13} final {entry['final_height']}"
            )
    ok = not totals["safety violated"] and not totals["liveness failed"]
    summary = {
        "seeds": seeds,
        "from_seed": base.seed,
        "chaos_ticks": ticks,
        "totals": dict(sorted(totals.items())),
        "adversary": dict(sorted(acted.items())),
        "verdict": "ok" if ok else "failed",
    }
    if as_json:
        summary["runs"] = runs
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        click.echo(f"totals: {summary['totals']}; adversary acted: {summary['adversary']}")
        click.echo(f"verdict: {summary['verdict']}")
    sys.exit(0 if ok or unsafe else 1)


def _queued(
    url: str, base: SimConfig, seeds: int, ticks: int, no_heal: bool, unsafe: bool, trace_dir: Path
) -> list[dict[str, Any]]:
    """The sweep's seeds run by queue workers, in seed order."""
    from blockfsm.adapters.engines.example_database import ServerError
    from blockfsm.adapters.engines.sweep import config_json
    from blockfsm.adapters.engines.work_queue import distribute
    from blockfsm.adapters.exits import InputError

    args = {"config": config_json(base), "ticks": ticks, "no_heal": no_heal, "unsafe": unsafe}
    items = [
        {"kind": "simulate", "k": k, **args, "trace_dir": str(trace_dir)} for k in range(seeds)
    ]
    try:
        return distribute(url, items, progress=_waiting if sys.stderr.isatty() else None)
    except ServerError as error:
        raise InputError(str(error)) from None


def _waiting(done: int, total: int) -> None:
    click.echo(f"\r{done}/{total} seeds back from the workers", err=True, nl=done == total)
