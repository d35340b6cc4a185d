"""The HTML views in a real browser: headless Chromium opens a `check --html` report and trace
views (a machine trace and a 198-step cluster counterexample) from disk, and every diagram is an
SVG, no script failed, and the keys step through the trace (the page reads `?keys=` and presses
them through the same handler a keyboard reaches). Screenshots are kept in $BLOCKFSM_ARTIFACTS
(default .ci/artifacts/), with the cluster page's size and load time.

Without Chromium the tests are skipped, unless BLOCKFSM_REQUIRE_DOCS_SITE=1 (set by .ci/run),
which turns the skip into a failure, as in tests/test_docs_site.py.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_views import check_run, planted_simulation  # noqa: F401  (a fixture, and a trace)

from blockfsm.adapters.engines.views import read_trace, view_document

pytestmark = pytest.mark.timeout(180)
"""These tests wait on Chromium: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("BLOCKFSM_REQUIRE_DOCS_SITE") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
]


def artifacts() -> Path:
    where = Path(os.environ.get("BLOCKFSM_ARTIFACTS", ROOT / ".ci" / "artifacts"))
    where.mkdir(parents=True, exist_ok=True)
    return where


def chromium(args: list[str], profile: Path) -> str:
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail("BLOCKFSM_REQUIRE_DOCS_SITE=1 but Chromium is not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout


def dom(page: Path, query: str, profile: Path) -> str:
    return chromium(["--dump-dom", page.as_uri() + query], profile)


def body_attributes(text: str) -> dict[str, str]:
    match = re.search(r"<body([^>]*)>", text)
    assert match is not None, text[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))


def assert_rendered(text: str) -> dict[str, str]:
    """The page ran its script without error and every diagram is an SVG."""
    attributes = body_attributes(text)
    assert attributes.get("data-ready") == "1", attributes
    assert "data-script-error" not in attributes, attributes
    diagrams = re.findall(r'<div class="diagram">(.{0,5})', text)
    assert diagrams and all(d.startswith("<svg") for d in diagrams), diagrams
    assert "Syntax error" not in text
    return attributes


@pytest.fixture(scope="module")
def cluster_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("cluster")
    document = planted_simulation()
    page = out / "simulation-10.html"
    page.write_text(view_document(document, "simulation-10.itf.json"), encoding="utf-8")
    return page, document


def test_the_report_and_its_trace_view_render(
    check_run: tuple[Path, dict[str, Any]],  # noqa: F811
    tmp_path: Path,
) -> None:
    out, _ = check_run
    report = out / "report" / "index.html"
    text = dom(report, "", tmp_path)
    assert_rendered(text)
    assert text.count('class="state-diagram"') == 1
    (link,) = set(re.findall(r'href="(traces/[^"]+)"', text))
    trace = assert_rendered(dom(out / "report" / link, "", tmp_path))
    assert trace["data-step"] == "0"
    shot = artifacts() / "views-check-report.png"
    shot.unlink(missing_ok=True)
    chromium(["--window-size=1280,2000", f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_keys_step_through_a_machine_trace_and_light_the_row_taken(
    check_run: tuple[Path, dict[str, Any]],  # noqa: F811
    tmp_path: Path,
) -> None:
    out, _ = check_run
    page = out / "report" / "traces" / "sync_server-3.html"
    view = read_trace(json.loads((out / "traces" / "sync_server-3.itf.json").read_text()))
    opened = dom(page, "", tmp_path)
    stepped = dom(page, "?keys=j,j,ArrowRight,k", tmp_path)
    assert body_attributes(opened)["data-step"] == "0"
    assert body_attributes(stepped)["data-step"] == "2"
    # What the page shows changed with the step: its title, the row taken, lit in the diagram.
    title = re.search(r'id="step-title">([^<]*)<', stepped)
    assert title is not None and html.unescape(title.group(1)) == view.steps[2]["title"]
    row = view.steps[2]["row"]
    assert row is not None
    lit = re.findall(r'<g class="edge taken" data-rows="([^"]*)"', stepped)
    taken = re.findall(r'<tr data-row="([^"]*)" class="taken"', stepped)
    assert taken == [row]
    if view.spec.row(row).kind == "transition":
        assert lit and all(row in rows.split() for rows in lit)
    else:  # an ignore or reject row: no edge, the row table only
        assert lit == []
    assert "edge taken" not in opened


def test_a_cluster_trace_steps_to_its_violation_and_is_small_and_quick(
    cluster_page: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    page, document = cluster_page
    view = read_trace(document)
    last = len(view.steps) - 1
    at_end = assert_rendered(dom(page, "?keys=End", tmp_path))
    assert at_end["data-step"] == str(last)
    back = dom(page, "?step=10&keys=ArrowLeft,k,j", tmp_path)
    assert body_attributes(back)["data-step"] == "9"
    violation = dom(page, "?keys=v", tmp_path)
    assert body_attributes(violation)["data-step"] == str(view.violation_step)
    assert re.search(r'<span id="step-violation">violation</span>', violation)
    assert re.search(r'<g class="msc-step current" data-step="197">', violation)
    loads = [int(body_attributes(dom(page, "", tmp_path))["data-ready-ms"]) for _ in range(3)]
    size = page.stat().st_size
    shots = artifacts()
    shot = shots / "views-cluster-trace.png"
    shot.unlink(missing_ok=True)
    chromium(
        ["--window-size=1280,1800", f"--screenshot={shot}", page.as_uri() + "?step=150"],
        tmp_path,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    (shots / "views-cluster-trace.json").write_text(
        json.dumps({"steps": len(view.steps), "bytes": size, "load_ms": loads}) + "\n"
    )
    assert size < 2_000_000
