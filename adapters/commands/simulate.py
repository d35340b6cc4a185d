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

from blockfsm.adapters.commands.cli import module_option, use_modules
from blockfsm.adapters.engines.shrink import shrink_figures, write_simulation_trace
from blockfsm.adapters.engines.sim import (
    ALL_BEHAVIOURS,
    BEHAVIOURS,
    EXTRA_FAULTS,
    FAULTS,
    SafetyViolation,
    SimConfig,
    liveness,
)
from blockfsm.adapters.engines.simtrace import TracedSimulation
from blockfsm.adapters.engines.sweep import run_seed
from blockfsm.adapters.exits import InputError, describe

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
    "--html",
    "html_page",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With a safety violation, also write the (shrunk) trace's HTML view to this file "
    "(as `blockfsm view` does).",
)
@click.option(
    "--allow-unsafe-byzantine",
    is_flag=True,
    help="Run even with a third or more Byzantine nodes (n <= 3f), where no safety claim holds: "
    "no invariant is checked and the verdict is 'unchecked'.",
)
@click.option(
    "--system",
    "system_name",
    default=None,
    help="Simulate a declared explorer system instead of the cluster (e.g. one of your own): "
    "--ticks actions of seeded chaos, then heal, a fair schedule of --bound actions and its "
    "liveness properties.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --system: a parameter of the system's factory (repeatable).",
)
@click.option(
    "--bound",
    type=click.IntRange(0, 10_000_000),
    default=1_000,
    show_default=True,
    help="With --system: actions of the fair schedule after heal.",
)
@module_option
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
    html_page: Path | None,
    allow_unsafe_byzantine: bool,
    system_name: str | None,
    params: tuple[str, ...],
    bound: int,
    extra_modules: tuple[str, ...],
) -> None:
    """Simulate a cluster of nodes under faults and report safety and liveness.

    Exit status: 0 safety and liveness held (or, with --allow-unsafe-byzantine and a third or
    more Byzantine nodes, the run ended with no invariant checked: verdict 'unchecked'), 1 a
    property was violated, 2 a bad option (among them a third or more Byzantine nodes without
    --allow-unsafe-byzantine).
    """
    if system_name is not None:
        _simulate_system(
            system_name, params, extra_modules, seed, ticks, bound, not no_heal, as_json, trace_dir
        )
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
        written, shrunk = write_simulation_trace(sim, violation, trace_dir)
        summary["safety"] = {
            "violated": violation.invariant_id,
            "detail": str(violation),
            "trace_file": str(written)
            if written is not None
            else "not written: the run outgrew the recording bound; rerun it from its seed",
        }
        figures = shrink_figures(shrunk, written)
        if figures is not None:
            summary["safety"]["shrunk"] = figures
        if html_page is not None and written is not None:
            from blockfsm.adapters.engines.views import view_trace

            try:
                summary["safety"]["html"] = str(view_trace(written, html_page))
            except OSError as error:
                raise InputError(f"--html {html_page}: {describe(error)}") from None
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
        for line in summary_lines(summary, [n.behaviour for n in sim.nodes]):
            click.echo(line)
    sys.exit(0 if ok or unsafe else 1)


WIDTH = 80
"""The text report's width: it reads the same in a terminal, a pipe and a log."""
SWEEP_HEADER = (
    f"{'seed':>6}  {'Byzantine nodes':<24}  {'safety':<8}  {'liveness':<13}  final heights"
)


def _sweep_row(seed: int, byzantine: str, safety: str, entry: dict[str, Any]) -> str:
    """One run of a sweep: its seed, which nodes were Byzantine and how, the verdicts, and the
    final heights (their range when they do not fit in the line)."""
    head = f"{seed:>6}  {byzantine:<24}  {safety:<8}  {entry['liveness']:<13}  "
    heights = entry["final_height"]
    final = " ".join(str(h) for h in heights)
    if len(head) + len(final) > WIDTH:
        final = f"{min(heights)} to {max(heights)}"
    return head + final


def _wrapped(label: str, text: str) -> list[str]:
    """``label: text``, wrapped to ``WIDTH`` under the text's first column."""
    import textwrap

    head = f"{label:<11}"
    lines = textwrap.wrap(
        text,
        width=WIDTH,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_on_hyphens=False,
        break_long_words=False,
    ) or [head.rstrip()]
    return [line.replace(_KEEP, " ") for line in lines]


_KEEP = "\x00"
"""A space the wrapping keeps: between a name and its count."""


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}{_KEEP}{v:,}" for k, v in counts.items()) or "none"


