"""Focused tests of the producer: config validation, update_candidate_common_section's five
outcomes, the executor stand-in, and regressions found by the campaign."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockfsm.machine.core import ConfigError, Rejected, Tick
from blockfsm.machine.producer import (
    ABORT_NOT_IN_BK_SET,
    ANCESTOR_NOT_READY_YET,
    FAILED_TO_BUILD_CHAIN,
    NOT_READY_YET,
    SUCCESS,
    BroadcastNextRoundSuccess,
    FinalizationAdvanced,
    KeeperSetChanged,
    ProducerConfig,
    ProducerState,
    Start,
    StartParams,
    update_candidate_common_section,
)
from blockfsm.machine.producer_view import (
    GENESIS_ID,
    GENESIS_STATE,
    BlockRef,
    InMemoryBlockTree,
    KeeperSet,
    build_block,
    execute,
)
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.producer import ACTIVE, ARMED, SPEC
from blockfsm.spec.strategies.chains import make_signers
from blockfsm.spec.strategies.producer import (
    producer_configs,
    producer_events,
    producer_states,
    producer_trees,
    tree_refs,
)

SIGNERS = make_signers(4)
ME = SIGNERS[0].public_key
MEMBERS = tuple(s.public_key for s in SIGNERS)
GENESIS = BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)


def config(**changes: object) -> ProducerConfig:
    return ProducerConfig(signer=SIGNERS[0], **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"buffer_cap": 0},
        {"production_period": 0},
        {"save_state_frequency": 0},
        {"primary_deadline": 3, "fallback_deadline": 3},
        {"buffer_cap": "30"},
    ],
)
def test_absurd_configs_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        config(**changes)


def chain(tree: InMemoryBlockTree, length: int, attestations: int = 4) -> list[BlockRef]:
    refs, parent = [], GENESIS
    for n in range(length):
        block = build_block(parent, tree.states[parent.block_id], (n,), SIGNERS[1].public_key)
        tree.add(block)
        tree.update(block.block_id, attestations=attestations)
        refs.append(block.ref)
        parent = block.ref
    return refs


def head_on(tree: InMemoryBlockTree, parent: BlockRef):  # type: ignore[no-untyped-def]
    return build_block(parent, tree.states.get(parent.block_id, GENESIS_STATE), (99,), ME)


def test_the_five_outcomes() -> None:
    c = config(primary_deadline=1, fallback_deadline=2)
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    refs = chain(tree, 3)
    head = head_on(tree, refs[-1])
    assert update_candidate_common_section(c, tree.snapshot(), head).outcome == SUCCESS

    tree.update(refs[0].block_id, attestations=2)  # below floor(4/2)+1 = 3, at depth 3
    assert update_candidate_common_section(c, tree.snapshot(), head).outcome == NOT_READY_YET

    tree.update(refs[1].block_id, data_ready=False)
    assert update_candidate_common_section(c, tree.snapshot(), head).outcome == (
        ANCESTOR_NOT_READY_YET
    )
    tree.update(refs[2].block_id, invalidated=True)
    assert update_candidate_common_section(c, tree.snapshot(), head).outcome == (
        FAILED_TO_BUILD_CHAIN
    )
    tree.set_keeper_set(KeeperSet(epoch=1, seed=b"s", members=MEMBERS[1:]))
    assert update_candidate_common_section(c, tree.snapshot(), head).outcome == (
        ABORT_NOT_IN_BK_SET
    )


def test_fallback_flag_and_a_fork_of_finality() -> None:
    c = config(primary_deadline=1, fallback_deadline=3)
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    refs = chain(tree, 2, attestations=3)  # fallback target met, primary (3 of 4) met
    section = update_candidate_common_section(c, tree.snapshot(), head_on(tree, refs[-1]))
    assert section.outcome == SUCCESS and not section.fallback
    tree.update(refs[0].block_id, attestations=2)
    section = update_candidate_common_section(c, tree.snapshot(), head_on(tree, refs[-1]))
    assert section.outcome == SUCCESS and section.fallback

    fork = build_block(GENESIS, GENESIS_STATE, (7,), SIGNERS[2].public_key)
    tree.add(fork)
    tree.finalize(fork.block_id)
    section = update_candidate_common_section(c, tree.snapshot(), head_on(tree, refs[-1]))
    assert section.outcome == FAILED_TO_BUILD_CHAIN


def test_unknown_parent_is_an_ancestor_not_ready() -> None:
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    ghost = BlockRef(block_id=b"\x42" * 32, seq_no=5, height=5)
    section = update_candidate_common_section(config(), tree.snapshot(), head_on(tree, ghost))
    assert section.outcome == ANCESTOR_NOT_READY_YET


def test_executor_is_deterministic_and_ids_commit_to_inputs() -> None:
    assert execute(GENESIS_STATE, (1, 2)) == execute(GENESIS_STATE, (1, 2))
    assert execute(GENESIS_STATE, (1, 2)) != execute(GENESIS_STATE, (2, 1))
    a = build_block(GENESIS, GENESIS_STATE, (1,), ME)
    b = build_block(GENESIS, GENESIS_STATE, (2,), ME)
    assert a.block_id != b.block_id and a.seq_no == 1 and a.height == 1


def test_snapshot_does_not_change_under_later_writes() -> None:
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    snap = tree.snapshot()
    refs = chain(tree, 1)
    assert snap.block(refs[0].block_id) is None and tree.block(refs[0].block_id) is not None


def test_regression_no_next_round_announcement_once_known_out_of_the_set() -> None:
    """Found by the campaign (PB-3): a Start with round > 0 signed a NextRoundSuccess although the
    latest KeeperSetChanged had excluded us (the view's set still had us)."""
    c = config()
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    runner = Conformant(PRODUCER, c)
    state = PRODUCER.initial(c)
    state, _ = runner.step(
        state,
        KeeperSetChanged(keepers=KeeperSet(epoch=1, seed=b"s", members=MEMBERS[1:])),
        tree.snapshot(),
    )
    params = StartParams(parent_id=GENESIS_ID, parent_seq_no=0, parent_height=0, round=1)
    state, effects = runner.step(state, Start(params=params), tree.snapshot())
    assert not any(type(e) is BroadcastNextRoundSuccess for e in effects)


def test_clock_regression_is_a_counted_rejection() -> None:
    c = config()
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    runner = Conformant(PRODUCER, c)
    state, _ = runner.step(PRODUCER.initial(c), Tick(now=100), tree.snapshot())
    _, effects = runner.step(state, Tick(now=99), tree.snapshot())
    assert effects == (Rejected(reason="clock_regressed"),)


@given(data=st.data())
def test_any_state_and_any_input_match_exactly_one_row_and_conform(data: st.DataObject) -> None:
    """Guards are mutually exclusive and exhaustive over arbitrary well-typed states, reachable or
    not, and any input, garbage included, is handled without raising, as its row says. Each drawn
    state is tried under every control state its fields allow, with several inputs."""
    c = data.draw(producer_configs(SIGNERS[0]), label="config")
    tree = data.draw(producer_trees(MEMBERS), label="tree")
    refs = tree_refs(tree)
    state = data.draw(producer_states(c.buffer_cap, ME, refs), label="state")
    events = data.draw(st.lists(producer_events(state, ME, refs), min_size=1, max_size=8))
    view = tree.snapshot()
    for control in SPEC.states:
        if control in ACTIVE and state.base is None:
            continue  # a running producer always has a continuation point
        for event in events:  # each from the same state, so each gets a runner of its own
            runner = Conformant(PRODUCER, c, check_invariants=False)
            runner.step(attrs.evolve(state, control=control), event, view)


def test_regression_finalization_over_a_buffer_in_armed_matches_one_row() -> None:
    """Found by the arbitrary-state property: an Armed state holding a buffer (well-typed, not
    reachable) met a FinalizationAdvanced at the buffer's head and matched no row: the guard said
    ``overtaken`` but only Producing and Holding have that row. Armed, having built nothing of its
    own yet, now notes it; a buffer overtaken by finality is dropped once Producing evaluates it."""
    c = config()
    tree = InMemoryBlockTree(KeeperSet(epoch=0, seed=b"s", members=MEMBERS))
    block = head_on(tree, GENESIS)
    state = ProducerState(control=ARMED, now=0, base=GENESIS, building=0, buffer=(block,))
    event = FinalizationAdvanced(block_id=block.block_id, seq_no=block.seq_no)
    after, effects = Conformant(PRODUCER, c, check_invariants=False).step(
        state, event, tree.snapshot()
    )
    assert after == state and effects == ()
