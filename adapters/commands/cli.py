"""The ``blockfsm`` command line: ``check`` (the property-based campaign) and ``spec render``."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from blockfsm import __version__

if TYPE_CHECKING:
    from blockfsm.adapters.engines.campaigns import CampaignResult


LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, the extra that brings its third-party packages)
    "replay": ("blockfsm.adapters.commands.replay", "replay", "check"),
    "explore": ("blockfsm.adapters.commands.explore", "explore_command", "check"),
    "simulate": ("blockfsm.adapters.commands.simulate", "simulate", "check"),
    "view": ("blockfsm.adapters.commands.view", "view", "check"),
    "fuzz": ("blockfsm.adapters.commands.scale", "fuzz", "check"),
    "worker": ("blockfsm.adapters.commands.scale", "worker", "check"),
    "status": ("blockfsm.adapters.commands.status", "status", "node"),
    "monitor": ("blockfsm.adapters.commands.monitor", "monitor", "node"),
    "keygen": ("blockfsm.adapters.commands.node", "keygen", "node"),
    "node": ("blockfsm.adapters.commands.node", "node", "node"),
    "demo": ("blockfsm.adapters.commands.node", "demo", "node"),
}
"""Commands imported when they are run (or listed): a command needs only its own extra, so
``pip install 'blockfsm[check]'`` runs ``blockfsm check`` without PyNaCl, LMDB or msgpack."""


EXTRAS: dict[str, tuple[str, ...]] = {
    "check": ("hypothesis", "click", "rich", "transitions"),
    "node": ("click", "rich", "nacl", "cryptography", "lmdb", "msgpack", "prometheus_client"),
}
"""The import names of each extra's packages (pyproject.toml's optional dependencies)."""


def _absent(extra: str) -> str | None:
    """The first package of ``extra`` that is not installed, or None."""
    import importlib.util

    return next((m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None), None)


def _missing(name: str, extra: str, package: str) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says which, in one line."""
    needs = f"needs blockfsm[{extra}] ({package} is missing): pip install 'blockfsm[{extra}]'"

    @click.command(name=name, help=f"Not available here: {needs}.", add_help_option=False)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def stand_in(args: tuple[str, ...]) -> None:
        click.echo(f"error: blockfsm {name} {needs}", err=True)
        sys.exit(2)

    stand_in.context_settings["ignore_unknown_options"] = True
    return stand_in


