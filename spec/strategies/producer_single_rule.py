"""Inputs that break exactly one of the producer's checks on what it is given.

The producer trusts nothing it is handed: a ``Start`` from the node (its continuation point, its
round, and for a takeover the keepers' signed NextRound votes, one of which may report a locked
candidate), a ``BlockBuilt`` from the executor, a ``Tick`` from the clock, a ``KeeperSetChanged``
and the notifications from the block tree. Each strategy here draws a ``Case`` (the one of
``blockfsm.spec.strategies.single_rule``): a config, a state reached by stepping the real machine
from ``initial``, a view, a *valid* input the state takes by its accepting class, and a *broken*
input made from it by breaking one rule while every other check still passes. Votes and locked
candidates are re-signed wherever the keeper or producer that signed them could re-sign: a vote
for another round carries its keeper's real signature over the new fields, a locked block whose
height is relabelled carries the id of its new contents and its producer's signature over them.

A takeover's valid Start carries exactly the NextRound quorum ceil((N+1)/2) of valid votes, so a
vote that breaks one rule takes the count one short and the Start is refused for ``no_quorum``;
a valid lock makes the Start re-broadcast it (``locked``), and a lock that breaks one rule makes
its vote not count (``no_quorum``).

The world is fixed: keepers are the keys of ``make_signers(4)`` (NextRound quorum 3), key 0 is the
producer's, key 100 an outsider; the block tree is a chain of 3 to 6 blocks by key 3, every block
attested by all and its data ready, finalized at a drawn height.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st

from blockfsm.machine.core import Step, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    BuildBlock,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    ProducerConfig,
    ProducerState,
    Start,
    StartParams,
    StateSyncRequested,
    Stop,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    BlockRef,
    CandidateBlock,
    InMemoryBlockTree,
    KeeperSet,
    NextRoundVote,
    ProducedBlock,
    SigningGuard,
)
from blockfsm.spec import producer as spec
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.producer_rules import (
    MAX_U64,
    block_id_of,
    candidate_bytes,
    derived_selector,
    make_block,
    next_round_quorum,
    next_round_success_bytes,
    next_round_vote_bytes,
    producer_order,
)
from blockfsm.spec.strategies.chains import make_signers
from blockfsm.spec.strategies.producer import producer_configs, start_params_on
from blockfsm.spec.strategies.single_rule import Case, garbled

SIGNERS: tuple[StandInSigner, ...] = tuple(make_signers(4))
KEYS = tuple(s.public_key for s in SIGNERS)
ME = SIGNERS[0]
AUTHOR = SIGNERS[3]
OUTSIDER = make_signers(1, offset=100)[0]
BY_KEY = {s.public_key: s for s in (*SIGNERS, OUTSIDER)}
VERIFIER = StandInVerifier.of([*SIGNERS, OUTSIDER])
KEEPERS = KeeperSet(epoch=0, seed=b"seed-0", members=KEYS)
QUORUM = next_round_quorum(len(KEYS))
FOREIGN_ID = b"\xee" * 32
"""A block id no view here knows."""


@attrs.frozen(kw_only=True)
class ProducerRule:
    name: str
    event: str
    decided_by: frozenset[str]
    """The spec classes (row guard names) that must decide the broken input."""
    valid_classes: frozenset[str]
    """The classes the valid input may take; empty: any class but ``decided_by``."""
    text: str


def _p(name: str, event: str, decided_by: str, valid: str, text: str) -> ProducerRule:
    return ProducerRule(
        name=name,
        event=event,
        decided_by=frozenset(decided_by.split()),
        valid_classes=frozenset(valid.split()),
        text=text,
    )


_TAKEOVER = "a takeover with exactly a quorum of votes, "
_LOCKED = "a takeover whose first vote reports a locked candidate, "

PRODUCER_RULES: dict[str, ProducerRule] = {
    r.name: r
    for r in (
        _p("start.malformed", "Start", "malformed", "begin", "one param of the wrong type or size"),
        _p(
            "start.vote_malformed",
            "Start",
            "malformed",
            "begin",
            "one vote field of the wrong type",
        ),
        _p("start.unknown_parent", "Start", "unknown_parent", "begin", "a parent the view lacks"),
        _p("start.not_selected", "Start", "not_selected", "begin", "a round naming another keeper"),
        _p("start.not_keeper", "Start", "not_selected", "begin", "our keeper set excludes us"),
        _p(
            "start.below_finalized", "Start", "below_finalized", "begin", "the final block's parent"
        ),
        _p(
            "start.announced_elsewhere",
            "Start",
            "announced_elsewhere",
            "begin",
            "this round already announced at this height for another parent",
        ),
        _p("vote.round", "Start", "no_quorum", "begin", _TAKEOVER + "one for another round"),
        _p("vote.parent", "Start", "no_quorum", "begin", _TAKEOVER + "one for another parent"),
        _p("vote.not_keeper", "Start", "no_quorum", "begin", _TAKEOVER + "one an outsider's"),
        _p(
            "vote.repeated",
            "Start",
            "no_quorum",
            "begin",
            "quorum reached only by repeating one keeper's vote",
        ),
        _p("vote.forged", "Start", "no_quorum", "begin", _TAKEOVER + "one signed by another key"),
        _p(
            "vote.cross_type",
            "Start",
            "no_quorum",
            "begin",
            _TAKEOVER + "one signed over a NextRoundSuccess payload of the same fields",
        ),
        _p("lock.parent", "Start", "no_quorum", "locked", _LOCKED + "on another parent"),
        _p("lock.seq_no", "Start", "no_quorum", "locked", _LOCKED + "seq_no relabelled"),
        _p("lock.height", "Start", "no_quorum", "locked", _LOCKED + "height relabelled"),
        _p("lock.block_id", "Start", "no_quorum", "locked", _LOCKED + "contents changed, id kept"),
        _p("lock.forged", "Start", "no_quorum", "locked", _LOCKED + "signed by another key"),
        _p(
            "lock.cross_type",
            "Start",
            "no_quorum",
            "locked",
            _LOCKED + "signed over a NextRoundSuccess payload",
        ),
        _p("built.malformed", "BlockBuilt", "malformed", "accept", "one field of the wrong type"),
        _p("built.session", "BlockBuilt", "stale", "accept", "another session's"),
        _p("built.build_id", "BlockBuilt", "stale", "accept", "not the outstanding request"),
        _p("built.parent", "BlockBuilt", "inconsistent", "accept", "another parent, id recomputed"),
        _p("built.seq_no", "BlockBuilt", "inconsistent", "accept", "seq_no + 1, id recomputed"),
        _p("built.height", "BlockBuilt", "inconsistent", "accept", "height + 1, id recomputed"),
        _p("built.producer", "BlockBuilt", "inconsistent", "accept", "another producer's"),
        _p("built.block_id", "BlockBuilt", "inconsistent", "accept", "contents changed, id kept"),
        _p("tick.regressed", "Tick", "regressed", "", "one millisecond before the clock"),
        _p("tick.beyond_u64", "Tick", "regressed", "", "2^64, past the clock's range"),
        _p("keepers.empty", "KeeperSetChanged", "malformed", "newer", "no members"),
        _p("keepers.duplicate", "KeeperSetChanged", "malformed", "newer", "a member twice"),
        _p("keepers.member", "KeeperSetChanged", "malformed", "newer", "a 31-byte member key"),
        _p("keepers.stale", "KeeperSetChanged", "stale", "newer", "the epoch we know, without us"),
        _p("attestation.malformed", "AttestationReceived", "malformed", "", "count -1"),
        _p("finalization.malformed", "FinalizationAdvanced", "malformed", "", "seq_no -1"),
        _p("invalidation.malformed", "ParentInvalidated", "malformed", "", "a 31-byte block id"),
        _p("state_sync.malformed", "StateSyncRequested", "bad", "ok", "seq_no 2^64"),
    )
}
RULE_NAMES = tuple(PRODUCER_RULES)


# --- the world --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class World:
    config: ProducerConfig
    tree: InMemoryBlockTree = attrs.field(eq=False)
    chain: tuple[ProducedBlock, ...]
    """The chain by ``AUTHOR`` on genesis, oldest first."""
    final: int
    """Index in ``chain`` of the finalized block."""


@st.composite
def worlds(draw: st.DrawFn, min_final: int = 0) -> World:
    config = attrs.evolve(draw(producer_configs(ME)), verifier=VERIFIER)
    tree = InMemoryBlockTree(KEEPERS)
    parent = tree.last_finalized()
    chain = []
    for n in range(draw(st.integers(min_value=3, max_value=6))):
        block = make_block(parent, tree.states[parent.block_id], (30_000 + n,), AUTHOR.public_key)
        tree.add(block)
        tree.update(block.block_id, attestations=len(KEYS))
        chain.append(block)
        parent = block.ref
    final = draw(st.integers(min_value=min_final, max_value=len(chain) - 2))
    tree.finalize(chain[final].block_id)
    return World(config=config, tree=tree, chain=tuple(chain), final=final)


def selecting_round(selector: Any, keepers: KeeperSet, me: bytes, at_least: int) -> int:
    """The smallest round >= ``at_least`` whose selector on a parent of selector ``selector``
    names ``me`` among ``keepers``, by the spec's restatement of selection (``me`` a member)."""
    n = len(keepers.members)
    seed, index = derived_selector(selector, keepers.seed, n, 0)
    first = (producer_order(keepers.members, seed).index(me) - index) % n
    return first + n * max(0, -(-(at_least - first) // n))


def _round(world: World, parent: ProducedBlock, at_least: int) -> int:
    info = world.tree.block(parent.block_id)
    assert info is not None
    return selecting_round(info.selector, KEEPERS, ME.public_key, at_least)


def vote(
    signer: StandInSigner, round_: int, parent_id: bytes, locked: CandidateBlock | None = None
) -> NextRoundVote:
    lock_id = None if locked is None else locked.block.block_id
    return NextRoundVote(
        round=round_,
        parent_id=parent_id,
        keeper=signer.public_key,
        locked=locked,
        signature=signer.sign(next_round_vote_bytes(round_, parent_id, signer.public_key, lock_id)),
    )


def candidate(block: ProducedBlock, round_: int, fallback: bool, signer: Any) -> CandidateBlock:
    """``block`` as a candidate of ``round_``, signed by ``signer``."""
    selector = ProducerSelector(seed=KEEPERS.seed, index=round_ % len(KEYS))
    return CandidateBlock(
        block=block,
        round=round_,
        selector=selector,
        fallback=fallback,
        signature=signer.sign(
            candidate_bytes(block, round_, selector.seed, selector.index, fallback)
        ),
    )


def relabelled(block: ProducedBlock, **changes: Any) -> ProducedBlock:
    """``block`` with ``changes`` and the id of its new contents."""
    b = attrs.evolve(block, **changes)
    return attrs.evolve(
        b, block_id=block_id_of(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
    )


def _step(config: ProducerConfig, state: ProducerState, event: Any, world: World) -> Step:
    return PRODUCER.step(config, state, event, world.tree.snapshot())


def _after(config: ProducerConfig, state: ProducerState, event: Any, world: World) -> ProducerState:
    after: ProducerState = _step(config, state, event, world).state
    return after


def _params(parent: ProducedBlock, round_: int, votes: tuple[NextRoundVote, ...]) -> StartParams:
    return start_params_on(parent, round_, votes)


def _quorum_votes(
    draw: st.DrawFn, round_: int, parent_id: bytes, locked: CandidateBlock | None = None
) -> list[NextRoundVote]:
    """Exactly a quorum of distinct keepers' valid votes, in a drawn order; the first reports
    ``locked``."""
    voters = draw(st.permutations(SIGNERS))[:QUORUM]
    return [vote(s, round_, parent_id, locked if n == 0 else None) for n, s in enumerate(voters)]


@st.composite
def contexts(draw: st.DrawFn, world: World, avoid_height: int) -> ProducerState:
    """A reachable state in which a Start is decided by its params: Idle (keepers known),
    Armed on a block of another height, or Stopped after that."""
    state = PRODUCER.initial(world.config)
    state = _after(world.config, state, KeeperSetChanged(keepers=KEEPERS), world)
    where = draw(st.sampled_from(["idle", "armed", "stopped"]))
    if where == "idle":
        return state
    others = [b for b in world.chain[world.final :] if b.height != avoid_height]
    parent = draw(st.sampled_from(others))
    r = _round(world, parent, 0)
    votes = tuple(_quorum_votes(draw, r, parent.block_id)) if r else ()
    state = _after(world.config, state, Start(params=_params(parent, r, votes)), world)
    if where == "stopped":
        state = _after(world.config, state, Stop(), world)
    return state


# --- Start: params, votes, locks ------------------------------------------------------------


@st.composite
def start_cases(draw: st.DrawFn, rule: str) -> Case:
    world = draw(worlds(min_final=1 if rule == "start.below_finalized" else 0))
    config, chain, final = world.config, world.chain, world.final
    kind = rule.split(".", 1)[0]
    takeover = kind in ("vote", "lock") or rule in (
        "start.vote_malformed",
        "start.announced_elsewhere",
    )
    if rule == "start.below_finalized":
        parent = chain[final]
    else:
        parent = draw(st.sampled_from(chain[final:]))
    r = _round(world, parent, 1 if takeover else draw(st.integers(0, 4)))
    state = draw(contexts(world, parent.height))
    view = world.tree.snapshot()

    def start(parent: ProducedBlock, round_: int, votes: list[NextRoundVote]) -> Start:
        return Start(params=_params(parent, round_, tuple(votes)))

    lock = None
    if kind == "lock":
        child = make_block(
            parent.ref, world.tree.states[parent.block_id], (40_000,), KEYS[1 % len(KEYS)]
        )
        lock_round = draw(st.integers(min_value=0, max_value=r - 1))
        lock = candidate(child, lock_round, draw(st.booleans()), SIGNERS[1])
    votes = _quorum_votes(draw, r, parent.block_id, lock) if r else []
    valid = start(parent, r, votes)
    broken_state = None
    at = draw(st.integers(min_value=0, max_value=QUORUM - 1))
    signer = BY_KEY[votes[at].keeper] if votes else ME
    if rule == "start.malformed":
        field, value = draw(
            st.sampled_from(
                [
                    ("parent_id", parent.block_id[:31]),
                    ("parent_seq_no", -1),
                    ("parent_height", MAX_U64 + 1),
                    ("round", "1"),
                    ("votes", list(votes)),
                ]
            )
        )
        broken = Start(params=garbled(valid.params, **{field: value}))
    elif rule == "start.vote_malformed":
        field, value = draw(
            st.sampled_from([("signature", None), ("keeper", votes[at].keeper[:31]), ("round", -1)])
        )
        votes[at] = garbled(votes[at], **{field: value})
        broken = start(parent, r, votes)
    elif rule == "start.unknown_parent":
        foreign = attrs.evolve(parent, block_id=FOREIGN_ID)
        broken = start(foreign, r, [vote(BY_KEY[v.keeper], r, FOREIGN_ID) for v in votes])
    elif rule == "start.not_selected":
        other = r + draw(st.integers(min_value=1, max_value=len(KEYS) - 1))
        broken = start(parent, other, _quorum_votes(draw, other, parent.block_id))
    elif rule == "start.not_keeper":
        broken = valid
        without = KeeperSet(epoch=1, seed=KEEPERS.seed, members=KEYS[1:])
        broken_state = _step(config, state, KeeperSetChanged(keepers=without), world).state
    elif rule == "start.below_finalized":
        below = chain[final - 1]
        rb = _round(world, below, draw(st.integers(0, 4)))
        broken = start(below, rb, _quorum_votes(draw, rb, below.block_id) if rb else [])
    elif rule == "start.announced_elsewhere":
        broken = valid
        guard = state.guard
        announced = (*guard.announced, (r, parent.height, FOREIGN_ID))
        broken_state = attrs.evolve(
            state, guard=SigningGuard(blocks=guard.blocks, announced=announced)
        )
    elif rule == "vote.round":
        votes[at] = vote(signer, r + 1, parent.block_id)
        broken = start(parent, r, votes)
    elif rule == "vote.parent":
        votes[at] = vote(
            signer, r, draw(st.sampled_from([c for c in chain if c != parent])).block_id
        )
        broken = start(parent, r, votes)
    elif rule == "vote.not_keeper":
        votes[at] = vote(OUTSIDER, r, parent.block_id)
        broken = start(parent, r, votes)
    elif rule == "vote.repeated":
        other = (at + 1 + draw(st.integers(0, QUORUM - 2))) % QUORUM
        votes[at] = votes[other]
        broken = start(parent, r, votes)
    elif rule == "vote.forged":
        forger = draw(st.sampled_from([s for s in (*SIGNERS, OUTSIDER) if s is not signer]))
        good = votes[at]
        lock_id = None
        votes[at] = attrs.evolve(
            good,
            signature=forger.sign(next_round_vote_bytes(r, parent.block_id, good.keeper, lock_id)),
        )
        broken = start(parent, r, votes)
    elif rule == "vote.cross_type":
        votes[at] = attrs.evolve(
            votes[at],
            signature=signer.sign(next_round_success_bytes(r, parent.block_id, signer.public_key)),
        )
        broken = start(parent, r, votes)
    else:
        assert lock is not None
        broken = start(parent, r, _broken_lock(draw, rule, world, parent, r, votes, lock))
    # The state was built around the parent's height; a draw that still collides is skipped.
    assume(spec.start_kind(config, state, valid, view) in PRODUCER_RULES[rule].valid_classes)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=valid,
        broken=broken,
        broken_state=broken_state,
    )


def _broken_lock(
    draw: st.DrawFn,
    rule: str,
    world: World,
    parent: ProducedBlock,
    r: int,
    votes: list[NextRoundVote],
    lock: CandidateBlock,
) -> list[NextRoundVote]:
    """The votes with the first one's lock broken by ``rule``, the vote re-signed by its keeper
    over the broken lock's id (so the vote itself is valid)."""
    block, producer = lock.block, SIGNERS[1]
    if rule == "lock.parent":
        sibling = BlockRef(block_id=FOREIGN_ID, seq_no=parent.seq_no, height=parent.height)
        bad = candidate(
            make_block(sibling, block.state, block.inputs, block.producer),
            lock.round,
            lock.fallback,
            producer,
        )
    elif rule == "lock.seq_no":
        bad = candidate(
            relabelled(block, seq_no=block.seq_no + 1), lock.round, lock.fallback, producer
        )
    elif rule == "lock.height":
        bad = candidate(
            relabelled(block, height=block.height + 1), lock.round, lock.fallback, producer
        )
    elif rule == "lock.block_id":
        changed = attrs.evolve(block, inputs=(*block.inputs, 1))
        bad = candidate(changed, lock.round, lock.fallback, producer)
    elif rule == "lock.forged":
        forger = draw(st.sampled_from([s for s in (*SIGNERS, OUTSIDER) if s is not producer]))
        bad = candidate(block, lock.round, lock.fallback, forger)
    elif rule == "lock.cross_type":
        bad = attrs.evolve(
            lock,
            signature=producer.sign(
                next_round_success_bytes(lock.round, parent.block_id, block.producer)
            ),
        )
    else:
        raise ValueError(f"unknown rule {rule!r}")
    first = votes[0]
    return [vote(BY_KEY[first.keeper], r, parent.block_id, bad), *votes[1:]]


# --- BlockBuilt -----------------------------------------------------------------------------


@st.composite
def built_cases(draw: st.DrawFn, rule: str) -> Case:
    """An outstanding build (Armed, or Producing after the first block was taken) answered by
    an honest executor, and that answer with one rule broken."""
    world = draw(worlds())
    config = world.config
    parent = draw(st.sampled_from(world.chain[world.final :]))
    state = PRODUCER.initial(config)
    state = _step(config, state, KeeperSetChanged(keepers=KEEPERS), world).state
    r = _round(world, parent, 0)
    votes = tuple(_quorum_votes(draw, r, parent.block_id)) if r else ()
    result = _step(config, state, Start(params=_params(parent, r, votes)), world)
    states = dict(world.tree.states)
    request = _request(result.effects)
    for _ in range(draw(st.integers(min_value=0, max_value=1))):
        if request is None:
            break
        block = make_block(
            request.parent, states[request.parent.block_id], (50_000,), ME.public_key
        )
        states[block.block_id] = block.state
        answer = BlockBuilt(session=request.session, build_id=request.build_id, block=block)
        result = _step(config, result.state, answer, world)
        request = _request(result.effects)
    assume(request is not None)
    assert request is not None
    state = result.state
    inputs = tuple(draw(st.lists(st.integers(0, 9), min_size=1, max_size=3)))
    good = make_block(request.parent, states[request.parent.block_id], inputs, ME.public_key)
    valid = BlockBuilt(session=request.session, build_id=request.build_id, block=good)
    if rule == "built.malformed":
        field = draw(st.sampled_from(["session", "build_id", "block"]))
        value: Any = {"session": -1, "build_id": "1", "block": garbled(good, inputs=[1])}[field]
        broken = attrs.evolve(valid, **{field: value})
    elif rule == "built.session":
        broken = attrs.evolve(valid, session=request.session + 1)
    elif rule == "built.build_id":
        broken = attrs.evolve(valid, build_id=request.build_id + 1)
    elif rule == "built.parent":
        broken = attrs.evolve(valid, block=relabelled(good, parent_id=FOREIGN_ID))
    elif rule == "built.seq_no":
        broken = attrs.evolve(valid, block=relabelled(good, seq_no=good.seq_no + 1))
    elif rule == "built.height":
        broken = attrs.evolve(valid, block=relabelled(good, height=good.height + 1))
    elif rule == "built.producer":
        other = draw(st.sampled_from(KEYS[1:]))
        broken = attrs.evolve(valid, block=relabelled(good, producer=other))
    elif rule == "built.block_id":
        broken = attrs.evolve(valid, block=attrs.evolve(good, inputs=(*good.inputs, 1)))
    else:
        raise ValueError(f"unknown rule {rule!r}")
    return _case(rule, world, state, valid, broken)


def _case(rule: str, world: World, state: ProducerState, valid: Any, broken: Any) -> Case:
    return Case(
        rule=rule,
        config=world.config,
        state=state,
        view=world.tree.snapshot(),
        valid=valid,
        broken=broken,
    )


def _request(effects: tuple[Any, ...]) -> BuildBlock | None:
    for e in effects:
        if type(e) is BuildBlock:
            return e
    return None


# --- the clock, the keeper set and the block tree's notifications -----------------------------


@st.composite
def notice_cases(draw: st.DrawFn, rule: str) -> Case:
    """Tick, KeeperSetChanged, AttestationReceived, FinalizationAdvanced, ParentInvalidated and
    StateSyncRequested, in Idle, Armed or Stopped, after a first Tick."""
    world = draw(worlds())
    config = world.config
    state = draw(contexts(world, -1))
    now = draw(st.integers(min_value=1, max_value=10_000))
    state = _step(config, state, Tick(now=now), world).state
    block = draw(st.sampled_from(world.chain)).block_id
    epoch = KeeperSet(epoch=1, seed=b"seed-1", members=KEYS)
    valid: Any
    broken: Any
    if rule == "tick.regressed":
        valid, broken = Tick(now=now + draw(st.integers(0, 1_000))), Tick(now=now - 1)
    elif rule == "tick.beyond_u64":
        valid, broken = Tick(now=now + draw(st.integers(0, 1_000))), Tick(now=MAX_U64 + 1)
    elif rule.startswith("keepers."):
        valid = KeeperSetChanged(keepers=epoch)
        members = {
            "keepers.empty": (),
            "keepers.duplicate": (*KEYS, KEYS[1]),
            "keepers.member": (*KEYS[:-1], KEYS[-1][:31]),
            "keepers.stale": KEYS[1:],
        }[rule]
        stale = rule == "keepers.stale"
        broken = KeeperSetChanged(
            keepers=attrs.evolve(epoch, members=members, epoch=0 if stale else 1)
        )
    elif rule == "attestation.malformed":
        valid = AttestationReceived(block_id=block, count=draw(st.integers(0, 4)))
        broken = attrs.evolve(valid, count=-1)
    elif rule == "finalization.malformed":
        info = world.tree.block(block)
        assert info is not None
        valid = FinalizationAdvanced(block_id=block, seq_no=info.seq_no)
        broken = attrs.evolve(valid, seq_no=-1)
    elif rule == "invalidation.malformed":
        valid = ParentInvalidated(block_id=block)
        broken = ParentInvalidated(block_id=block[:31])
    elif rule == "state_sync.malformed":
        valid = StateSyncRequested(seq_no=draw(st.integers(0, 20)))
        broken = StateSyncRequested(seq_no=MAX_U64 + 1)
    else:
        raise ValueError(f"unknown rule {rule!r}")
    return _case(rule, world, state, valid, broken)


def producer_single_rule_cases(rule: str) -> st.SearchStrategy[Case]:
    """Cases that break ``rule`` (a key of ``PRODUCER_RULES``) alone."""
    if rule not in PRODUCER_RULES:
        raise ValueError(f"unknown rule {rule!r}")
    event = PRODUCER_RULES[rule].event
    if event == "Start":
        return start_cases(rule)
    if event == "BlockBuilt":
        return built_cases(rule)
    return notice_cases(rule)
