"""``blockfsm explore``: one exploration of a system, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from blockfsm.adapters.commands.cli import module_option, use_modules
from blockfsm.adapters.engines.explore import (
    Report,
    ShrunkPath,
    describe_action,
    explore,
    reducible,
    shrink_report,
    write_trace,
)
from blockfsm.adapters.engines.shrink import original_path


def _print_report(report: Report, path: Path | None, shrunk: ShrunkPath | None = None) -> None:
    from rich.console import Console

    out = Console(highlight=False)
    params = " ".join(f"{k}={v}" for k, v in report.parameters.items())
    out.print(
        f"{report.system} ({report.mode}, {params}): {report.states} states explored, "
        f"{report.distinct} distinct, depth {report.depth}, "
        f"{'complete' if report.complete else 'not complete'}, {report.seconds:.1f} s"
        + "".join(f", {k.replace('_', ' ')} {v}" for k, v in report.figures.items())
    )
    v = report.violation
    if v is None:
        out.print("[green]every invariant held in every state")
        return
    out.print(f"[red bold]{v.property_id} violated[/]: {v.message}", markup=True)
    if report.mode.startswith("bfs"):
        out.print(f"Shortest path ({len(v.actions)} actions from the initial state):")
    elif shrunk is not None:
        out.print(
            f"Path ({len(v.actions)} actions from the initial state, shrunk from the "
            f"{report.mode} path of {len(shrunk.found.actions)} in {shrunk.candidates} candidate "
            "runs):"
        )
    else:
        out.print(
            f"Path ({len(v.actions)} actions from the initial state, found by {report.mode}):"
        )
    for n, action in enumerate(v.actions, start=1):
        out.print(f"  {n:>3}. {describe_action(action)}", markup=False)
    if path is not None:
        out.print(f"trace written to {path} (replay it with `blockfsm replay {path}`)")


class DelayBound(click.ParamType):
    """A delay budget: an integer >= 0, or ``unbounded``."""

    name = "N|unbounded"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is UNBOUNDED or (isinstance(value, int) and value >= 0):
            return value
        text = str(value).strip().lower()
        if text in ("unbounded", "none", "any"):
            return UNBOUNDED
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is neither an integer >= 0 nor 'unbounded'", param, ctx)
        if number < 0:
            self.fail(f"{number} is negative; give an integer >= 0 or 'unbounded'", param, ctx)
        return number


UNBOUNDED = "unbounded"


@click.command(name="explore")
@click.option(
    "--system",
    "system_name",
    default="sync",
    show_default=True,
    help="The system to explore: blockfsm's own (sync, cluster) or one a declared module's "
    "SYSTEMS names.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter of the system's factory (repeatable; an integer value is passed as one): "
    "how a system of your own takes its bounds.",
)
@module_option
@click.option(
    "--nodes",
    type=click.IntRange(min=2, max=10),
    default=None,
    help="Number of nodes (the cluster system).",
)
@click.option(
    "--heights",
    type=click.IntRange(min=1, max=20),
    default=None,
    help="Sync: blocks in the canonical chain (3); cluster: heights proposed on (3).",
)
@click.option(
    "--ticks",
    type=click.IntRange(min=0, max=100),
    default=None,
    help="Ticks of simulated time (sync: 3 of 1 s; cluster: 6 of half a round timeout).",
)
@click.option(
    "--in-flight",
    type=click.IntRange(min=0, max=1_000),
    default=None,
    help="Messages the network holds at once; a message sent to a full network is lost "
    "(sync: 2; cluster: 64).",
)
@click.option(
    "--faults",
    type=click.IntRange(min=0, max=20),
    default=None,
    help="Messages the adversary may drop or answer falsely (sync: 1; cluster: 0).",
)
@click.option(
    "--byzantine",
    type=click.IntRange(min=0, max=1),
    default=None,
    help="Cluster: 1 makes the producer of height 0 an equivocator; 0: every node honest (1).",
)
@click.option(
    "--crashes",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: honest crash-restarts the adversary may cause, each between any two steps (0).",
)
@click.option(
    "--forgeries",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: messages of its own choosing the Byzantine keeper may send on a quiet "
    "network: votes of any block or nil, a vote of the next round, a new block with a forged "
    "proof (0).",
)
@click.option(
    "--lost-proposals",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: proposals the network may lose (0).",
)
@click.option(
    "--silent",
    is_flag=True,
    default=False,
    help="Cluster: the Byzantine keeper sends nothing of the honest machine's (only forgeries).",
)
@click.option(
    "--delays",
    type=DelayBound(),
    default=None,
    help="Cluster: messages a run may deliver out of send order, one delay per message overtaken "
    "and one per timer fired while messages are in flight (2); 'unbounded': any order.",
)
@click.option(
    "--depth", type=click.IntRange(min=1), default=None, help="Depth bound (required with --dfs)."
)
@click.option("--dfs", "use_dfs", is_flag=True, help="Depth-bounded depth-first search.")
@click.option(
    "--reduce/--no-reduce",
    default=None,
    help="Sleep sets over commuting actions (the cluster system, breadth-first): fewer "
    "transitions, the same states. Default: on where the system supports it.",
)
@click.option(
    "--max-states",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many distinct states (the report says: not complete).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Processes that run one breadth-first search together, states partitioned by key: "
    "the same states, depth and verdict as one process (not with --dfs or --reduce).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("traces"),
    show_default=True,
    help="Where a violation's shortest path is written as an ITF trace.",
)
def explore_command(
    system_name: str,
    nodes: int | None,
    heights: int | None,
    ticks: int | None,
    in_flight: int | None,
    faults: int | None,
    byzantine: int | None,
    crashes: int | None,
    forgeries: int | None,
    lost_proposals: int | None,
    silent: bool,
    delays: int | str | None,
    depth: int | None,
    use_dfs: bool,
    reduce: bool | None,
    max_states: int | None,
    workers: int,
    as_json: bool,
    trace_dir: Path,
    params: tuple[str, ...],
    extra_modules: tuple[str, ...],
) -> None:
    """Visit every reachable state of a small system and check every invariant in each.

    Exit status: 0 no invariant was violated, 1 one was (its shortest path is written as a trace),
    2 a bad option.
    """
    import json
    import sys

    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from blockfsm.adapters.engines.registry import RegistryError, systems

    use_modules(extra_modules)
    try:
        factories = systems()
    except RegistryError as error:
        raise click.UsageError(str(error)) from None
    if system_name not in factories:
        raise click.UsageError(
            f"unknown system {system_name!r}; known: {', '.join(sorted(factories))}"
        )
    if use_dfs and depth is None:
        raise click.UsageError("--dfs needs --depth")
    if nodes is not None and system_name == "sync":
        raise click.UsageError(
            "--nodes applies to the cluster system; the sync system has one client and two servers"
        )
    given = {"nodes": nodes, "heights": heights, "ticks": ticks, "in_flight": in_flight}
    given["faults"] = faults
    if byzantine is not None:
        if system_name != "cluster":
            raise click.UsageError("--byzantine applies to the cluster system")
        given["byzantine"] = byzantine
    adversary: dict[str, Any] = {
        "crashes": crashes,
        "forgeries": forgeries,
        "lost_proposals": lost_proposals,
        "silent": silent or None,
    }
    for name, value in adversary.items():
        if value is not None:
            if system_name != "cluster":
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} applies to the cluster system")
            given[name] = value
    chosen = {k: v for k, v in given.items() if v is not None}
    if delays is not None:
        if system_name != "cluster":
            raise click.UsageError("--delays applies to the cluster system")
        chosen["delays"] = None if delays == UNBOUNDED else delays
    for param in params:
        key, sep, text = param.partition("=")
        if not sep or not key.isidentifier():
            raise click.UsageError(f"--param {param!r}: give NAME=VALUE")
        chosen[key] = int(text) if text.lstrip("-").isdigit() else text
    try:
        system = factories[system_name](**chosen)
    except (TypeError, ValueError) as error:
        raise click.UsageError(f"system {system_name}: {error}".splitlines()[0]) from None
    if reduce and not reducible(system):
        if system_name == "cluster":
            raise click.UsageError(
                "--reduce: with bounded delays the cluster's deliveries do not commute (the "
                "delays one spends depend on the order); use --delays unbounded"
            )
        raise click.UsageError(f"--reduce: the {system_name} system has no independence relation")
    if reduce and use_dfs:
        raise click.UsageError("--reduce runs with the breadth-first search; drop --dfs")
    if workers > 1 and (use_dfs or reduce):
        raise click.UsageError(
            "--workers runs the plain breadth-first search: drop --dfs, or give --no-reduce"
        )
    if reduce is None:
        reduce = reducible(system) and not use_dfs and workers == 1
    with Bar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"exploring {system_name}", total=None)

        def shown(explored: int, distinct: int, reached: int) -> None:
            bar.update(
                task,
                description=f"exploring {system_name}: {explored} states, {distinct} distinct, "
                f"depth {reached}",
            )

        report = explore(
            system,
            depth=depth,
            use_dfs=use_dfs,
            max_states=max_states,
            progress=shown,
            reduce=reduce,
            workers=workers,
        )
    report, shrunk = shrink_report(system, report)
    path = write_trace(system, report, trace_dir, shrunk)
    if as_json:
        out = report.as_json()
        if path is not None:
            out["trace_file"] = str(path)
        if shrunk is not None and path is not None:
            out["shrunk"] = {
                "original_depth": len(shrunk.found.actions),
                "candidates": shrunk.candidates,
                "original_file": str(original_path(path)),
            }
        click.echo(json.dumps(out, indent=2))
    else:
        _print_report(report, path, shrunk)
    sys.exit(0 if report.violation is None else 1)
