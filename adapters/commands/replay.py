"""``blockfsm replay TRACE``: run an ITF trace against the current code (see
``blockfsm.adapters.engines.replay``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from blockfsm.adapters.commands.cli import module_option, use_modules
from blockfsm.adapters.engines.itf import (
    ITFError,
    decode,
)
from blockfsm.adapters.engines.replay import replay_path
from blockfsm.adapters.exits import (
    EXIT_DIFFERS,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_VIOLATION,
    InputError,
    one_line,
)

EXIT_MATCHES = EXIT_OK
EXIT_REPRODUCES = EXIT_VIOLATION
EXIT_DIVERGES = EXIT_DIFFERS
EXIT_NOT_A_TRACE = EXIT_INPUT


@click.command()
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@module_option
def replay(trace: Path, as_json: bool, extra_modules: tuple[str, ...]) -> None:
    """Run an ITF TRACE against the current code; report the first step that differs.

    Exit status: 0 the trace matches (every step as recorded, nothing failed), 1 it reproduces
    (the recorded violation happens again), 3 the code now behaves differently (a step diverges
    from the recording, or a property fails that the recording has not there), 4 the file is not
    a trace (unreadable, not JSON, not ITF, or its states were cut off).
    """
    use_modules(extra_modules)
    try:
        result = replay_path(trace)
    except (ITFError, KeyError, TypeError, ValueError) as error:
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise InputError(f"{trace}: not a trace: {one_line(detail)}") from None
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo(f"{trace}: {result.verdict} ({result.replayed}/{result.steps} steps replayed)")
        click.echo(result.detail)
        for d in result.differences:
            click.echo(f"  {d.path}:")
            click.echo(f"    recorded: {_short(d.recorded)}")
            click.echo(f"    replayed: {_short(d.replayed)}")
    sys.exit(result.exit_code)


def _short(value: Any) -> str:
    try:
        text = repr(decode(value))
    except ITFError:
        text = json.dumps(value)
    return text if len(text) <= 300 else text[:297] + "..."
