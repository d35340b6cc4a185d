"""The layers and import directions of docs/architecture.md, held by import-linter.

The contracts live in pyproject.toml (``[tool.importlinter]``). import-linter reads the package
from where it is installed, and an editable install of this repository maps folders to packages
(``package-dir``), which it cannot follow; so the test stages the source tree as one package
(``blockfsm/`` with ``spec/``, ``machine/`` and ``adapters/`` inside), as ``pip install .`` would,
and runs ``lint-imports`` on it: once as it is, once with a forbidden import planted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.timeout(60)


def stage(into: Path) -> Path:
    package = into / "blockfsm"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "package", package, ignore=skip)
    for folder in ("spec", "machine", "adapters"):
        shutil.copytree(ROOT / folder, package / folder, ignore=skip)
    return package


def lint(staged: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(staged.parent)}
    return subprocess.run(
        [str(LINT), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=staged.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )


def test_every_contract_is_kept(tmp_path: Path) -> None:
    result = lint(stage(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        (
            "machine/core.py",
            "from blockfsm.adapters.node import crypto as _planted  # noqa",
            "the pure core imports neither the spec nor the adapters",
        ),
        (
            "machine/view.py",
            "from blockfsm.spec import language as _planted  # noqa",
            "the pure core imports neither the spec nor the adapters",
        ),
        (
            "adapters/node/store.py",
            "from blockfsm.adapters.engines import itf as _planted  # noqa",
            "adapters: docsite <- commands <- engines <- node <- exits",
        ),
        (
            "spec/sync_server.py",
            "import hypothesis as _planted  # noqa",
            "need attrs and the standard library alone",
        ),
        (
            # a module inside a spec package: the contract names the package, which covers it
            "spec/sync_client/invariants.py",
            "import hypothesis as _planted  # noqa",
            "need attrs and the standard library alone",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    staged = stage(tmp_path)
    target = staged / module
    target.write_text(target.read_text() + "\n" + planted + "\n")
    result = lint(staged)
    assert result.returncode == 1, result.stdout
    assert "Broken contracts" in result.stdout, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in " ".join(broken.split()), result.stdout


def test_every_package_folder_is_listed_for_installation() -> None:
    """pyproject.toml lists its packages by name (the folders map to them through package-dir):
    a sub-package left out installs without its files, which an editable install never shows."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        "blockfsm." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in ("spec", "machine", "adapters")
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found - listed == set(), f"not listed in pyproject.toml: {sorted(found - listed)}"