def summary_lines(summary: dict[str, Any], behaviours: list[str | None]) -> list[str]:
    """The text report of one run: a table of the nodes (which are Byzantine, and how), then
    one labelled line per figure, every line at most ``WIDTH`` characters."""
    finals = summary["final_height"]
    byzantine = [i for i, b in enumerate(behaviours) if b is not None]
    lines = [
        f"simulation: {summary['nodes']} nodes ({len(byzantine)} Byzantine), seed "
        f"{summary['seed']}, {summary['chaos_ticks']:,} chaos ticks, "
        f"{summary['simulated_ms']:,} ms simulated",
        "",
        f"{'node':>4}  {'role':<28}  {'final height':>12}",
    ]
    for i, behaviour in enumerate(behaviours):
        role = "honest" if behaviour is None else f"Byzantine: {behaviour}"
        lines.append(f"{i:>4}  {role:<28}  {finals[i]:>12}")
    lines.append("")
    messages = summary["messages"]
    lines += _wrapped("messages", _counts(messages))
    lines += _wrapped("events", f"{summary['events']:,} node steps")
    lines += _wrapped("signer", summary["signer"])
    lines += _wrapped("faults", f"enabled: {', '.join(summary['faults_enabled']) or 'none'}")
    lines += _wrapped("", f"injected: {_counts(summary['faults'])}")
    acted = summary["adversary"]
    lines += _wrapped("adversary", f"acted: {_counts(acted)}" if byzantine else "none")
    checked = summary["invariants_checked"]
    lines += _wrapped(
        "checked", f"{_counts(checked)} (steps each cluster invariant was checked on)"
    )
    safety = summary["safety"]
    if isinstance(safety, dict):
        lines += _wrapped("safety", f"VIOLATED {safety['violated']}: {safety['detail']}")
        lines += _wrapped("", f"trace: {safety['trace_file']}")
        if "html" in safety:
            lines += _wrapped("", f"view: {safety['html']}")
        shrunk = safety.get("shrunk")
        if shrunk is not None:
            lines += _wrapped(
                "",
                f"shrunk from {shrunk['original_steps']:,} steps to {shrunk['steps']:,} in "
                f"{shrunk['candidates']:,} candidate runs; the run as found: "
                f"{shrunk['original_file']}",
            )
    else:
        lines += _wrapped("safety", str(safety))
    lines += _wrapped("liveness", _liveness(summary["liveness"]))
    if "unchecked" in summary:
        lines += _wrapped("unchecked", summary["unchecked"])
    lines += _wrapped("verdict", summary["verdict"])
    return lines


def _liveness(result: dict[str, Any]) -> str:
    verdict = result["verdict"]
    if verdict == "unrecoverable":
        return (
            "unrecoverable: after the chaos phase fewer than a quorum of honest nodes can run, "
            "so no protocol could progress; not checked (and not a failure)"
        )
    if verdict in ("skipped", "not run", "not checked"):
        return verdict
    c1 = (
        f"C-L1 {'held' if result['C-L1'] else 'FAILED'}"
        + (f" after {result['C-L1_ms']:,} ms" if result.get("C-L1_ms") is not None else "")
        + f" (bound {result['C-L1_bound_ms']:,} ms, round {result['top_round_at_heal']} at heal)"
    )
    c2 = f"C-L2 {'held' if result['C-L2'] else 'FAILED'}" + (
        f" after {result['C-L2_ms']:,} ms" if result.get("C-L2_ms") is not None else ""
    )
    return f"{verdict}: {c1}; {c2}"


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
    header_shown = False
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
            if not header_shown:
                click.echo(SWEEP_HEADER)
                header_shown = True
            safety = entry["safety"] if isinstance(entry["safety"], str) else "VIOLATED"
            byzantine = entry.get("byzantine_nodes") or "none"
            click.echo(_sweep_row(entry["seed"], byzantine, safety, entry))
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
        click.echo("")
        for line in _wrapped("totals", _counts(summary["totals"])):
            click.echo(line)
        for line in _wrapped("adversary", f"acted: {_counts(summary['adversary'])}"):
            click.echo(line)
        for line in _wrapped("verdict", summary["verdict"]):
            click.echo(line)
    sys.exit(0 if ok or unsafe else 1)


def _simulate_system(
    name: str,
    params: tuple[str, ...],
    extra_modules: tuple[str, ...],
    seed: int,
    steps: int,
    bound: int,
    heal: bool,
    as_json: bool,
    trace_dir: Path,
) -> None:
    """``simulate --system NAME``: one seeded run of a declared system; exits."""
    import json
    import sys

    from blockfsm.adapters.engines.explore import system_document
    from blockfsm.adapters.engines.itf import save_trace
    from blockfsm.adapters.engines.registry import RegistryError, systems
    from blockfsm.adapters.engines.system_sim import simulate_system

    use_modules(extra_modules)
    try:
        factories = systems()
    except RegistryError as error:
        raise click.UsageError(str(error)) from None
    if name not in factories:
        raise click.UsageError(f"unknown system {name!r}; known: {', '.join(sorted(factories))}")
    chosen: dict[str, object] = {}
    for param in params:
        key, sep, text = param.partition("=")
        if not sep or not key.isidentifier():
            raise click.UsageError(f"--param {param!r}: give NAME=VALUE")
        chosen[key] = int(text) if text.lstrip("-").isdigit() else text
    try:
        system = factories[name](**chosen)
    except (TypeError, ValueError) as error:
        raise click.UsageError(f"system {name}: {error}".splitlines()[0]) from None
    run = simulate_system(system, seed=seed, steps=steps, bound=bound, heal=heal)
    path = None
    if run.violation is not None:
        tag = "-".join(f"{k}{v}" for k, v in sorted(system.parameters.items()))
        where = Path(trace_dir) / f"simulate-{system.name}-{tag}-seed{seed}.itf.json"
        path = save_trace(system_document(system, run.violation), where)
    if as_json:
        out = run.as_json()
        if path is not None:
            out["trace_file"] = str(path)
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(
            f"{run.system} seed {seed}: {run.chaos_steps} chaos steps, "
            + (f"healed, {run.fair_steps} fair steps" if run.healed else "not healed")
        )
        if run.violation is not None:
            click.echo(f"{run.violation.property_id} violated: {run.violation.message}")
            click.echo(f"trace written to {path} (replay it with `blockfsm replay {path}`)")
        for property_id, held in run.liveness.items():
            click.echo(f"{property_id}: {'held' if held else 'VIOLATED'}")
        click.echo("ok" if run.ok else "a property was violated")
    sys.exit(0 if run.ok else 1)


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
