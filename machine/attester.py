"""The attester: two-phase, one-height-at-a-time finality over a linear chain of final blocks.

Its rules are stated in ``blockfsm.spec.attester`` (``SPEC`` and the safety argument). In
brief, per height ``h`` (the final tip's height + 1) and round ``r``:

1. **Proposal.** The producer of (h, r) is the keeper the producer selector names: the selector
   derived from the parent block's hash, moved by ``r`` (``producer_for``). It proposes its
   **valid block** (the newest block of height h it saw a quorum of attestations for, with that
   quorum as proof) when it has one, and a new block on the final tip otherwise. A producer never
   proposes two blocks for one (h, r).
2. **Attest** (first phase; Tendermint's prevote, lines 22-33). A keeper attests the kept
   proposal of its current round (our chain, height h, parent = final tip, justify = the tip's
   finality certificate, hash valid, signed by the producer the selector names for r, no proof
   for a new block, a verified quorum proof for a re-proposal) if its lock allows: not locked,
   locked on this very block, or the proposal proves a quorum of attestations for it in a round
   >= the lock round. A node whose key is not in the validator set (``config.is_keeper`` false)
   never signs: it follows finality only.
3. **Confirm** (second phase; precommit, lines 36-43). On a quorum of attestations for block B
   in the current round, with B in hand, the keeper locks on B (lock round = r), records B as its
   valid block and confirms B.
4. **Final** (lines 49-54). A quorum of confirmations for B in any kept round of height h, with B
   in hand, makes B final: its confirmations are exactly a ``Certificate`` (view =
   ``view_of(h, r)``) that the sync client verifies unchanged. The attester emits ``Persist``,
   ``Commit`` and ``UpdateHighestCertificate`` and moves to h + 1, round 0, with no lock.
5. **Steps and rotation** (lines 34, 44, 47, 55-65). At the propose step, when
   ``round_timeout(config, r)`` (growing with r, capped by ``max_round_timeout``) ends, a keeper
   attests nil; attestations of a quorum start the attest timeout (``step_timeout``), at whose
   end it confirms nil (at once on a quorum of nil attestations); confirmations of a quorum
   start the confirm timeout, and only at its end does r + 1 start, so no keeper runs ahead of
   the others alone. Votes of f + 1 keepers for a later round of h move us there at once; one
   proposal never does. Every step timeout a keeper sends its messages of the round (and its
   votes of the round before) again. Rounds stop at ``MAX_ROUND``.
6. **The signing guard** (CometBFT privval). Every signature, votes and proposals alike, must be
   above the last (round, step) signed at the height (``may_sign``); what must survive a crash
   (the lock, the valid round, every (h, r, phase) signed and the last signed proposal) is written
   through ``PersistGuard`` before the message that needs it (the effect comes first in the
   step's list); ``initial`` accepts the persisted guard, and a restarted keeper resumes at its
   last signed round and sends its signed proposal again instead of a new one.
7. **Catch-up.** The final tip is read from the view: when block sync committed past our height,
   the next step starts again at the view's tip.

Attestations sign ``ATTEST_DOMAIN``; confirmations sign the certificate payload, so a quorum of
attestations is never mistaken for a finality certificate.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from blockfsm.machine.core import (
    MAX_PERIOD_MS,
    Broadcast,
    PeerId,
    Rejected,
    Step,
    Tick,
    require,
    require_int,
)
from blockfsm.machine.crypto import Signer, Verifier, require_signer
from blockfsm.machine.producer_selection import child_selector
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    BlockHash,
    Certificate,
    ChainId,
    Height,
    ValidatorSet,
    certificate_is_valid,
    certificate_payload,
    i64,
    u64,
)
from blockfsm.machine.view import ChainView

ATTEST = 0
CONFIRM = 1
PHASES = (ATTEST, CONFIRM)
PROPOSE = 2
"""The phase a signed proposal is recorded under in the guard (never on the wire as a vote)."""
STEP_OF = {PROPOSE: 0, ATTEST: 1, CONFIRM: 2}
"""Tendermint's steps within a round: propose < prevote (attest) < precommit (confirm). The
guard refuses any signature whose (round, step) is not above the last one signed at the height,
as CometBFT's privval refuses any (height, round, step) regression."""
ATTEST_DOMAIN = b"blockfsm/attest/v1\x00"
PROPOSAL_DOMAIN = b"blockfsm/proposal/v1\x00"
ROUNDS_PER_HEIGHT = 1 << 16
"""Rounds of one height map into one block of certificate views: views grow with (height, round)."""
MAX_ROUND = ROUNDS_PER_HEIGHT - 1
"""The last round of a height: rounds stop there (no timeout moves past it), so a round never
overflows into the views of the next height. At the timeout cap a keeper reaches it only after
days without a final block."""
ROUND_WINDOW = 8
"""Votes and proposals are kept for rounds r - ROUND_WINDOW .. r + ROUND_WINDOW (confirmations
and proposals below r, everything at and above r); further ahead, one vote per keeper (its
highest round) is kept for the f + 1 rule. A Byzantine keeper cannot grow the state."""


