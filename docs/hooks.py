"""MkDocs hooks: add the generated reference pages, the vendored Mermaid script and the views of
the counterexample guide to the build.

The reference pages come from ``blockfsm.adapters.docsite.reference`` (config classes, CLI,
docstrings);
Mermaid comes from ``node_modules`` (installed by ``npm ci`` from the pinned lockfile), so the
site renders its diagrams without reaching any network.

The guide on reading a counterexample (guides/counterexamples.md) shows views the build makes:
a cluster counterexample from the simulator and one from the explorer, both of the bug planted
in tests/planted.py, and a ``check --html`` report of the sync server. Their pages are added to
the site under guides/views/, and, where Chromium is installed, screenshots of them taken by
headless Chromium; a ``<!-- screenshot NAME: caption -->`` line of the guide becomes that
image, or a link to the page when there is no Chromium.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from blockfsm.adapters.docsite.reference import generated_pages

ROOT = Path(__file__).resolve().parent.parent
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
VIEWS = "guides/views"
SHOTS: dict[str, tuple[str, str]] = {
    # name: (page, query string the screenshot is taken at)
    "cluster-violation": ("cluster.html", "?keys=v"),
    "cluster-step": ("cluster.html", "?step=21"),
    "explore": ("explore.html", "?keys=End"),
    "report": ("report/index.html", ""),
}
_shots: set[str] = set()


def on_files(files: Files, config: Any) -> Files:
    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    if not MERMAID.is_file():
        raise SystemExit(
            f"{MERMAID} is missing: run `npm ci` in {ROOT} first (it installs the pinned Mermaid)"
        )
    files.append(File.generated(config, "js/mermaid.min.js", abs_src_path=str(MERMAID)))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        _write_views(out)
        for page in sorted(out.rglob("*.html")):
            uri = f"{VIEWS}/{page.relative_to(out).as_posix()}"
            files.append(File.generated(config, uri, content=page.read_text(encoding="utf-8")))
        _shots.clear()
        for name, (page, query) in SHOTS.items():
            shot = _screenshot(out / page, query, out / f"{name}.png")
            if shot is not None:
                files.append(File.generated(config, f"{VIEWS}/{name}.png", content=shot))
                _shots.add(name)
    return files


SHOT_LINE = re.compile(r"^<!-- screenshot ([\w-]+): (.*?) -->$", re.M)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    def replace(match: re.Match[str]) -> str:
        name, caption = match.group(1), match.group(2)
        target = SHOTS[name][0]
        if name in _shots:
            return (
                f"![{caption}](views/{name}.png)\n\n*{caption}* ([open the page](views/{target}))"
            )
        return f"*{caption}: [open the page](views/{target}) (no screenshot: Chromium is missing)*"

    return SHOT_LINE.sub(replace, markdown)


class _Patch:
    """Just enough of pytest's ``MonkeyPatch`` for tests/planted.py."""

    def __init__(self) -> None:
        self.saved: list[tuple[Any, str, Any]] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self.saved.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def undo(self) -> None:
        for target, name, value in reversed(self.saved):
            setattr(target, name, value)
        self.saved.clear()


def _write_views(out: Path) -> None:
    import json

    from blockfsm.adapters.engines.campaigns import run_campaign
    from blockfsm.adapters.engines.explore import ClusterSystem, bfs, system_document
    from blockfsm.adapters.engines.registry import campaigns
    from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig
    from blockfsm.adapters.engines.simtrace import TracedSimulation, simulation_document
    from blockfsm.adapters.engines.views import view_document
    from blockfsm.adapters.engines.views.report import row_counts, write_report
    from blockfsm.spec.strategies.profiles import load_profile

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from planted import attester_forgets_its_attestations
    finally:
        sys.path.remove(str(ROOT / "tests"))
    patch = _Patch()
    attester_forgets_its_attestations(patch)  # type: ignore[arg-type]
    try:
        sim = TracedSimulation(SimConfig(nodes=4, byzantine=1, seed=10))
        try:
            sim.run(200_000)
            raise SystemExit("the planted bug no longer makes seed 10 sign twice")
        except SafetyViolation as violation:
            cluster = json.loads(json.dumps(simulation_document(sim, violation)))
        system = ClusterSystem()
        found = bfs(system)
        assert found.violation is not None, "the explorer no longer finds the planted bug"
        explored = json.loads(json.dumps(system_document(system, found.violation)))
    finally:
        patch.undo()
    name = "traces/simulation-10.itf.json"
    (out / "cluster.html").write_text(view_document(cluster, name), encoding="utf-8")
    name = "traces/explore-cluster-byzantine1-delays2-faults0-heights3-in_flight64-nodes4-ticks6"
    name += ".itf.json"
    (out / "explore.html").write_text(view_document(explored, name), encoding="utf-8")
    profile = load_profile()
    (server,) = [c for c in campaigns() if c.machine == "sync_server"]
    result = run_campaign(server, budget_seconds=30.0, seed=1, max_examples=20)
    write_report(
        out / "report",
        results=[result],
        explorations=[],
        trace_files={},
        counts=row_counts([server]),
        ok=result.ok,
        seed=1,
        budget=30.0,
        profile=profile,
    )


def _screenshot(page: Path, query: str, shot: Path) -> bytes | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1280,1000",
                f"--screenshot={shot}",
                page.as_uri() + query,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    return shot.read_bytes() if shot.is_file() else None
