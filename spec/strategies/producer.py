"""Strategies for the block producer's inputs: configs, Start params, and malformed events of
every kind (as a codec bug or an embedding runtime might hand them over)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from blockfsm.machine.core import Tick
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    ProducerConfig,
    ProducerState,
    Restarted,
    Start,
    StartParams,
    StateSyncRequested,
    Stop,
)
from blockfsm.machine.producer_view import (
    GENESIS_STATE,
    BlockRef,
    InMemoryBlockTree,
    KeeperSet,
    NextRoundVote,
    ProducedBlock,
    SigningGuard,
)
from blockfsm.spec.producer import ACTIVE as SPEC_ACTIVE
from blockfsm.spec.producer import HOLD_ANCESTOR, HOLD_ATTESTATION, HOLDING, SPEC
from blockfsm.spec.producer_rules import MAX_U64
from blockfsm.spec.producer_rules import make_block as build_block
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


# --- arbitrary states, events and views (reachable or not) -------------------------------------

OTHER_IDS: tuple[bytes, ...] = tuple(bytes([0x30 + i]) * 32 for i in range(4))
positions = st.one_of(
    st.integers(min_value=0, max_value=12), st.sampled_from([MAX_U64 - 1, MAX_U64])
)
"""Seq_nos and heights: small ones that collide with the view's blocks, and the u64 edge."""
small_u64 = st.one_of(st.integers(min_value=0, max_value=8), st.integers(0, MAX_U64))


def _ref_of(info: Any) -> BlockRef:
    return BlockRef(block_id=info.block_id, seq_no=info.seq_no, height=info.height)


def tree_refs(tree: InMemoryBlockTree) -> tuple[BlockRef, ...]:
    """Every block of ``tree`` as a continuation point."""
    return tuple(_ref_of(tree.block(i)) for i in tree.ids())


@st.composite
def producer_trees(draw: st.DrawFn, members: Sequence[bytes]) -> InMemoryBlockTree:
    """A block tree by other producers: a chain from genesis with drawn attestation counts, data
    readiness and invalidations, maybe a fork, a finalized block, and a keeper set of a non-empty
    subset of ``members`` (the first member, us, usually among them)."""
    chosen = draw(st.lists(st.sampled_from(list(members)), min_size=1, unique=True))
    if draw(st.integers(min_value=0, max_value=3)) and members[0] not in chosen:
        chosen.insert(0, members[0])
    seed = draw(st.sampled_from([b"seed-0", b"seed-1"]))
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=seed, members=tuple(chosen)))
    author = members[-1]
    parent = tree.last_finalized()
    blocks = []
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        block = build_block(parent, tree.states[parent.block_id], (10_000 + n,), author)
        tree.add(block, data_ready=draw(st.integers(min_value=0, max_value=4)) > 0)
        tree.update(
            block.block_id,
            attestations=draw(st.integers(min_value=0, max_value=len(chosen))),
            invalidated=draw(st.integers(min_value=0, max_value=9)) == 0,
        )
        blocks.append(block)
        parent = block.ref
    if len(blocks) > 0 and draw(st.booleans()):
        at = draw(st.sampled_from(blocks)).ref
        fork = build_block(at, tree.states[at.block_id], (20_000,), author)
        tree.add(fork)
        blocks.append(fork)
    if len(blocks) > 0 and draw(st.booleans()):
        tree.finalize(draw(st.sampled_from(blocks)).block_id)
    return tree


@st.composite
def block_refs(draw: st.DrawFn, refs: Sequence[BlockRef] = ()) -> BlockRef:
    """One of ``refs`` (blocks a view knows), or any well-typed reference."""
    if len(refs) > 0 and draw(st.booleans()):
        return draw(st.sampled_from(list(refs)))
    block_id = draw(st.sampled_from([GOOD_ID, *OTHER_IDS]))
    return BlockRef(block_id=block_id, seq_no=draw(positions), height=draw(positions))


