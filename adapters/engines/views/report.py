"""The report of ``blockfsm check --html DIR``: ``DIR/index.html`` and, for each counterexample
trace the run wrote, its trace view in ``DIR/traces/``. Every page opens from disk.

Per machine: its state diagram with each row's hits as heat and the rows never hit marked, and
its row table; the invariant and liveness table with the examples and steps that checked each;
the per-rule counts; the explorations' figures; each violation with its counterexample and a
link to its trace view.

Row hits come from the campaigns' ``Stats`` (``row_counts``). A run with ``--workers`` counts
in other processes, which return only which rows were hit: the report then shows hit or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from blockfsm.adapters.engines.itf import ITFError, load
from blockfsm.adapters.engines.views.diagram import diagram_svg, rows_table
from blockfsm.adapters.engines.views.page import document_page, trace_page
from blockfsm.adapters.engines.views.trace import read_trace

REPORT_SCRIPT = """
window.addEventListener("error", function (e) {
  document.body.setAttribute("data-script-error", String(e.message));
});
document.body.setAttribute("data-ready", "1");
"""


def row_counts(campaigns: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Hits per row id, per machine, from campaigns run in this process (``Campaign.stats`` and
    the stats of the machines each also runs); a campaign that ran elsewhere is left out."""
    counts: dict[str, dict[str, int]] = {}
    for campaign in campaigns:
        if campaign.stats.runs:
            counts[campaign.machine] = dict(campaign.stats.rows)
        for spec, stats in campaign.also:
            if stats.runs:
                counts[spec.name] = dict(stats.rows)
    return counts


def _cell(value: object, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(str(value))}</td>"


def _trace_link(path: Path | None, pages: Mapping[Path, str]) -> str:
    if path is None or path not in pages:
        return ""
    return f' <a href="{escape(pages[path])}">trace view</a>'


def _write_trace_views(out: Path, traces: Iterable[Path]) -> dict[Path, str]:
    """Write each trace's view into ``out/traces/``; its link, relative to ``out``."""
    pages: dict[Path, str] = {}
    for trace in traces:
        if trace in pages:
            continue
        name = trace.name.removesuffix(".json").removesuffix(".itf") + ".html"
        try:
            page = trace_page(read_trace(load(trace)), str(trace))
        except ITFError:
            continue
        target = out / "traces" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
        pages[trace] = f"traces/{name}"
    return pages


