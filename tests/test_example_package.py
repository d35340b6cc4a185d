"""The example package of docs/guides/new-machine.md (examples/lease), installed in a fresh venv
over this one as a user would install it, checked by every engine through its entry point and
through --module: check, spec render --check, explore, and the planted bug's trace replayed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "examples" / "lease"
GUIDE = ROOT / "docs" / "guides" / "new-machine.md"
BUG = {"LEASE_EXAMPLE_BUG": "never-expires"}


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv that sees this one's packages (blockfsm included) with the example installed."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(where)
    interpreter = where / "bin" / "python"
    # The new venv's "system" site is the base interpreter's; add this venv's site-packages.
    site = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    purelib = subprocess.run(
        [interpreter, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(purelib, "outer.pth").write_text(f"import site; site.addsitedir({site!r})\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(interpreter),
            "install",
            "-q",
            "--no-deps",
            str(PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert install.returncode == 0, install.stderr
    return interpreter


def run(
    python: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "LEASE_EXAMPLE_BUG"}
    environ.update(env or {})
    return subprocess.run(
        [
            str(python),
            "-m",
            "blockfsm",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=environ,
        cwd=cwd,
    )


@pytest.mark.timeout(600)
def test_the_example_package_through_every_engine(python: Path, tmp_path: Path) -> None:
    checked = run(
        python,
        "check",
        "--machine",
        "lease",
        "--examples",
        "60",
        "--seed",
        "3",
        "--json",
        "--trace-dir",
        str(tmp_path / "clean"),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    ids = {(e["machine"], e["id"], e["status"]) for e in report["invariants"]}
    assert {("lease", "L-1", "held"), ("lease", "LL-1", "held")} <= ids
    (system,) = report["exploration"]["systems"]
    assert system["system"] == "lease_system" and system["complete"]

    rendered = run(
        python,
        "spec",
        "render",
        "--module",
        "lease_example.checks",
        "--out",
        str(PACKAGE / "docs"),
        "--check",
    )
    assert rendered.returncode == 0, rendered.stderr
    page = (PACKAGE / "docs" / "lease.md").read_text()
    assert "from `lease_example.spec` (lease_example/spec.py)" in page
    system_page = (PACKAGE / "docs" / "lease_system.md").read_text()
    assert "from `lease_example.checks` (lease_example/checks.py)" in system_page

    explored = run(
        python, "explore", "--system", "lease_system", "--module", "lease_example.checks", "--json"
    )
    assert explored.returncode == 0, explored.stderr
    assert json.loads(explored.stdout)["complete"] is True

    simulated = run(
        python,
        "simulate",
        "--system",
        "lease_system",
        "--seed",
        "4",
        "--ticks",
        "30",
        "--bound",
        "10",
        "--json",
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    assert json.loads(simulated.stdout)["liveness"] == {"LSL-1": True}

    campaign = subprocess.run(
        [
            str(python),
            "-c",
            "from hypothesis import settings\n"
            "from hypothesis.stateful import run_state_machine_as_test as run\n"
            "from lease_example.checks import LeaseSystemTest\n"
            "run(LeaseSystemTest, settings=settings(max_examples=20, database=None))\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **BUG},
    )
    assert campaign.returncode != 0 and "conformance" in campaign.stderr, campaign.stderr[-2000:]

    traces = tmp_path / "bug"
    planted = run(
        python,
        "check",
        "--machine",
        "lease",
        "--examples",
        "60",
        "--seed",
        "3",
        "--no-explore",
        "--trace-dir",
        str(traces),
        env=BUG,
    )
    assert planted.returncode == 1, planted.stdout + planted.stderr
    (trace,) = traces.glob("lease-*.itf.json")
    assert '"tag": "lease_example.machine.' in trace.read_text()
    again = run(python, "replay", str(trace), env=BUG)
    assert again.returncode == 1 and "reproduces" in again.stdout, again.stdout + again.stderr
    fixed = run(python, "replay", str(trace), "--module", "lease_example.checks")
    assert fixed.returncode == 3 and "diverges" in fixed.stdout, fixed.stdout + fixed.stderr

    simulated_bug = run(
        python,
        *("simulate", "--system", "lease_system", "--seed", "4", "--ticks", "30"),
        *("--json", "--trace-dir", str(tmp_path / "sim")),
        env=BUG,
    )
    assert simulated_bug.returncode == 1, simulated_bug.stdout + simulated_bug.stderr
    system_trace = json.loads(simulated_bug.stdout)["trace_file"]
    assert run(python, "replay", system_trace, env=BUG).returncode == 1  # reproduces
    assert run(python, "replay", system_trace).returncode == 3  # diverges

    bad = run(python, "check", "--module", "lease_example.nowhere", "--no-explore")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


FILE_BLOCK = re.compile(r'^```(?:python|toml) title="([^"]+)"\n(.*?)^```', re.S | re.M)


def test_the_guide_shows_the_example_package_as_it_is() -> None:
    """Every block of the guide that names a file of the example package is that file, whole."""
    shown = FILE_BLOCK.findall(GUIDE.read_text())
    assert {name for name, _ in shown} >= {
        "examples/lease/lease_example/spec.py",
        "examples/lease/lease_example/machine.py",
        "examples/lease/lease_example/checks.py",
        "examples/lease/pyproject.toml",
    }
    for name, body in shown:
        assert body == (ROOT / name).read_text(), f"{name}: the guide's block differs from the file"
