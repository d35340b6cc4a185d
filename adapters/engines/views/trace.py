"""What a trace view shows, read from an ITF trace of any kind blockfsm writes.

``read_trace(document)`` gives a ``TraceView``: per step the event (or action), the spec row it
took, the effects, the state's difference from the step before, and for a cluster (a
``simulation`` trace of ``blockfsm simulate`` or of the cluster campaign, a ``system`` trace of
the cluster explorer) the messages between nodes, which ``msc_svg`` draws as a message sequence
chart. Kinds:

- ``machine`` (``blockfsm check``): the row is the one the spec's guards pick for the recorded
  inputs (``MachineSpec.matching_rows``), as the conformance check picked it;
- ``simulation``: each step is one honest node's; the node's spec has one row per event type, so
  the row is known from the event. The trace keeps a digest of each state, not the state: the
  difference shown is the digest's. Who sent a message is its event's ``peer``, matched to the
  node whose key it is (the keys are rebuilt from the recorded ``SimConfig``); a message is drawn
  from the step that sent it (a ``Send`` or ``Broadcast`` effect) to the step that received it;
  one a Byzantine node sent, or the network duplicated, starts where it arrived;
- ``system``: the action of each step, the whole world's difference, and for the cluster system
  the messages in flight: sent when they enter the flight (the step's effects), delivered,
  dropped or lost;
- ``model``: the events an attester took in each model step and the model's view after it.

Partitions are not recorded in any trace (the network's doings reach a trace only as the
events the nodes were given): a message a partition stopped never arrives, and is not drawn.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape
from typing import Any

import attrs

from blockfsm.adapters.engines.itf import ITFError, decode, read_machine_trace
from blockfsm.adapters.engines.views.values import differences, fields_of, show, tag_of

JSON = Any
KINDS = ("machine", "simulation", "system", "model")


@attrs.frozen(kw_only=True)
class Message:
    sender: int
    receiver: int
    sent: int | None
    """The step that sent it; None when no recorded step did (a Byzantine node, a duplicate)."""
    received: int
    label: str
    lost: bool = False


@attrs.frozen(kw_only=True)
class TraceView:
    kind: str
    title: str
    steps: list[dict[str, Any]]
    """Per step: ``title``, ``event``, ``node`` (or None), ``row`` (a row id or None),
    ``effects`` (text), ``diff`` ([path, before, after]), ``note``."""
    spec: Any = None
    violation: dict[str, Any] | None = None
    violation_step: int | None = None
    """The position in ``steps`` where the violation is marked (None: no violation, or after
    the last step, as a liveness failure is)."""
    nodes: list[str] = attrs.field(factory=list)
    """Lifeline names, for a cluster."""
    messages: list[Message] = attrs.field(factory=list)


def read_trace(document: JSON) -> TraceView:
    """The view of an ITF document; ``ITFError`` when it is not a trace of a kind blockfsm
    writes."""
    if not isinstance(document, dict):
        raise ITFError("not an ITF trace: the top level is not an object")
    meta = document.get("#meta")
    states = document.get("states")
    if not isinstance(meta, dict) or not isinstance(states, list) or not states:
        raise ITFError("not an ITF trace: no #meta object or no states")
    if not all(isinstance(s, dict) for s in states):
        raise ITFError("not an ITF trace: states is not a list of objects")
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ITFError(f"cannot view a trace of kind {kind!r} (expected {', '.join(KINDS)})")
    try:
        readers = {"machine": _machine, "simulation": _simulation, "system": _system}
        view = readers.get(kind, _model)(document)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        if isinstance(error, ITFError):
            raise
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise ITFError(f"not a {kind} trace: {detail}") from None
    for step in view.steps:
        if step.get("row") and view.spec is not None:
            step["row_text"] = _row_words(view.spec, step["row"])
    return view


def _row_words(spec: Any, row_id: str) -> str:
    """A row as a reader names it: ``R17: Serving, SyncRequestReceived [serve] -> Serving``."""
    row = spec.row(row_id)
    guard = f" [{row.guard.name}]" if row.guard else ""
    target = " / ".join(row.targets) if row.kind == "transition" else f"{row.source} ({row.kind})"
    return f"{row.id}: {row.source}, {row.event}{guard} -> {target}"


def _violation_at(meta: dict[str, Any], count: int) -> tuple[dict[str, Any] | None, int | None]:
    violation = meta.get("violation")
    if not isinstance(violation, dict):
        return None, None
    step = violation.get("step")
    return violation, step if isinstance(step, int) and 0 <= step < count else None


def _spec(name: str) -> Any:
    from blockfsm.adapters.engines.registry import machines

    machine = machines().get(name)
    return None if machine is None else machine.spec


def _effects(raw: JSON) -> list[str]:
    if isinstance(raw, dict) and "#tup" in raw:
        raw = raw["#tup"]
    return [show(e, 240) for e in raw] if isinstance(raw, list) else []


def _machine(document: JSON) -> TraceView:
    meta, states = document["#meta"], document["states"]
    trace = read_machine_trace(document)
    spec = _spec(trace.machine)
    steps: list[dict[str, Any]] = [
        {
            "title": "initial state",
            "event": "",
            "node": None,
            "row": None,
            "effects": [],
            "diff": [],
            "note": show(states[0]["state"], 1200),
        }
    ]
    before = trace.initial
    for n, step in enumerate(trace.steps, start=1):
        raw = states[n]
        row = None
        if spec is not None:
            try:
                matching = spec.matching_rows(trace.config, before, step.event, step.view)
                row = matching[0].id if len(matching) == 1 else None
            except Exception:  # a guard that cannot read a garbage input: no row to show
                row = None
        note = f"the step raised: {step.raised}" if step.raised else ""
        steps.append(
            {
                "title": raw.get("mbt::actionTaken", tag_of(raw.get("event")) or "step"),
                "event": show(raw["event"], 400),
                "node": None,
                "row": row,
                "effects": _effects(raw["effects"]),
                "diff": [list(d) for d in differences(states[n - 1]["state"], raw["state"])],
                "note": note,
            }
        )
        before = step.state
    violation, at = _violation_at(meta, len(steps))
    return TraceView(
        kind="machine",
        title=f"{trace.machine}: {len(trace.steps)} steps",
        steps=steps,
        spec=spec,
        violation=violation,
        violation_step=at,
    )


def _key_hex(value: JSON) -> str | None:
    if tag_of(value) == "Bytes":
        return str(value["value"])
    return None


def _message_label(message: JSON) -> str:
    """A message by its class and its small numbers: ``Vote h0 r0 phase 1``."""
    fields = fields_of(message)
    words = [tag_of(message) or "message"]
    short = {"height": "h", "round": "r", "phase": "phase ", "request_id": "id "}
    for name, prefix in short.items():
        value = fields.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            words.append(f"{prefix}{value}")
    return " ".join(words)


def _payload(event: JSON) -> JSON:
    """The message an ``...Received`` event carries (its one field besides ``peer``)."""
    rest = [v for k, v in fields_of(event).items() if k != "peer"]
    return rest[0] if len(rest) == 1 else None


def _node_row(spec: Any, event_tag: str | None) -> str | None:
    if spec is None or event_tag is None:
        return None
    rows = [r.id for r in spec.rows if r.event == event_tag]
    return rows[0] if len(rows) == 1 else None


def _simulation(document: JSON) -> TraceView:
    from blockfsm.adapters.engines.sim import SimConfig, Simulation
    from blockfsm.adapters.engines.simtrace import KIND as _registers_sim_config  # noqa: F401

    meta, states = document["#meta"], document["states"]
    config = decode(meta["config"])
    if not isinstance(config, SimConfig):
        raise ITFError("a simulation trace's #meta.config must be a SimConfig")
    try:
        sim = Simulation(config)
    except ImportError:  # Ed25519 keys without PyNaCl: the lifelines, but no sender is known
        index: dict[str, int] = {}
        byzantine = range(config.nodes - config.byzantine, config.nodes)
        nodes = [
            f"node {i}" + (" (Byzantine)" if i in byzantine else "") for i in range(config.nodes)
        ]
    else:
        index = {node.key.hex(): node.index for node in sim.nodes}
        nodes = [f"node {n.index}" + ("" if n.honest else " (Byzantine)") for n in sim.nodes]
    spec = _spec("node")
    steps: list[dict[str, Any]] = []
    messages: list[Message] = []
    pending: dict[tuple[int, int, str], list[int]] = defaultdict(list)
    last_digest: dict[int, str] = {}
    for k, raw in enumerate(states):
        node, action = int(raw["node"]), raw["action"]
        if action != "step":
            steps.append(
                {
                    "title": f"node {node}: {action}",
                    "event": action,
                    "node": node,
                    "row": None,
                    "effects": [],
                    "diff": [],
                    "note": "crashed: its memory is lost, its store kept"
                    if action == "crash"
                    else "restarted from its store",
                    "action": action,
                }
            )
            continue
        event = raw["event"]
        tag = tag_of(event)
        digest = str(raw.get("state", ""))
        diff = []
        if last_digest.get(node) != digest:
            diff = [["state digest", last_digest.get(node, "(start)"), digest]]
        last_digest[node] = digest
        steps.append(
            {
                "title": f"node {node}: {tag or 'step'}",
                "event": show(event, 400),
                "node": node,
                "row": _node_row(spec, tag),
                "effects": _effects(raw["effects"]),
                "diff": diff,
                "note": "",
                "action": "step",
            }
        )
        sender = index.get(_key_hex(fields_of(event).get("peer")) or "")
        payload = _payload(event)
        if sender is not None and payload is not None:
            key = (sender, node, json.dumps(payload, sort_keys=True))
            sent = pending[key].pop(0) if pending[key] else None
            messages.append(
                Message(
                    sender=sender,
                    receiver=node,
                    sent=sent,
                    received=k,
                    label=_message_label(payload),
                )
            )
        effects = raw["effects"]
        for effect in effects.get("#tup", []) if isinstance(effects, dict) else []:
            fields = fields_of(effect)
            if tag_of(effect) == "Send":
                to = index.get(_key_hex(fields.get("peer")) or "")
                targets = [] if to is None else [to]
            elif tag_of(effect) == "Broadcast":
                targets = [n for n in range(len(nodes)) if n != node]
            else:
                continue
            encoded = json.dumps(fields.get("message"), sort_keys=True)
            for to in targets:
                pending[(node, to, encoded)].append(k)
    violation, at = _violation_at(meta, len(steps))
    return TraceView(
        kind="simulation",
        title=f"simulation, seed {config.seed}: {len(steps)} steps of {config.nodes} nodes",
        steps=steps,
        spec=spec,
        violation=violation,
        violation_step=at,
        nodes=nodes,
        messages=messages,
    )


def _flight(world: JSON) -> list[tuple[int, int, JSON]]:
    raw = fields_of(world).get("flight", {"#tup": []})
    return [tuple(entry["#tup"]) for entry in raw.get("#tup", [])]


def _system(document: JSON) -> TraceView:
    meta, states = document["#meta"], document["states"]
    name = str(meta.get("system"))
    cluster = name == "cluster"
    spec = _spec("node") if cluster else None
    nodes: list[str] = []
    byzantine: set[int] = set()
    if cluster:
        from blockfsm.adapters.engines.explore import SYSTEMS

        system = SYSTEMS["cluster"](**decode(meta["parameters"]))
        byzantine = set(system.byzantine)
        nodes = [
            f"node {i}" + (" (Byzantine)" if i in byzantine else "") for i in range(system.size)
        ]
    steps: list[dict[str, Any]] = [
        {
            "title": "initial state",
            "event": "",
            "node": None,
            "row": None,
            "effects": [],
            "diff": [],
            "note": f"the initial state of the {name} system",
        }
    ]
    messages: list[Message] = []
    pending: dict[str, list[int]] = defaultdict(list)
    for n in range(1, len(states)):
        raw, before = states[n], states[n - 1]
        action = raw["action"]
        parts = action.get("#tup", []) if isinstance(action, dict) else [action]
        kind = str(parts[0]) if parts else "?"
        words = " ".join(str(p) for p in parts if isinstance(p, str | int))
        node: int | None = None
        row = None
        sends: list[str] = []
        if cluster:
            old, new = _flight(before["system"]), _flight(raw["system"])
            if kind in ("deliver", "drop", "lose") and len(parts) > 1:
                dest, source, message = old[int(parts[1])]
                key = json.dumps([dest, source, message], sort_keys=True)
                sent = pending[key].pop(0) if pending[key] else None
                messages.append(
                    Message(
                        sender=int(source),
                        receiver=int(dest),
                        sent=sent,
                        received=n,
                        label=_message_label(message),
                        lost=kind != "deliver",
                    )
                )
                if kind == "deliver":
                    node = int(dest)
                    row = _node_row(spec, _received(message))
            elif kind == "forge" and len(parts) > 2:
                node = int(parts[1])
                forged = parts[2]
                source = min(byzantine) if byzantine else node
                messages.append(
                    Message(
                        sender=source,
                        receiver=node,
                        sent=n,
                        received=n,
                        label="forged " + _message_label(forged),
                    )
                )
                row = _node_row(spec, _received(forged))
            elif kind == "crash" and len(parts) > 1:
                node = int(parts[1])
            elif kind == "tick":
                row = _node_row(spec, "Tick")
            remaining = [json.dumps(list(e), sort_keys=True) for e in old]
            for entry in new:
                key = json.dumps(list(entry), sort_keys=True)
                if key in remaining:
                    remaining.remove(key)
                else:
                    pending[key].append(n)
                    dest, source, message = entry
                    sends.append(f"node {source} sends node {dest} {_message_label(message)}")
        note = raw.get("#meta", {}).get("raised", "")
        steps.append(
            {
                "title": words or kind,
                "event": show(action, 400),
                "node": node,
                "row": row,
                "effects": sends,
                "diff": [list(d) for d in differences(before["system"], raw["system"])],
                "note": f"the step was refused: {note}" if note else "",
                "action": kind,
            }
        )
    violation, at = _violation_at(meta, len(steps))
    return TraceView(
        kind="system",
        title=f"exploration of the {name} system: {len(steps) - 1} actions",
        steps=steps,
        spec=spec,
        violation=violation,
        violation_step=at,
        nodes=nodes,
        messages=messages,
    )


_RECEIVED = {
    "SyncRequest": "SyncRequestReceived",
    "SyncResponse": "SyncResponseReceived",
    "AdvertiseBlock": "AdvertiseBlockReceived",
    "AdvertiseCertificate": "AdvertiseCertificateReceived",
    "Proposal": "ProposalReceived",
    "Vote": "VoteReceived",
}


def _received(message: JSON) -> str | None:
    return _RECEIVED.get(tag_of(message) or "")


def _model(document: JSON) -> TraceView:
    meta, states = document["#meta"], document["states"]
    steps: list[dict[str, Any]] = []
    previous: JSON = None
    for raw in states:
        events = raw.get("events", [])
        expected = raw.get("expected")
        steps.append(
            {
                "title": f"model step {raw.get('#meta', {}).get('model step', '?')}: "
                f"{raw.get('mbt::actionTaken', '')}",
                "event": "; ".join(show(e, 200) for e in events) or "(no event)",
                "node": None,
                "row": None,
                "effects": [],
                "diff": [list(d) for d in differences(previous, expected)]
                if previous is not None
                else [],
                "note": "the model's view of the keeper: " + show(expected, 600),
            }
        )
        previous = expected
    return TraceView(
        kind="model",
        title=f"model trace of keeper {meta.get('keeper')}: {len(steps)} model steps",
        steps=steps,
        spec=_spec(str(meta.get("machine", "attester"))),
        violation=None,
        violation_step=None,
    )


# --- the message sequence chart ---------------------------------------------------------------

COLUMN, ROW, TOP, LEFT = 150, 18, 46, 60


def msc_svg(view: TraceView) -> str:
    """The message sequence chart of a cluster trace: a lifeline per node, a row per step,
    an arrow per message from the step that sent it to the step that received it (a cross where
    it was dropped), crashes and restarts on the lifelines, the violated property across its
    step. Each step's marks are one ``<g class="msc-step" data-step="n">``."""
    count = len(view.nodes)
    width = LEFT + COLUMN * count
    height = TOP + ROW * len(view.steps) + 20

    def x(node: int) -> int:
        return LEFT + COLUMN * node + COLUMN // 2

    def y(step: int) -> int:
        return TOP + ROW * step + ROW // 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="msc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="message sequence chart">',
        '<defs><marker id="msg" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#246"/></marker></defs>',
    ]
    for i, name in enumerate(view.nodes):
        parts.append(
            f'<text x="{x(i)}" y="20" text-anchor="middle" class="lifeline-name">'
            f'{escape(name)}</text><line x1="{x(i)}" y1="28" x2="{x(i)}" y2="{height - 10}" '
            'stroke="#999" stroke-dasharray="3 3"/>'
        )
    by_step: dict[int, list[str]] = defaultdict(list)
    for m in view.messages:
        start = m.received if m.sent is None else m.sent
        x1, x2 = x(m.sender), x(m.receiver)
        y1, y2 = y(start), y(m.received)
        if m.lost:
            xe, ye = (x1 + x2) / 2, (y1 + y2) / 2
            by_step[m.received].append(
                f'<line x1="{x1}" y1="{y1}" x2="{xe:.0f}" y2="{ye:.0f}" stroke="#b00" '
                f'stroke-dasharray="4 2"/><text x="{xe:.0f}" y="{ye + 4:.0f}" fill="#b00" '
                f'text-anchor="middle">✕</text>'
                f"<title>{escape(m.label)} lost (step {m.received})</title>"
            )
            continue
        dash = ' stroke-dasharray="5 3"' if m.sent is None else ""
        lx = x2 + 8 if x2 < x1 else x2 - 8
        anchor = "start" if x2 < x1 else "end"
        by_step[m.received].append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#246"{dash} '
            f'marker-end="url(#msg)"/><text x="{lx}" y="{y2 - 3}" text-anchor="{anchor}" '
            f'class="msg-label">{escape(m.label)}</text>'
            f"<title>{escape(m.label)}: node {m.sender} → node {m.receiver}"
            + ("" if m.sent is None else f", sent at step {m.sent}")
            + f", received at step {m.received}</title>"
        )
    for n, step in enumerate(view.steps):
        marks = list(by_step.get(n, []))
        node, action = step.get("node"), step.get("action", "")
        if action == "crash" and node is not None:
            marks.append(
                f'<text x="{x(node)}" y="{y(n) + 5}" text-anchor="middle" fill="#b00" '
                f'font-weight="bold">✕ crash</text>'
            )
        elif action == "restart" and node is not None:
            marks.append(
                f'<rect x="{x(node) - 6}" y="{y(n) - 6}" width="12" height="12" fill="#2a2">'
                "<title>restart</title></rect>"
            )
        elif action == "tick" and node is None:
            marks.extend(
                f'<circle cx="{x(i)}" cy="{y(n)}" r="3" fill="#999"/>' for i in range(count)
            )
        elif node is not None:
            marks.append(f'<circle cx="{x(node)}" cy="{y(n)}" r="4" fill="#246"/>')
        if n == view.violation_step and view.violation is not None:
            marks.insert(
                0,
                f'<rect x="0" y="{y(n) - ROW // 2}" width="{width}" height="{ROW}" '
                'fill="#fdd" class="violation-band"/>',
            )
            marks.append(
                f'<text x="4" y="{y(n) + 4}" fill="#b00" font-weight="bold">'
                f"{escape(str(view.violation.get('property')))}</text>"
            )
        parts.append(
            f'<g class="msc-step" data-step="{n}"><rect class="hl" x="0" y="{y(n) - ROW // 2}" '
            f'width="{width}" height="{ROW}" fill="transparent"/>'
            f'<text x="{LEFT - 8}" y="{y(n) + 4}" text-anchor="end" class="step-no">{n}</text>'
            + "".join(marks)
            + "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
