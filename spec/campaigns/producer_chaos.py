"""The producer campaign's random rules (the chaos phase): commands, the executor and the
clock, the block tree (``ProducerChaos``, a base of
``blockfsm.spec.campaigns.producer.ProducerTest``)."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import rule

from blockfsm.machine.core import Tick
from blockfsm.machine.producer import (
    AttestationReceived,
    BlockBuilt,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    Restarted,
    StartParams,
    StateSyncRequested,
    Stop,
    initial,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    GENESIS_STATE,
    BlockRef,
    CandidateBlock,
)
from blockfsm.spec.campaigns.producer_harness import ProducerHarness
from blockfsm.spec.producer_rules import (
    candidate_bytes,
    derived_selector,
)
from blockfsm.spec.producer_rules import make_block as build_block

index = st.integers(min_value=0, max_value=10**6)


class ProducerChaos(ProducerHarness):
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
