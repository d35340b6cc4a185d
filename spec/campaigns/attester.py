"""Campaign for the attester: one attester under ``Conformant`` against scripted peers.

The peers are the other keepers of a 4-keeper set (and one outsider key): honest producers that
propose for the round the selector names them for, honest keepers that attest and confirm, a
Byzantine keeper that votes for anything, block sync that commits a height the others finalized
without us, crash-restart from the persisted guard, replays, and the clock. The attester under
test is a keeper, or (a draw in five) a node whose key is not in the validator set, which must
never sign (A-4).

Every validation rule of the attester has a generator here that starts from a valid input for the
attester's current state and breaks that rule alone (``RULES``). Each case steps the valid input
and the broken one, each from the current state under its own ``Conformant`` run: the valid one
must take an accepting row and the broken one the rule's own row, so a check missing from the
machine shows as a conformance error. ``setup`` runs every rule once and feeds one input per
Waiting row, so every row is hit in every example; the ``single_rule_inputs`` rule then draws
more variants as the run goes on. Cases are counted per rule in ``RULE_COUNTS``.

A-1 is also checked across crash-restarts here (a restart starts a new checker run, since the
control state jumps back to Waiting): the campaign keeps every vote the attester ever sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.machine import attester as att
from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    AttesterConfig,
    Guard,
    PersistGuard,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    producer_for,
    proposal_payload,
    view_of,
    vote_payload,
)
from blockfsm.machine.core import Broadcast, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.attester import PROPOSAL_RULES
from blockfsm.spec.attester import SPEC as ATTESTER_SPEC
from blockfsm.spec.campaigns import Campaign, MachineTest
from blockfsm.spec.conformance import Conformant, Stats
from blockfsm.spec.machines import ATTESTER

CHAIN = 7
SIGNERS = tuple(StandInSigner.from_seed(500 + i) for i in range(4))
OUTSIDER = StandInSigner.from_seed(599)
KEYS = tuple(s.public_key for s in SIGNERS)
BY_KEY = {s.public_key: s for s in (*SIGNERS, OUTSIDER)}
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of((*SIGNERS, OUTSIDER))
QUORUM = VALIDATORS.quorum


VOTE_RULES = ("malformed_vote", "wrong_chain_vote", "not_a_keeper", "bad_vote_signature")
RULES = (*PROPOSAL_RULES, *VOTE_RULES, "clock_regressed")
"""Every validation rule of the attester, by the reason it refuses with (the vote's
``wrong_chain`` and ``bad_signature`` are named apart from the proposal's)."""
_ROW_KIND = {"wrong_chain_vote": "wrong_chain", "bad_vote_signature": "bad_signature"}
RULE_COUNTS: Counter[str] = Counter()
RULES_PER_CALL = 4


@attrs.frozen(kw_only=True)
class Case:
    rule: str
    valid: Any
    broken: Any


class AttesterTest(MachineTest):
    STATS = Stats()

    def __init__(self) -> None:
        super().__init__()
        self.config: AttesterConfig | None = None
        self.chain = InMemoryChain(CHAIN)
        self.now = 0
        self.guard: Guard | None = None
        self.heard: list[Any] = []
        self.own: dict[tuple[int, int, int], bytes] = {}
        self.others: dict[tuple[bytes, int, int, int], bytes] = {}
        self.rule_turn = 0

    # --- driving the attester --------------------------------------------------------------

    @initialize(
        me=st.sampled_from((0, 1, 2, 3, 4)),
        timeout=st.sampled_from((300, 1_000)),
        turn=st.integers(min_value=0, max_value=len(RULES) - 1),
        data=st.data(),
    )
    def setup(self, me: int, timeout: int, turn: int, data: st.DataObject) -> None:
        signer = SIGNERS[me] if me < 4 else OUTSIDER
        self.config = AttesterConfig(
            chain_id=CHAIN,
            signer=signer,
            validators=VALIDATORS,
            verifier=VERIFIER,
            round_timeout=timeout,
            round_timeout_increment=timeout // 2,
        )
        self.start(ATTESTER, self.config, att.initial(self.config))
        self.rule_turn = turn
        # One input for each Waiting row.
        good = self.vote(self.other(0), ATTEST, 0, 0, b"\x01" * 32)
        self.feed(Tick(now=-1))
        for bad in (
            attrs.evolve(good, phase=2),
            attrs.evolve(good, chain_id=CHAIN + 1),
            self.vote(OUTSIDER, ATTEST, 0, 0, b"\x01" * 32),
            good,
        ):
            self.feed(VoteReceived(peer=good.voter, vote=bad))
        self.feed(ProposalReceived(peer=KEYS[0], proposal=self.proposal(0, b"early")))
        self.feed(Tick(now=0))
        # One input for each Running row a scripted peer reaches, then every rule once.
        self.feed(VoteReceived(peer=good.voter, vote=good))
        self.feed(VoteReceived(peer=good.voter, vote=good))
        far = self.vote(self.other(0), ATTEST, 5, 0, b"\x01" * 32)
        self.feed(VoteReceived(peer=far.voter, vote=far))
        later = attrs.evolve(self.block(b"later"), height=self.height + 1)
        self.feed(ProposalReceived(peer=KEYS[0], proposal=self.proposal(0, block=later)))
        ahead = self.proposal(self.round + att.ROUND_WINDOW + 1, b"ahead")
        self.feed(ProposalReceived(peer=ahead.producer, proposal=ahead))
        for name in RULES:
            self.run_case(data.draw(cases(self, name), label=name))

    def feed(self, event: Any) -> tuple[Any, ...]:
        effects = self.apply(event, self.chain.snapshot())
        self.absorb(effects)
        return effects

    def absorb(self, effects: tuple[Any, ...]) -> None:
        assert self.runner is not None
        for e in effects:
            kind = type(e)
            if kind is Persist:
                self.chain.persist(e.block)
            elif kind is Commit:
                self.chain.commit(e.height)
            elif kind is UpdateHighestCertificate:
                self.chain.set_highest_certificate(e.certificate)
            elif kind is PersistGuard:
                self.guard = e.guard
            elif kind is Broadcast:
                m = e.message
                if len(self.heard) < 64:
                    self.heard.append(m)
                if type(m) is Vote:
                    key = (m.height, m.round, m.phase)
                    if self.own.setdefault(key, m.block_hash) != m.block_hash:
                        raise self.runner.fail("A-1", ATTESTER_SPEC.invariant("A-1").statement)

    # --- what the peers know ------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.chain.committed_height + 1

    @property
    def round(self) -> int:
        s = self.state
        return s.round if att.running(s) and s.height == self.height else 0

    @property
    def me(self) -> bytes:
        assert self.config is not None
        return self.config.signer.public_key

    def other(self, n: int) -> StandInSigner:
        """The n-th keeper other than the attester under test."""
        return [s for s in SIGNERS if s.public_key != self.me][n % 3]

    def parent(self) -> bytes:
        tip = self.chain.block_at(self.height - 1) if self.height > 0 else None
        return tip.hash if tip is not None else ZERO_HASH

    def producer(self, round_: int) -> StandInSigner:
        key = producer_for(KEYS, self.parent(), round_)
        assert key is not None
        return BY_KEY[key]

    def block(self, payload: bytes, *, chain: int = CHAIN, parent: bytes | None = None) -> Block:
        justify = self.chain.highest_certificate if self.height > 0 else Certificate.genesis(CHAIN)
        return Block.make(
            chain_id=chain,
            height=self.height,
            parent_hash=self.parent() if parent is None else parent,
            justify=justify,
            payload=payload,
        )

    def vote(self, signer: StandInSigner, phase: int, height: int, round_: int, h: bytes) -> Vote:
        return Vote(
            phase=phase,
            chain_id=CHAIN,
            height=height,
            round=round_,
            block_hash=h,
            voter=signer.public_key,
            signature=signer.sign(vote_payload(phase, CHAIN, height, round_, h)),
        )

    def proposal(
        self,
        round_: int,
        payload: bytes = b"",
        *,
        block: Block | None = None,
        valid_round: int = -1,
        proof: tuple[Vote, ...] = (),
        signer: StandInSigner | None = None,
    ) -> Proposal:
        b = block if block is not None else self.block(payload)
        s = signer if signer is not None else self.producer(round_)
        return Proposal(
            round=round_,
            block=b,
            valid_round=valid_round,
            proof=proof,
            producer=s.public_key,
            signature=s.sign(proposal_payload(CHAIN, b.height, round_, b.hash, valid_round)),
        )

    def reproposal(self, payload: bytes) -> Proposal:
        """A valid re-proposal at the next round of a block attested by a quorum this round."""
        b = self.block(payload)
        r = self.round
        proof = tuple(self.vote(s, ATTEST, b.height, r, b.hash) for s in SIGNERS[:QUORUM])
        return self.proposal(r + 1, block=b, valid_round=r, proof=proof)

    # --- honest peers, Byzantine peers, faults --------------------------------------------------

    @rule(ms=st.sampled_from((1, 50, 200, 700, 2_000)))
    def tick(self, ms: int) -> None:
        self.now += ms
        self.feed(Tick(now=self.now))

    @rule(offset=st.integers(min_value=0, max_value=2), payload=st.binary(max_size=2))
    def honest_proposal(self, offset: int, payload: bytes) -> None:
        """The producer of (h, r + offset) proposes: the block the attester already holds as
        valid (with its proof) if it has one, else a new block."""
        s = self.state
        round_ = self.round + offset
        if att.running(s) and s.valid_block is not None and s.valid_round < round_:
            p = self.proposal(
                round_, block=s.valid_block, valid_round=s.valid_round, proof=s.valid_proof
            )
        else:
            p = self.proposal(round_, payload)
        self.feed(ProposalReceived(peer=p.producer, proposal=p))

    @rule(
        phase=st.sampled_from((ATTEST, CONFIRM)),
        voters=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=3),
        pick=st.integers(min_value=0, max_value=3),
    )
    def honest_votes(self, phase: int, voters: list[int], pick: int) -> None:
        """Other keepers vote, each for one block per (height, round, phase): a block the
        attester holds, in the current round."""
        s = self.state
        if not att.running(s) or not att.held_blocks(s):
            return
        held = att.held_blocks(s)
        target = held[pick % len(held)].hash
        for n in voters:
            signer = self.other(n)
            key = (signer.public_key, self.height, self.round, phase)
            h = self.others.setdefault(key, target)
            v = self.vote(signer, phase, self.height, self.round, h)
            self.feed(VoteReceived(peer=signer.public_key, vote=v))

    @rule(
        phase=st.sampled_from((ATTEST, CONFIRM)),
        round_offset=st.integers(min_value=-1, max_value=9),
        payload=st.binary(max_size=2),
    )
    def byzantine_vote(self, phase: int, round_offset: int, payload: bytes) -> None:
        """The third other keeper votes for any block in any round: equivocation included."""
        signer = self.other(2)
        h = self.block(payload).hash
        v = self.vote(signer, phase, self.height, max(0, self.round + round_offset), h)
        self.feed(VoteReceived(peer=signer.public_key, vote=v))

    @rule(pick=st.integers(min_value=0, max_value=63))
    def replay(self, pick: int) -> None:
        """A peer sends back something the attester broadcast earlier."""
        if not self.heard:
            return
        m = self.heard[pick % len(self.heard)]
        peer = self.other(pick).public_key
        if type(m) is Vote:
            self.feed(VoteReceived(peer=peer, vote=m))
        else:
            self.feed(ProposalReceived(peer=peer, proposal=m))

    @rule()
    def crash_restart(self) -> None:
        """Memory lost, the persisted guard kept: a new checker run from Waiting."""
        assert self.config is not None and self.runner is not None
        self.runner.finish()
        self.start(ATTESTER, self.config, att.initial(self.config, self.guard))
        self.feed(Tick(now=self.now))

    @rule(payload=st.binary(max_size=2))
    def synced_past(self, payload: bytes) -> None:
        """The other keepers finalized our height without us; block sync stores it. The block is
        the one the attester is locked on or holds as valid, if any (else it would be a fork no
        quorum could have made)."""
        s = self.state
        block = None
        if att.running(s) and s.height == self.height:
            block = s.guard.locked_block or s.valid_block
        if block is None:
            block = self.block(payload)
        r = self.round
        signers = sorted(
            (x.public_key, self.vote(x, CONFIRM, block.height, r, block.hash).signature)
            for x in [self.other(n) for n in range(3)]
        )
        cert = Certificate(
            chain_id=CHAIN,
            view=view_of(block.height, r),
            height=block.height,
            block_hash=block.hash,
            signatures=tuple(signers),
        )
        self.chain.persist(block)
        self.chain.commit(block.height)
        self.chain.set_highest_certificate(cert)
        self.now += 1
        self.feed(Tick(now=self.now))

    @rule(data=st.data())
    def single_rule_inputs(self, data: st.DataObject) -> None:
        """The next ``RULES_PER_CALL`` rules in turn, each broken alone from the current state."""
        for _ in range(RULES_PER_CALL):
            name = RULES[self.rule_turn % len(RULES)]
            self.rule_turn += 1
            self.run_case(data.draw(cases(self, name), label=name))

    def run_case(self, case: Case) -> None:
        """Step the valid and the broken input from the current state, each under its own
        checker run: the valid one must be accepted, the broken one refused for its rule."""
        assert self.config is not None and self.runner is not None
        view = self.chain.snapshot()
        if not att.running(self.state) or self.state.height != self.height:
            return  # the state lags the view: the next Tick catches up first
        rows = []
        for event in (case.valid, case.broken):
            runner = Conformant(ATTESTER, self.config, stats=self.STATS)
            self.STATS.runs -= 1  # one case is part of the enclosing run, not an example
            runner.step(self.state, event, view)
            (row,) = ATTESTER_SPEC.matching_rows(self.config, self.state, event, view)
            rows.append(row)
        valid, broken = rows
        want = _ROW_KIND.get(case.rule, case.rule)
        if valid.kind == "reject" or broken.kind != "reject" or broken.reason != want:
            raise self.runner.fail(
                "single-rule",
                f"{case.rule}: the valid input took {valid.id} and the broken one {broken.id}",
            )
        RULE_COUNTS[case.rule] += 1


