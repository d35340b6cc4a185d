"""MkDocs hooks: add the generated reference pages and the vendored Mermaid script to the build.

The reference pages come from ``blockfsm.adapters.docsite.reference`` (config classes, CLI,
docstrings);
Mermaid comes from ``node_modules`` (installed by ``npm ci`` from the pinned lockfile), so the
site renders its diagrams without reaching any network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from blockfsm.adapters.docsite.reference import generated_pages

ROOT = Path(__file__).resolve().parent.parent
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"


def on_files(files: Files, config: Any) -> Files:
    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    if not MERMAID.is_file():
        raise SystemExit(
            f"{MERMAID} is missing: run `npm ci` in {ROOT} first (it installs the pinned Mermaid)"
        )
    files.append(File.generated(config, "js/mermaid.min.js", abs_src_path=str(MERMAID)))
    return files
