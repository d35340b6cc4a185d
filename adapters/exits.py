"""The exit statuses of the ``blockfsm`` command line, each with one meaning, and the one-line
error an input the user can fix (a file, a directory, a port) is reported as.

Every command exits with one of these; the CLI reference page lists them (generated from
``EXIT_STATUSES``). The ``blockfsm`` group (``blockfsm.adapters.commands.cli``) turns the known
error
types into ``InputError``; a bug in blockfsm itself is not caught: it still shows its traceback.
"""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_USAGE = 2
EXIT_DIFFERS = 3
EXIT_INPUT = 4

EXIT_STATUSES: dict[int, str] = {
    EXIT_OK: "success: every property held (`check`, `simulate`, `explore`), the trace replays "
    "as recorded (`replay`: matches), or the command did what was asked",
    EXIT_VIOLATION: "a check failed: a property was violated (`check`, `simulate`, `explore`, "
    "`demo`), a generated page is stale (`spec render --check`), or `replay`: the recorded "
    "violation happens again (reproduces)",
    EXIT_USAGE: "a bad command line: an unknown option, a value out of range or not among the "
    "choices, or a combination refused (`simulate` with a third or more Byzantine nodes and no "
    "`--allow-unsafe-byzantine`); nothing was run",
    EXIT_DIFFERS: "`replay`: the code now behaves differently from the recording (diverges: a "
    "step's state or effects differ, or the recorded violation no longer happens; fails: a "
    "property fails where the recording has none)",
    EXIT_INPUT: "an input or the system refused: a file that is not a trace (unreadable, not "
    "JSON, not ITF, states cut off), a bad node config or key file, a data directory of "
    "another chain, in use by another process, damaged or that cannot be opened, a chain "
    "without a signing guard, a port in use, a directory that cannot be written, or a node "
    "stopped by its store (a block that does not match its hash, a full map)",
}


class InputError(click.ClickException):
    """An input the user can fix; printed as one line, exit status ``EXIT_INPUT``."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe(error: BaseException) -> str:
    """One line saying what went wrong, without the exception's class name where it adds nothing."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else ""
        return one_line(f"{where}: {error.strerror}" if where else error.strerror)
    return one_line(str(error) or type(error).__name__)