# --- one rule broken alone ---------------------------------------------------------------------


def _bad(x: Any, **changes: Any) -> Any:
    """``x`` with ``changes``, which may break its field types on purpose."""
    return attrs.evolve(x, **changes)


def cases(t: AttesterTest, name: str) -> st.SearchStrategy[Case]:
    """Valid inputs for ``t``'s current state and the same input with rule ``name`` broken."""
    return st.builds(
        lambda k, pay: _case(t, name, k, pay), st.integers(0, 7), st.binary(max_size=2)
    )


def _case(t: AttesterTest, name: str, k: int, pay: bytes) -> Case:
    r = t.round
    if name in VOTE_RULES or name == "clock_regressed":
        return _vote_case(t, name, k, pay)
    good = t.reproposal(pay) if name == "bad_proof" else t.proposal(r + k % 2, pay)
    b = good.block
    producer = t.producer(good.round)
    broken: Any
    if name == "malformed_proposal":
        broken = [
            _bad(good, round=None),
            _bad(good, round=-1),
            _bad(good, valid_round=good.round),
            _bad(good, proof=[]),
            _bad(good, producer=None),
            _bad(good, signature="sig"),
            _bad(good, block=None),
            None,
        ][k]
    elif name == "wrong_chain":
        broken = t.proposal(good.round, block=t.block(pay, chain=CHAIN + 1 + k))
    elif name == "unknown_parent":
        if k % 2 or t.height == 0:
            other = t.block(pay, parent=bytes([k + 1]) * 32)
        else:
            genesis = Certificate.genesis(CHAIN)
            other = Block.make(
                chain_id=CHAIN, height=b.height, parent_hash=b.parent_hash, justify=genesis
            )
        broken = t.proposal(good.round, block=other)
    elif name == "wrong_producer":
        wrong = [s for s in SIGNERS if s is not producer][k % 3]
        broken = t.proposal(good.round, block=b, signer=wrong)
    elif name == "bad_signature":
        broken = [
            _bad(good, signature=bytes(64)),
            _bad(good, signature=good.signature[:-1]),
            attrs.evolve(
                good,
                signature=producer.sign(
                    proposal_payload(CHAIN, b.height, good.round + 1, b.hash, -1)
                ),
            ),
            _bad(good, signature=next(s for s in SIGNERS if s is not producer).sign(b"x")),
        ][k % 4]
    elif name == "bad_block_hash":
        forged = _bad(b, payload=b.payload + b"!")
        broken = _bad(good, block=forged)
    elif name == "bad_proof":
        proof = good.proof
        v0 = proof[0]
        outsider = t.vote(OUTSIDER, ATTEST, b.height, good.valid_round, b.hash)
        confirm = t.vote(BY_KEY[v0.voter], CONFIRM, b.height, good.valid_round, b.hash)
        bad = [
            proof[1:],
            (v0, *proof[1:-1], v0),
            (_bad(v0, signature=bytes(64)), *proof[1:]),
            (_bad(v0, round=v0.round + 1), *proof[1:]),
            (outsider, *proof[1:]),
            (confirm, *proof[1:]),
            (None, *proof[1:]),
            (_bad(v0, voter=[1]), *proof[1:]),
        ][k]
        broken = _bad(good, proof=bad)
    else:  # pragma: no cover - RULES lists every name
        raise AssertionError(name)
    return Case(
        rule=name,
        valid=ProposalReceived(peer=good.producer, proposal=good),
        broken=ProposalReceived(peer=good.producer, proposal=broken),
    )