def start_params_on(parent: Any, round_: int, votes: tuple[Any, ...] = ()) -> StartParams:
    """The Start params of a turn on ``parent`` (a ``BlockRef`` or a produced block)."""
    return StartParams(
        parent_id=parent.block_id,
        parent_seq_no=parent.seq_no,
        parent_height=parent.height,
        round=round_,
        votes=votes,
    )


@st.composite
def start_params(draw: st.DrawFn, refs: Sequence[BlockRef] = ()) -> StartParams:
    parent = draw(block_refs(refs))
    return StartParams(
        parent_id=parent.block_id,
        parent_seq_no=parent.seq_no,
        parent_height=parent.height,
        round=draw(st.one_of(st.integers(min_value=0, max_value=2), st.just(MAX_U64))),
    )


@st.composite
def built_chains(
    draw: st.DrawFn, parent: BlockRef, producer: bytes, max_size: int
) -> tuple[ProducedBlock, ...]:
    """Up to ``max_size`` well-formed blocks chained on ``parent`` (fewer at the u64 edge)."""
    room = MAX_U64 - max(parent.seq_no, parent.height)
    size = min(draw(st.integers(min_value=0, max_value=max_size)), room)
    parent_state = draw(st.sampled_from([GENESIS_STATE, b"", b"\x01" * 32]))
    blocks = []
    for _ in range(size):
        author = draw(st.sampled_from([producer, producer, OTHER_IDS[0]]))
        inputs = tuple(draw(st.lists(small_u64, max_size=2)))
        block = build_block(parent, parent_state, inputs, author)
        blocks.append(block)
        parent, parent_state = block.ref, block.state
    return tuple(blocks)


@st.composite
def producer_states(
    draw: st.DrawFn,
    buffer_cap: int,
    producer: bytes = GOOD_ID,
    refs: Sequence[BlockRef] = (),
) -> ProducerState:
    """Any well-typed producer state, reachable or not: for checking guards and totality beyond
    what a campaign happens to reach. Fields are tied to ``control`` only where the type needs it:
    a running state (Armed, Producing, Holding) has a continuation point to build on. The buffer
    holds at most ``buffer_cap`` well-formed blocks that chain, on the state's tip or elsewhere."""
    control = draw(st.sampled_from(SPEC.states))
    running = control in SPEC_ACTIVE
    base = draw(block_refs(refs)) if running else draw(st.one_of(st.none(), block_refs(refs)))
    last_produced = draw(st.one_of(st.none(), block_refs(refs)))
    params_options: list[st.SearchStrategy[StartParams | None]] = [
        st.none(),
        start_params(refs),
    ]
    if base is not None:
        params_options.append(
            st.builds(
                StartParams,
                parent_id=st.just(base.block_id),
                parent_seq_no=st.just(base.seq_no),
                parent_height=st.just(base.height),
                round=st.integers(min_value=0, max_value=2),
            )
        )
    params = draw(st.one_of(params_options))
    tip = last_produced if last_produced is not None else base
    on = draw(block_refs(refs)) if tip is None or draw(st.booleans()) else tip
    buffer = draw(built_chains(on, producer, buffer_cap))
    clock = draw(st.sampled_from(["running", "running", "running", "never", "at the u64 edge"]))
    if clock == "never":
        now = -1
    elif clock == "running":
        now = draw(st.integers(min_value=0, max_value=3_000))
    else:
        now = MAX_U64
    blocks = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=2),
                st.integers(min_value=0, max_value=14),
                st.integers(min_value=0, max_value=14),
            ),
            max_size=4,
        )
    )
    epoch = draw(st.integers(min_value=-1, max_value=3))
    assumed = epoch if draw(st.booleans()) else draw(st.integers(min_value=-1, max_value=3))
    hold = draw(st.sampled_from(["", HOLD_ATTESTATION, HOLD_ANCESTOR]))
    if control == HOLDING and hold == "" and draw(st.booleans()):
        hold = draw(st.sampled_from([HOLD_ATTESTATION, HOLD_ANCESTOR]))
    ahead = draw(st.sampled_from(["ahead", "ahead", "anywhere", "beyond u64"]))
    if ahead == "ahead":
        next_due = max(now, 0) + draw(st.integers(min_value=0, max_value=600))
    elif ahead == "anywhere":
        next_due = draw(st.integers(min_value=0, max_value=3_500))
    else:
        next_due = 2**65
    return ProducerState(
        control=control,
        now=now,
        next_due=next_due,
        session=draw(small_u64),
        params=params,
        base=base,
        last_produced=last_produced,
        round=draw(st.one_of(st.integers(min_value=0, max_value=2), st.just(MAX_U64))),
        buffer=buffer,
        building=draw(st.integers(min_value=-1, max_value=6)),
        next_build=draw(st.integers(min_value=0, max_value=7)),
        hold=hold,
        assumed_epoch=assumed,
        epoch=epoch,
        in_keeper_set=draw(st.booleans()),
        state_sync_at=draw(st.one_of(st.just(-1), positions)),
        guard=SigningGuard(
            blocks=tuple(blocks),
            announced=tuple(
                draw(
                    st.lists(
                        st.tuples(
                            st.integers(min_value=0, max_value=3),
                            st.integers(min_value=0, max_value=12),
                            st.sampled_from([GOOD_ID, *OTHER_IDS, *(r.block_id for r in refs)]),
                        ),
                        max_size=3,
                    )
                )
            ),
        ),
    )


