"""The producer campaign's harness: a block tree, the builds in flight, the keepers, and the
plumbing that feeds the producer its events and answers its effects (``ProducerHarness``, the
base of ``blockfsm.spec.campaigns.producer.ProducerTest``)."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.core import Rejected, Tick
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
    RestoreMessages,
    Start,
    StartParams,
    StateSyncRequested,
)
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
from blockfsm.spec.campaigns import MachineTest
from blockfsm.spec.producer_rules import make_block as build_block
from blockfsm.spec.producer_rules import next_round_vote_bytes
from blockfsm.spec.strategies.chains import make_signers
from blockfsm.spec.strategies.producer import malformed_samples
from blockfsm.spec.strategies.producer_single_rule import selecting_round


class ProducerHarness(MachineTest):
    """What the producer campaign's rules and its deterministic phases share: the world the
    producer runs in and the helpers that step it."""

    members: tuple[bytes, ...]
    """The keepers drawn by ``ProducerTest.setup``."""

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

    def _heal_keepers(self) -> None:
        assert self.tree is not None
        self.epoch += 1
        keepers = self._keepers(self.epoch, self.members)
        self.tree.set_keeper_set(keepers)
        self.feed(KeeperSetChanged(keepers=keepers))
