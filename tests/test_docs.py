"""The documentation's code runs: every Python block of every page is executed, every
`blockfsm ...` command in a shell block is parsed by the real CLI, and the generated reference
pages cover every config class, config range and command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import attrs
import click
import pytest
from click.testing import CliRunner

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.docsite.reference import (
    cli_reference,
    config_classes,
    config_ranges,
    config_reference,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(page: Path, language: str) -> list[str]:
    """The blocks of ``language``; a block titled with a file of the repository is that file,
    compared with it by the test of that file's package, not run here."""
    return [
        body
        for lang, info, body in FENCE.findall(page.read_text())
        if lang == language and 'title="examples/' not in info
    ]


PYTHON_PAGES = [p for p in PAGES if blocks(p, "python")]
SHELL_PAGES = [p for p in PAGES if blocks(p, "sh")] + [ROOT / "README.md"]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_of_a_page_runs(page: Path) -> None:
    """The blocks of one page run in order in one namespace, as a reader would paste them."""
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, body in enumerate(blocks(page, "python"), start=1):
        code = compile(body, f"{page.relative_to(ROOT)} block {number}", "exec")
        exec(code, namespace)


def blockfsm_commands(body: str) -> list[list[str]]:
    """Each `blockfsm ...` invocation in a shell block, with env assignments, paths to the
    executable and trailing comments removed."""
    found = []
    for line in body.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in line.split("&&"):
            words = shlex.split(part)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]
            if words and words[0].endswith("blockfsm") and "/pip" not in words[0]:
                found.append(words[1:])
    return found


def test_shell_blocks_name_real_commands_and_options() -> None:
    commands = [
        c for page in SHELL_PAGES for body in blocks(page, "sh") for c in blockfsm_commands(body)
    ]
    assert len(commands) >= 5
    for args in commands:
        # --help is eager: click parses every option first, so an unknown command or option still
        # fails with a usage error, and nothing is run.
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, f"blockfsm {' '.join(args)}: {result.output}"


def test_a_renamed_option_in_a_snippet_would_fail() -> None:
    result = CliRunner().invoke(main, ["check", "--budjet", "3", "--help"])
    assert result.exit_code != 0


def test_config_reference_lists_every_field_and_every_validated_range() -> None:
    page = config_reference()
    classes = config_classes()
    names = {c.__name__ for c in classes}
    assert {"SyncServerConfig", "SyncClientConfig", "ProducerConfig"} <= names
    for cls in classes:
        assert f"## `{cls.__name__}`" in page
        ranges, _ = config_ranges(cls)
        for field in attrs.fields(cls):
            if field.init:
                assert f"| `{field.name}` |" in page
        for name, r in ranges.items():
            assert f"| `{name}` |" in page and f"{r.low} .. {r.high}" in page


def test_config_ranges_are_the_enforced_ones() -> None:
    """The range printed for request_limit is the one the constructor enforces."""
    from blockfsm.machine.core import ConfigError
    from blockfsm.machine.crypto import StandInSigner
    from blockfsm.machine.sync_server import SyncServerConfig

    ranges, _ = config_ranges(SyncServerConfig)
    high = int(ranges["request_limit"].high.replace(",", ""))
    signer = StandInSigner.from_seed(0)
    SyncServerConfig(chain_id=1, signer=signer, request_limit=high)
    with pytest.raises(ConfigError):
        SyncServerConfig(chain_id=1, signer=signer, request_limit=high + 1)
    assert ranges["advertise_time"].unit == "ms"


def test_cli_reference_covers_every_command() -> None:
    page = cli_reference()
    ctx = click.Context(main)
    names = main.list_commands(ctx)
    assert {"check", "node", "replay", "explore"} <= set(names)
    for name in names:
        command = main.get_command(ctx, name)
        assert command is not None
        assert f"## `blockfsm {name}`" in page
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert f"`{opt}`" in page


def test_generated_references_are_tables_and_text_not_leftovers() -> None:
    """The CLI table has four cells in every row (an option's ``|`` escaped), the config page
    states rules without a validator's ``{self.field}`` placeholders, and a class page shows the
    class's own docstring and how it is declared (a protocol with its methods, not a library's
    docstring or ``(*args, **kwargs)``)."""
    from blockfsm.adapters.docsite.reference import generated_pages

    pages = generated_pages()
    for line in pages["reference/cli.md"].splitlines():
        if line.startswith("| `--"):
            assert len(re.split(r"(?<!\\)\|", line)) == 6, line  # 4 cells between 5 bars
    assert "{" not in pages["reference/config.md"]
    machine = pages["reference/api-machine.md"]
    for page in (machine, pages["reference/api-spec.md"]):
        assert "Base class for protocol classes" not in page
        assert "(*args, **kwargs)" not in page
    assert "class Signer(Protocol)" in machine and "- `public_key` (property)" in machine
