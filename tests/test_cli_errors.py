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

import attrs
import click
import pytest
from click.testing import CliRunner
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.exits import EXIT_DIFFERS, EXIT_INPUT, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION
from blockfsm.adapters.node.keys import write_key_file
from blockfsm.machine import sync_server as server_module
from blockfsm.machine.core import Send, Step
from blockfsm.machine.messages import SyncResponse


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
    from blockfsm.adapters.node.store import LmdbStore

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


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["node", "--config", "{d}/missing.toml"], ["missing.toml", "cannot read"]),
        (["node", "--config", "{d}/n.key"], ["not valid TOML"]),
        (["keygen", "--out", "{d}/n.key"], ["refusing to overwrite"]),
        (["keygen", "--out", "{d}/no/such/dir/k.key"], ["No such file or directory"]),
    ],
    ids=["config missing", "config not TOML", "key exists", "key dir missing"],
)
def test_bad_node_files_are_one_line(node_dir: Path, args: list[str], words: list[str]) -> None:
    result = invoke(*(a.format(d=node_dir) for a in args))
    assert_cli_error(result, EXIT_INPUT, *words)


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
        verdicts = [line.split() for line in result.stdout.splitlines() if line[:8] == "verdict "]
        assert verdicts == [["verdict", "unchecked"]], result.stdout
        assert "no invariant was checked" in result.stdout


