"""Campaign for the block producer: generated block trees (our chain and other producers'
forks), attestation arrivals, finalization, keeper-set changes, invalidations, commands, restarts
and malformed input; then a fair phase that checks PL-1, PL-2 and PL-3."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.machine.core import Rejected, Tick
from blockfsm.machine.crypto import StandInVerifier
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    BroadcastCandidate,
    BuildBlock,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    PersistSigningGuard,
    ProducerConfig,
    ProducerState,
    RebroadcastCandidate,
    Restarted,
    RestoreMessages,
    Start,
    StartParams,
    StateSyncRequested,
    Stop,
    initial,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    GENESIS_ID,
    GENESIS_STATE,
    BlockRef,
    CandidateBlock,
    InMemoryBlockTree,
    KeeperSet,
    NextRoundVote,
    SigningGuard,
)
from blockfsm.spec.campaigns import Campaign, MachineTest, single_rule_rows
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import Row
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.producer import ACTIVE, SPEC
from blockfsm.spec.producer_rules import (
    candidate_bytes,
    derived_selector,
    next_round_vote_bytes,
    producer_order,
)
from blockfsm.spec.producer_rules import make_block as build_block
from blockfsm.spec.strategies.chains import make_signers
from blockfsm.spec.strategies.producer import (
    malformed_samples,
    producer_configs,
)
from blockfsm.spec.strategies.producer_single_rule import (
    PRODUCER_RULES,
    RULE_NAMES,
    producer_single_rule_cases,
    selecting_round,
)
from blockfsm.spec.strategies.single_rule import Case

PRODUCTION_EFFECTS = ("BuildBlock", "BroadcastCandidate", "SendToSelf", "StartExecutor")
index = st.integers(min_value=0, max_value=10**6)


class ProducerTest(MachineTest):
    STATS = Stats()

    def __init__(self) -> None:
        super().__init__()
        self.signers = make_signers(5)
        self.me = self.signers[0].public_key
        self.config: ProducerConfig | None = None
        self.tree: InMemoryBlockTree | None = None
        self.now = 0
        self.pending: list[BuildBlock] = []
        self.built_states: dict[bytes, bytes] = {}
        self.queue: list[int] = []
        self.next_message = 1
        self.epoch = 0
        self.max_round = 0
        self.last_params: StartParams | None = None
        self.broadcast: list[bytes] = []
        self.probed: set[str] = set()
        self.probing = False
        self.foreign_tip = b""
        self.persisted: SigningGuard | None = None
        self.latest_keepers: KeeperSet | None = None
        self.rule_turn = 0

    @initialize(
        data=st.data(),
        keepers=st.integers(min_value=1, max_value=5),
        history=st.lists(
            st.tuples(st.integers(min_value=0, max_value=5), st.booleans()), max_size=8
        ),
        finalized=st.integers(min_value=0, max_value=8),
        start=st.one_of(st.none(), st.tuples(index, st.integers(min_value=0, max_value=2))),
        warm=st.integers(min_value=0, max_value=2),
    )
    def setup(
        self,
        data: st.DataObject,
        keepers: int,
        history: list[tuple[int, bool]],
        finalized: int,
        start: tuple[int, int] | None,
        warm: int,
    ) -> None:
        """A chain by other producers (attestation counts and data readiness drawn), a finalized
        prefix of it, and possibly a Start, so runs begin where the interesting rules are."""
        self.config = attrs.evolve(
            data.draw(producer_configs(self.signers[0])),
            verifier=StandInVerifier.of(self.signers),
        )
        self.members = tuple(s.public_key for s in self.signers[:keepers])
        self.tree = InMemoryBlockTree(self._keepers(0, self.members))
        self.start(PRODUCER, self.config, PRODUCER.initial(self.config))
        self.feed(KeeperSetChanged(keepers=self.tree.keeper_set()))
        parent = self.tree.last_finalized()
        chain = []
        for n, (attestations, ready) in enumerate(history):
            block = build_block(
                parent,
                self.tree.states[parent.block_id],
                (20_000 + n,),
                self.signers[-1].public_key,
            )
            self.tree.add(block, data_ready=ready or n % 3 != 2)
            self.tree.update(block.block_id, attestations=attestations)
            chain.append(block.block_id)
            parent = block.ref
        if chain and finalized:
            self.tree.finalize(chain[min(finalized, len(chain)) - 1])
        if start is None:
            self._start(self._params_on(parent.block_id, 0))
        else:
            i, round_ = start
            ids = chain or self.tree.ids()
            self._start(self._params_on(ids[i % len(ids)], round_))
        if warm:
            self.work(warm, False)

    # --- plumbing -------------------------------------------------------------------------

    def _keepers(self, epoch: int, members: tuple[bytes, ...]) -> KeeperSet:
        return KeeperSet(epoch=epoch, seed=b"seed-%d" % epoch, members=members)

    def _without_me(self) -> tuple[bytes, ...]:
        return self.members[1:] or (self.signers[1].public_key,)

    @property
    def tree_genesis(self) -> BlockRef:
        return BlockRef(block_id=GENESIS_ID, seq_no=0, height=0)

    @property
    def st8(self) -> ProducerState:
        return self.state  # type: ignore[no-any-return]

    def feed(self, event: Any) -> tuple[Any, ...]:
        assert self.tree is not None
        effects = self.apply(event, self.tree.snapshot())
        if type(event) is KeeperSetChanged and not any(type(e) is Rejected for e in effects):
            k = event.keepers
            if self.latest_keepers is None or k.epoch > self.latest_keepers.epoch:
                self.latest_keepers = k
        probe = self.state.control + ("+announced" if self.state.guard.announced else "")
        if probe not in self.probed:
            self.probed.add(probe)
            self._probe()
        for e in effects:
            kind = type(e)
            if kind is BuildBlock:
                self.pending.append(e)
            elif kind is BroadcastCandidate:
                self.tree.add(e.candidate.block, selector=e.candidate.selector)
                self.broadcast.append(e.candidate.block.block_id)
            elif kind is RestoreMessages:
                self.queue.extend(e.messages)
            elif kind is RebroadcastCandidate:
                self.tree.add(e.candidate.block, selector=e.candidate.selector)
            elif kind is PersistSigningGuard:
                self.persisted = e.guard
        return effects

    def _pick(self, i: int) -> bytes:
        assert self.tree is not None
        ids = self.tree.ids()
        return ids[i % len(ids)]

    def _selected_round(self, block_id: bytes, at_least: int) -> int:
        """The smallest round >= ``at_least`` whose selector on ``block_id`` names us, or
        ``at_least`` when we are not a keeper."""
        assert self.tree is not None
        info = self.tree.block(block_id)
        assert info is not None
        keepers = self.tree.keeper_set()
        if self.me not in keepers.members:
            return at_least
        return selecting_round(info.selector, keepers, self.me, at_least)

    def _votes(
        self, round_: int, block_id: bytes, locked: CandidateBlock | None = None
    ) -> tuple[NextRoundVote, ...]:
        """Every current keeper's signed NextRound vote; the first reports ``locked``."""
        assert self.tree is not None
        votes = []
        by_key = {s.public_key: s for s in self.signers}
        for n, key in enumerate(self.tree.keeper_set().members):
            lock = locked if n == 0 else None
            lock_id = lock.block.block_id if lock is not None else None
            votes.append(
                NextRoundVote(
                    round=round_,
                    parent_id=block_id,
                    keeper=key,
                    locked=lock,
                    signature=by_key[key].sign(
                        next_round_vote_bytes(round_, block_id, key, lock_id)
                    ),
                )
            )
        return tuple(votes)

    def _params_on(self, block_id: bytes, round_: int, exact: bool = False) -> StartParams:
        """A Start on ``block_id`` in the first round >= ``round_`` that selects us (``exact``:
        in ``round_`` itself), with a quorum of votes when the round is > 0."""
        assert self.tree is not None
        info = self.tree.block(block_id)
        assert info is not None
        r = round_ if exact else self._selected_round(block_id, round_)
        return StartParams(
            parent_id=block_id,
            parent_seq_no=info.seq_no,
            parent_height=info.height,
            round=r,
            votes=self._votes(r, block_id) if r > 0 else (),
        )

    def _start(self, params: StartParams) -> tuple[Any, ...]:
        self.max_round = max(self.max_round, params.round)
        self.last_params = params
        return self.feed(Start(params=params))

    def _answer(self, request: BuildBlock) -> tuple[Any, ...]:
        assert self.tree is not None
        parent_state = self.tree.states.get(
            request.parent.block_id, self.built_states.get(request.parent.block_id, GENESIS_STATE)
        )
        inputs = tuple(self.queue[:3])
        del self.queue[:3]
        if not inputs:  # a fresh message keeps every build distinct from invalidated old ones
            inputs = (self.next_message,)
            self.next_message += 1
        block = build_block(request.parent, parent_state, inputs, self.me)
        self.built_states[block.block_id] = block.state
        return self.feed(
            BlockBuilt(session=request.session, build_id=request.build_id, block=block)
        )

    def _attest_all(self) -> None:
        assert self.tree is not None
        for block_id in self.tree.ids():
            self.tree.update(
                block_id, attestations=len(self.tree.keeper_set().members), data_ready=True
            )
        self.feed(AttestationReceived(block_id=self._pick(0), count=1))

    # --- commands -------------------------------------------------------------------------

    @rule(
        i=index,
        round_=st.integers(min_value=0, max_value=3),
        then=st.sampled_from(["nothing", "tick", "start", "deliver"]),
    )
    def start_on(self, i: int, round_: int, then: str) -> None:
        self._start(self._params_on(self._pick(i), round_))
        if then == "tick":
            self.feed(Tick(now=self.now))
        elif then == "start":
            self._start(self._params_on(self._pick(i + 1), round_ + 1))
        elif then == "deliver" and self.pending:
            self._answer(self.pending.pop(0))

    @rule()
    def start_again(self) -> None:
        if self.last_params is not None:
            self._start(self.last_params)

    @rule()
    def stop_command(self) -> None:
        self.feed(Stop())

    @rule()
    def restart_node(self) -> None:
        self.feed(Restarted())

    @rule()
    def crash(self) -> None:
        """A real crash: the process starts again from a fresh ``initial`` holding only the last
        guard a ``PersistSigningGuard`` stored; builds in flight are lost, and the node learns
        the latest keeper set again. The ``Restarted`` step first tells the monitors that memory is
        gone; the state it leaves is then replaced by the fresh one."""
        assert self.config is not None and self.tree is not None
        self.apply(Restarted(), self.tree.snapshot())  # no probe: the state is replaced at once
        self.state = initial(self.config, self.persisted)
        self.pending.clear()
        known = self.latest_keepers
        self.feed(KeeperSetChanged(keepers=known if known is not None else self.tree.keeper_set()))

    @rule(seq_no=st.integers(min_value=0, max_value=30))
    def state_sync(self, seq_no: int) -> None:
        self.feed(StateSyncRequested(seq_no=seq_no))

    # --- the executor and the clock -------------------------------------------------------

    @rule(i=index, count=st.integers(min_value=1, max_value=3))
    def deliver_builds(self, i: int, count: int) -> None:
        for _ in range(count):
            if not self.pending:
                return
            self._answer(self.pending.pop(i % len(self.pending) if i % 4 == 0 else 0))

    @rule(rounds=st.integers(min_value=1, max_value=3), attest=st.booleans())
    def work(self, rounds: int, attest: bool) -> None:
        """Answer every build and let one production period pass, ``rounds`` times; with
        ``attest``, our broadcast blocks gather every keeper's attestation as they go."""
        assert self.config is not None and self.tree is not None
        for _ in range(rounds):
            while self.pending:
                self._answer(self.pending.pop(0))
            if attest:
                for block_id in self.broadcast[-4:]:
                    self.tree.update(block_id, attestations=len(self.members))
                self.feed(AttestationReceived(block_id=self._pick(0), count=len(self.members)))
            self.now += self.config.production_period
            self.feed(Tick(now=self.now))

    @rule(k=st.integers(min_value=1, max_value=4))
    def messages(self, k: int) -> None:
        for _ in range(k):
            self.queue.append(self.next_message)
            self.next_message += 1

    @rule()
    def inconsistent_build(self) -> None:
        if self.pending:
            request = self.pending[-1]
            wrong = BlockRef(
                block_id=request.parent.block_id,
                seq_no=request.parent.seq_no + 1,
                height=request.parent.height,
            )
            block = build_block(wrong, b"", (), self.me)
            self.feed(BlockBuilt(session=request.session, build_id=request.build_id, block=block))

    @rule(fraction=st.integers(min_value=0, max_value=250))
    def tick(self, fraction: int) -> None:
        assert self.config is not None
        self.now += self.config.production_period * fraction // 100
        self.feed(Tick(now=self.now))

    def _probe(self) -> None:
        """Once per run in each control state reached: a sweep of inputs that must leave
        production undisturbed (one malformed event of every type, a stale keeper set, an
        unrelated invalidation, a regressed clock, a state-sync request)."""
        for event in malformed_samples():
            self.feed(event)
        self.feed(KeeperSetChanged(keepers=self._keepers(0, self.members)))
        self.feed(ParentInvalidated(block_id=b"\xee" * 32))
        self.feed(Tick(now=self.now - 1))
        self.feed(AttestationReceived(block_id=b"\xee" * 32, count=0))
        self.feed(StateSyncRequested(seq_no=0))
        self.feed(FinalizationAdvanced(block_id=GENESIS_ID, seq_no=0))
        stray = build_block(self.tree_genesis, GENESIS_STATE, (), self.me)
        self.feed(BlockBuilt(session=2**40, build_id=0, block=stray))
        self.feed(Tick(now=self.now))
        self._refused_starts()

    def _refused_starts(self) -> None:
        """Starts each refused by one rule alone (the others hold): an unknown parent; a round
        whose selector names another keeper; a takeover without its vote quorum; a round
        already announced at this height for another parent."""
        assert self.tree is not None
        final = self.tree.last_finalized().block_id
        good = self._params_on(final, 0)
        self.feed(Start(params=attrs.evolve(good, parent_id=b"\xee" * 32)))
        n = len(self.tree.keeper_set().members)
        if n > 1:
            wrong = self._params_on(final, good.round + 1, exact=True)
            self.feed(Start(params=wrong))
        takeover = self._params_on(final, 1)
        if takeover.round > 0:
            self.feed(Start(params=attrs.evolve(takeover, votes=takeover.votes[: -(n // 2 + 1)])))
        for r, height, parent_id in self.st8.guard.announced:
            info = self.tree.block(parent_id)
            if info is None or info.parent_id == info.block_id or info.height != height:
                continue
            grand = self.tree.block(info.parent_id)
            assert grand is not None
            sibling = build_block(
                BlockRef(block_id=grand.block_id, seq_no=grand.seq_no, height=grand.height),
                self.tree.states.get(grand.block_id, GENESIS_STATE),
                (77_777, r),
                self.signers[-1].public_key,
            )
            self.tree.add(sibling, selector=info.selector)
            self.tree.states[sibling.block_id] = sibling.state
            self.feed(Start(params=self._params_on(sibling.block_id, r, exact=True)))
            break

    @rule(
        kind=st.sampled_from(
            [
                "finalize_over",
                "leave_view",
                "invalidate",
                "not_ready",
                "event_in",
                "event_out",
                "heal",
                "new_params",
            ]
        ),
        notify=st.booleans(),
    )
    def disturb(self, kind: str, notify: bool) -> None:
        """Set up one condition update_candidate_common_section or the assumptions check must
        react to, then let the buffer head be evaluated."""
        assert self.tree is not None and self.config is not None
        s = self.st8
        final = self.tree.last_finalized()
        ours = [r.block_id for r in (s.last_produced, s.base) if r is not None]
        if kind == "finalize_over":
            target = s.buffer[0].seq_no if s.buffer else final.seq_no + 1
            self.foreign_blocks(0, max(1, target - final.seq_no), 1, at=final.block_id)
            tip = self.foreign_tip
            self.tree.finalize(tip)
            if notify:
                info = self.tree.block(tip)
                assert info is not None
                self.feed(FinalizationAdvanced(block_id=tip, seq_no=info.seq_no))
        elif kind == "leave_view":
            self.tree.set_keeper_set(self._keepers(self.epoch, self._without_me()))
        elif kind == "invalidate" and ours:
            self.tree.update(ours[0], invalidated=True)
            if notify:
                self.feed(ParentInvalidated(block_id=ours[0]))
        elif kind == "not_ready" and ours:
            self.tree.update(ours[0], data_ready=False)
        elif kind in ("event_in", "event_out"):
            self.epoch += 1
            members = self.members if kind == "event_in" else self._without_me()
            self.feed(KeeperSetChanged(keepers=self._keepers(self.epoch, members)))
        elif kind == "heal":
            self._heal_keepers()
            self._attest_all()
        elif kind == "new_params":
            self._start(self._params_on(final.block_id, self.max_round + 1))
        while self.pending:
            self._answer(self.pending.pop(0))
        for _ in range(2):
            self.now += self.config.production_period
            self.feed(Tick(now=self.now))

    @rule(depth=st.integers(min_value=1, max_value=3))
    def equivocation_attempt(self, depth: int) -> None:
        """Stop, then Start again in the round just used on a parent ``depth`` blocks below our
        last broadcast: the signing guard must refuse to sign the same heights again."""
        assert self.tree is not None
        if not self.broadcast or self.last_params is None:
            return
        del depth
        self.feed(Stop())
        self._start(self._other_params(self.last_params))
        self.work(2, True)

    def _other_params(self, params: StartParams) -> StartParams:
        """Params equal to ``params`` but for one vote repeated (counted once): a Start in the
        same round on the same parent that is not a continuation of the last session."""
        return attrs.evolve(params, votes=(*params.votes, *params.votes[:1]))

    @rule(i=index, lock=st.booleans())
    def takeover(self, i: int, lock: bool) -> None:
        """A round > 0 takeover on a block; with ``lock``, one keeper reports a candidate another
        producer signed on that block, which must be re-broadcast instead of built upon."""
        block_id = self._pick(i)
        self._start(self._locked_params(block_id, 1) if lock else self._params_on(block_id, 1))

    def _locked_params(self, block_id: bytes, at_least: int) -> StartParams:
        """A takeover on ``block_id`` in the first round >= ``at_least`` that selects us, one
        keeper's vote reporting a candidate another producer signed on that block (when the round
        is > 0, that is when we are a keeper)."""
        assert self.tree is not None
        params = self._params_on(block_id, at_least)
        if params.round == 0:
            return params
        info = self.tree.block(block_id)
        assert info is not None
        author = self.signers[-1]
        block = build_block(
            BlockRef(block_id=block_id, seq_no=info.seq_no, height=info.height),
            self.tree.states.get(block_id, GENESIS_STATE),
            (55_555, params.round),
            author.public_key,
        )
        self.tree.states[block.block_id] = block.state
        keepers = self.tree.keeper_set()
        seed, index = derived_selector(info.selector, keepers.seed, len(keepers.members), 0)
        candidate = CandidateBlock(
            block=block,
            round=params.round - 1,
            selector=ProducerSelector(seed=seed, index=index),
            fallback=False,
            signature=author.sign(candidate_bytes(block, params.round - 1, seed, index, False)),
        )
        return attrs.evolve(params, votes=self._votes(params.round, block_id, candidate))

    # --- the block tree -------------------------------------------------------------------

    @rule(i=index, count=st.integers(min_value=1, max_value=4), who=st.integers(1, 4))
    def foreign_blocks(self, i: int, count: int, who: int, at: bytes | None = None) -> None:
        assert self.tree is not None
        parent_id = self._pick(i) if at is None else at
        for n in range(count):
            info = self.tree.block(parent_id)
            assert info is not None
            ref = BlockRef(block_id=parent_id, seq_no=info.seq_no, height=info.height)
            block = build_block(
                ref, self.tree.states[parent_id], (10_000 + n,), self.signers[who].public_key
            )
            self.tree.add(block)
            parent_id = block.block_id
        self.foreign_tip = parent_id

    @rule(i=index, count=st.integers(min_value=0, max_value=5), notify=st.booleans())
    def attest(self, i: int, count: int, notify: bool) -> None:
        assert self.tree is not None
        block_id = (
            self.broadcast[i % len(self.broadcast)] if self.broadcast and i % 2 else (self._pick(i))
        )
        self.tree.update(block_id, attestations=count)
        if notify:
            self.feed(AttestationReceived(block_id=block_id, count=count))

    @rule(i=index, ready=st.booleans())
    def data_ready(self, i: int, ready: bool) -> None:
        assert self.tree is not None
        block_id = (
            self.broadcast[i % len(self.broadcast)] if self.broadcast and i % 2 else (self._pick(i))
        )
        self.tree.update(block_id, data_ready=ready)

    @rule(i=index, notify=st.booleans())
    def finalize(self, i: int, notify: bool) -> None:
        assert self.tree is not None
        final = self.tree.last_finalized()
        candidates = [
            b
            for b in self.tree.ids()
            if any(a.block_id == final.block_id for a in self.tree.ancestry(b))
            and b != final.block_id
        ]
        if not candidates:
            return
        block_id = candidates[i % len(candidates)]
        self.tree.finalize(block_id)
        if notify:
            info = self.tree.block(block_id)
            assert info is not None
            self.feed(FinalizationAdvanced(block_id=block_id, seq_no=info.seq_no))

    @rule(i=index, notify=st.booleans(), ours=st.booleans())
    def invalidate(self, i: int, notify: bool, ours: bool) -> None:
        assert self.tree is not None
        s = self.st8
        block_id = self._pick(i)
        if ours:
            refs = [r.block_id for r in (s.base, s.last_produced) if r is not None]
            refs += [b.block_id for b in s.buffer]
            if refs:
                block_id = refs[i % len(refs)]
        self.tree.update(block_id, invalidated=True)
        if notify:
            self.feed(ParentInvalidated(block_id=block_id))

    @rule(drop_me=st.booleans(), view=st.booleans(), event=st.booleans(), stale=st.booleans())
    def keeper_set(self, drop_me: bool, view: bool, event: bool, stale: bool) -> None:
        assert self.tree is not None
        if stale:
            self.feed(KeeperSetChanged(keepers=self._keepers(0, self.members)))
            return
        self.epoch += 1
        members = self._without_me() if drop_me else self.members
        keepers = self._keepers(self.epoch, members)
        if view:
            self.tree.set_keeper_set(keepers)
        if event:
            self.feed(KeeperSetChanged(keepers=keepers))

    # --- the fair phase -------------------------------------------------------------------

    def _fair_round(self) -> list[Any]:
        assert self.config is not None
        out: list[Any] = []
        while self.pending:
            out += self._answer(self.pending.pop(0))
        self._attest_all()
        self.now += self.config.production_period
        out += self.feed(Tick(now=self.now))
        return out

    def _check_pl1(self) -> None:
        """PL-1: every block buffered now leaves the buffer within buffer_cap + 3 fair ticks."""
        assert self.config is not None and self.runner is not None
        held = {b.block_id for b in self.st8.buffer}
        bound = self.config.buffer_cap + 3
        assert bound <= SPEC.liveness[0].bound_ticks
        for _ in range(bound):
            if not held & {b.block_id for b in self.st8.buffer}:
                break
            self._fair_round()
        self.runner.count("PL-1")
        if held & {b.block_id for b in self.st8.buffer}:
            raise self.runner.fail("PL-1", SPEC.liveness[0].statement)

    def _heal_keepers(self) -> None:
        assert self.tree is not None
        self.epoch += 1
        keepers = self._keepers(self.epoch, self.members)
        self.tree.set_keeper_set(keepers)
        self.feed(KeeperSetChanged(keepers=keepers))

    def _resume(self, property_id: str) -> None:
        assert self.tree is not None and self.runner is not None
        liveness = {lv.id: lv for lv in SPEC.liveness}[property_id]
        final = self.tree.last_finalized()
        self._start(self._params_on(final.block_id, self.max_round + 1))
        for _ in range(liveness.bound_ticks):
            if any(type(e) is BroadcastCandidate for e in self._fair_round()):
                self.runner.count(property_id)
                return
        raise self.runner.fail(property_id, liveness.statement)

    @rule(data=st.data(), start=st.integers(min_value=0, max_value=len(RULE_NAMES) - 1))
    def single_rule_inputs(self, data: st.DataObject, start: int) -> None:
        """Inputs that each break one of the producer's checks alone (and the valid inputs they
        were made from), in states of their own reached from ``initial``: counted per rule in
        ``RULE_COUNTS``. Each call takes the next ``RULES_PER_CALL`` rules in turn from a start
        drawn with the first call, so one batch of examples reaches every rule."""
        self.rule_turn = self.single_rule_batch(
            data,
            RULE_NAMES,
            self.rule_turn or start,
            producer_single_rule_cases,
            run_producer_single_rule,
            RULE_COUNTS,
            RULES_PER_CALL,
        )

    def check_liveness(self) -> None:
        assert self.config is not None and self.runner is not None
        self._check_pl1()

        # PL-2: after Stop (or an abort), a Start resumes production.
        self._heal_keepers()
        if self.st8.control in ACTIVE:
            self.feed(Stop())
        self._resume("PL-2")

        # PL-3: after a restart nothing is produced until a Start, then a Start resumes.
        self.feed(Restarted())
        for _ in range(3):
            produced = self._fair_round()
            if any(type(e).__name__ in PRODUCTION_EFFECTS for e in produced):
                raise self.runner.fail("PL-3", SPEC.liveness[2].statement)
        self._resume("PL-3")
        self._rare_paths()

    # --- the rare rows, driven deterministically after the liveness checks ------------------

    def _fresh_session(self, deliver: int) -> None:
        """Keepers healed, a Start on the last finalized block in a fresh round, ``deliver``
        builds answered: Producing with a buffer, its head's parent the finalized block."""
        assert self.tree is not None
        self._heal_keepers()
        self._start(self._params_on(self.tree.last_finalized().block_id, self.max_round + 1))
        while self.pending and len(self.st8.buffer) < deliver:
            self._answer(self.pending.pop(0))

    def _tick_period(self) -> tuple[Any, ...]:
        assert self.config is not None
        self.now += self.config.production_period
        return self.feed(Tick(now=self.now))

    def _holding(self) -> bool:
        """From a fresh session: broadcast one block, buffer the next, make the broadcast one's
        data not ready, and let the next Tick hold the head (AncestorIsNotReadyYet)."""
        assert self.tree is not None
        self._fresh_session(1)
        self._tick_period()
        if self.pending:
            self._answer(self.pending.pop(0))
        last = self.st8.last_produced
        if last is None or not self.st8.buffer:
            return False
        self.tree.update(last.block_id, data_ready=False)
        self._tick_period()
        self.tree.update(last.block_id, data_ready=True)
        return self.st8.control == "Holding"

    def _finalize_over_head(self, notify: bool) -> None:
        assert self.tree is not None
        final = self.tree.last_finalized()
        target = self.st8.buffer[0].seq_no if self.st8.buffer else final.seq_no + 1
        self.foreign_blocks(0, max(1, target - final.seq_no), 1, at=final.block_id)
        self.tree.finalize(self.foreign_tip)
        if notify:
            info = self.tree.block(self.foreign_tip)
            assert info is not None
            self.feed(FinalizationAdvanced(block_id=self.foreign_tip, seq_no=info.seq_no))

    def _inconsistent_then_start_same(self) -> None:
        self.inconsistent_build()
        if self.last_params is not None:
            self.feed(Start(params=self.last_params))

    def _rare_paths(self) -> None:
        assert self.tree is not None and self.config is not None
        genesis = self.tree_genesis
        below = StartParams(
            parent_id=genesis.block_id, parent_seq_no=0, parent_height=0, round=self.max_round + 7
        )
        # Producing: Start with equal params, an inconsistent build, an empty due Tick.
        self._fresh_session(1)
        self._inconsistent_then_start_same()
        self._tick_period()
        self._tick_period()
        # Finality moves past genesis, so genesis becomes a continuation below it.
        if self.st8.last_produced is not None:
            self.tree.finalize(self.st8.last_produced.block_id)
        for state_setup in ("armed", "producing"):
            self._fresh_session(0 if state_setup == "armed" else 1)
            if state_setup == "armed":
                self._start(
                    self._params_on(self.tree.last_finalized().block_id, self.max_round + 1)
                )
                self._inconsistent_then_start_same()
            self.feed(Start(params=below))
        # Armed: the continuation point is invalidated before anything was built; a restart.
        self._fresh_session(0)
        if self.st8.base is not None:
            self.feed(ParentInvalidated(block_id=self.st8.base.block_id))
        self._fresh_session(0)
        self.feed(Restarted())
        # Holding: equal params, inconsistent build, restart, Start below finality, new Start,
        # finality overtaking the head, its parent invalidated.
        for action in ("same", "restart", "below", "begin", "overtaken", "invalidated", "release"):
            if not self._holding():
                continue
            if action == "same":
                self._heal_keepers()
                self._inconsistent_then_start_same()
                while self.pending:
                    self._answer(self.pending.pop(0))
                self.feed(Stop())
                self.feed(Restarted())
                self._fresh_session(1)
                self.feed(Stop())
                self.feed(Stop())
                self.feed(Start(params=below))
                self.feed(Stop())
                self.feed(Restarted())
            elif action == "restart":
                self.feed(Restarted())
            elif action == "below":
                self.feed(Start(params=below))
            elif action == "begin":
                self._start(
                    self._params_on(self.tree.last_finalized().block_id, self.max_round + 1)
                )
            elif action == "overtaken":
                self._finalize_over_head(True)
            elif action == "release":
                self._tick_period()
            else:
                last = self.st8.last_produced
                assert last is not None
                self.feed(ParentInvalidated(block_id=last.block_id))
        # NotReadyYet: broadcast without attestations until an ancestor passes the fallback
        # deadline unattested; then an attestation releases the head.
        self._fresh_session(1)
        for _ in range(self.config.fallback_deadline + 2):
            while self.pending:
                self._answer(self.pending.pop(0))
            self._tick_period()
            if self.st8.control == "Holding":
                self._check_pl1()
                break
        # Equivocation: two blocks broadcast in a round, then (after a Stop, a restart or a
        # crash) a Start in the same round on the first of them would sign the second height
        # again.
        for interruption in ("stop", "restart", "crash"):
            self._fresh_session(1)
            first = None
            for _ in range(2):
                while self.pending and not self.st8.buffer:
                    self._answer(self.pending.pop(0))
                self._attest_all()
                self._tick_period()
                if first is None and self.st8.last_produced is not None:
                    first = self.st8.last_produced
            if first is not None and self.last_params is not None:
                if interruption == "stop":
                    self.feed(Stop())
                elif interruption == "restart":
                    self.feed(Restarted())
                else:
                    self.crash()
                params = self.last_params
                self._start(params if interruption != "stop" else self._other_params(params))
                while self.pending and not self.st8.buffer:
                    self._answer(self.pending.pop(0))
                self._attest_all()
                self._tick_period()
        # Producing with a buffered head: each way the head can be stopped.
        for action in (
            "invalidated",
            "overtaken",
            "finalized_over",
            "not_in_view",
            "broken",
            "left",
            "epoch",
            "not_due",
        ):
            self._fresh_session(1)
            if action == "invalidated" and self.st8.buffer:
                self.feed(ParentInvalidated(block_id=self.st8.buffer[0].block_id))
            elif action == "overtaken":
                self._finalize_over_head(True)
            elif action == "finalized_over":
                self._finalize_over_head(False)
                self._tick_period()
            elif action in ("left", "epoch"):
                self.epoch += 1
                members = self._without_me() if action == "left" else self.members
                self.feed(KeeperSetChanged(keepers=self._keepers(self.epoch, members)))
                self._tick_period()
            elif action == "not_due":
                self._tick_period()
                self.feed(Tick(now=self.now))
            elif action == "not_in_view":
                self.tree.set_keeper_set(self._keepers(self.epoch, self._without_me()))
                self._tick_period()
            else:
                self._tick_period()
                if self.pending:
                    self._answer(self.pending.pop(0))
                last = self.st8.last_produced
                if last is not None:
                    self.tree.update(last.block_id, invalidated=True)
                self._tick_period()

        self._rows_in_every_state()

    def _locked_start(self) -> None:
        assert self.tree is not None
        self._start(self._locked_params(self.tree.last_finalized().block_id, self.max_round + 1))

    def _rows_in_every_state(self) -> None:
        """Rows a random run may miss, driven in each control state: a takeover reporting a
        locked block (Idle, Stopped, Armed, Producing, Holding); in Holding, each event that
        leaves the hold as it is or releases it; in Producing, a due head whose selector names
        another keeper."""
        assert self.tree is not None
        self._heal_keepers()
        self.feed(Restarted())
        self._locked_start()  # Idle
        self._fresh_session(1)
        self.feed(Stop())
        self._locked_start()  # Stopped
        self._fresh_session(0)
        self._locked_start()  # Armed
        self._fresh_session(1)
        self._locked_start()  # Producing
        stray = build_block(self.tree_genesis, GENESIS_STATE, (), self.me)
        for action in (
            "locked",
            "same",
            "stale_build",
            "inconsistent",
            "accept",
            "final_noted",
            "waiting",
            "sync",
            "stop",
        ):
            if not self._holding():
                continue
            if action == "locked":
                self._locked_start()
            elif action == "same" and self.last_params is not None:
                self.feed(Start(params=self.last_params))
            elif action == "stale_build":
                self.feed(BlockBuilt(session=2**40, build_id=0, block=stray))
            elif action == "inconsistent":
                self.inconsistent_build()
            elif action == "accept" and self.pending:
                self._answer(self.pending.pop(0))
            elif action == "final_noted":
                self.feed(FinalizationAdvanced(block_id=GENESIS_ID, seq_no=0))
            elif action == "waiting":
                self.feed(Tick(now=self.now))
            elif action == "sync":
                self.feed(StateSyncRequested(seq_no=0))
            elif action == "stop":
                self.feed(Stop())
        self._not_selected_tick()

    def _not_selected_tick(self) -> None:
        """Producing with a due head whose selector, over a keeper set the view changed without a
        KeeperSetChanged (so the assumptions check sees no new epoch), names another keeper."""
        assert self.tree is not None
        self._fresh_session(1)
        s = self.st8
        parent = self.tree.block(s.buffer[0].parent_id) if s.buffer else None
        if parent is None:
            return
        rounds = s.round if s.last_produced is None else 0
        others = [x.public_key for x in self.signers[1:]]
        for n in range(1, len(others) + 1):
            members = (self.me, *others[:n])
            for k in range(8):
                keepers = KeeperSet(epoch=self.epoch, seed=b"moved-%d" % k, members=members)
                seed, i = derived_selector(parent.selector, keepers.seed, len(members), rounds)
                if producer_order(members, seed)[i] != self.me:
                    self.tree.set_keeper_set(keepers)
                    self._tick_period()
                    return


# --- one rule at a time --------------------------------------------------------------------------

RULES_PER_CALL = 6
"""Single-rule cases per call of the campaign's ``single_rule_inputs`` rule."""
RULE_COUNTS: Counter[str] = Counter()
"""Per single-rule strategy (``blockfsm.spec.strategies.producer_single_rule``): how many broken
inputs were decided by that rule's own classification while the valid input they were made from
took its accepting class in the same state. ``blockfsm check`` reports it."""


@attrs.frozen(kw_only=True)
class ProducerRuleOutcome:
    rule: str
    valid_row: Row
    broken_row: Row

    @property
    def alone(self) -> bool:
        """The valid input took the rule's accepting class (any class but the rule's own, where
        the rule names none) and the broken one the rule's own class."""
        rule = PRODUCER_RULES[self.rule]
        valid = _class(self.valid_row)
        broken = _class(self.broken_row)
        if rule.valid_classes:
            valid_ok = valid in rule.valid_classes
        else:
            valid_ok = valid not in rule.decided_by
        return valid_ok and broken in rule.decided_by


def _class(row: Row) -> str:
    return row.guard.name if row.guard is not None else ""


def run_producer_single_rule(case: Case, stats: Stats) -> ProducerRuleOutcome:
    """Step a producer single-rule case's valid and broken inputs, each under its own
    ``Conformant`` (``blockfsm.spec.campaigns.single_rule_rows``)."""
    valid_row, broken_row = single_rule_rows(PRODUCER, case, stats)
    return ProducerRuleOutcome(rule=case.rule, valid_row=valid_row, broken_row=broken_row)


MACHINE = PRODUCER
"""The machine this campaign checks (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(
    spec=SPEC,
    test_class=ProducerTest,
    stats=ProducerTest.STATS,
    rules=RULE_COUNTS,
    rule_names=RULE_NAMES,
)

__all__ = ["CAMPAIGN", "ProducerTest"]
