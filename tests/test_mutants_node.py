"""Tests that kill the mutants mutmut left alive in machine/node.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). ``NodeConfig.make`` is the one place a node's timers are derived
from a few parameters, so each derived value is pinned; ``_commit_certified``, the node's own
commit rule after a sync response, is driven directly with chosen effects and views (the
simulator reaches only its common paths).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from blockfsm.machine import node as node_machine
from blockfsm.machine.attester import AttesterConfig, Guard, ProposalReceived, VoteReceived
from blockfsm.machine.core import Observe, Step, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import SyncRequestReceived
from blockfsm.machine.node import NodeConfig, NodeState, Steppers, _commit_certified
from blockfsm.machine.sync_client import (
    Commit,
    Persist,
    SyncClientConfig,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.node import RUNNING

CHAIN = 9
SIGNERS = [StandInSigner.from_seed(300 + i) for i in range(4)]
KEYS = [s.public_key for s in SIGNERS]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of(SIGNERS)


def _expected(
    *,
    seed: int,
    round_timeout: int,
    increment: int,
    advertise: int,
    limit: int,
    trigger: int,
) -> tuple[SyncServerConfig, SyncClientConfig, AttesterConfig]:
    return (
        SyncServerConfig(
            chain_id=CHAIN, signer=SIGNERS[0], request_limit=limit, advertise_time=advertise
        ),
        SyncClientConfig(
            chain_id=CHAIN,
            own_key=KEYS[0],
            validators=VALIDATORS,
            verifier=VERIFIER,
            seed=seed,
            request_limit=limit,
            trigger_timeout=trigger,
            trigger_rate_limit=advertise,
            advertise_expiry=3 * advertise,
            advertise_freshness=2 * advertise + 1_000,
            response_timeout=advertise,
            max_sync_time=4 * advertise,
            blacklist_expiry_time=4 * advertise,
        ),
        AttesterConfig(
            chain_id=CHAIN,
            signer=SIGNERS[0],
            validators=VALIDATORS,
            verifier=VERIFIER,
            round_timeout=round_timeout,
            round_timeout_increment=increment,
        ),
    )


def _parts(config: NodeConfig) -> tuple[Any, ...]:
    """The server and client configs whole, and the attester's fields ``make`` sets from its
    parameters."""
    a = config.attester
    return (
        config.server,
        config.client,
        (a.chain_id, a.signer, a.validators, a.round_timeout, a.round_timeout_increment),
    )


def _parts_of(
    configs: tuple[SyncServerConfig, SyncClientConfig, AttesterConfig],
) -> tuple[Any, ...]:
    server, client, a = configs
    return (
        server,
        client,
        (a.chain_id, a.signer, a.validators, a.round_timeout, a.round_timeout_increment),
    )


def test_make_with_its_defaults_derives_every_part_s_config() -> None:
    """``NodeConfig.make`` mutants 1 to 6 (a default changed) and 40 to 53 (a derived client
    timer dropped or changed)."""
    made = NodeConfig.make(
        chain_id=CHAIN, signer=SIGNERS[0], validators=VALIDATORS, verifier=VERIFIER
    )
    assert _parts(made) == _parts_of(
        _expected(
            seed=0, round_timeout=1_000, increment=500, advertise=1_000, limit=10, trigger=5_000
        )
    )
    assert made.client.advertise_freshness == 3_000 and made.client.max_sync_time == 4_000
    assert made.steppers is None


def test_make_passes_every_parameter_on() -> None:
    """``NodeConfig.make`` mutants 10, 14 (the steppers dropped), 21 (the server's request limit
    dropped) and the client's and attester's parameters dropped."""
    steppers = Steppers(server=print, client=print, attester=print)  # type: ignore[arg-type]
    made = NodeConfig.make(
        chain_id=CHAIN,
        signer=SIGNERS[0],
        validators=VALIDATORS,
        verifier=VERIFIER,
        seed=7,
        round_timeout=2_000,
        round_timeout_increment=300,
        advertise_time=1_500,
        request_limit=4,
        trigger_timeout=9_000,
        steppers=steppers,
    )
    assert _parts(made) == _parts_of(
        _expected(
            seed=7, round_timeout=2_000, increment=300, advertise=1_500, limit=4, trigger=9_000
        )
    )
    assert made.client.advertise_freshness == 4_000
    assert made.steppers is steppers


def _blocks(
    n: int, *, tag: bytes = b"main", parent: bytes = ZERO_HASH, start: int = 0
) -> list[Block]:
    out = []
    for h in range(start, start + n):
        b = Block.make(
            chain_id=CHAIN,
            height=h,
            parent_hash=parent,
            justify=Certificate.genesis(CHAIN),
            payload=tag,
        )
        out.append(b)
        parent = b.hash
    return out


def _cert(block: Block) -> Certificate:
    return Certificate(
        chain_id=CHAIN, view=block.height + 1, height=block.height, block_hash=block.hash
    )


def _chain(blocks: list[Block], committed: int = -1) -> InMemoryChain:
    chain = InMemoryChain(CHAIN)
    for b in blocks:
        chain.persist(b)
    if committed >= 0:
        chain.commit(committed)
    return chain


def test_effects_without_a_write_or_a_certificate_are_returned_unchanged() -> None:
    """``_commit_certified`` mutants 19, 20, 21: the early return taken or skipped wrongly."""
    chain = _chain(_blocks(3))
    effects = (Commit(height=0),)
    assert _commit_certified(effects, chain.snapshot()) == effects
    assert _commit_certified((), chain.snapshot()) == ()


def test_persisted_blocks_commit_up_to_the_one_below_the_top() -> None:
    """Each persisted block's justify certifies its parent: blocks 0..2 persisted make 1 final
    (mutants 38, 39, 41, 43, 44, 45: the top's own height, two below, or none)."""
    blocks = _blocks(3)
    effects = tuple(Persist(block=b) for b in blocks)
    assert _commit_certified(effects, _chain([]).snapshot()) == (*effects, Commit(height=1))


def test_a_highest_certificate_for_a_persisted_block_commits_it() -> None:
    blocks = _blocks(3)
    effects = (
        *(Persist(block=b) for b in blocks),
        UpdateHighestCertificate(certificate=_cert(blocks[2])),
    )
    assert _commit_certified(effects, _chain([]).snapshot()) == (*effects, Commit(height=2))


def test_a_certificate_for_a_stored_block_below_the_written_ones_commits_nothing_new() -> None:
    """A certificate update alone, for the view's tip: the tip becomes final (mutants 22 to 27,
    29 to 35: the first written height or the view's tip read wrongly, blocks at or above the
    first written one read from the view)."""
    blocks = _blocks(3)
    chain = _chain(blocks)
    only_cert = (UpdateHighestCertificate(certificate=_cert(blocks[2])),)
    assert _commit_certified(only_cert, chain.snapshot()) == (*only_cert, Commit(height=2))
    stale = (UpdateHighestCertificate(certificate=_cert(blocks[1])),)
    assert _commit_certified(stale, chain.snapshot()) == (*stale, Commit(height=1))


def test_a_certificate_for_a_replaced_block_or_an_unheld_one_commits_nothing() -> None:
    """Mutants 29 to 32, 47, 50, 51: a certificate whose block the node does not hold (replaced by
    a fork being written, or never stored) must not make anything final."""
    main = _blocks(3)
    chain = _chain(main)
    fork = _blocks(2, tag=b"fork", parent=main[0].hash, start=1)
    effects = (Persist(block=fork[0]), UpdateHighestCertificate(certificate=_cert(main[2])))
    # fork[0] replaces main[1] (and main[2] above it): the certificate names a block gone, and
    # only fork[0]'s parent is final
    assert _commit_certified(effects, chain.snapshot()) == (*effects, Commit(height=0))
    ghost = _blocks(1, tag=b"ghost", start=5)[0]
    lone = (UpdateHighestCertificate(certificate=_cert(ghost)),)
    # the view's tip still certifies its parent; the unheld block's certificate adds nothing
    assert _commit_certified(lone, chain.snapshot()) == (*lone, Commit(height=1))


@pytest.mark.parametrize("committed", [1, 2])
def test_nothing_is_committed_again(committed: int) -> None:
    """Mutants 54, 56: a commit at the height already committed was repeated."""
    blocks = _blocks(3)
    chain = _chain(blocks, committed=committed)
    effects = (UpdateHighestCertificate(certificate=_cert(blocks[committed])),)
    assert _commit_certified(effects, chain.snapshot()) == effects


@attrs.frozen
class Part:
    """A part's state in these tests: the events it took, in its ``tag``. Its height and round
    never leave the node's initial slot, so a node that composes a producer never asks it."""

    tag: str
    height: int = -1
    round: int = -1


def _recording_steppers(log: list[tuple[str, str, object]]) -> Steppers:
    """Parts that record what they were given; the attester reports a block final (a Commit)."""

    def part(name: str, effects: tuple[Any, ...]) -> Any:
        def step(state: Part, event: Any, view: Any) -> Step:
            log.append((name, type(event).__name__, view))
            return Step(Part(f"{state.tag}+{type(event).__name__}"), effects)

        return step

    return Steppers(
        server=part("server", (Observe(name="server"),)),
        client=part("client", (Observe(name="client"),)),
        attester=part("attester", (Commit(height=3),)),
    )


def _node(log: list[tuple[str, str, object]]) -> tuple[NodeConfig, NodeState]:
    config = NodeConfig.make(
        chain_id=CHAIN,
        signer=SIGNERS[0],
        validators=VALIDATORS,
        verifier=VERIFIER,
        steppers=_recording_steppers(log),
    )
    parts = {"server": Part("s"), "client": Part("c"), "attester": Part("a")}
    if "producer" in attrs.fields_dict(NodeState):  # a node that composes the producer too
        parts["producer"] = Part("p")
    return config, NodeState(control=RUNNING, **parts)  # type: ignore[arg-type]


def _tags(state: NodeState) -> tuple[str, str, str]:
    return state.server.tag, state.client.tag, state.attester.tag  # type: ignore[attr-defined]


@pytest.mark.parametrize("event", [ProposalReceived, VoteReceived])
def test_a_block_the_attester_finalizes_advances_the_client(event: Any) -> None:
    """``_steppers_mutmut_1`` (the config's steppers ignored), ``step`` mutants 31, 34 (the
    client's advance dropped from the state)."""
    log: list[tuple[str, str, object]] = []
    config, state = _node(log)
    view = InMemoryChain(CHAIN).snapshot()
    field = "proposal" if event is ProposalReceived else "vote"
    received = event(peer=KEYS[1], **{field: None})
    after, effects = node_machine.step(config, state, received, view)
    assert _tags(after) == ("s", "c+ChainAdvanced", f"a+{event.__name__}")
    assert effects == (Commit(height=3), Observe(name="client"))
    assert log == [("attester", event.__name__, view), ("client", "ChainAdvanced", view)]


def test_a_tick_that_finalizes_a_block_advances_the_client_after_its_tick() -> None:
    """``step`` mutants 103 to 110: on a Tick, the client is told ``ChainAdvanced`` after its own
    Tick, with the same view, and its effects are kept."""
    log: list[tuple[str, str, object]] = []
    config, state = _node(log)
    view = InMemoryChain(CHAIN).snapshot()
    after, effects = node_machine.step(config, state, Tick(now=1), view)
    assert after.control == RUNNING
    assert _tags(after) == ("s+Tick", "c+Tick+ChainAdvanced", "a+Tick")
    assert [type(e).__name__ for e in effects] == ["Commit", "Observe", "Observe", "Observe"]
    assert log[-1] == ("client", "ChainAdvanced", view)


def test_a_sync_request_updates_the_server_s_state() -> None:
    """``step`` mutants 49, 51 and ``_with_mutmut_10``: the server's new state was dropped (its
    rate-limit counts with it)."""
    log: list[tuple[str, str, object]] = []
    config, state = _node(log)
    after, _ = node_machine.step(
        config,
        state,
        SyncRequestReceived(peer=KEYS[1], request=None),
        InMemoryChain(CHAIN).snapshot(),
    )  # type: ignore[arg-type]
    assert _tags(after) == ("s+SyncRequestReceived", "c", "a")


def test_an_unknown_event_is_named_in_the_error() -> None:
    """``step_mutmut_125``: the TypeError lost its text."""
    log: list[tuple[str, str, object]] = []
    config, state = _node(log)
    with pytest.raises(TypeError) as raised:
        node_machine.step(config, state, 42, InMemoryChain(CHAIN).snapshot())
    assert str(raised.value) == "node does not take int"


def test_a_restarted_node_keeps_its_persisted_guard() -> None:
    """``initial`` mutants 12 to 14: the guard passed after a crash was dropped."""
    config = NodeConfig.make(
        chain_id=CHAIN, signer=SIGNERS[0], validators=VALIDATORS, verifier=VERIFIER
    )
    guard = Guard(height=4, locked_round=2, signed=((2, 0, b"\x05" * 32),))
    assert node_machine.initial(config, guard).attester.guard == guard
    assert node_machine.initial(config).attester.guard == Guard()


def test_a_certificate_on_an_empty_chain_commits_nothing() -> None:
    """``_commit_certified_mutmut_44``: with no block held, nothing is certified (-1, not +1)."""
    effects = (UpdateHighestCertificate(certificate=Certificate.genesis(CHAIN)),)
    assert _commit_certified(effects, _chain([]).snapshot()) == effects


def test_steppers_without_a_producer_step_the_plain_producer() -> None:
    """``NodeConfig.__attrs_post_init__`` mutant 23 (a checker's ``Steppers`` that gives no
    producer step leaves the node with none): the node then steps its producer plainly."""
    config, _ = _node([])
    producer_step = config.parts[3]
    assert producer_step is not None
    plain = node_machine.prod.step
    assert getattr(producer_step, "func", None) is plain
    assert producer_step.args == (config.producer,)  # type: ignore[attr-defined]
