"""HTML views of a run, written as static pages that open from disk with nothing to fetch: the
report of ``blockfsm check --html DIR`` (``report.write_report``) and the view of one ITF trace,
``blockfsm view TRACE -o PAGE`` (``view_trace``). Built with the standard library alone; the
state diagrams are drawn here as SVG (``diagram``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blockfsm.adapters.engines.views.page import trace_page
from blockfsm.adapters.engines.views.trace import KINDS, TraceView, read_trace

__all__ = ["KINDS", "TraceView", "read_trace", "trace_page", "view_document", "view_trace"]


def view_document(document: Any, source: str = "") -> str:
    """The HTML page of an ITF document (``ITFError`` when it is not a trace blockfsm writes)."""
    return trace_page(read_trace(document), source)


def view_trace(trace: Path, out: Path) -> Path:
    """Write the view of the trace file ``trace`` to ``out``."""
    from blockfsm.adapters.engines.itf import load

    page = view_document(load(trace), str(trace))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