def view_of(height: Height, round_: int) -> int:
    """The certificate view of (height, round): monotonic in (height, round), >= 1."""
    return height * ROUNDS_PER_HEIGHT + round_ + 1


def attest_payload(chain_id: ChainId, height: Height, round_: int, block_hash: BlockHash) -> bytes:
    return ATTEST_DOMAIN + u64(chain_id) + i64(height) + u64(round_) + block_hash


def vote_payload(
    phase: int, chain_id: ChainId, height: Height, round_: int, block_hash: BlockHash
) -> bytes:
    if phase == ATTEST:
        return attest_payload(chain_id, height, round_, block_hash)
    return certificate_payload(chain_id, view_of(height, round_), height, block_hash)


def proposal_payload(
    chain_id: ChainId, height: Height, round_: int, block_hash: BlockHash, valid_round: int
) -> bytes:
    return (
        PROPOSAL_DOMAIN + u64(chain_id) + i64(height) + u64(round_) + block_hash + i64(valid_round)
    )


@functools.lru_cache(maxsize=4096)
def producer_for(keepers: tuple[PeerId, ...], parent_hash: BlockHash, round_: int) -> PeerId | None:
    """The producer of round ``round_`` on top of ``parent_hash``: the producer's own
    ``child_selector`` rule for a parent without a selector, seeded by the parent's hash (index 0
    moved by the round). Memoized: every step of every keeper asks it, and
    the answer is a pure function of its (immutable) arguments."""
    n = len(keepers)
    if n == 0:
        return None
    return child_selector(None, parent_hash, n, round_).producer(keepers)


# --- config, messages, events, effects -------------------------------------------------------


@attrs.frozen(kw_only=True)
class AttesterConfig:
    chain_id: ChainId
    signer: Signer = attrs.field(eq=False, hash=False)
    validators: ValidatorSet
    verifier: Verifier = attrs.field(eq=False, hash=False)
    round_timeout: int = 1_000
    round_timeout_increment: int = 500
    max_round_timeout: int = 60_000
    """The cap on a round's timeout: without it a round dragged to 5,000 lasts 42 minutes."""
    new_blocks: bool = True
    """Whether the attester makes its new blocks itself (``_propose``). The node sets it False:
    there the block producer (``machine/producer.py``) makes them and the node hands the
    attester the resulting proposal; re-proposing a valid block stays here either way."""
    keepers: tuple[PeerId, ...] = attrs.field(init=False)
    is_keeper: bool = attrs.field(init=False)
    """Whether our key is in the validator set: only keepers sign votes (a follower only
    follows)."""

    def __attrs_post_init__(self) -> None:
        require_int(self.chain_id, "chain_id", 0, MAX_U64)
        require_signer(self.signer)
        require(
            isinstance(self.validators, ValidatorSet) and len(self.validators) > 0,
            "validators must be a non-empty ValidatorSet",
        )
        require(callable(getattr(self.verifier, "verify", None)), "verifier needs verify()")
        require_int(self.round_timeout, "round_timeout (ms)", 1, MAX_PERIOD_MS)
        require_int(self.round_timeout_increment, "round_timeout_increment (ms)", 0, MAX_PERIOD_MS)
        require_int(self.max_round_timeout, "max_round_timeout (ms)", 1, MAX_PERIOD_MS)
        require(
            self.max_round_timeout >= self.round_timeout,
            "max_round_timeout must be >= round_timeout",
        )
        require(type(self.new_blocks) is bool, "new_blocks must be a bool")
        object.__setattr__(self, "keepers", tuple(k for k, _ in self.validators.members))
        object.__setattr__(self, "is_keeper", self.signer.public_key in self.validators)


@attrs.frozen(kw_only=True)
class Vote:
    """An attestation (phase 0) or a confirmation (phase 1) of ``block_hash`` at (height, round)."""

    phase: int
    chain_id: ChainId
    height: Height
    round: int
    block_hash: BlockHash
    voter: PeerId
    signature: bytes


@attrs.frozen(kw_only=True)
class Proposal:
    """``block`` proposed for (block.height, round); ``proof`` is a quorum of attestations for it
    at ``valid_round`` when it is a re-proposal (valid_round -1 otherwise)."""

    round: int
    block: Block
    valid_round: int
    proof: tuple[Vote, ...]
    producer: PeerId
    signature: bytes


@attrs.frozen(kw_only=True)
class ProposalReceived:
    peer: PeerId
    proposal: Proposal


@attrs.frozen(kw_only=True)
class VoteReceived:
    peer: PeerId
    vote: Vote


@attrs.frozen(kw_only=True)
class Guard:
    """What must survive a crash: per height, the lock, the valid block, every signed
    (round, phase, block hash) (proposals under ``PROPOSE``) and the last proposal signed, which
    a restarted producer sends again instead of signing another one for its slot."""

    height: Height = 0
    locked_round: int = -1
    locked_hash: BlockHash = ZERO_HASH
    signed: tuple[tuple[int, int, BlockHash], ...] = ()
    locked_block: Block | None = None
    locked_proof: tuple[Vote, ...] = ()
    proposal: Proposal | None = None