def write_report(
    out: Path,
    *,
    results: Sequence[Any],
    explorations: Sequence[tuple[Any, Path | None]],
    trace_files: Mapping[str, Path],
    counts: Mapping[str, Mapping[str, int]],
    ok: bool,
    seed: int,
    budget: float,
    profile: str,
) -> Path:
    """Write the report of a ``check`` run into ``out``; the path of its ``index.html``."""
    from blockfsm.adapters.engines.registry import machines

    out.mkdir(parents=True, exist_ok=True)
    traced = [*trace_files.values(), *(t for _, t in explorations if t is not None)]
    pages = _write_trace_views(out, traced)
    specs = {name: m.spec for name, m in machines().items()}
    verdict = (
        '<p class="held">every property held</p>'
        if ok
        else '<p class="violated">a property was violated</p>'
    )
    body = [
        "<h1>blockfsm check</h1>",
        f"<p>seed {seed}, budget {budget:g} s, profile {escape(profile)}</p>",
        verdict,
    ]
    for r in results:
        v = r.violation
        if v is None:
            continue
        link = _trace_link(trace_files.get(r.machine), pages)
        shrunk = "shrunk" if r.fully_shrunk else "not fully shrunk (shrinking hit its cap)"
        body.append(
            f'<h2 class="violated">{escape(v.machine)} {escape(v.property_id)} violated</h2>'
            f'<p>{escape(v.statement)}</p><p class="mono">{escape(v.message)}</p>'
            f'<p>Counterexample, {shrunk}:{link}</p><ol class="mono">'
            + "".join(f"<li>{escape(line)}</li>" for line in v.trace)
            + "</ol>"
        )
    body.append("<h2>Machines: their rows and properties</h2>")
    for r in results:
        spec = specs.get(r.machine)
        exact = counts.get(r.machine)
        known = exact is not None
        if exact is None:
            hit = set(r.unhit_rows)
            row_hits = {row_id: 0 if row_id in hit else 1 for row_id in _row_ids(spec)}
            how = "hit or not (the run counted in worker processes)"
        else:
            row_hits = {row_id: exact.get(row_id, 0) for row_id in _row_ids(spec)}
            how = "hits per row"
        unhit = ", ".join(r.unhit_rows) or "none"
        body.append(
            f'<section class="machine" id="machine-{escape(r.machine)}">'
            f"<h3>{escape(r.machine)}</h3><p>rows hit {r.rows_hit}/{r.rows_declared} "
            f"({escape(how)}); never hit: {escape(unhit)}; {r.examples} examples in "
            f"{r.batches} batches, {r.seconds:.1f} s"
            + (
                f"; {r.unrecoverable} unrecoverable runs (counted, not bugs)"
                if r.unrecoverable
                else ""
            )
            + "</p>"
        )
        if spec is not None:
            body.append(
                f'<div class="diagram">{diagram_svg(spec, row_hits, exact=known)}</div>'
                + ("<details open>" if r.unhit_rows else "<details>")
                + "<summary>rows and their hits</summary>"
                + rows_table(spec, row_hits, exact=known)
                + "</details>"
            )
        body.append(_properties(r, trace_files, pages))
        if r.adversary:
            acted = ", ".join(f"{escape(name)} {n}" for name, n in r.adversary)
            body.append(f"<p>The adversary acted: {acted}</p>")
        if r.rules:
            body.append(
                "<table><tr><th>rule</th><th>inputs rejected by that rule alone</th></tr>"
                + "".join(
                    ("<tr>" if n else '<tr class="uncovered">')
                    + _cell(rule)
                    + _cell(n, "num")
                    + "</tr>"
                    for rule, n in r.rules
                )
                + "</table>"
            )
        body.append("</section>")
    if explorations:
        body.append(
            "<h2>Explorations</h2><table><tr><th>system</th><th>parameters</th>"
            "<th>distinct states</th><th>transitions</th><th>depth</th><th>complete</th>"
            "<th>seconds</th><th>figures</th><th>violation</th></tr>"
        )
        for e, trace in explorations:
            params = ", ".join(f"{k} {v}" for k, v in e.parameters.items())
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in e.figures.items())
            if e.violation is None:
                found = '<td class="held">none</td>'
            else:
                found = (
                    f'<td class="violated">{escape(e.violation.property_id)}'
                    f"{_trace_link(trace, pages)}</td>"
                )
            body.append(
                "<tr>"
                + "".join(_cell(v) for v in (e.system, params))
                + _cell(e.distinct, "num")
                + _cell(e.states, "num")
                + _cell(e.depth, "num")
                + _cell("yes" if e.complete else "no")
                + _cell(f"{e.seconds:.1f}", "num")
                + _cell(figures)
                + found
                + "</tr>"
            )
        body.append("</table>")
    index = out / "index.html"
    index.write_text(document_page("blockfsm check", "".join(body), REPORT_SCRIPT), "utf-8")
    return index


def _properties(result: Any, trace_files: Mapping[str, Path], pages: Mapping[Path, str]) -> str:
    """The invariant and liveness table of one campaign's result, a violation linked to its
    trace view."""
    rows = [
        "<table><tr><th>machine</th><th>id</th><th>kind</th><th>statement</th>"
        "<th>examples</th><th>steps</th><th>status</th></tr>"
    ]
    for p in result.properties:
        link = ""
        if p.status != "held":
            link = _trace_link(trace_files.get(p.machine), pages)
        status = f'<td class="{escape(p.status)}">{escape(p.status)}{link}</td>'
        rows.append(
            f'<tr id="property-{escape(p.machine)}-{escape(p.id)}">'
            + "".join(_cell(v) for v in (p.machine, p.id, p.kind, p.statement))
            + _cell(p.examples, "num")
            + _cell(p.steps, "num")
            + status
            + "</tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _row_ids(spec: Any) -> list[str]:
    return [] if spec is None else [r.id for r in spec.rows]
