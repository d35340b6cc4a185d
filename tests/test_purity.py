"""The pure layers stay pure: no I/O, threads, clock or unseeded randomness in spec/ or machine/."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent

WORLD_MODULES = {
    "socket",
    "asyncio",
    "threading",
    "_thread",
    "lmdb",
    "nacl",
    "subprocess",
    "logging",
    "multiprocessing",
    "selectors",
    "concurrent",
    "ssl",
}
CLOCK_AND_RANDOM = {"time", "datetime", "random", "secrets", "uuid", "os"}
TESTING_TOOLS = {"spec/strategies", "spec/campaigns"}


def _modules_loaded(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_importing_the_machine_layer_loads_nothing_that_touches_the_world() -> None:
    # attrs itself imports threading (a lock in attr._compat); the baseline takes that out, so
    # what is left is what blockfsm.machine and blockfsm.spec bring in on their own. The spec's
    # docs tooling (oracle, render) uses the transitions library, which loads logging and asyncio;
    # nothing in the machine layer imports it.
    baseline = _modules_loaded("import attrs")
    loaded = _modules_loaded(
        "import importlib, pkgutil, blockfsm.machine, blockfsm.spec\n"
        "for i in pkgutil.iter_modules(blockfsm.machine.__path__):\n"
        "    importlib.import_module('blockfsm.machine.' + i.name)\n"
        "for i in pkgutil.iter_modules(blockfsm.spec.__path__):\n"
        "    if i.name not in ('oracle', 'render', 'strategies', 'campaigns'):\n"
        "        m = importlib.import_module('blockfsm.spec.' + i.name)\n"
        "        for j in pkgutil.iter_modules(getattr(m, '__path__', [])):\n"
        "            importlib.import_module(m.__name__ + '.' + j.name)\n"
    )
    extra = loaded - baseline
    assert not (extra & WORLD_MODULES), sorted(extra & WORLD_MODULES)
    assert "hypothesis" not in extra, "the machine layer must not pull in Hypothesis"


def _pure_sources() -> list[Path]:
    files = sorted((ROOT / "machine").rglob("*.py")) + sorted((ROOT / "spec").rglob("*.py"))
    return [
        f for f in files if not any(str(f.relative_to(ROOT)).startswith(t) for t in TESTING_TOOLS)
    ]


def _offences(paths: list[Path]) -> list[str]:
    offences = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in CLOCK_AND_RANDOM | WORLD_MODULES | {"io", "pathlib", "builtins"}:
                    offences.append(f"{path}:{node.lineno} imports {name}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id in {"open", "input", "print", "hash", "id"}:
                    offences.append(f"{path}:{node.lineno} calls {node.func.id}()")
    return offences


def test_pure_layers_import_no_clock_randomness_or_io() -> None:
    # hash() and id() are banned too: str/bytes hashes are salted per process, so anything
    # derived from them differs between runs.
    offences = _offences(_pure_sources())
    assert not offences, "\n".join(offences)


def test_the_purity_scan_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom random import choice\nx = hash(b'k')\n")
    assert len(_offences([bad])) == 3
