"""``blockfsm fuzz`` (campaigns until stopped) and ``blockfsm worker`` (a queue's worker).

``fuzz`` runs rounds: in round r every machine's campaign runs ``--examples`` examples from seed
``--seed + r``, in this process or, with ``--queue``, as one work item per machine taken by
``blockfsm worker`` processes on any machine. Every round shares one example database (by default
the directory ``.hypothesis/blockfsm``; ``redis://...`` to share it between machines), so a
failure found once is replayed first from then on. It stops at the first violation (exit 1), after
``--rounds``, or on SIGINT or SIGTERM once the round in hand ends (exit 0).
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import Any

import click

from blockfsm.adapters.engines.example_database import FUZZ_DEFAULT, ServerError, open_database
from blockfsm.adapters.exits import InputError


class _Stop:
    def __init__(self) -> None:
        self.asked = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.asked = True


@click.command()
@click.option(
    "--machine",
    "machines",
    multiple=True,
    help="Only this machine's campaign (repeatable). Default: every machine.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=1, max=10**9),
    default=100,
    show_default=True,
    help="Examples per machine in each round.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many rounds (default: run until SIGINT or SIGTERM).",
)
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option(
    "--database",
    default=str(FUZZ_DEFAULT),
    show_default=True,
    help="Hypothesis's example database: a directory, redis://host:port/db, or none.",
)
@click.option(
    "--queue",
    default=None,
    metavar="URL",
    help="Run each round's campaigns on `blockfsm worker --connect URL` processes.",
)
@click.option(
    "--module",
    "modules",
    multiple=True,
    help="Also a module that declares a CAMPAIGN (repeatable); workers must be able to import it.",
)
def fuzz(
    machines: tuple[str, ...],
    examples: int,
    rounds: int | None,
    seed: int,
    database: str,
    queue: str | None,
    modules: tuple[str, ...],
) -> None:
    """Run the campaigns round after round until stopped, with a live status line.

    Exit status: 0 stopped (by --rounds or a signal) with every property held, 1 a property was
    violated (the counterexample is printed), 2 a bad option, 4 the database or queue cannot be
    reached.
    """
    from blockfsm.adapters.commands.cli import campaigns_for
    from blockfsm.adapters.engines.registry import RegistryError
    from blockfsm.adapters.engines.registry import campaigns as all_campaigns
    from blockfsm.adapters.engines.work_queue import distribute, run_campaign_item
    from blockfsm.spec.strategies.profiles import load_profile

    try:
        profile = load_profile()
        names = [c.machine for c in campaigns_for(machines, all_campaigns(modules))]
        open_database(database)  # a bad database is refused before the first round
    except (ServerError, RegistryError) as error:
        raise InputError(str(error)) from None
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    live = sys.stderr.isatty()
    started = time.monotonic()
    total = 0
    round_ = 0
    violation: dict[str, Any] | None = None
    try:
        while not stop.asked and (rounds is None or round_ < rounds):
            items = [
                {
                    "kind": "campaign",
                    "machine": name,
                    "seed": seed + round_,
                    "examples": examples,
                    "profile": profile,
                    "database": database,
                    "modules": list(modules),
                }
                for name in names
            ]
            if queue is not None:
                results = distribute(queue, items)
            else:
                results = [run_campaign_item(item) for item in items]
            round_ += 1
            total += sum(r["examples"] for r in results)
            rows = ", ".join(
                f"{r['machine']} {r['rows_hit']}/{r['rows_declared']}" for r in results
            )
            line = (
                f"round {round_}: {total} examples in {time.monotonic() - started:.0f} s; "
                f"rows hit {rows}"
            )
            click.echo(f"\r{line}" if live else line, err=True, nl=not live)
            violation = next((r for r in results if not r["ok"]), None)
            if violation is not None:
                break
    except ServerError as error:
        raise InputError(str(error)) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if live:
            click.echo("", err=True)
    if violation is not None:
        click.echo(
            f"{violation['machine']} {violation['violated']} violated "
            f"(round {round_}, seed {violation['seed']}); counterexample:"
        )
        for n, step in enumerate(violation["counterexample"], start=1):
            click.echo(f"  {n:>3}. {step}")
        sys.exit(1)
    click.echo(f"{round_} rounds, {total} examples: every property held")


@click.command()
@click.option("--connect", "url", required=True, metavar="URL", help="redis://host:port/db")
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many items (default: until SIGINT or SIGTERM).",
)
def worker(url: str, max_items: int | None) -> None:
    """Take work items (simulation seeds, campaign batches) from the queue at URL and push back
    their results, until stopped; the item in hand is finished first.

    Exit status: 0 stopped, 4 the server cannot be reached.
    """
    from blockfsm.adapters.engines.work_queue import serve

    def said(item: dict[str, Any], answer: dict[str, Any]) -> None:
        if item["kind"] == "explore":
            what = f"{item['system']} {item['bounds'] or 'default bounds'}"
        else:
            what = item.get("machine") or f"seed {item.get('k')}"
        status = "failed: " + answer["error"] if "error" in answer else "done"
        click.echo(f"{item['kind']} {what}: {status}", err=True)

    try:
        ran = serve(url, max_items=max_items, on_item=said)
    except ServerError as error:
        raise InputError(str(error)) from None
    click.echo(f"worker stopped after {ran} items", err=True)
