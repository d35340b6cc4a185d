"""``blockfsm monitor LOG...``: the command over ``blockfsm.adapters.engines.monitor``."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import click

from blockfsm.adapters.engines.monitor import Monitor, follow_logs


@click.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option(
    "--follow",
    is_flag=True,
    help="Live: replay the logs as the nodes write them, each finding printed when found, "
    "until no log has grown for --idle seconds (or Ctrl-C).",
)
@click.option(
    "--idle",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="With --follow: stop after this many seconds without a new line in any log.",
)
def monitor(logs: tuple[Path, ...], as_json: bool, follow: bool, idle: float) -> None:
    """Replay nodes' step logs through the spec and check the cluster properties across them.

    LOGS are step logs (a node's data_dir/steps.jsonl, written by `blockfsm node --step-log`) or
    data directories holding one. Exit status: 0 every check held, 1 a check failed, 4 a log
    that cannot be read.
    """
    from blockfsm.adapters.engines.steplog import LOG_NAME

    paths = [given / LOG_NAME if given.is_dir() else given for given in logs]
    checker = Monitor()
    if follow:
        if not as_json:
            checker.on_finding = lambda f: click.echo(
                f"{f.log} step {f.step}: {f.check}: {f.detail}"
            )
        follow_logs(checker, paths, idle)
    else:
        checker.check(*paths)
    report = {
        "ok": not checker.findings,
        "logs": len(logs),
        "runs": checker.runs,
        "steps": checker.steps,
        "findings": [attrs.asdict(f) for f in checker.findings[:20]],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(
            f"{len(logs)} logs, {checker.runs} runs, {checker.steps} steps replayed through the "
            "spec; cluster invariants C-1..C-8 checked across them"
        )
        if not follow:
            for f in checker.findings[:20]:
                click.echo(f"{f.log} step {f.step}: {f.check}: {f.detail}")
        click.echo("ok" if not checker.findings else f"{len(checker.findings)} findings")
    if checker.findings:
        raise SystemExit(1)
