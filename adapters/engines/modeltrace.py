"""Model traces: one attester's events with the consensus model's expected view after each step.

The model-based test (tests/test_quint_consensus.py) drives one attester per honest keeper by
the actions of a Quint trace of spec/quint/consensus.qnt. When a keeper leaves the model, the
test writes that keeper's part of the run as a trace of kind ``model``: the attester's config
and the state it (re)started from, and per model step the events the keeper took and the
model's view of it afterwards (``blockfsm.spec.consensus_model``: round, signed set, lock,
valid value, decision). The block names the view uses (value r: round r's new block, ...) are
in ``#meta.values``.

``blockfsm replay`` runs such a trace against the current code: the events go through the
attester's plain ``step`` (the model is this trace's oracle, not the attester's spec), over a
chain rebuilt from the attester's own effects, and after each step the attester's view must be
the model's. The verdict is ``diverges`` at the first step where it is not (on the code that
left the model: the step the test reported), else ``matches`` (on code that follows the model).
"""

from __future__ import annotations

from typing import Any

from blockfsm.adapters.engines.itf import FORMAT_DESCRIPTION, ITFError, decode, encode
from blockfsm.adapters.engines.results import Difference, ReplayResult
from blockfsm.machine import attester as att
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.consensus_model import NIL, KeeperView, keeper_view, value_of, view_differences

KIND = "model"
VARS = ["events", "expected", "mbt::actionTaken"]


def model_document(
    *,
    config: att.AttesterConfig,
    initial: att.AttesterState,
    keeper: int,
    values: dict[bytes, int],
    steps: list[tuple[int, str, list[Any], KeeperView]],
    source: str,
    note: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ITF document of one keeper's model steps: (model step, action, events, the model's
    view after them)."""
    states = [
        {
            "#meta": {"index": n, "model step": index},
            "events": [encode(e) for e in events],
            "expected": encode(expected),
            "mbt::actionTaken": action,
        }
        for n, (index, action, events, expected) in enumerate(steps)
    ]
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": source,
        "kind": KIND,
        "length": len(states),
        "machine": "attester",
        "model": "spec/quint/consensus.qnt",
        "keeper": keeper,
        "config": encode(config),
        "initial": encode(initial),
        "values": encode(values),
        "description": (
            f"model keeper {keeper}: {len(states)} model steps; state i holds the events the "
            "attester took in model step #meta.index and the model's view of the keeper after it"
        ),
    }
    if note:
        meta["note"] = note
    return {"#meta": meta, "vars": VARS, "states": states}


def replay_model(document: dict[str, Any]) -> ReplayResult:
    meta = document["#meta"]
    if meta.get("machine") != "attester":
        raise ITFError(f"a model trace of machine {meta.get('machine')!r}: only 'attester'")
    config = decode(meta["config"])
    state = decode(meta["initial"])
    values = decode(meta["values"])
    if not isinstance(config, att.AttesterConfig) or not isinstance(state, att.AttesterState):
        raise ITFError("#meta.config and #meta.initial are not an attester's config and state")
    chain = InMemoryChain(config.chain_id)
    decision = NIL
    states = document["states"]
    total = len(states)
    for n, raw in enumerate(states):
        for event in decode(raw["events"]):
            state, effects = att.step(config, state, event, chain.snapshot())
            for e in effects:
                kind = type(e)
                if kind is Persist:
                    chain.persist(e.block)
                    if decision == NIL:
                        decision = value_of(values, e.block.hash)
                elif kind is Commit:
                    chain.commit(e.height)
                elif kind is UpdateHighestCertificate:
                    chain.set_highest_certificate(e.certificate)
        expected = decode(raw["expected"])
        found = view_differences(expected, keeper_view(state, decision, values))
        if found:
            index = raw.get("#meta", {}).get("model step", n)
            action = raw.get("mbt::actionTaken", "?")
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=n + 1,
                step=n,
                detail=(
                    f"step {n} (model step {index}, {action}): the attester is not where the "
                    f"model's keeper {meta.get('keeper')} is"
                ),
                differences=tuple(
                    Difference(
                        what="keeper",
                        path=f"keeper.{field}",
                        recorded=encode(model),
                        replayed=encode(code),
                    )
                    for field, (model, code) in found.items()
                ),
            )
    return ReplayResult(
        verdict="matches",
        steps=total,
        replayed=total,
        detail=f"after each of the {total} model steps the attester is where the model's keeper is",
    )
