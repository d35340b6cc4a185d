"""The HTML of a trace view: one file, its style, script and data inline, no request made.

The page holds the steps as JSON and a small script that shows one step at a time: the event,
the row taken (lit on the diagram and in the row table), the effects, the difference of the
state; the message sequence chart marks the step. Keys: → or j the next step, ← or k the one
before, Home and End, v the violation. The query string may name a step to open at (``?step=12``)
and keys to press once loaded (``?keys=j,j,k``), which is how a headless browser test drives it.
A script error is left on ``<body data-script-error>``; once the page is shown, ``<body
data-ready-ms>`` holds the milliseconds from navigation to then (the page's load time).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from blockfsm.adapters.engines.views.diagram import diagram_svg, rows_table
from blockfsm.adapters.engines.views.trace import TraceView, msc_svg

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 1.5em 3em;color:#222;background:#fff}
h1{font-size:1.4em;margin:.8em 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:left;vertical-align:top}th{background:#f2f2f2}td.num{text-align:right}
tr.uncovered td{background:#fee}tr.taken td{background:#ffe08a}.violated{color:#b00;
font-weight:bold}.held{color:#080}code,.mono{font-family:ui-monospace,monospace;font-size:12px}
.edge-label{font-size:11px;fill:#333}.state text{font-size:13px}
.edge.taken path{stroke:#06c!important;stroke-width:5}.edge.taken text{fill:#06c;font-weight:bold}
.msc text{font-size:11px}.msc .step-no{fill:#888}.msc-step.current .hl{fill:#ffe08a}
.msc-step{cursor:pointer}.panel{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
#step-box{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:28em;max-width:60em;
background:#fafafa}#step-box dt{font-weight:bold;margin-top:.4em}#step-box dd{margin:0 0 0 1em;
font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
#step-violation{color:#fff;background:#b00;padding:2px 8px;border-radius:4px}
.chart{max-height:85vh;overflow:auto;border:1px solid #ddd}.side{flex:1;min-width:28em}
.msc-wrap{flex:0 1 auto;max-width:55%}.diagram svg{max-width:100%;height:auto}
#step-box{margin-bottom:1em}nav button{margin-right:.4em}
.muted{color:#777}
"""

SCRIPT = r"""
(function () {
  "use strict";
  window.addEventListener("error", function (e) {
    document.body.setAttribute("data-script-error", String(e.message));
  });
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var steps = data.steps, current = 0;
  function $(id) { return document.getElementById(id); }
  function fill(list, items, make) {
    list.textContent = "";
    items.forEach(function (item) { list.appendChild(make(item)); });
  }
  function show(n, scroll) {
    current = Math.max(0, Math.min(steps.length - 1, n));
    var s = steps[current];
    document.body.setAttribute("data-step", String(current));
    $("step-no").textContent = current + " of " + (steps.length - 1);
    $("step-title").textContent = s.title;
    $("step-event").textContent = s.event || "—";
    $("step-row").textContent = s.row_text || s.row || "—";
    $("step-note").textContent = s.note || "";
    $("step-violation").hidden = current !== data.violation_step;
    fill($("step-effects"), s.effects.length ? s.effects : ["(none)"], function (t) {
      var li = document.createElement("li"); li.textContent = t; return li;
    });
    fill($("step-diff"), s.diff, function (d) {
      var tr = document.createElement("tr");
      d.forEach(function (cell) {
        var td = document.createElement("td"); td.textContent = cell; tr.appendChild(td);
      });
      return tr;
    });
    $("diff-none").hidden = s.diff.length > 0;
    document.querySelectorAll(".state-diagram .edge").forEach(function (e) {
      var rows = e.getAttribute("data-rows").split(" ");
      e.classList.toggle("taken", !!s.row && rows.indexOf(s.row) >= 0);
    });
    document.querySelectorAll("tr[data-row]").forEach(function (tr) {
      tr.classList.toggle("taken", tr.getAttribute("data-row") === s.row);
    });
    var chart = document.querySelector(".chart");
    document.querySelectorAll(".msc-step").forEach(function (g) {
      var on = g.getAttribute("data-step") === String(current);
      g.classList.toggle("current", on);
      if (on && scroll && chart) {  // scroll the chart alone, not the page
        var box = chart.getBoundingClientRect(), r = g.getBoundingClientRect();
        if (r.top < box.top || r.bottom > box.bottom) {
          chart.scrollTop += r.top - box.top - box.height / 2;
        }
      }
    });
  }
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var k = e.key;
    if (k === "ArrowRight" || k === "j") { show(current + 1, true); }
    else if (k === "ArrowLeft" || k === "k") { show(current - 1, true); }
    else if (k === "Home") { show(0, true); }
    else if (k === "End") { show(steps.length - 1, true); }
    else if (k === "v" && data.violation_step !== null) { show(data.violation_step, true); }
    else { return; }
    e.preventDefault();
  });
  $("prev").addEventListener("click", function () { show(current - 1, true); });
  $("next").addEventListener("click", function () { show(current + 1, true); });
  document.querySelectorAll(".msc-step").forEach(function (g) {
    g.addEventListener("click", function () { show(parseInt(g.getAttribute("data-step"), 10)); });
  });
  var params = new URLSearchParams(window.location.search);
  var start = parseInt(params.get("step") || "0", 10);
  show(isNaN(start) ? 0 : start, false);
  (params.get("keys") || "").split(",").filter(Boolean).forEach(function (key) {
    document.dispatchEvent(new KeyboardEvent("keydown", {key: key, bubbles: true}));
  });
  document.body.setAttribute("data-ready", "1");
  document.body.setAttribute("data-ready-ms", String(Math.round(window.performance.now())));
})();
"""


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: no ``<`` (so no ``</script>`` or ``<!--``) in the text."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def document_page(title: str, body: str, script: str = "") -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


