"""The attester's step: events in, then rounds, timeouts, proposing, attesting, confirming and
finality (Tendermint's lines, as the package docstring names them)."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.attester.effects import (
    _RANK,
    Broadcast,
    Commit,
    Persist,
    PersistGuard,
    Rejected,
    UpdateHighestCertificate,
)
from blockfsm.machine.attester.proposals import (
    justifies_tip,
    new_block,
    proposal_refusal,
    signed_proposal,
)
from blockfsm.machine.attester.state import (
    ATTEST,
    ATTEST_STEP,
    CONFIRM,
    MAX_ROUND,
    PHASES,
    PROPOSE,
    PROPOSE_STEP,
    PROPOSING,
    ROUND_WINDOW,
    STEPS,
    WAITING,
    AttesterConfig,
    AttesterState,
    Guard,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    _evolve,
    last_signed,
    may_sign,
    producer_for,
    step_of,
    view_of,
    vote_payload,
)
from blockfsm.machine.attester.votes import _power, _record, _tally, vote_refusal
from blockfsm.machine.core import PeerId, Step, Tick
from blockfsm.machine.types import MAX_U64, ZERO_HASH, Block, BlockHash, Certificate
from blockfsm.machine.view import ChainView


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
