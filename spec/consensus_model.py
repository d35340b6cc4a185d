"""The attester's state seen as a keeper of the consensus model (spec/quint/consensus.qnt).

The model names blocks by integers (value r: the new block of round r's producer; value 4: a
second block of the Byzantine producer; -1: nil) and keeps, per keeper, its round, the
(round, step, value) its guard signed, its lock, its valid value and its decision. The
model-based tests compare the attester with the model through this one view, in both
directions (model traces driving the attester, simulator traces checked against the model), and
``blockfsm replay`` compares a model divergence trace with it.

The view reads data only (the guard, the round, the valid block): it decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blockfsm.machine.attester import ATTEST, CONFIRM, PROPOSE, AttesterState
from blockfsm.machine.types import ZERO_HASH

NIL = -1
UNNAMED = -2
"""The view's value of a block the model has no name for (a code bug may hold one)."""
STEP_OF_PHASE = {PROPOSE: 0, ATTEST: 1, CONFIRM: 2}
"""The attester's phases as the model's steps (propose < attest < confirm)."""
PHASE_OF_STEP = {1: ATTEST, 2: CONFIRM}

KeeperView = dict[str, Any]


def value_of(values: Mapping[bytes, int], block_hash: bytes) -> int:
    """The model's value of ``block_hash``: nil for the zero hash, ``UNNAMED`` if unknown."""
    return NIL if block_hash == ZERO_HASH else values.get(block_hash, UNNAMED)


def keeper_view(state: AttesterState, decision: int, values: Mapping[bytes, int]) -> KeeperView:
    """The model keeper the attester's ``state`` is; after a decision, the decision alone (the
    model's keeper stops there, the attester goes on to the next height)."""
    if decision != NIL:
        return {"decision": decision}
    g = state.guard
    return {
        "decision": NIL,
        "round": state.round,
        "signed": frozenset((r, STEP_OF_PHASE[p], value_of(values, h)) for r, p, h in g.signed),
        "lockedRound": g.locked_round,
        "lockedValue": value_of(values, g.locked_hash) if g.locked_round >= 0 else NIL,
        "validRound": state.valid_round,
        "validValue": (
            value_of(values, state.valid_block.hash) if state.valid_block is not None else NIL
        ),
    }


def model_view(keeper: Mapping[str, Any]) -> KeeperView:
    """The same view of a model keeper, as an ITF state of the model decodes."""
    if keeper["decision"] != NIL:
        return {"decision": keeper["decision"]}
    return {
        "decision": NIL,
        "round": keeper["round"],
        "signed": frozenset(keeper["signed"]),
        "lockedRound": keeper["lockedRound"],
        "lockedValue": keeper["lockedValue"],
        "validRound": keeper["validRound"],
        "validValue": keeper["validValue"],
    }


def view_differences(model: KeeperView, code: KeeperView) -> dict[str, tuple[Any, Any]]:
    """The fields where the two views differ: field -> (model, code)."""
    fields = sorted(set(model) | set(code))
    return {f: (model.get(f), code.get(f)) for f in fields if model.get(f) != code.get(f)}