class _Opaque:
    """An object of no expected type, as a runtime could hand over by mistake."""


garbage = st.one_of(u64_or_garbage(), st.builds(_Opaque), st.binary(max_size=33), st.just([]))


@st.composite
def garbage_events(draw: st.DrawFn) -> Any:
    """Events whose whole payload, or a field no other strategy spoils, is of the wrong type."""
    junk: Any = draw(garbage)
    return draw(
        st.sampled_from(
            [
                Start(params=junk),
                Start(
                    params=StartParams(
                        parent_id=GOOD_ID, parent_seq_no=0, parent_height=0, round=1, votes=junk
                    )
                ),
                Start(
                    params=StartParams(
                        parent_id=GOOD_ID,
                        parent_seq_no=0,
                        parent_height=0,
                        round=1,
                        votes=(
                            NextRoundVote(
                                round=1, parent_id=GOOD_ID, keeper=junk, locked=None, signature=b""
                            ),
                        ),
                    )
                ),
                Start(
                    params=StartParams(
                        parent_id=GOOD_ID,
                        parent_seq_no=0,
                        parent_height=0,
                        round=1,
                        votes=(
                            NextRoundVote(
                                round=1,
                                parent_id=GOOD_ID,
                                keeper=GOOD_ID,
                                locked=junk,
                                signature=b"",
                            ),
                        ),
                    )
                ),
                Tick(now=junk),
                BlockBuilt(session=0, build_id=junk, block=_block()),
                BlockBuilt(session=0, build_id=0, block=junk),
                BlockBuilt(session=0, build_id=0, block=_block(state=junk)),
                BlockBuilt(session=0, build_id=0, block=_block(producer=junk)),
                BlockBuilt(session=0, build_id=0, block=_block(inputs=[1])),
                BlockBuilt(session=0, build_id=0, block=_block(parent_id=junk)),
                BlockBuilt(session=0, build_id=0, block=_block(height=junk)),
                AttestationReceived(block_id=junk, count=1),
                FinalizationAdvanced(block_id=junk, seq_no=1),
                KeeperSetChanged(keepers=junk),
                KeeperSetChanged(keepers=KeeperSet(epoch=junk, seed=b"s", members=(GOOD_ID,))),
                KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=junk, members=(GOOD_ID,))),
                KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=b"s", members=[GOOD_ID])),  # type: ignore[arg-type]
                KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=b"s", members=(junk,))),
                ParentInvalidated(block_id=junk),
                StateSyncRequested(seq_no=junk),
            ]
        )
    )