class _Main(click.Group):
    """The ``blockfsm`` group: every error the user can fix is one line on stderr. A bad command
    line exits with status 2 (click's usage error, its hint folded into the line), a bad input
    or a refusal of the system with status 4 (``blockfsm.adapters.exits``); anything else is a
    bug and propagates. The commands of ``LAZY_COMMANDS`` are imported when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in LAZY_COMMANDS:
            return command
        module, attribute, extra = LAZY_COMMANDS[cmd_name]
        absent = _absent(extra)
        if absent is not None:
            return _missing(cmd_name, extra, absent)
        loaded = getattr(importlib.import_module(module), attribute)
        assert isinstance(loaded, click.Command)
        return loaded

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if error.ctx is None:
                raise
            from blockfsm.adapters.exits import one_line

            message = f"{error.format_message()} (see '{error.ctx.command_path} --help')"
            raise click.UsageError(one_line(message)) from None
        except Exception as error:
            from blockfsm.adapters.exits import InputError, describe

            if isinstance(error, _input_errors()):
                raise InputError(describe(error)) from None
            raise


def _input_errors() -> tuple[type[BaseException], ...]:
    """The error types that mean a bad input or a refusal of the system, never a bug here."""
    from blockfsm.adapters.engines.itf import ITFError

    known: list[type[BaseException]] = [ITFError, OSError]
    try:  # the node's errors, when the [node] extra is installed
        import lmdb

        from blockfsm.adapters.node.config import ConfigFileError
        from blockfsm.adapters.node.keys import KeyFileError
        from blockfsm.adapters.node.store import StoreError
    except ImportError:
        return tuple(known)
    return (*known, ConfigFileError, KeyFileError, StoreError, lmdb.Error)


def module_option(command: Any) -> Any:
    """``--module pkg.mod`` (repeatable): a machine module read besides the entry points."""
    return click.option(
        "--module",
        "extra_modules",
        multiple=True,
        metavar="PKG.MOD",
        help="Also read this machine module (repeatable): its MACHINE(S), CAMPAIGN, SPEC(S), "
        "SYSTEMS and EXPLORATIONS, as if declared under the blockfsm.machines entry points.",
    )(command)


def use_modules(names: tuple[str, ...]) -> None:
    """Read ``names`` besides the entry points from now on; a module that cannot be loaded is a
    one-line error."""
    from blockfsm.adapters.engines.registry import RegistryError, add_modules, modules

    add_modules(names)
    try:
        modules()
    except RegistryError as error:
        raise click.UsageError(str(error)) from None


def campaigns_for(machines: tuple[str, ...], campaigns: list[Any]) -> list[Any]:
    """The campaigns that check ``machines`` (all when none is named). A machine is checked by its
    own campaign, or by the campaign that also runs it under its spec (the node, by the
    cluster's), so ``--machine`` accepts either name, as ``replay`` accepts any machine."""
    runs = {c.machine: c.machine for c in campaigns}
    for c in campaigns:
        for spec, _ in c.also:
            runs.setdefault(spec.name, c.machine)
    unknown = [m for m in machines if m not in runs]
    if unknown:
        raise click.UsageError(
            f"unknown machine {', '.join(unknown)}; known: {', '.join(sorted(runs))}"
        )
    if not machines:
        return campaigns
    wanted = {runs[m] for m in machines}
    return [c for c in campaigns if c.machine in wanted]


@click.group(cls=_Main)
@click.version_option(__version__, prog_name="blockfsm")
def main() -> None:
    """Formally specified block sync and block production state machines."""


@main.command()
@click.option(
    "--budget",
    type=click.FloatRange(min=0.0, max=7 * 24 * 3600.0),
    default=30.0,
    show_default=True,
    help="Seconds of campaign time in total, shared equally by the machines. A run ends "
    "within the budget, plus the shrink cap (half the budget, 5 s to 300 s) when a "
    "counterexample is found, plus one example's time.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=1, max=10**9),
    default=None,
    help="Run this many examples per machine instead of a time budget: with --seed, the run "
    "decides the same way on any machine (the budget then only caps shrinking).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=None,
    help="Seed for the campaign (default: a fresh one, printed so the run can be repeated).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--machine",
    "machines",
    multiple=True,
    help="Only this machine (repeatable): a campaign's machine, or one a campaign also runs "
    "(node: the cluster's campaign). Default: every machine.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Run the campaigns in this many processes.",
)
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("traces"),
    show_default=True,
    help="Where a counterexample is written as an ITF trace (replay it with `blockfsm replay`).",
)
@click.option(
    "--explore/--no-explore",
    default=True,
    show_default=True,
    help="After the campaigns, run every declared exploration of the machines checked "
    "(blockfsm's own: the sync system and the cluster, by default and under the adversary's "
    "crash and forgery budgets, about 60 s on 2 cores).",
)
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write a static HTML report into this directory (index.html, and a view of each "
    "counterexample trace); it opens from disk, offline.",
)
@module_option
@click.option(
    "--database",
    default="none",
    show_default=True,
    help="Hypothesis's example database: a directory, redis://host:port/db (shared by every "
    "worker: a failure saved by one is replayed first by all), or none (a seeded run then "
    "decides the same way anywhere).",
)
@click.option(
    "--queue",
    default=None,
    metavar="URL",
    help="Run the explorations on `blockfsm worker --connect URL` processes (redis://...).",
)
@click.option(
    "--require-coverage",
    is_flag=True,
    help="Exit 1 if a row was never taken or a guard never seen true or false (one line each).",
)
@click.option(
    "--steer/--no-steer",
    default=False,
    show_default=True,
    help="Favour examples whose rows, states and row pairs earlier examples rarely took "
    "(Hypothesis's target).",
)
def check(
    budget: float,
    examples: int | None,
    seed: int | None,
    as_json: bool,
    machines: tuple[str, ...],
    workers: int,
    trace_dir: Path,
    explore: bool,
    html_dir: Path | None,
    extra_modules: tuple[str, ...],
    database: str,
    queue: str | None,
    require_coverage: bool,
    steer: bool,
) -> None:
    """Run the property-based campaign of every machine and report each invariant.

    Exit status: 0 every property held, 1 a property was violated (its counterexample is written
    as a trace; if --trace-dir cannot be written, under a temporary directory named on stderr)
    or, with --require-coverage, a row or guard outcome was not covered, 2 a bad option, 4 the
    database cannot be opened or reached.
    """
    from blockfsm.adapters.engines.campaigns import run_campaign
    from blockfsm.adapters.engines.registry import RegistryError
    from blockfsm.adapters.engines.registry import campaigns as all_campaigns
    from blockfsm.spec.strategies.profiles import load_profile

    try:
        profile = load_profile()
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    use_modules(extra_modules)
    try:
        declared = all_campaigns()
    except RegistryError as error:
        raise click.UsageError(str(error)) from None
    campaigns = campaigns_for(machines, declared)
    checked = list(campaigns)
    from blockfsm.adapters.engines.example_database import ServerError, open_database
    from blockfsm.adapters.exits import InputError

    try:
        examples_db = open_database(database)
        if queue is not None and explore:  # refused before the campaigns, not after
            from blockfsm.adapters.engines.example_database import connect

            connect(queue)
    except ServerError as error:
        raise InputError(str(error)) from None
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big")
    share = budget / len(campaigns)
    err = Console(stderr=True)
    results: list[CampaignResult] = []
    with Progress(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        if workers > 1:
            from blockfsm.adapters.engines.campaign_workers import run_parallel

            results = run_parallel(
                campaigns,
                progress,
                share,
                seed,
                profile,
                workers,
                max_examples=examples,
                database=database,
                steer=steer,
            )
            campaigns = []
        for campaign in campaigns:
            task = progress.add_task(campaign.machine, total=1.0, status="running")

            def advance(fraction: float, task_id: TaskID = task) -> None:
                progress.update(task_id, completed=fraction)

            result = run_campaign(
                campaign,
                budget_seconds=share,
                seed=seed,
                on_batch=advance,
                max_examples=examples,
                database=examples_db,
                steer=steer,
            )
            progress.update(
                task,
                completed=1.0,
                status=(
                    f"{result.examples} examples"
                    if result.ok
                    else f"[red]{result.violation.property_id} violated"  # type: ignore[union-attr]
                ),
            )
            results.append(result)
            results.extend(result.also)

    ok = all(r.ok for r in results)
    from blockfsm.adapters.engines.itf import write_counterexamples

    trace_files = write_counterexamples(results, trace_dir, seed)
    from blockfsm.adapters.engines.explore import default_explorations

    explorations = []
    if explore:
        with Progress(
            TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True
        ) as bar:
            task = bar.add_task("exploring", total=None)

            def shown(system: str, explored: int, distinct: int, depth: int) -> None:
                bar.update(
                    task, description=f"exploring {system}: {distinct} states, depth {depth}"
                )

            if queue is None:
                explorations = default_explorations(trace_dir, shown, machines)
            else:
                explorations = _explorations_on(queue, trace_dir)
    ok = ok and all(e.violation is None for e, _ in explorations)
    gaps = [gap for r in results if r.coverage is not None for gap in r.coverage.gaps()]
    if require_coverage and gaps:
        ok = False
        for gap in gaps:
            click.echo(f"coverage gap: {gap}", err=True)
    if as_json:
        report = _as_json(results, ok, seed, budget, profile)
        if examples is not None:
            report["examples_per_machine"] = examples  # type: ignore[index]
        systems = []
        for exploration, exploration_trace in explorations:
            entry = exploration.as_json()
            entry.pop("violation", None)
            entry["states"] = exploration.distinct
            entry["transitions"] = exploration.states
            del entry["distinct"]
            if exploration.violation is not None:
                entry["violation"] = exploration.violation.property_id
            if exploration_trace is not None:
                entry["trace_file"] = str(exploration_trace)
            systems.append(entry)
        if explorations:
            report["exploration"] = {  # type: ignore[index]
                "states": sum(e.distinct for e, _ in explorations),
                "depth": max(e.depth for e, _ in explorations),
                "complete": all(e.complete for e, _ in explorations),
                "systems": systems,
            }
        for entry in report["invariants"]:  # type: ignore[index]
            if "counterexample" in entry and entry["machine"] in trace_files:
                entry["trace_file"] = str(trace_files[entry["machine"]])
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(results, ok, seed, budget, profile)
        from blockfsm.adapters.engines.shrink import original_path

        for machine, path in trace_files.items():
            found = original_path(path)
            beside = f" (shrunk; the run as found: {found})" if found.exists() else ""
            Console().print(
                f"{machine}: counterexample trace written to {path}{beside}", highlight=False
            )
        for exploration, exploration_trace in explorations:
            params = ", ".join(f"{k} {v}" for k, v in exploration.parameters.items())
            Console().print(
                f"exploration ({exploration.system}: {params}): {exploration.distinct} distinct "
                f"states, depth {exploration.depth}, "
                f"{'complete' if exploration.complete else 'not complete'}, "
                f"{exploration.seconds:.1f} s, "
                + "".join(f"{k.replace('_', ' ')} {v}, " for k, v in exploration.figures.items())
                + (
                    "no violation"
                    if exploration.violation is None
                    else f"{exploration.violation.property_id} violated, trace {exploration_trace}"
                ),
                highlight=False,
            )
    if html_dir is not None:
        from blockfsm.adapters.engines.views.report import row_counts, write_report

        index = write_report(
            html_dir,
            results=results,
            explorations=explorations,
            trace_files=trace_files,
            counts=row_counts(checked),
            ok=ok,
            seed=seed,
            budget=budget,
            profile=profile,
        )
        click.echo(f"HTML report written to {index}", err=True)
    sys.exit(0 if ok else 1)


def _explorations_on(url: str, trace_dir: Path) -> list[Any]:
    """``default_explorations``, one item each on the queue's workers."""
    from blockfsm.adapters.engines.example_database import ServerError
    from blockfsm.adapters.engines.work_queue import (
        default_exploration_items,
        distribute,
        report_of,
    )
    from blockfsm.adapters.exits import InputError

    try:
        return [report_of(a) for a in distribute(url, default_exploration_items(trace_dir))]
    except ServerError as error:
        raise InputError(str(error)) from None


def _as_json(
    results: list[CampaignResult], ok: bool, seed: int, budget: float, profile: str
) -> object:
    from blockfsm.adapters.engines.campaigns import rules_json

    invariants = []
    coverage = {}
    for r in results:
        for p in r.properties:
            entry: dict[str, object] = {
                "machine": p.machine,
                "id": p.id,
                "kind": p.kind,
                "status": p.status,
                "examples": p.examples,
                "steps": p.steps,
            }
            if r.violation is not None and r.violation.property_id == p.id:
                entry["counterexample"] = list(r.violation.trace)
                entry["fully_shrunk"] = r.fully_shrunk
            invariants.append(entry)
        coverage[r.machine] = [r.rows_hit, r.rows_declared]
    return {
        "ok": ok,
        "invariants": invariants,
        "coverage": coverage,
        "rules": rules_json(results),
        "seed": seed,
        "budget_seconds": budget,
        "profile": profile,
        "unrecoverable_runs": {r.machine: r.unrecoverable for r in results if r.unrecoverable},
        "adversary": {r.machine: dict(r.adversary) for r in results if r.adversary},
        "guards_and_pairs": {r.machine: r.coverage.as_json() for r in results if r.coverage},
    }


COMPACT_BELOW = 100
"""Terminals narrower than this, and every output that is not a terminal (a pipe, a file, a
log), get the compact layout: one paragraph per property, at most ``COMPACT_WIDTH`` wide."""
COMPACT_WIDTH = 80

BATCHES = "a batch is one Hypothesis run of the campaign, with its own seed derived from --seed"
UNRECOVERABLE = (
    "runs left without an honest quorum after the chaos phase, where no protocol could "
    "progress: counted, never reported as liveness failures"
)


def _compact(out: Console) -> bool:
    return not out.is_terminal or out.width < COMPACT_BELOW


def _machine_line(r: CampaignResult, explained: set[str]) -> str:
    """A machine's figures: spec rows hit, examples, batches, time, unrecoverable runs; each term
    explained the first time it is printed (``explained`` records which were)."""
    if r.stopped and r.unhit_rows:
        missing = f" ({len(r.unhit_rows)} not hit before the run stopped at the violation)"
    else:
        missing = f" (not hit: {', '.join(r.unhit_rows)})" if r.unhit_rows else ""
    batches = f"{r.batches} batch{'es' if r.batches != 1 else ''}"
    if "batches" not in explained:
        batches += f" ({BATCHES})"
        explained.add("batches")
    line = (
        f"{r.machine}: spec rows hit {r.rows_hit}/{r.rows_declared}{missing}; "
        f"{r.examples} examples in {batches}, {r.seconds:.1f} s"
    )
    if r.unrecoverable:
        line += f"; {r.unrecoverable} unrecoverable runs"
        if "unrecoverable" not in explained:
            line += f" ({UNRECOVERABLE})"
            explained.add("unrecoverable")
    return line


def _print_report(
    results: list[CampaignResult], ok: bool, seed: int, budget: float, profile: str
) -> None:
    out = Console()
    compact = _compact(out)
    title = f"blockfsm check (seed {seed}, budget {budget:g} s, profile {profile})"
    explained: set[str] = set()
    if compact:
        _print_compact(out, results, title, explained)
    else:
        table = Table(title=title)
        for column in ("machine", "id", "kind", "statement", "examples", "steps", "status"):
            table.add_column(column, overflow="fold")
        for r in results:
            for p in r.properties:
                status = "[green]held" if p.status == "held" else "[red bold]violated"
                table.add_row(
                    p.machine, p.id, p.kind, p.statement, str(p.examples), str(p.steps), status
                )
        out.print(table)
        for r in results:
            out.print(_machine_line(r, explained), markup=False, highlight=False)
    for r in results:
        if r.violation is not None:
            _print_violation(out, r, compact)
    for r in results:
        if r.adversary:
            acted = ", ".join(f"{name} {n}" for name, n in r.adversary)
            _say(out, compact, f"{r.machine}: the adversary acted: {acted}")
    from blockfsm.adapters.engines.campaigns import print_rules

    print_rules(out, results, compact=compact)
    out.print(
        "[green]all properties held" if ok else "[red bold]a property was violated",
    )


def _say(out: Console, compact: bool, text: str, indent: int = 0, hanging: int = 2) -> None:
    """Print ``text``; in the compact layout wrapped to ``COMPACT_WIDTH``, continued lines
    indented by ``hanging`` more than the first."""
    if not compact:
        out.print(" " * indent + text, markup=False, highlight=False)
        return
    import textwrap

    for line in textwrap.wrap(
        text,
        width=COMPACT_WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_on_hyphens=False,
    ):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_compact(
    out: Console, results: list[CampaignResult], title: str, explained: set[str]
) -> None:
    """Per machine, its figures, then one paragraph per property: id, status, statement and how
    many examples and steps checked it."""
    out.print(title, markup=False, highlight=False)
    for r in results:
        out.print()
        _say(out, True, _machine_line(r, explained))
        width = max((len(p.id) for p in r.properties), default=0)
        for p in r.properties:
            status = "held" if p.status == "held" else "VIOLATED"
            _say(
                out,
                True,
                f"{p.id:<{width}} {status:<8} {p.statement} ({p.kind}; {p.examples} examples, "
                f"{p.steps} steps)",
                indent=2,
                hanging=width + 10,
            )


def _print_violation(out: Console, r: CampaignResult, compact: bool) -> None:
    """The violated property and its counterexample. A machine trace's steps are numbered as
    ``blockfsm replay`` numbers them: 0 is the start (the state the run began from), step n is
    the n-th event. A cluster campaign's lines are the campaign's rules, not the trace's steps
    (its trace is a simulation trace; replay numbers the nodes' steps)."""
    v = r.violation
    assert v is not None
    out.print()
    if compact:
        _say(out, compact, f"{v.machine} {v.property_id} VIOLATED: {v.statement}")
    else:
        out.print(f"[red bold]{v.machine} {v.property_id} violated:[/] {v.statement}")
    if v.property_id in ("conformance", "crash"):
        _say(out, compact, v.message)
    kind = (v.itf or {}).get("#meta", {}).get("kind")
    shrunk = "Shrunk counterexample" if r.fully_shrunk else "Counterexample, not fully shrunk"
    cap = "" if r.fully_shrunk else f" (shrinking stopped at its cap of {r.shrink_cap_seconds:g} s)"
    if kind == "simulation":
        _say(
            out,
            compact,
            f"{shrunk}{cap}: the campaign's rules in order (the trace file holds the nodes' "
            "steps, as `blockfsm replay` numbers them):",
        )
        for line in v.trace:
            _say(out, compact, f"- {line}", indent=2)
        return
    _say(
        out,
        compact,
        f"{shrunk}{cap}, numbered as `blockfsm replay` numbers the steps (0 is the start):",
    )
    n = 0
    for line in v.trace:
        if line.startswith("... "):  # earlier steps not kept: the trace starts after them
            _say(out, compact, line, indent=8)
            continue
        _say(out, compact, f"{n:>4}. {line}", indent=2, hanging=6)
        n += 1


@main.group()
def spec() -> None:
    """Work with the machine specs.

    Exit status: that of the subcommand.
    """


@spec.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/spec"),
    show_default=True,
    help="Directory for the generated pages.",
)
@click.option("--check", "check_only", is_flag=True, help="Fail if the pages on disk are stale.")
@click.option(
    "--machine",
    "machines",
    multiple=True,
    help="Only this machine's page (repeatable). Default: every spec the modules named with "
    "--module declare, or, without --module, every declared spec.",
)
@module_option
def render(
    out: Path, check_only: bool, machines: tuple[str, ...], extra_modules: tuple[str, ...]
) -> None:
    """Write <out>/<machine>.md for every declared machine spec.

    Exit status: 0 written (or, with --check, up to date), 1 with --check: a page is stale,
    2 a bad option (an unknown machine, a module that cannot be loaded), 4 a page cannot be
    written.
    """
    from blockfsm.adapters.engines.registry import RegistryError, declared_in, specs
    from blockfsm.spec.render import render as render_page
    from blockfsm.spec.render import render_system, source_of
    from blockfsm.spec.system import SystemSpec

    def page(spec: Any, mod: Any) -> str:
        source = source_of(spec, *declared_in(spec, mod))
        if isinstance(spec, SystemSpec):
            return render_system(spec, source)
        return render_page(spec, source)

    use_modules(extra_modules)
    try:
        declared = specs()
    except RegistryError as error:
        raise click.UsageError(str(error)) from None
    if machines:
        unknown = sorted(set(machines) - {spec.name for spec, _ in declared})
        if unknown:
            raise click.UsageError(
                f"unknown machine {', '.join(unknown)}; known: "
                + ", ".join(sorted(spec.name for spec, _ in declared))
            )
        declared = [(spec, mod) for spec, mod in declared if spec.name in machines]
    elif extra_modules:
        declared = [(spec, mod) for spec, mod in declared if mod.__name__ in extra_modules]
    pages = {out / f"{spec.name}.md": page(spec, mod) for spec, mod in declared}
    if check_only:
        stale = [
            path
            for path, text in pages.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        if stale:
            for path in stale:
                click.echo(f"stale: {path}", err=True)
            click.echo("run `blockfsm spec render` and commit the result", err=True)
            sys.exit(1)
        click.echo(f"{out}: up to date ({len(pages)} pages)")
        return
    out.mkdir(parents=True, exist_ok=True)
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