def last_signed(guard: Guard) -> tuple[int, int]:
    """The (round, step) of the last signature at the guard's height; (-1, -1) before any."""
    return max(((r, STEP_OF[p]) for r, p, _ in guard.signed), default=(-1, -1))


def may_sign(guard: Guard, height: Height, round_: int, phase: int) -> bool:
    """CometBFT privval's rule (``privval/file.go``, ``checkHRS``): sign only at the guard's
    height and only above the last (round, step) signed there. Checked before every signature,
    proposals included; a restarted keeper resumes at its last signed round (``_at_tip``)."""
    return guard.height == height and (round_, STEP_OF[phase]) > last_signed(guard)


@attrs.frozen(kw_only=True)
class PersistGuard:
    guard: Guard


@attrs.frozen(kw_only=True)
class AttesterState:
    control: str
    now: int = -1
    height: Height = 0
    round: int = 0
    round_started: int = -1
    guard: Guard = Guard()
    valid_round: int = -1
    valid_block: Block | None = None
    valid_proof: tuple[Vote, ...] = ()
    proposals: tuple[Proposal, ...] = ()
    """At most one valid proposal per round (the first; a round has one producer), for rounds
    r - ROUND_WINDOW .. r + ROUND_WINDOW: a later round's waits there until we enter it."""
    proposed_in: tuple[int, ...] = ()
    votes: tuple[Vote, ...] = ()
    ahead: tuple[Vote, ...] = ()
    """Per keeper, its valid vote of the highest round beyond r + ROUND_WINDOW (f + 1 rule)."""
    attest_deadline: int = -1
    """When Tendermint's ``timeoutPrevote`` fires (line 34: scheduled on attestations of a quorum
    in our round, any blocks or nil, while we are at the attest step); -1 while not scheduled."""
    confirm_deadline: int = -1
    """When ``timeoutPrecommit`` fires (line 47: scheduled on confirmations of a quorum in our
    round); the next round starts then. -1 while not scheduled."""
    resend_at: int = -1
    """When our messages of this round are sent again. The paper assumes every message reaches
    every correct process eventually (CometBFT's gossip sends peers the votes they lack); our
    network loses messages, so a keeper repeats its own, signed once, every round timeout."""


PROPOSE_STEP, ATTEST_STEP, CONFIRM_STEP = 0, 1, 2


def step_of(state: AttesterState) -> int:
    """Tendermint's step in the current round, from what this keeper signed in it: propose until
    it attests, attest until it confirms, then confirm. Derived from the guard, so a restarted
    keeper is at the step it signed last."""
    r, s = last_signed(state.guard)
    if r != state.round or state.guard.height != state.height:
        return PROPOSE_STEP
    return s if s > PROPOSE_STEP else PROPOSE_STEP


def held_blocks(state: AttesterState) -> tuple[Block, ...]:
    """The blocks in hand: the kept proposals', the valid block and the locked block."""
    blocks = [p.block for p in state.proposals]
    for extra in (state.valid_block, state.guard.locked_block):
        if extra is not None and all(b.hash != extra.hash for b in blocks):
            blocks.append(extra)
    return tuple(blocks)


def _evolve(s: AttesterState, **c: Any) -> AttesterState:
    """``attrs.evolve`` for the step path: the same new state, without attrs' introspection."""
    return AttesterState(
        control=c.get("control", s.control),
        now=c.get("now", s.now),
        height=c.get("height", s.height),
        round=c.get("round", s.round),
        round_started=c.get("round_started", s.round_started),
        guard=c.get("guard", s.guard),
        valid_round=c.get("valid_round", s.valid_round),
        valid_block=c.get("valid_block", s.valid_block),
        valid_proof=c.get("valid_proof", s.valid_proof),
        proposals=c.get("proposals", s.proposals),
        proposed_in=c.get("proposed_in", s.proposed_in),
        votes=c.get("votes", s.votes),
        ahead=c.get("ahead", s.ahead),
        attest_deadline=c.get("attest_deadline", s.attest_deadline),
        confirm_deadline=c.get("confirm_deadline", s.confirm_deadline),
        resend_at=c.get("resend_at", s.resend_at),
    )


WAITING = "Waiting"
PROPOSING, ATTESTING, CONFIRMING = "Propose", "Attest", "Confirm"
STEPS = (PROPOSING, ATTESTING, CONFIRMING)
"""The control states of a running attester: Tendermint's steps of the current round, indexed by
``step_of`` (propose until it attests, attest until it confirms, then confirm). A new round or
height starts at propose."""


def running(state: AttesterState) -> bool:
    """Whether the attester follows a height (it has seen its first tick)."""
    return state.control != WAITING


_RANK = {
    "Persist": 0,
    "Commit": 1,
    "UpdateHighestCertificate": 2,
    "PersistGuard": 3,
    "Broadcast": 4,
    "Rejected": 5,
}


def initial(config: AttesterConfig, guard: Guard | None = None) -> AttesterState:
    """A fresh attester, or one restarted from its persisted ``guard``."""
    return AttesterState(control=WAITING, guard=guard if guard is not None else Guard())


# --- step ------------------------------------------------------------------------------------