@st.composite
def producer_events(
    draw: st.DrawFn,
    state: ProducerState | None = None,
    producer: bytes = GOOD_ID,
    refs: Sequence[BlockRef] = (),
) -> Any:
    """Any producer event: every event type of the spec, with valid fields (aimed at ``state``
    when given: its params, session, outstanding build, tip, buffered ids, clock and epoch),
    invalid ones, and garbage."""
    kind = draw(
        st.sampled_from(
            [
                "start",
                "stop",
                "tick",
                "tick",
                "tick",
                "built",
                "built",
                "attest",
                "final",
                "keepers",
                "invalid",
                "sync",
                "restarted",
                "malformed",
                "garbage",
            ]
        )
    )
    ids = [GOOD_ID, *OTHER_IDS, *(r.block_id for r in refs)]
    if state is not None:
        ids += [b.block_id for b in state.buffer]
        ids += [r.block_id for r in (state.base, state.last_produced) if r is not None]
    if kind == "start":
        if state is not None and state.params is not None and draw(st.booleans()):
            return Start(params=state.params)
        return Start(params=draw(start_params(refs)))
    if kind == "stop":
        return Stop()
    if kind == "tick":
        clock = max(state.now, 0) if state is not None else 0
        due = state.next_due if state is not None else 0
        near = draw(st.sampled_from(["clock", "clock", "due", "due", "back", "any", "edge"]))
        if near == "clock":
            now = draw(st.integers(min_value=clock, max_value=clock + 600))
        elif near == "due":
            now = max(draw(st.sampled_from([due - 1, due, due + 1])), clock)
        elif near == "back":
            now = clock - 1
        elif near == "any":
            now = draw(st.integers(min_value=0, max_value=4_000))
        else:
            now = draw(st.sampled_from([MAX_U64, 2**64]))
        return Tick(now=now)
    if kind == "built":
        session = state.session if state is not None and draw(st.booleans()) else draw(small_u64)
        build_id = state.building if state is not None and draw(st.booleans()) else draw(small_u64)
        tip = None
        if state is not None:
            if state.buffer:
                tip = state.buffer[-1].ref
            else:
                tip = state.last_produced if state.last_produced is not None else state.base
        parent = tip if tip is not None and draw(st.booleans()) else draw(block_refs(refs))
        chain = draw(built_chains(parent, producer, 1))
        block = chain[0] if chain else _block()
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            block = attrs.evolve(block, block_id=draw(st.sampled_from(ids)))
        return BlockBuilt(session=session, build_id=build_id, block=block)
    if kind == "attest":
        return AttestationReceived(block_id=draw(st.sampled_from(ids)), count=draw(small_u64))
    if kind == "final":
        head = state.buffer[0].seq_no if state is not None and state.buffer else 0
        seq_no = draw(st.one_of(positions, st.sampled_from([max(head - 1, 0), head, head + 1])))
        return FinalizationAdvanced(block_id=draw(st.sampled_from(ids)), seq_no=seq_no)
    if kind == "keepers":
        epoch = state.epoch if state is not None else 0
        members = draw(st.lists(st.sampled_from([producer, *OTHER_IDS]), min_size=1, unique=True))
        keepers = KeeperSet(
            epoch=draw(st.integers(min_value=max(epoch - 1, 0), max_value=epoch + 2)),
            seed=draw(st.sampled_from([b"seed-0", b"seed-1", b""])),
            members=tuple(members),
        )
        return KeeperSetChanged(keepers=keepers)
    if kind == "invalid":
        return ParentInvalidated(block_id=draw(st.sampled_from(ids)))
    if kind == "sync":
        return StateSyncRequested(seq_no=draw(positions))
    if kind == "restarted":
        return Restarted()
    if kind == "malformed":
        return draw(malformed_events())
    return draw(garbage_events())
