"""Campaign for the block producer: generated block trees (our chain and other producers'
forks), attestation arrivals, finalization, keeper-set changes, invalidations, commands, restarts
and malformed input; then a fair phase that checks PL-1, PL-2 and PL-3.

``ProducerTest`` is built in layers: ``producer_harness.ProducerHarness`` holds the world and the
plumbing, ``producer_chaos.ProducerChaos`` the random rules, and this module the setup, the fair
phase and the rare rows; ``producer_single_rule`` runs the single-rule inputs."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInVerifier
from blockfsm.machine.producer import (
    BlockBuilt,
    BroadcastCandidate,
    FinalizationAdvanced,
    KeeperSetChanged,
    ParentInvalidated,
    Restarted,
    Start,
    StartParams,
    StateSyncRequested,
    Stop,
)
from blockfsm.machine.producer_view import (
    GENESIS_ID,
    GENESIS_STATE,
    InMemoryBlockTree,
    KeeperSet,
)
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.campaigns.producer_chaos import ProducerChaos, index
from blockfsm.spec.campaigns.producer_single_rule import (
    RULE_COUNTS,
    RULES_PER_CALL,
    ProducerRuleOutcome,
    run_producer_single_rule,
)
from blockfsm.spec.conformance import Stats
from blockfsm.spec.machines import PRODUCER
from blockfsm.spec.producer import ACTIVE, SPEC
from blockfsm.spec.producer_rules import (
    derived_selector,
    producer_order,
)
from blockfsm.spec.producer_rules import make_block as build_block
from blockfsm.spec.strategies.producer import producer_configs
from blockfsm.spec.strategies.producer_single_rule import (
    RULE_NAMES,
    producer_single_rule_cases,
)

PRODUCTION_EFFECTS = ("BuildBlock", "BroadcastCandidate", "SendToSelf", "StartExecutor")


class ProducerTest(ProducerChaos):
    STATS = Stats()

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


MACHINE = PRODUCER
"""The machine this campaign checks (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(
    spec=SPEC,
    test_class=ProducerTest,
    stats=ProducerTest.STATS,
    rules=RULE_COUNTS,
    rule_names=RULE_NAMES,
)

__all__ = [
    "CAMPAIGN",
    "MACHINE",
    "RULES_PER_CALL",
    "RULE_COUNTS",
    "ProducerRuleOutcome",
    "ProducerTest",
    "index",
    "run_producer_single_rule",
]
