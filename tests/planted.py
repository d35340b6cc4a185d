"""Bugs planted on purpose, shared by the tests that show a check catches them."""

from __future__ import annotations

from typing import Any

import pytest

from blockfsm.machine import attester


def attester_forgets_its_attestations(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attester whose guard does not record its attestations (so it attests again in a round
    it attested in: the next proposal it keeps, or nil when the round's propose timeout ends)
    and that keeps the last proposal of a round instead of the first."""
    sign = attester._sign_vote

    def forgetful(config: Any, state: Any, phase: int, block_hash: bytes) -> Any:
        vote, guard = sign(config, state, phase, block_hash)
        return vote, (state.guard if phase == attester.ATTEST else guard)

    def keeps_the_last(state: attester.AttesterState, p: attester.Proposal) -> Any:
        rest = tuple(q for q in state.proposals if q.round != p.round)
        return attester._evolve(state, proposals=(*rest, p))

    monkeypatch.setattr(attester, "_sign_vote", forgetful)
    monkeypatch.setattr(attester, "_keep_proposal", keeps_the_last)
