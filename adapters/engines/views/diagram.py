"""A spec's state diagram as SVG, drawn here from its rows, with each edge's hits as heat.

The documentation draws the same rows through Mermaid (``blockfsm.spec.oracle.mermaid``), a
2.7 MB script: drawn here, a page stays small, opens from disk with no script to fetch, and
every edge is one ``<g>`` naming its rows (``data-rows``), so a trace view can light the row a
step took and a report can colour each edge by how often its rows were hit. Only transition rows
are edges, as in the documentation; ignore and reject rows leave the state as it was, and are
in the row table below the diagram, with their hits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from blockfsm.spec.language import MachineSpec, Row

WIDTH, HEIGHT = 760, 540
BOX_W, BOX_H = 120, 34
LINE = 12
MAX_LINES = 4


def heat_colour(hits: int, most: int) -> str:
    """A colour from pale yellow (1 hit) to deep red (the most hit row), on a log scale."""
    if most <= 1:
        share = 1.0
    else:
        share = math.log(hits) / math.log(most) if hits > 1 else 0.0
    hue = 50 - 50 * share
    light = 60 - 18 * share
    return f"hsl({hue:.0f},90%,{light:.0f}%)"


def _canvas(states: list[str]) -> tuple[int, dict[str, tuple[float, float]]]:
    """The height of the picture and each state's centre: one state alone, two side by side,
    more around an ellipse."""
    n = len(states)
    if n == 1:
        return 200, {states[0]: (WIDTH / 2, 150)}
    cx, cy = WIDTH / 2, HEIGHT / 2
    rx, ry = WIDTH / 2 - BOX_W / 2 - 110, HEIGHT / 2 - BOX_H - 110
    if n == 2:
        return 170, {states[0]: (cx - rx, 70), states[1]: (cx + rx, 70)}
    return HEIGHT, {
        s: (cx - rx * math.cos(2 * math.pi * k / n), cy - ry * math.sin(2 * math.pi * k / n))
        for k, s in enumerate(states)
    }


def edges(spec: MachineSpec) -> dict[tuple[str, str], list[Row]]:
    """The transition rows grouped by (source, target), every target of a row with several."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in spec.rows:
        if row.kind != "transition":
            continue
        for target in row.targets:
            grouped.setdefault((row.source, target), []).append(row)
    return grouped


def _label(x: float, y: float, lines: list[str], anchor: str = "middle") -> str:
    spans = "".join(
        f'<tspan x="{x:.0f}" dy="{0 if k == 0 else LINE}">{escape(t)}</tspan>'
        for k, t in enumerate(lines)
    )
    top = y - LINE * (len(lines) - 1) / 2
    return (
        f'<text x="{x:.0f}" y="{top:.0f}" text-anchor="{anchor}" class="edge-label">{spans}</text>'
    )


