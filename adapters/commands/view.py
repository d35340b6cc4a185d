"""``blockfsm view TRACE -o PAGE``: a trace as a page to step through (see
``blockfsm.adapters.engines.views``)."""

from __future__ import annotations

from pathlib import Path

import click

from blockfsm.adapters.engines.itf import ITFError
from blockfsm.adapters.exits import InputError, one_line


@click.command()
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The page to write (default: TRACE with .html for .itf.json).",
)
def view(trace: Path, output: Path | None) -> None:
    """Write an ITF TRACE as a static HTML page to step through: per step the event, the spec
    row taken (lit on the state diagram), the effects and what changed in the state; for a
    cluster, a message sequence chart with the violated property at its step.

    Exit status: 0 written, 4 the file is not a trace (unreadable, not JSON, not ITF, a kind
    blockfsm does not write) or the page cannot be written.
    """
    from blockfsm.adapters.engines.views import view_trace

    if output is None:
        name = trace.name.removesuffix(".json").removesuffix(".itf")
        output = trace.with_name(name + ".html")
    try:
        view_trace(trace, output)
    except ITFError as error:
        raise InputError(f"{trace}: not a trace: {one_line(str(error))}") from None
    click.echo(f"{output}")
