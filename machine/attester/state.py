"""The attester's data: its constants and signed payloads, config, messages, events, signing guard
and state (see the package docstring for the rules)."""

from __future__ import annotations

import functools
from typing import Any

import attrs

from blockfsm.machine.core import MAX_PERIOD_MS, PeerId, require, require_int
from blockfsm.machine.crypto import Signer, Verifier, require_signer
from blockfsm.machine.producer_selection import child_selector
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    BlockHash,
    ChainId,
    Height,
    ValidatorSet,
    certificate_payload,
    i64,
    u64,
)

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
    there the block producer (``machine/producer/``) makes them and the node hands the
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


def initial(config: AttesterConfig, guard: Guard | None = None) -> AttesterState:
    """A fresh attester, or one restarted from its persisted ``guard``."""
    return AttesterState(control=WAITING, guard=guard if guard is not None else Guard())