def test_a_safe_byzantine_count_still_checks_every_invariant() -> None:
    result = invoke("simulate", "--nodes", "4", "--ticks", "40", "--no-heal", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "ok" and report["safety"] == "held"
    assert report["invariants_checked"]["C-1"] > 0


# --- a trace directory that cannot be written: the trace goes to a temporary directory ----------


_serve = server_module._on_request


def _wrong_request_id(config: Any, state: Any, event: Any, view: Any) -> Step:
    """A planted bug: the sync server answers with another request's id."""
    result = _serve(config, state, event, view)
    effects = result.effects
    if effects and type(effects[0]) is Send and type(effects[0].message) is SyncResponse:
        message = attrs.evolve(effects[0].message, request_id=effects[0].message.request_id + 1)
        return Step(result.state, (attrs.evolve(effects[0], message=message),))
    return result


def _attests_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted bug: an attester whose guard forgets its attestations and that keeps the last
    proposal of a round (so it attests a second block, or nil, in a round it attested in)."""
    attester_forgets_its_attestations(monkeypatch)


def _plant_server_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "_on_request", _wrong_request_id)


UNWRITABLE: list[tuple[str, Callable[[pytest.MonkeyPatch], None], list[str], str]] = [
    (
        "check",
        _plant_server_bug,
        ["check", "--no-explore", "--machine", "sync_server", "--examples", "20", "--seed", "3"],
        "sync_server-3.itf.json",
    ),
    (
        "simulate",
        _attests_twice,
        ["simulate", "--seed", "1", "--no-heal"],
        "simulation-1.itf.json",
    ),
]


@pytest.mark.parametrize(
    ("plant", "args", "name"),
    [case[1:] for case in UNWRITABLE],
    ids=[case[0] for case in UNWRITABLE],
)
def test_a_found_bug_is_written_elsewhere_when_the_trace_dir_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    plant: Callable[[pytest.MonkeyPatch], None],
    args: list[str],
    name: str,
) -> None:
    plant(monkeypatch)
    (tmp_path / "a-file").write_text("")
    trace_dir = tmp_path / "a-file" / "traces"  # under a regular file: even root cannot mkdir it
    result = invoke(*args, "--trace-dir", str(trace_dir), "--json")
    line = assert_cli_error(result, EXIT_VIOLATION, "cannot write the trace to", str(trace_dir))
    written = Path(line.rsplit("written to ", 1)[1])
    assert written.name == name and written.is_file() and not written.is_relative_to(tmp_path)
    assert str(written) in result.stdout  # the report names where the trace is
    replayed = invoke("replay", str(written), "--json")
    assert replayed.exit_code == EXIT_VIOLATION, replayed.output  # the bug reproduces
    assert json.loads(replayed.stdout)["verdict"] == "reproduces"


# --- blockfsm replay -----------------------------------------------------------------------------


def correct_run() -> dict[str, Any]:
    """The ITF document of a correct sync server run of four steps, as JSON data."""
    from blockfsm.adapters.engines import itf
    from blockfsm.machine.core import Tick
    from blockfsm.machine.messages import SyncRequest, SyncRequestReceived
    from blockfsm.machine.sync_server import SyncServerConfig
    from blockfsm.spec.conformance import Conformant
    from blockfsm.spec.machines import SYNC_SERVER
    from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers

    signers = make_signers(4)
    chain = chain_of(3, signers)
    config = SyncServerConfig(chain_id=DEFAULT_CHAIN_ID, signer=signers[0], advertise_time=1_000)
    runner = Conformant(SYNC_SERVER, config)
    initial = state = SYNC_SERVER.initial(config)
    request = SyncRequest(chain_id=DEFAULT_CHAIN_ID, request_id=1, start_height=1, limit=2)
    steps = []
    for event in (
        Tick(now=0),
        SyncRequestReceived(peer=b"\x01" * 32, request=request),
        Tick(now=500),
        Tick(now=2_000),
    ):
        view = chain.snapshot()
        state, effects = runner.step(state, event, view)
        steps.append(itf.TraceStep(event=event, view=view, state=state, effects=effects))
    trace = itf.MachineTrace(
        machine="sync_server", config=config, initial=initial, steps=tuple(steps)
    )
    document: dict[str, Any] = json.loads(json.dumps(itf.machine_document(trace)))
    return document


def _cut_off(document: dict[str, Any]) -> str:
    document["states"] = document["states"][:-2]
    return json.dumps(document)


def _cut_off_and_length_lowered(document: dict[str, Any]) -> str:
    """Cut off in the middle, with the length edited to match: the indices give it away."""
    del document["states"][2]
    document["#meta"]["length"] -= 1
    return json.dumps(document)


def _no_length(document: dict[str, Any]) -> str:
    del document["#meta"]["length"]
    return json.dumps(document)


def _bytes_cut(document: dict[str, Any]) -> str:
    text = json.dumps(document)
    return text[: len(text) // 2]


def _a_field_missing(document: dict[str, Any]) -> str:
    del document["#meta"]["config"]
    return json.dumps(document)


NOT_TRACES: list[tuple[str, Callable[[dict[str, Any]], str], str]] = [
    ("states cut off", _cut_off, "states were cut off: #meta.length is 5, the file holds 3"),
    ("a state cut out", _cut_off_and_length_lowered, "not in order"),
    ("no length", _no_length, "no #meta.length"),
    ("file truncated", _bytes_cut, "cannot read"),
    ("a field missing", _a_field_missing, "missing field 'config'"),
    ("not JSON", lambda d: "states: [1, 2]", "cannot read"),
    ("a JSON array", lambda d: "[1, 2]", "a JSON object"),
    ("JSON, not ITF", lambda d: '{"name": "x"}', "states is not a list"),
    ("#meta not an object", lambda d: '{"#meta": [], "states": []}', "#meta is not an object"),
    ("states not a list", lambda d: '{"#meta": {"kind": "machine"}, "states": 3}', "states"),
    ("unknown kind", lambda d: '{"#meta": {"kind": "poem"}, "states": []}', "kind 'poem'"),
]


@pytest.mark.parametrize(
    ("make", "words"),
    [case[1:] for case in NOT_TRACES],
    ids=[case[0] for case in NOT_TRACES],
)
def test_replay_refuses_a_file_that_is_not_a_trace(
    tmp_path: Path, make: Callable[[dict[str, Any]], str], words: str
) -> None:
    path = tmp_path / "t.itf.json"
    path.write_text(make(correct_run()))
    line = assert_cli_error(invoke("replay", str(path)), EXIT_INPUT, str(path), "not a trace")
    assert words in line
    json_result = invoke("replay", str(path), "--json")
    assert_cli_error(json_result, EXIT_INPUT, "not a trace")
    assert json_result.stdout == ""


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert_cli_error(invoke("replay", str(tmp_path / "none.json")), EXIT_USAGE, "does not exist")


def test_the_uncut_trace_matches(tmp_path: Path) -> None:
    path = tmp_path / "t.itf.json"
    path.write_text(json.dumps(correct_run()))
    result = invoke("replay", str(path))
    assert result.exit_code == EXIT_OK and "matches (4/4 steps replayed)" in result.stdout
    assert result.stderr == ""


def test_a_changed_recording_diverges_with_its_own_status(tmp_path: Path) -> None:
    document = correct_run()
    document["states"][2]["effects"] = []
    path = tmp_path / "t.itf.json"
    path.write_text(json.dumps(document))
    result = invoke("replay", str(path))
    assert result.exit_code == EXIT_DIFFERS and "diverges (2/4" in result.stdout


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        ("matches", EXIT_OK),
        ("reproduces", EXIT_VIOLATION),
        ("fails", EXIT_DIFFERS),
        ("diverges", EXIT_DIFFERS),
    ],
)
def test_each_replay_verdict_has_its_status(verdict: str, status: int) -> None:
    from blockfsm.adapters.engines.results import ReplayResult

    assert ReplayResult(verdict=verdict, steps=1, replayed=1).exit_code == status


def test_reproduces_differs_and_not_a_trace_are_three_statuses() -> None:
    from blockfsm.adapters.engines.results import EXIT_DIVERGES, EXIT_NOT_A_TRACE, EXIT_REPRODUCES

    assert len({EXIT_REPRODUCES, EXIT_DIVERGES, EXIT_NOT_A_TRACE, EXIT_OK, EXIT_USAGE}) == 5


# --- the reference page documents every status of every command ----------------------------------


def test_the_cli_reference_lists_every_exit_status_and_each_commands_own() -> None:
    from blockfsm.adapters.docsite.reference import cli_reference
    from blockfsm.adapters.exits import EXIT_STATUSES

    page = cli_reference()
    assert "## Exit statuses" in page
    for status in EXIT_STATUSES:
        assert f"\n| {status} | " in page
    sections = page.split("\n## `blockfsm ")[1:]
    assert len(sections) >= len(main.list_commands(click.Context(main)))
    for section in sections:
        assert "Exit status: " in section, section.splitlines()[0]
    replay = next(s for s in sections if s.startswith("replay`"))
    for status in (EXIT_OK, EXIT_VIOLATION, EXIT_DIFFERS, EXIT_INPUT):
        assert f"{status} " in replay.split("Exit status: ", 1)[1].split("\n\n", 1)[0]


def test_the_readme_tells_a_contributor_to_install_editable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    after_commands = quickstart.rsplit("```", 1)[1]
    assert "pip install -e '.[test]'" in after_commands