def step(config: AttesterConfig, state: AttesterState, event: Any, view: ChainView) -> Step:
    kind = type(event)
    if kind is Tick:
        now = event.now
        if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
            return Step(state, (Rejected(reason="clock_regressed"),))
        return _settle(config, _at_tip(state, view, now), view, [])
    if kind is ProposalReceived:
        return _on_proposal(config, state, event, view)
    if kind is VoteReceived:
        return _on_vote(config, state, event, view)
    raise TypeError(f"attester does not take {kind.__name__}")


def _at_tip(state: AttesterState, view: ChainView, now: int) -> AttesterState:
    """The state at the view's final tip: a height the view already finalized is left behind."""
    height = view.committed_height() + 1
    if state.control != WAITING and height == state.height:
        return state if now == state.now else _evolve(state, now=now)
    guard = state.guard
    if guard.height != height:
        guard = Guard(height=height)
    # A restarted keeper still locked on a block re-proposes it: its lock proof is its valid block.
    block = guard.locked_block
    # It resumes at the last round it signed in (HotStuff-rs persists the highest view voted):
    # back at round 0 it could sign, in an earlier round, against what it signed later.
    return AttesterState(
        control=PROPOSING,
        now=now,
        height=height,
        round=max(0, last_signed(guard)[0]),
        round_started=now,
        guard=guard,
        valid_round=guard.locked_round if block is not None else -1,
        valid_block=block,
        valid_proof=guard.locked_proof if block is not None else (),
    )


def _settle(
    config: AttesterConfig, state: AttesterState, view: ChainView, effects: list[Any]
) -> Step:
    """Timeouts due, round jumps, then whatever the votes in hand allow, then our proposal, then
    the attestation of the proposal kept for our round."""
    if state.control == WAITING:
        return _finish(state, effects)
    state = _timeouts(config, state, effects)
    jump = _round_with_f1(config, state)
    if jump > state.round:
        state = _enter_round(state, jump)
    state = _advance(config, state, view, effects)
    if state.height == view.committed_height() + 1:
        state = _propose(config, state, view, effects)
    for p in state.proposals:
        if p.round == state.round:
            state = _attest(config, state, p, effects)
            state = _advance(config, state, view, effects)
            break
    return _finish(state, effects)


def round_timeout(config: AttesterConfig, round_: int) -> int:
    """Tendermint's timeouts grow with the round (``timeoutPropose(r)`` = initial + r * delta),
    so that eventually a round outlasts the network's delay; ours stop growing at the cap. This
    is ``timeoutPropose``; ``step_timeout`` is half of it."""
    return min(
        config.max_round_timeout, config.round_timeout + round_ * config.round_timeout_increment
    )