def diagram_svg(
    spec: MachineSpec, counts: Mapping[str, int] | None = None, *, exact: bool = True
) -> str:
    """The SVG of ``spec``'s diagram. With ``counts`` (hits per row id) each edge is coloured by
    its rows' hits and an edge none of whose rows was hit is dashed and marked ``uncovered``; the
    ignore and reject rows never hit (no edge: they leave the state as it was) are named in red
    under their state. ``exact=False``: the counts say only hit (1) or not (0), and an edge
    says "hit" rather than a number."""
    states = list(spec.states)
    height, at = _canvas(states)
    cx = sum(p[0] for p in at.values()) / len(at)
    cy = sum(p[1] for p in at.values()) / len(at)
    most = max((counts or {}).values(), default=0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" viewBox="0 0 {WIDTH} '
        f'{height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="state diagram of {escape(spec.name)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" '
        'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M0,0L10,5L0,10z" fill="#444"/></marker></defs>',
    ]
    for (source, target), rows in edges(spec).items():
        ids = " ".join(r.id for r in rows)
        events = sorted({r.event for r in rows})
        lines = events[:MAX_LINES]
        if len(events) > MAX_LINES:
            lines[-1] = f"+{len(events) - MAX_LINES + 1} more"
        hits = sum((counts or {}).get(r.id, 0) for r in rows)
        classes = "edge"
        colour = "#555"
        if counts is not None:
            if hits:
                colour = heat_colour(hits, most)
                lines.append(f"{hits} hits" if exact else "hit")
            else:
                classes += " uncovered"
                colour = "#b00"
                lines.append("never hit")
        title = "; ".join(
            f"{r.id}: {r.event}" + (f" [{r.guard.name}]" if r.guard else "") for r in rows
        )
        if counts is not None:
            title += f" ({hits} hits)" if exact else (" (hit)" if hits else " (never hit)")
        x1, y1 = at[source]
        x2, y2 = at[target]
        if source == target:
            # A loop on the side of the state away from the centre (above, for one state).
            ox, oy = x1 - cx, y1 - cy
            norm = math.hypot(ox, oy)
            ux, uy = (ox / norm, oy / norm) if norm > 1 else (0.0, -1.0)
            px, py = -uy, ux
            bx, by = x1 + ux * (BOX_H / 2 + 2), y1 + uy * (BOX_H / 2 + 2)
            if abs(ux) > abs(uy):
                bx = x1 + ux * (BOX_W / 2 + 2)
            a = (bx + px * 14, by + py * 14)
            b = (bx - px * 14, by - py * 14)
            c1 = (a[0] + ux * 55 + px * 25, a[1] + uy * 55 + py * 25)
            c2 = (b[0] + ux * 55 - px * 25, b[1] + uy * 55 - py * 25)
            path = (
                f"M{a[0]:.0f},{a[1]:.0f} C{c1[0]:.0f},{c1[1]:.0f} {c2[0]:.0f},{c2[1]:.0f} "
                f"{b[0]:.0f},{b[1]:.0f}"
            )
            if abs(ux) > 0.5:  # a loop on the left or right: its label below it
                lx, ly = bx + ux * 40, by + 30 + LINE * len(lines) / 2
            else:
                lx, ly = bx + ux * 62, by + uy * 62
                ly += LINE * (len(lines) / 2) * (1 if uy > 0 else -1)
        else:
            dx, dy = x2 - x1, y2 - y1
            length = math.hypot(dx, dy) or 1.0
            ux, uy = dx / length, dy / length
            sx, sy = _border(x1, y1, ux, uy)
            ex, ey = _border(x2, y2, -ux, -uy)
            # Bend to the left of the direction: A->B and B->A fall on opposite sides.
            mx, my = (sx + ex) / 2 - uy * 50, (sy + ey) / 2 + ux * 50
            path = f"M{sx:.0f},{sy:.0f} Q{mx:.0f},{my:.0f} {ex:.0f},{ey:.0f}"
            # The label a third of the way along: two edges that cross in the middle, or run
            # between one pair of states, keep their labels apart.
            t = 0.35
            lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * mx + t**2 * ex
            ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * my + t**2 * ey
        dash = ' stroke-dasharray="6 4"' if "uncovered" in classes else ""
        parts.append(
            f'<g class="{classes}" data-rows="{escape(ids)}"><title>{escape(title)}</title>'
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash} '
            f'marker-end="url(#arrow)"/>{_label(lx, ly, lines)}</g>'
        )
    for state in states:
        x, y = at[state]
        initial = " initial" if state == spec.initial else ""
        parts.append(
            f'<g class="state{initial}" data-state="{escape(state)}">'
            f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="10" fill="#eef3fb" stroke="#345" stroke-width="1.5"/>'
            f'<text x="{x:.0f}" y="{y + 5:.0f}" text-anchor="middle">{escape(state)}</text></g>'
        )
        unhit = [
            r.id
            for r in spec.rows
            if counts is not None
            and r.kind != "transition"
            and state in r.sources
            and not counts.get(r.id, 0)
        ]
        if unhit:
            shown = ", ".join(unhit[:4]) + (f" +{len(unhit) - 4}" if len(unhit) > 4 else "")
            parts.append(
                f'<text x="{x:.0f}" y="{y + BOX_H / 2 + 13:.0f}" text-anchor="middle" '
                f'class="uncovered-rows" fill="#b00" data-rows="{escape(" ".join(unhit))}">'
                f"never hit: {escape(shown)}<title>ignore or reject rows of {escape(state)} "
                f"never hit: {escape(', '.join(unhit))}</title></text>"
            )
        if initial:
            parts.append(
                f'<circle cx="{x - BOX_W / 2 - 12:.0f}" cy="{y:.0f}" r="5" fill="#345">'
                "<title>initial state</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _border(x: float, y: float, ux: float, uy: float) -> tuple[float, float]:
    """Where a ray from a box's centre along (ux, uy) leaves the box."""
    tx = (BOX_W / 2) / abs(ux) if ux else math.inf
    ty = (BOX_H / 2) / abs(uy) if uy else math.inf
    t = min(tx, ty) + 3
    return x + ux * t, y + uy * t


def rows_table(
    spec: MachineSpec, counts: Mapping[str, int] | None = None, *, exact: bool = True
) -> str:
    """Every row of ``spec`` with its hits; a row never hit is marked ``uncovered``."""
    head = "<tr><th>row</th><th>source</th><th>event</th><th>guard</th><th>target</th>"
    head += "<th>kind</th>" + ("<th>hits</th>" if counts is not None else "") + "</tr>"
    body = []
    for r in spec.rows:
        hits = None if counts is None else counts.get(r.id, 0)
        cls = ' class="uncovered"' if hits == 0 else ""
        target = " / ".join(r.targets) if r.kind == "transition" else r.source
        guard = r.guard.name if r.guard else ""
        cells = [r.id, r.source, r.event, guard, target, r.kind]
        row = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        if hits is not None:
            row += f'<td class="num">{hits if exact or not hits else "hit"}</td>'
        body.append(f'<tr data-row="{escape(r.id)}"{cls}>{row}</tr>')
    return f'<table class="rows">{head}{"".join(body)}</table>'
