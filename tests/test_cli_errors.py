"""Every command fails with one line on stderr, never a traceback, and a documented exit status
(``blockfsm.adapters.exits``): a table of bad inputs per command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from blockfsm.adapters.cli import main
from blockfsm.adapters.exits import EXIT_INPUT, EXIT_OK, EXIT_USAGE
from blockfsm.adapters.keys import write_key_file


def assert_one_line_error(stderr: str, expected_status: int, status: int, *words: str) -> str:
    """``stderr`` is one non-empty line, with no traceback and every one of ``words``."""
    assert status == expected_status, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def assert_cli_error(result: Any, status: int, *words: str) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return assert_one_line_error(result.stderr, status, result.exit_code, *words)


# --- blockfsm node -------------------------------------------------------------------------------


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """A directory with the key file of a one-validator node (its public key in key.hex)."""
    signer = write_key_file(tmp_path / "n.key")
    (tmp_path / "key.hex").write_text(signer.public_key.hex())
    return tmp_path


def node_config(
    directory: Path, *, chain_id: int = 3, data_dir: str = "data", port: int = 0
) -> Path:
    key = (directory / "key.hex").read_text()
    path = directory / f"node-{chain_id}-{data_dir.replace('/', '_')}-{port}.toml"
    path.write_text(
        f'chain_id = {chain_id}\nkey_file = "n.key"\ndata_dir = "{data_dir}"\n'
        f'listen = "127.0.0.1:{port}"\nvalidators = ["{key}"]\n'
    )
    return path


def run_node(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``blockfsm node`` in its own process: it must fail at start, well within the timeout."""
    return subprocess.run(
        [sys.executable, "-m", "blockfsm", "node", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _port_taken(directory: Path, port: int) -> Path:
    return node_config(directory, port=port)


def _another_chain(directory: Path, port: int) -> Path:
    from blockfsm.adapters.store import LmdbStore

    LmdbStore(directory / "data", 7, map_size=1 << 20).close()
    return node_config(directory, chain_id=3)


def _data_dir_is_a_file(directory: Path, port: int) -> Path:
    (directory / "data").write_text("not a directory")
    return node_config(directory)


def _data_dir_not_lmdb(directory: Path, port: int) -> Path:
    (directory / "data").mkdir()
    (directory / "data" / "data.mdb").write_bytes(b"not an LMDB file" * 100)
    return node_config(directory)


def _data_dir_unreadable(directory: Path, port: int) -> Path:
    (directory / "data").mkdir(mode=0)
    return node_config(directory)


NODE_CASES: list[tuple[str, Callable[[Path, int], Path], tuple[str, ...], int, tuple[str, ...]]] = [
    ("port taken", _port_taken, (), EXIT_INPUT, ("cannot listen on 127.0.0.1:",)),
    ("data_dir of another chain", _another_chain, (), EXIT_INPUT, ("holds chain 7, not chain 3",)),
    ("data_dir is a file", _data_dir_is_a_file, (), EXIT_INPUT, ("data_dir", "cannot open")),
    ("data_dir not LMDB", _data_dir_not_lmdb, (), EXIT_INPUT, ("data_dir", "cannot open")),
    ("data_dir unreadable", _data_dir_unreadable, (), EXIT_INPUT, ("data_dir", "cannot open")),
    ("--log-level NOPE", _port_taken, ("--log-level", "NOPE"), EXIT_USAGE, ("--log-level",)),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "extra", "status", "words"),
    [case[1:] for case in NODE_CASES],
    ids=[case[0] for case in NODE_CASES],
)
def test_node_fails_at_start_with_one_line(
    node_dir: Path,
    taken_port: int,
    make: Callable[[Path, int], Path],
    extra: tuple[str, ...],
    status: int,
    words: tuple[str, ...],
) -> None:
    if make is _data_dir_unreadable and os.geteuid() == 0:
        pytest.skip("root reads a directory of mode 000")
    config = make(node_dir, taken_port)
    result = run_node(config, *extra)
    assert_one_line_error(result.stderr, status, result.returncode, *words)


# --- blockfsm simulate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--nodes", "1"], ["--nodes", "2<=x<=64"]),
        (["--nodes", "3"], ["--byzantine 1 of --nodes 3", "--allow-unsafe-byzantine"]),
        (["--nodes", "6", "--byzantine", "2"], ["a third or more"]),
        (["--nodes", "2", "--byzantine", "3"], ["cannot exceed"]),
        (["--faults", "loss,meteor"], ["unknown fault meteor"]),
    ],
    ids=["one node", "1 of 3 Byzantine", "2 of 6 Byzantine", "more Byzantine than nodes", "fault"],
)
def test_simulate_refuses_a_bad_run_with_one_line(args: list[str], words: list[str]) -> None:
    assert_cli_error(invoke("simulate", "--ticks", "1", *args), EXIT_USAGE, *words)


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_an_unsafe_byzantine_run_says_no_invariant_was_checked(as_json: bool) -> None:
    args = ["simulate", "--nodes", "3", "--ticks", "40", "--allow-unsafe-byzantine"]
    result = invoke(*args, *(["--json"] if as_json else []))
    assert result.exit_code == EXIT_OK, result.output
    if as_json:
        report = json.loads(result.stdout)
        assert report["verdict"] == "unchecked" and report["safety"] == "not checked"
        assert report["invariants_checked"] == {}
        assert "no invariant was checked" in report["unchecked"]
    else:
        assert "verdict: unchecked" in result.stdout and "verdict: ok" not in result.stdout
        assert "no invariant was checked" in result.stdout


def test_a_safe_byzantine_count_still_checks_every_invariant() -> None:
    result = invoke("simulate", "--nodes", "4", "--ticks", "40", "--no-heal", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "ok" and report["safety"] == "held"
    assert report["invariants_checked"]["C-1"] > 0