def trace_page(view: TraceView, source: str = "") -> str:
    """The whole HTML page of a trace view."""
    violation = view.violation
    head = f"<h1>{escape(view.title)}</h1>"
    if source:
        head += f'<p class="muted mono">{escape(source)}</p>'
    if violation is not None:
        at = view.violation_step
        where = f"at step {at}" if at is not None else "after the last step"
        message = violation.get("message") or violation.get("detail") or ""
        head += (
            f'<p class="violated">{escape(str(violation.get("property")))} violated {where}: '
            f"{escape(str(message))}</p>"
        )
    head += (
        '<p class="muted">Keys: → or j next step, ← or k previous, Home/End, v the violation. '
        "Click a step of the chart to go there.</p>"
    )
    box = (
        '<div id="step-box"><nav><button id="prev" type="button">← prev</button>'
        '<button id="next" type="button">next →</button> step <b id="step-no"></b> '
        '<span id="step-violation" hidden>violation</span></nav>'
        '<h2 id="step-title"></h2><dl>'
        '<dt>event</dt><dd id="step-event"></dd>'
        '<dt>spec row taken</dt><dd id="step-row"></dd>'
        '<dt>effects</dt><dd><ol id="step-effects"></ol></dd>'
        "<dt>state: what changed</dt><dd><table><thead><tr><th>path</th><th>before</th>"
        '<th>after</th></tr></thead><tbody id="step-diff"></tbody></table>'
        '<span id="diff-none" class="muted">nothing</span></dd>'
        '<dt>note</dt><dd id="step-note"></dd></dl></div>'
    )
    diagram = ""
    if view.spec is not None:
        diagram = (
            f"<div><h2>{escape(view.spec.name)}: the spec</h2>"
            f'<div class="diagram">{diagram_svg(view.spec)}</div>'
            f"<details><summary>rows</summary>{rows_table(view.spec)}</details></div>"
        )
    if view.nodes:
        chart = (
            '<div class="msc-wrap"><div class="chart">'
            f"{msc_svg(view)}</div>"
            '<p class="muted">The message sequence chart: a row per step; an arrow per message '
            "from the step that sent it to the step that received it (dashed: no recorded step "
            "sent it, as a Byzantine node's; ✕: lost), crashes and restarts on the lifelines."
            "</p></div>"
        )
        panel = f'{chart}<div class="side">{box}{diagram}</div>'
    else:
        panel = f'<div class="side">{box}</div>{diagram}'
    data = {"steps": view.steps, "violation_step": view.violation_step}
    body = (
        head
        + f'<div class="panel">{panel}</div>'
        + f'<script type="application/json" id="trace-data">{script_json(data)}</script>'
    )
    return document_page(view.title, body, SCRIPT)