def step_timeout(config: AttesterConfig, round_: int) -> int:
    """``timeoutPrevote`` and ``timeoutPrecommit``, and the interval at which a keeper sends its
    messages of the round again: half the round's propose timeout (CometBFT's defaults, 3 s to
    propose and 1 s for each vote step, are of that shape)."""
    return max(1, round_timeout(config, round_) // 2)


def _timeouts(config: AttesterConfig, state: AttesterState, effects: list[Any]) -> AttesterState:
    """Tendermint lines 57-65. ``OnTimeoutPrecommit``: the next round starts, and only then:
    a round ends only after a quorum confirmed in it (line 47), so a keeper cut off from the
    others stays in its round instead of running ahead of them. ``OnTimeoutPropose``: at the
    propose step, attest nil. ``OnTimeoutPrevote``: at the attest step, confirm nil. The last
    round of a height never ends (``MAX_ROUND``)."""
    now = state.now
    if 0 <= state.confirm_deadline <= now and state.round < MAX_ROUND:
        return _enter_round(state, state.round + 1)
    if state.resend_at < 0:
        state = _evolve(state, resend_at=now + step_timeout(config, state.round))
    elif state.resend_at <= now:
        state = _resend(config, state, effects)
    step = step_of(state)
    if step == PROPOSE_STEP and now - state.round_started >= round_timeout(config, state.round):
        return _sign_nil(config, state, ATTEST, effects)
    if step == ATTEST_STEP and 0 <= state.attest_deadline <= now:
        return _sign_nil(config, state, CONFIRM, effects)
    return state


def _resend(config: AttesterConfig, state: AttesterState, effects: list[Any]) -> AttesterState:
    """Our proposal and votes of this round, and our votes of the round before, again. A keeper
    that left a round can still be the vote a lagging keeper needs to complete it (CometBFT's
    gossip sends a peer the votes of the peer's round). A vote the guard records but the state
    lost (a restart, or a round left) is signed again over the very same bytes: CometBFT's
    privval does the same for a repeated (height, round, step) with identical sign bytes; it is
    the same vote, not a new decision, so it needs no ``may_sign``."""
    me = config.signer.public_key
    kept = state.guard.proposal
    if kept is not None and kept.round == state.round and kept.block.height == state.height:
        effects.append(Broadcast(message=kept))
    for r, phase, block_hash in state.guard.signed:
        if not state.round - 1 <= r <= state.round or phase not in PHASES:
            continue
        vote = next(
            (v for v in state.votes if v.voter == me and v.round == r and v.phase == phase),
            None,
        )
        if vote is None:
            payload = vote_payload(phase, config.chain_id, state.height, r, block_hash)
            vote = Vote(
                phase=phase,
                chain_id=config.chain_id,
                height=state.height,
                round=r,
                block_hash=block_hash,
                voter=me,
                signature=config.signer.sign(payload),
            )
            if r == state.round:
                state = _record(config, state, vote)
        effects.append(Broadcast(message=vote))
    return _evolve(state, resend_at=state.now + step_timeout(config, state.round))


def _sign_nil(
    config: AttesterConfig, state: AttesterState, phase: int, effects: list[Any]
) -> AttesterState:
    """A nil attestation or confirmation (the all-zero hash) in our round."""
    if not config.is_keeper or not may_sign(state.guard, state.height, state.round, phase):
        return state
    vote, guard = _sign_vote(config, state, phase, ZERO_HASH)
    state = _evolve(state, guard=guard)
    effects.append(PersistGuard(guard=guard))
    effects.append(Broadcast(message=vote))
    return _record(config, state, vote)


def _finish(state: AttesterState, effects: list[Any]) -> Step:
    if state.control != WAITING:
        control = STEPS[step_of(state)]
        if control != state.control:
            state = _evolve(state, control=control)
    if len(effects) > 1:
        effects.sort(key=lambda e: _RANK.get(type(e).__name__, 9))
    return Step(state, tuple(effects))


def _enter_round(state: AttesterState, round_: int) -> AttesterState:
    """Tendermint's ``StartRound``: votes and proposals of rounds we no longer need are dropped
    (confirmations and proposals of the last ``ROUND_WINDOW`` rounds stay: a late confirmation
    quorum still finalizes); kept-ahead votes now in the window join the votes."""
    round_ = min(round_, MAX_ROUND)
    low = round_ - ROUND_WINDOW
    votes = tuple(
        v for v in state.votes if v.round >= round_ or (v.phase == CONFIRM and v.round >= low)
    )
    proposals = tuple(p for p in state.proposals if p.round >= low)
    ahead = state.ahead
    if ahead:
        joining = tuple(v for v in ahead if v.round <= round_ + ROUND_WINDOW)
        ahead = tuple(v for v in ahead if v.round > round_ + ROUND_WINDOW)
        for v in joining:
            if not any((w.voter, w.round, w.phase) == (v.voter, v.round, v.phase) for w in votes):
                votes = (*votes, v)
    return _evolve(
        state,
        round=round_,
        round_started=state.now,
        votes=votes,
        proposals=proposals,
        ahead=ahead,
        attest_deadline=-1,
        confirm_deadline=-1,
        resend_at=-1,
    )


def _round_with_f1(config: AttesterConfig, state: AttesterState) -> int:
    """Tendermint line 55: the highest round > ours in which keepers of total power > f sent
    votes (a keeper's vote in a round >= r counts for r). One proposal never moves us."""
    best = state.round
    f = config.validators.total_power - config.validators.quorum
    if not state.ahead and not any(v.round > state.round for v in state.votes):
        return best
    highest: dict[PeerId, int] = {}
    for v in (*state.votes, *state.ahead):
        if v.round > highest.get(v.voter, -1):
            highest[v.voter] = v.round
    for r in sorted({r for r in highest.values() if r > state.round}, reverse=True):
        voters = [p for p, top in highest.items() if top >= r]
        if sum(config.validators.power_of(p) for p in voters) > f:
            return min(r, MAX_ROUND)
    return best


def _signed(guard: Guard, round_: int, phase: int) -> bool:
    return any(r == round_ and p == phase for r, p, _ in guard.signed)


def _sign_vote(
    config: AttesterConfig, state: AttesterState, phase: int, block_hash: BlockHash
) -> tuple[Vote, Guard]:
    payload = vote_payload(phase, config.chain_id, state.height, state.round, block_hash)
    vote = Vote(
        phase=phase,
        chain_id=config.chain_id,
        height=state.height,
        round=state.round,
        block_hash=block_hash,
        voter=config.signer.public_key,
        signature=config.signer.sign(payload),
    )
    g = state.guard
    guard = attrs.evolve(g, signed=(*g.signed, (state.round, phase, block_hash)))
    return vote, guard


def _block(state: AttesterState, block_hash: BlockHash) -> Block | None:
    for p in state.proposals:
        if p.block.hash == block_hash:
            return p.block
    for b in (state.valid_block, state.guard.locked_block):
        if b is not None and b.hash == block_hash:
            return b
    return None


def _tally(
    config: AttesterConfig, votes: tuple[Vote, ...], phase: int
) -> dict[tuple[int, BlockHash], int]:
    power: dict[tuple[int, BlockHash], int] = {}
    for v in votes:
        if v.phase == phase and v.block_hash != ZERO_HASH:
            key = (v.round, v.block_hash)
            power[key] = power.get(key, 0) + config.validators.power_of(v.voter)
    return power


def _advance(
    config: AttesterConfig, state: AttesterState, view: ChainView, effects: list[Any]
) -> AttesterState:
    quorum = config.validators.quorum
    # Tendermint line 49: final on a quorum of confirmations for a block we hold, in any round.
    for (r, h), p in _tally(config, state.votes, CONFIRM).items():
        if p >= quorum:
            block = _block(state, h)
            if block is not None:
                return _finalize(config, state, block, r, effects)
    # Tendermint line 36: valid block, lock and confirmation on a quorum of attestations for a
    # block we hold; the confirmation only at the attest step of that round.
    for (r, h), p in sorted(_tally(config, state.votes, ATTEST).items(), reverse=True):
        if p < quorum:
            continue
        block = _block(state, h)
        if block is None:
            continue
        if r > state.valid_round:
            proof = tuple(v for v in state.votes if v.phase == ATTEST and v.round == r)
            proof = tuple(v for v in proof if v.block_hash == h)
            state = _evolve(state, valid_round=r, valid_block=block, valid_proof=proof)
        if (
            r == state.round
            and config.is_keeper
            and step_of(state) == ATTEST_STEP
            and may_sign(state.guard, state.height, r, CONFIRM)
        ):
            # The guard refuses a confirmation below anything signed at this height, so below
            # the lock round too: a restarted keeper never confirms against its later votes.
            vote, guard = _sign_vote(config, state, CONFIRM, h)
            guard = attrs.evolve(
                guard,
                locked_round=r,
                locked_hash=h,
                locked_block=block,
                locked_proof=state.valid_proof if state.valid_round == r else (),
            )
            state = _evolve(state, guard=guard)
            effects.append(PersistGuard(guard=guard))
            effects.append(Broadcast(message=vote))
            state = _record(config, state, vote)
            return _advance(config, state, view, effects)
    r = state.round
    # Line 44: a quorum attested nil in our round, while we are at the attest step: confirm nil.
    if step_of(state) == ATTEST_STEP and _power(config, state, ATTEST, r, ZERO_HASH) >= quorum:
        state = _sign_nil(config, state, CONFIRM, effects)
    # Line 34: attestations of a quorum in our round (any), at the attest step: timeoutPrevote.
    if (
        state.attest_deadline < 0
        and step_of(state) == ATTEST_STEP
        and _power(config, state, ATTEST, r) >= quorum
    ):
        state = _evolve(state, attest_deadline=state.now + step_timeout(config, r))
    # Line 47: confirmations of a quorum in our round (any): timeoutPrecommit.
    if state.confirm_deadline < 0 and _power(config, state, CONFIRM, r) >= quorum:
        state = _evolve(state, confirm_deadline=state.now + step_timeout(config, r))
    return state


def _power(
    config: AttesterConfig,
    state: AttesterState,
    phase: int,
    round_: int,
    block_hash: BlockHash | None = None,
) -> int:
    """The power of the keepers that voted ``phase`` in ``round_`` (for ``block_hash`` if given,
    nil included; for anything otherwise)."""
    return sum(
        config.validators.power_of(v.voter)
        for v in state.votes
        if v.phase == phase
        and v.round == round_
        and (block_hash is None or v.block_hash == block_hash)
    )


def _finalize(
    config: AttesterConfig, state: AttesterState, block: Block, round_: int, effects: list[Any]
) -> AttesterState:
    signatures = tuple(
        sorted(
            (v.voter, v.signature)
            for v in state.votes
            if v.phase == CONFIRM and v.round == round_ and v.block_hash == block.hash
        )
    )
    cert = Certificate(
        chain_id=config.chain_id,
        view=view_of(state.height, round_),
        height=state.height,
        block_hash=block.hash,
        signatures=signatures,
    )
    effects.append(Persist(block=block))
    effects.append(Commit(height=state.height))
    effects.append(UpdateHighestCertificate(certificate=cert))
    height = state.height + 1
    guard = Guard(height=height)
    effects.append(PersistGuard(guard=guard))
    return AttesterState(
        control=PROPOSING,
        now=state.now,
        height=height,
        round=0,
        round_started=state.now,
        guard=guard,
    )


def _propose(
    config: AttesterConfig, state: AttesterState, view: ChainView, effects: list[Any]
) -> AttesterState:
    """Tendermint lines 14-19: the producer of (h, r) proposes its valid block with its proof,
    else a new block. A producer that already signed its proposal for this slot (before a
    crash) sends that one again and signs nothing."""
    me = config.signer.public_key
    tip = view.block_at(state.height - 1) if state.height > 0 else None
    parent_hash = tip.hash if tip is not None else ZERO_HASH
    if (
        state.round in state.proposed_in
        or producer_for(config.keepers, parent_hash, state.round) != me
    ):
        return state
    kept = state.guard.proposal
    if kept is not None and kept.round == state.round and kept.block.height == state.height:
        effects.append(Broadcast(message=kept))
        state = _evolve(state, proposed_in=(*state.proposed_in, state.round))
        return _keep_proposal(state, kept)
    if not config.is_keeper or not may_sign(state.guard, state.height, state.round, PROPOSE):
        return state
    if state.valid_block is not None:
        block, valid_round, proof = state.valid_block, state.valid_round, state.valid_proof
    elif not config.new_blocks:
        return state
    else:
        justify = view.highest_certificate()
        if not justifies_tip(config, justify, state.height, parent_hash):
            return state
        block = new_block(config, state.height, state.round, parent_hash, justify)
        valid_round, proof = -1, ()
    proposal = signed_proposal(config, block, state.round, valid_round, proof)
    state = _record_proposal(state, proposal, effects)
    effects.append(Broadcast(message=proposal))
    state = _evolve(state, proposed_in=(*state.proposed_in, state.round))
    return _keep_proposal(state, proposal)


def _record_proposal(state: AttesterState, proposal: Proposal, effects: list[Any]) -> AttesterState:
    """Our signed proposal, in the guard (persisted before it is sent): the slot is taken."""
    g = state.guard
    guard = attrs.evolve(
        g,
        signed=(*g.signed, (proposal.round, PROPOSE, proposal.block.hash)),
        proposal=proposal,
    )
    effects.append(PersistGuard(guard=guard))
    return _evolve(state, guard=guard)


def signed_proposal(
    config: AttesterConfig,
    block: Block,
    round_: int,
    valid_round: int = -1,
    proof: tuple[Vote, ...] = (),
) -> Proposal:
    """Our proposal of ``block`` in ``round_``, signed (a new block: no valid round, no proof)."""
    payload = proposal_payload(config.chain_id, block.height, round_, block.hash, valid_round)
    return Proposal(
        round=round_,
        block=block,
        valid_round=valid_round,
        proof=proof,
        producer=config.signer.public_key,
        signature=config.signer.sign(payload),
    )


def new_block(
    config: AttesterConfig,
    height: Height,
    round_: int,
    parent_hash: BlockHash,
    justify: Certificate,
) -> Block:
    """The new block a producer of (height, round) proposes on the final tip: its payload names
    the producer and the round, so two slots never make the same block."""
    return Block.make(
        chain_id=config.chain_id,
        height=height,
        parent_hash=parent_hash,
        justify=justify,
        payload=config.signer.public_key + u64(round_),
    )


def justifies_tip(
    config: AttesterConfig, justify: Certificate, height: Height, parent_hash: BlockHash
) -> bool:
    """``justify`` is a valid finality certificate for the final tip below ``height``."""
    if height == 0:
        return justify == Certificate.genesis(config.chain_id)
    return (
        justify.height == height - 1
        and justify.block_hash == parent_hash
        and certificate_is_valid(justify, config.chain_id, config.validators, config.verifier)
    )


# --- proposals -------------------------------------------------------------------------------


def proposal_refusal(
    config: AttesterConfig, state: AttesterState, p: Any, view: ChainView
) -> str | None:
    """Why a proposal for our height is refused, or None when it is valid (the caller has
    already set aside a well-formed proposal for another height)."""
    if type(p) is not Proposal:
        return "malformed_proposal"
    b = p.block
    if not (
        type(b) is Block
        and type(p.round) is int
        and type(p.valid_round) is int
        and type(p.proof) is tuple
        and type(p.producer) is bytes
        and type(p.signature) is bytes
        and type(b.height) is int
        and type(b.hash) is bytes
        and type(b.parent_hash) is bytes
        and type(b.payload) is bytes
        and type(b.chain_id) is int
        and type(b.justify) is Certificate
        and 0 <= p.round < ROUNDS_PER_HEIGHT
        and -1 <= p.valid_round < p.round + (p.valid_round < 0)
    ):
        return "malformed_proposal"
    if b.chain_id != config.chain_id:
        return "wrong_chain"
    tip = view.block_at(b.height - 1) if b.height > 0 else None
    parent_hash = tip.hash if tip is not None else ZERO_HASH
    if b.parent_hash != parent_hash or not justifies_tip(config, b.justify, b.height, parent_hash):
        return "unknown_parent"
    if producer_for(config.keepers, parent_hash, p.round) != p.producer:
        return "wrong_producer"
    payload = proposal_payload(config.chain_id, b.height, p.round, b.hash, p.valid_round)
    if not config.verifier.verify(p.producer, payload, p.signature):
        return "bad_signature"
    try:
        hash_ok = b.hash_is_valid()
    except (TypeError, ValueError, OverflowError):
        hash_ok = False
    if not hash_ok:
        return "bad_block_hash"
    if p.proof if p.valid_round < 0 else not _proof_holds(config, p, b.height):
        # A new block's proposal carries no proof (Tendermint's PROPOSAL(h, r, v, -1)): votes
        # in it would otherwise count unverified. A re-proposal's proof is checked vote by vote.
        return "bad_proof"
    return None


def _proof_holds(config: AttesterConfig, p: Proposal, height: Height) -> bool:
    seen: set[PeerId] = set()
    power = 0
    for v in p.proof:
        if type(v) is not Vote or type(v.voter) is not bytes:
            return False
        if v.voter in seen or v.voter not in config.validators:
            return False
        if (v.phase, v.height, v.round, v.block_hash) != (
            ATTEST,
            height,
            p.valid_round,
            p.block.hash,
        ):
            return False
        payload = attest_payload(config.chain_id, height, v.round, v.block_hash)
        if type(v.signature) is not bytes or not config.verifier.verify(
            v.voter, payload, v.signature
        ):
            return False
        seen.add(v.voter)
        power += config.validators.power_of(v.voter)
    return power >= config.validators.quorum


def _on_proposal(
    config: AttesterConfig, state: AttesterState, event: ProposalReceived, view: ChainView
) -> Step:
    if state.control == WAITING:
        return Step(state, ())
    p = event.proposal
    if type(p) is Proposal and type(p.block) is Block and p.block.height != state.height:
        return Step(state, ())  # another height: sync or a later round deals with it
    reason = proposal_refusal(config, state, p, view)
    if reason is not None:
        return Step(state, (Rejected(reason=reason, peer=event.peer),))
    if not state.round - ROUND_WINDOW <= p.round <= state.round + ROUND_WINDOW:
        return Step(state, ())
    effects: list[Any] = []
    if p.producer == config.signer.public_key and p.round not in state.proposed_in:
        # Our own proposal, handed back by the node that made it (it checked ``may_sign``
        # before signing): that slot is taken, durably.
        state = _evolve(state, proposed_in=(*state.proposed_in, p.round))
        if may_sign(state.guard, state.height, p.round, PROPOSE):
            state = _record_proposal(state, p, effects)
    # A later round's proposal waits for its round: one proposal never moves us (round skip
    # needs f + 1 keepers, Tendermint line 55).
    state = _keep_proposal(state, p)
    for v in p.proof:
        state = _record(config, state, v)
    return _settle(config, state, view, effects)


def _keep_proposal(state: AttesterState, p: Proposal) -> AttesterState:
    """Keep ``p`` unless its round already has one (the first counts; a round has one
    producer, so a Byzantine producer fills at most one slot per round it produces)."""
    if any(q.round == p.round for q in state.proposals):
        return state
    return _evolve(state, proposals=(*state.proposals, p))


def _attest(
    config: AttesterConfig, state: AttesterState, p: Proposal, effects: list[Any]
) -> AttesterState:
    """Tendermint lines 22-33, at the propose step: attest the round's proposal if the lock
    allows (not locked, locked on this block, or the proposal proves an attestation quorum at a
    valid round at or above the lock round), else attest nil."""
    if p.round != state.round or not config.is_keeper or step_of(state) != PROPOSE_STEP:
        return state
    if not may_sign(state.guard, state.height, p.round, ATTEST):
        return state
    b = p.block
    g = state.guard
    allowed = (
        g.locked_round < 0
        or g.locked_hash == b.hash
        or (p.valid_round >= g.locked_round and p.valid_round >= 0)
    )
    if not allowed:
        return _sign_nil(config, state, ATTEST, effects)  # lines 26 and 32: prevote nil
    vote, guard = _sign_vote(config, state, ATTEST, b.hash)
    state = _evolve(state, guard=guard)
    effects.append(PersistGuard(guard=guard))
    effects.append(Broadcast(message=vote))
    return _record(config, state, vote)


# --- votes -----------------------------------------------------------------------------------


def vote_refusal(config: AttesterConfig, v: Any) -> str | None:
    """Why a vote is refused (before its height is looked at), or None."""
    if type(v) is not Vote or not (
        type(v.phase) is int
        and type(v.chain_id) is int
        and type(v.height) is int
        and type(v.round) is int
        and type(v.block_hash) is bytes
        and type(v.voter) is bytes
        and type(v.signature) is bytes
        and v.phase in PHASES
        and 0 <= v.height <= MAX_U64
        and 0 <= v.round < ROUNDS_PER_HEIGHT
    ):
        return "malformed_vote"
    if v.chain_id != config.chain_id:
        return "wrong_chain"
    if v.voter not in config.validators:
        return "not_a_keeper"
    return None


def _record(config: AttesterConfig, state: AttesterState, v: Vote) -> AttesterState:
    for w in state.votes:
        if w.voter == v.voter and w.round == v.round and w.phase == v.phase:
            return state  # one vote per keeper per (round, phase): the first one counts
    return _evolve(state, votes=(*state.votes, v))


def _on_vote(
    config: AttesterConfig, state: AttesterState, event: VoteReceived, view: ChainView
) -> Step:
    v = event.vote
    reason = vote_refusal(config, v)
    if reason is not None:
        return Step(state, (Rejected(reason=reason, peer=event.peer),))
    if state.control == WAITING or v.height != state.height:
        return Step(state, ())
    low = state.round - ROUND_WINDOW
    if v.round < state.round and not (v.phase == CONFIRM and v.round >= low):
        return Step(state, ())
    payload = vote_payload(v.phase, config.chain_id, v.height, v.round, v.block_hash)
    if not config.verifier.verify(v.voter, payload, v.signature):
        return Step(state, (Rejected(reason="bad_signature", peer=event.peer),))
    if v.round > state.round + ROUND_WINDOW:
        # Too far ahead to count, but it says where its keeper is: keep its highest (f + 1).
        for w in state.ahead:
            if w.voter == v.voter:
                if w.round >= v.round:
                    return Step(state, ())
                break
        ahead = (*(w for w in state.ahead if w.voter != v.voter), v)
        return _settle(config, _evolve(state, ahead=ahead), view, [])
    new = _record(config, state, v)
    if new is state:
        return Step(state, ())
    return _settle(config, new, view, [])