def _vote_case(t: AttesterTest, name: str, k: int, pay: bytes) -> Case:
    if name == "clock_regressed":
        now = t.state.now
        return Case(
            rule=name,
            valid=Tick(now=now + k),
            broken=Tick(now=[now - 1 - k, -1, None, 2**64][k % 4]),
        )
    signer = t.other(k)
    r = t.round + k % 3
    good = t.vote(signer, k % 2, t.height, r, t.block(pay).hash)
    broken: Any
    if name == "malformed_vote":
        broken = [
            _bad(good, phase=2),
            _bad(good, height=-1),
            _bad(good, round=None),
            _bad(good, round=att.ROUNDS_PER_HEIGHT),
            _bad(good, block_hash="h"),
            _bad(good, voter=None),
            _bad(good, signature=None),
            None,
        ][k]
    elif name == "wrong_chain_vote":
        broken = _bad(good, chain_id=CHAIN + 1 + k)
    elif name == "not_a_keeper":
        broken = t.vote(OUTSIDER, good.phase, good.height, good.round, good.block_hash)
    else:  # bad_vote_signature
        broken = [
            _bad(good, signature=bytes(64)),
            _bad(good, phase=1 - good.phase),
            _bad(good, voter=t.other(k + 1).public_key),
        ][k % 3]
    return Case(
        rule=name,
        valid=VoteReceived(peer=signer.public_key, vote=good),
        broken=VoteReceived(peer=signer.public_key, vote=broken),
    )


MACHINE = ATTESTER
"""The machine this campaign checks (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(
    spec=ATTESTER_SPEC,
    test_class=AttesterTest,
    stats=AttesterTest.STATS,
    rules=RULE_COUNTS,
    rule_names=RULES,
)

__all__ = ["CAMPAIGN", "RULES", "AttesterTest"]
