"""``pip install blockfsm`` is the pure core and the spec language on attrs alone.

A fresh virtualenv gets ``pip install <this repository>`` (no extra) and runs
tests/lean_core_run.py in it: every built-in machine is stepped, one under its spec, and the
only third-party distribution installed is attrs. A module of the core that imported Hypothesis,
click, PyNaCl or LMDB would fail there with ModuleNotFoundError.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_the_bare_package_steps_every_machine_with_attrs_alone(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert install.returncode == 0, install.stderr
    run = subprocess.run(
        [str(python), str(ROOT / "tests" / "lean_core_run.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "installed: attrs;" in run.stdout, run.stdout


def test_a_command_whose_extra_is_missing_says_which_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from blockfsm.adapters.commands import cli

    monkeypatch.setitem(cli.EXTRAS, "node", ("no_such_package_here",))
    result = CliRunner().invoke(cli.main, ["status", "--data-dir", "x"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: blockfsm status needs blockfsm[node] (no_such_package_here is missing): "
        "pip install 'blockfsm[node]'"
    ]
    listed = CliRunner().invoke(cli.main, ["--help"]).output
    assert "status    Not available here: needs blockfsm[node]" in listed
    assert "check     Run the property-based campaign" in listed  # its extra is installed


def test_import_blockfsm_machine_exposes_the_public_api() -> None:
    import blockfsm.machine as machine

    assert sorted(machine.__all__) == machine.__all__
    for name in machine.__all__:
        assert hasattr(machine, name), name
    for module in (
        machine.sync_server,
        machine.sync_client,
        machine.producer,
        machine.attester,
        machine.node,
    ):
        assert callable(module.initial) and callable(module.step), module.__name__
