"""Strategies for the block producer's inputs: configs, Start params, and malformed events of
every kind (as a codec bug or an embedding runtime might hand them over)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from blockfsm.machine.core import Tick
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    ProducerConfig,
    Start,
    StartParams,
    StateSyncRequested,
)
from blockfsm.machine.producer_view import KeeperSet, ProducedBlock
from blockfsm.spec.strategies.chains import u64_or_garbage

GOOD_ID = b"\x11" * 32
bad_ids = st.one_of(st.binary(max_size=31), st.binary(min_size=33, max_size=40), st.none())


@st.composite
def producer_configs(draw: st.DrawFn, signer: Any) -> ProducerConfig:
    primary = draw(st.integers(min_value=1, max_value=3))
    return ProducerConfig(
        signer=signer,
        buffer_cap=draw(st.integers(min_value=1, max_value=6)),
        production_period=draw(st.integers(min_value=50, max_value=400)),
        save_state_frequency=draw(st.integers(min_value=1, max_value=5)),
        primary_deadline=primary,
        fallback_deadline=primary + draw(st.integers(min_value=1, max_value=3)),
    )


def _block(**changes: Any) -> ProducedBlock:
    fields: dict[str, Any] = {
        "block_id": GOOD_ID,
        "parent_id": GOOD_ID,
        "seq_no": 1,
        "height": 1,
        "state": b"",
        "inputs": (),
        "producer": GOOD_ID,
    }
    fields.update(changes)
    return ProducedBlock(**fields)


MALFORMED_KINDS = ("start", "tick", "built", "attest", "final", "keepers", "invalid", "sync")


@st.composite
def malformed_events(draw: st.DrawFn, kind: str | None = None) -> Any:
    """One event of ``kind`` (any type by default) with a field holding something it must not."""
    if kind is None:
        kind = draw(st.sampled_from(MALFORMED_KINDS))
    garbage = draw(u64_or_garbage())
    if kind == "start":
        field = draw(st.sampled_from(["parent_id", "parent_seq_no", "parent_height", "round"]))
        params: dict[str, Any] = {
            "parent_id": GOOD_ID,
            "parent_seq_no": 0,
            "parent_height": 0,
            "round": 0,
        }
        params[field] = draw(bad_ids) if field == "parent_id" else garbage
        return Start(params=StartParams(**params))
    if kind == "tick":
        return Tick(now=draw(st.one_of(st.integers(max_value=-1), st.none(), st.just(1.5))))  # type: ignore[arg-type]
    if kind == "built":
        field = draw(st.sampled_from(["session", "block_id", "seq_no", "inputs"]))
        if field == "session":
            return BlockBuilt(session=garbage, build_id=0, block=_block())  # type: ignore[arg-type]
        if field == "inputs":
            return BlockBuilt(session=0, build_id=0, block=_block(inputs=(garbage,)))
        value = draw(bad_ids) if field == "block_id" else garbage
        return BlockBuilt(session=0, build_id=0, block=_block(**{field: value}))
    if kind == "attest":
        if draw(st.booleans()):
            return AttestationReceived(block_id=draw(bad_ids), count=1)  # type: ignore[arg-type]
        return AttestationReceived(block_id=GOOD_ID, count=garbage)  # type: ignore[arg-type]
    if kind == "final":
        return FinalizationAdvanced(block_id=GOOD_ID, seq_no=garbage)  # type: ignore[arg-type]
    if kind == "keepers":
        members = draw(st.sampled_from([(), (GOOD_ID, GOOD_ID), (b"short",)]))
        return KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=b"s", members=members))
    if kind == "invalid":
        return ParentInvalidated(block_id=draw(bad_ids))  # type: ignore[arg-type]
    return StateSyncRequested(seq_no=garbage)  # type: ignore[arg-type]


def malformed_samples() -> list[Any]:
    """One fixed malformed event of every type (for sweeps that need no drawing)."""
    bad_block = _block(seq_no=-1)
    return [
        Start(params=StartParams(parent_id=b"short", parent_seq_no=0, parent_height=0, round=0)),
        Tick(now=-1),
        BlockBuilt(session=0, build_id=0, block=bad_block),
        AttestationReceived(block_id=b"short", count=0),
        FinalizationAdvanced(block_id=GOOD_ID, seq_no=-1),
        KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=b"s", members=())),
        ParentInvalidated(block_id=b"short"),
        StateSyncRequested(seq_no=-1),
    ]
