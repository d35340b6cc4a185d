"""The documentation site builds with `mkdocs build --strict` (no broken link, no page left out of
the navigation), and in headless Chromium every Mermaid diagram renders to an SVG with no error.

Building needs the `docs` tools (MkDocs, Material) and the pinned Mermaid from `npm ci`; the
browser check needs Chromium. Where they are missing the tests are skipped with the reason, unless
BLOCKFSM_REQUIRE_DOCS_SITE=1 (set by .ci/run after it installs them), which turns a skip into a
failure. A screenshot of a rendered spec page is kept in $BLOCKFSM_ARTIFACTS (default
.ci/artifacts/) as evidence of the run.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REQUIRED = os.environ.get("BLOCKFSM_REQUIRE_DOCS_SITE") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"BLOCKFSM_REQUIRE_DOCS_SITE=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        unavailable("MkDocs/Material are not installed (pip install '.[docs]')")
    if not (ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js").is_file():
        unavailable("the pinned Mermaid is not installed (run `npm ci` in the repository)")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_site_builds_strict_with_every_page(site: Path) -> None:
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).with_suffix("")
        target = site / ("" if rel.name == "index" else str(rel)) / "index.html"
        assert target.is_file(), f"{page} was not built"
    for generated in ("reference/config", "reference/cli", "reference/api-spec"):
        assert (site / generated / "index.html").is_file()


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium(args: list[str], profile: Path) -> str:
    if CHROMIUM is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout


DIAGRAM_PAGES = sorted(
    p.relative_to(DOCS) for p in DOCS.rglob("*.md") if "```mermaid" in p.read_text()
)


def test_there_are_diagrams_to_check() -> None:
    assert len(DIAGRAM_PAGES) >= 4


@pytest.mark.parametrize("page", DIAGRAM_PAGES, ids=str)
def test_every_diagram_renders_to_svg(page: Path, served: str, tmp_path: Path) -> None:
    url_path = "" if page.stem == "index" else str(page.with_suffix("")) + "/"
    dom = chromium(["--virtual-time-budget=20000", "--dump-dom", f"{served}/{url_path}"], tmp_path)
    fences = (DOCS / page).read_text().count("```mermaid")
    rendered = re.findall(r'class="diagram-mermaid"[^>]*><svg', dom)
    assert "data-diagram-error" not in dom, dom[:2000]
    assert "Syntax error" not in dom
    assert len(rendered) == fences, f"{page}: {len(rendered)} of {fences} diagrams rendered"


def test_screenshot_of_a_rendered_spec_page(served: str, tmp_path: Path) -> None:
    artifacts = Path(os.environ.get("BLOCKFSM_ARTIFACTS", ROOT / ".ci" / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "docs-spec-sync_server.png"
    shot.unlink(missing_ok=True)
    chromium(
        [
            "--virtual-time-budget=20000",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            f"{served}/spec/sync_server/",
        ],
        tmp_path,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
