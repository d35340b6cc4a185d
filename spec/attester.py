"""Spec of the attester (``blockfsm.machine.attester``): two-phase finality per height, Tendermint's
algorithm with a durable signing guard.

the node's design):

**Rule.** Block B at height h is final when a quorum (power >= floor(2 total / 3) + 1) of keepers
confirmed B at (h, r) for some round r. Its confirmations are the ``Certificate`` (view
``h * 2**16 + r + 1``) that the next block carries as ``justify`` and that block sync verifies.

**Why two honest nodes never finalize different blocks at one height** (f < N/3 Byzantine power):

1. Two quorums intersect in more than f power, so in at least one honest keeper.
2. An honest keeper signs at most one attestation and one confirmation per (h, r), and only in
   increasing (round, step) order at a height, across crashes: its persisted guard's last
   (round, step) is checked before every signature, proposals included (A-6), and a restarted
   keeper resumes at that round. So two different blocks cannot both gather an attestation
   quorum, nor a confirmation quorum, in one round, and point 3's locks are in place before
   anything it signs in a later round. A vote counts only with its own valid signature: a
   proposal's proof counts only for a re-proposal whose proof verified, and a new block's
   proposal carries none.
3. Suppose B is final by confirmations of round r. Those confirmers hold more than f honest power,
   each locked on B at round r (it confirmed only after seeing an attestation quorum for B at r).
   In a round r' > r such a keeper attests B' != B only given a proof of an attestation quorum for
   B' at a round r'' with lock round <= r'' < r'. By induction on r' no such quorum exists for any
   r'' >= r: at r by point 2, and above r because the locked keepers (more than f honest power)
   attest only B, leaving B' short of a quorum. Without an attestation quorum for B' no honest
   keeper confirms B', so B' never gathers a confirmation quorum at any round >= r, nor (point 2)
   at r, nor below r by the symmetric argument applied to B' being final first.
4. Block sync only accepts blocks whose ``justify`` chain and highest certificate verify against
   the keeper set, i.e. blocks made final by the rule above; so sync cannot make a different
   block final either, and a final block is never replaced (the store refuses to rewrite
   committed history).

**Liveness** (after heal, with an honest quorum connected and a fair schedule): round timeouts
grow with the round up to ``max_round_timeout``, so eventually a round lasts longer than the
network delay (the cap must exceed what a round needs); nil attestations of rounds that time out
and the f + 1 rule bring the honest keepers into one round; within N rounds
an honest keeper is producer; if any honest keeper is locked, an honest producer that saw the
same attestation quorum re-proposes its valid block with that proof, which every locked keeper
accepts, so all honest keepers attest, confirm, and finalize in that round. A keeper that missed
the round catches up by block sync (certificates are advertised every ``advertise_time``).
"""

from __future__ import annotations

import struct
from typing import Any

from blockfsm.machine.core import Broadcast
from blockfsm.machine.types import (
    CERTIFICATE_DOMAIN,
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
)
from blockfsm.spec.cluster_rules import spec_producer
from blockfsm.spec.language import (
    Invariant,
    Transition,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)
from blockfsm.spec.signed_bytes import certificate_holds, header_hash

WAITING = "Waiting"
PROPOSE, ATTEST, CONFIRM = "Propose", "Attest", "Confirm"
STEPS = (PROPOSE, ATTEST, CONFIRM)
"""A running attester's control states: Tendermint's steps of its round (the paper's propose,
prevote and precommit). It is at propose until it signs an attestation in the round, at attest
until it signs a confirmation there, then at confirm; a new round or height starts at propose."""
ROUNDS = 1 << 16
WINDOW = 8
"""Rounds r .. r + WINDOW of our height are followed; proposals and votes further ahead wait."""
_ATTEST_DOMAIN = b"blockfsm/attest/v1\x00"

# --- the spec's own statement of the attester's rules ------------------------------------------


def _u64b(x: int) -> bytes:
    return x.to_bytes(8, "big")


def _i64b(x: int) -> bytes:
    return x.to_bytes(8, "big", signed=True)


def spec_vote_bytes(phase: int, chain: int, height: int, rnd: int, block_hash: bytes) -> bytes:
    """Attestations sign the attest domain; confirmations sign the certificate payload."""
    if phase == 0:
        return _ATTEST_DOMAIN + _u64b(chain) + _i64b(height) + _u64b(rnd) + block_hash
    view = height * ROUNDS + rnd + 1
    return CERTIFICATE_DOMAIN + _u64b(chain) + _u64b(view) + _i64b(height) + block_hash


def _is_int(x: object, low: int, high: int) -> bool:
    return type(x) is int and low <= x <= high


def classify_tick(c: Any, s: Any, e: Any, v: Any) -> str:
    now = e.now
    return "valid" if _is_int(now, 0, MAX_U64) and now >= s.now else "clock_regressed"


def classify_vote(c: Any, s: Any, e: Any, v: Any) -> str:
    vote = e.vote
    fields = ("phase", "chain_id", "height", "round", "block_hash", "voter", "signature")
    if type(vote).__name__ != "Vote" or any(not hasattr(vote, f) for f in fields):
        return "malformed_vote"
    if not (
        vote.phase in (0, 1)
        and type(vote.phase) is int
        and _is_int(vote.chain_id, -(2**70), 2**70)
        and _is_int(vote.height, 0, MAX_U64)
        and _is_int(vote.round, 0, ROUNDS - 1)
        and type(vote.block_hash) is bytes
        and type(vote.voter) is bytes
        and type(vote.signature) is bytes
    ):
        return "malformed_vote"
    if vote.chain_id != c.chain_id:
        return "wrong_chain"
    if vote.voter not in c.validators:
        return "not_a_keeper"
    if s.control == WAITING or vote.height != s.height:
        return "elsewhere"
    # Below our round only confirmations of the last WINDOW rounds still matter (a late quorum
    # finalizes); at and above it everything is counted, or kept for the f + 1 rule.
    if vote.round < s.round and not (vote.phase == 1 and vote.round >= s.round - WINDOW):
        return "elsewhere"
    payload = spec_vote_bytes(vote.phase, c.chain_id, vote.height, vote.round, vote.block_hash)
    if not c.verifier.verify(vote.voter, payload, vote.signature):
        return "bad_signature"
    if vote.round > s.round + WINDOW:
        for w in s.ahead:
            if w.voter == vote.voter and w.round >= vote.round:
                return "duplicate"
        return "counted"
    for w in s.votes:
        if (w.voter, w.round, w.phase) == (vote.voter, vote.round, vote.phase):
            return "duplicate"
    return "counted"


_PROPOSAL_DOMAIN = b"blockfsm/proposal/v1\x00"
PROPOSAL_RULES = (
    "malformed_proposal",
    "wrong_chain",
    "unknown_parent",
    "wrong_producer",
    "bad_signature",
    "bad_block_hash",
    "bad_proof",
)
"""The attester's proposal checks, in the order they are applied; each refuses with its name."""


def spec_proposal_bytes(chain: int, height: int, rnd: int, block_hash: bytes, vr: int) -> bytes:
    """A producer signs the chain, (height, round), the block's hash and the valid round."""
    return _PROPOSAL_DOMAIN + _u64b(chain) + _i64b(height) + _u64b(rnd) + block_hash + _i64b(vr)


def _tip_hash(v: Any, height: int) -> bytes:
    """The hash of the final block below ``height`` (the all-zero hash below height 0)."""
    if height == 0:
        return ZERO_HASH
    tip = v.block_at(height - 1)
    return tip.hash if tip is not None else ZERO_HASH


def _justifies(c: Any, justify: Certificate, height: int, parent: bytes) -> bool:
    """``justify`` certifies the final block below ``height``: the genesis certificate of our
    chain at height 0, otherwise a valid certificate for that block's (height, hash)."""
    if height == 0:
        return (
            justify.chain_id == c.chain_id
            and justify.view == 0
            and justify.height == -1
            and justify.block_hash == ZERO_HASH
            and justify.signatures == ()
        )
    return (
        justify.height == height - 1
        and justify.block_hash == parent
        and certificate_holds(justify, c.chain_id, c.validators, c.verifier)
    )


def _proof_is_a_quorum(c: Any, p: Any) -> bool:
    """A re-proposal's proof: attestations of distinct keepers for this block at the valid round,
    each signature valid, of quorum power."""
    members: dict[bytes, int] = dict(c.validators.members)
    b = p.block
    seen: set[bytes] = set()
    for vote in p.proof:
        if type(vote).__name__ != "Vote" or type(vote.voter) is not bytes:
            return False
        if vote.voter in seen or vote.voter not in members:
            return False
        if (vote.phase, vote.height, vote.round, vote.block_hash) != (
            0,
            b.height,
            p.valid_round,
            b.hash,
        ):
            return False
        payload = spec_vote_bytes(0, c.chain_id, b.height, p.valid_round, b.hash)
        if type(vote.signature) is not bytes or not c.verifier.verify(
            vote.voter, payload, vote.signature
        ):
            return False
        seen.add(vote.voter)
    return sum(members[k] for k in seen) >= 2 * sum(members.values()) // 3 + 1


def _well_formed(p: Any) -> bool:
    b = getattr(p, "block", None)
    if type(p).__name__ != "Proposal" or type(b) is not Block:
        return False
    return (
        _is_int(p.round, 0, ROUNDS - 1)
        and type(p.valid_round) is int
        and (p.valid_round == -1 or 0 <= p.valid_round < p.round)
        and type(p.proof) is tuple
        and type(p.producer) is bytes
        and type(p.signature) is bytes
        and type(b.height) is int
        and type(b.hash) is bytes
        and type(b.parent_hash) is bytes
        and type(b.payload) is bytes
        and type(b.chain_id) is int
        and type(b.justify) is Certificate
    )


def classify_proposal(c: Any, s: Any, e: Any, v: Any) -> str:
    """A proposal for our height is checked rule by rule (``PROPOSAL_RULES``, in that order) and
    refused by the first rule it breaks; a valid one more than ``WINDOW`` rounds ahead waits."""
    p = e.proposal
    if s.control == WAITING:
        return "waiting"
    block = getattr(p, "block", None)
    if type(p).__name__ == "Proposal" and type(block) is Block and block.height != s.height:
        return "elsewhere"
    if not _well_formed(p):
        return "malformed_proposal"
    b = p.block
    if b.chain_id != c.chain_id:
        return "wrong_chain"
    parent = _tip_hash(v, b.height)
    if b.parent_hash != parent or not _justifies(c, b.justify, b.height, parent):
        return "unknown_parent"
    keepers = tuple(k for k, _ in c.validators.members)
    if spec_producer(keepers, parent, p.round) != p.producer:
        return "wrong_producer"
    payload = spec_proposal_bytes(c.chain_id, b.height, p.round, b.hash, p.valid_round)
    if not c.verifier.verify(p.producer, payload, p.signature):
        return "bad_signature"
    try:
        hash_holds = header_hash(b) == b.hash
    except (TypeError, ValueError, OverflowError, struct.error):
        hash_holds = False
    if not hash_holds:
        return "bad_block_hash"
    if p.valid_round == -1 and len(p.proof) > 0:
        return "bad_proof"  # a new block comes without votes: none may count unverified
    if p.valid_round >= 0 and not _proof_is_a_quorum(c, p):
        return "bad_proof"
    if not s.round - WINDOW <= p.round <= s.round + WINDOW:
        return "ahead"
    return "valid"


_PROPOSAL_RULE_TEXT = {
    "malformed_proposal": "a field has the wrong type, or the round or valid round is out of range",
    "wrong_chain": "the block is for another chain",
    "unknown_parent": "the parent is not our final tip, or justify does not certify it",
    "wrong_producer": "the producer is not the one the selector names for the round",
    "bad_signature": "the producer's signature does not verify",
    "bad_block_hash": "the block's hash is not the hash of its header",
    "bad_proof": "a new block's proposal with a proof, or a re-proposal whose proof is not a "
    "quorum of valid attestations",
}


_ATT_EFFECTS = ("Persist?", "Commit?", "UpdateHighestCertificate?", "PersistGuard*", "Broadcast*")


_STEP_NOTES = {
    ("Tick", PROPOSE): (
        ATTEST,
        "timeoutPropose (line 57): attest nil; or the round's kept proposal attested (line "
        "22); or a round jump (f + 1, line 55), a new height, votes in hand; then our proposal",
    ),
    ("Tick", ATTEST): (
        CONFIRM,
        "timeoutPrevote (line 61): confirm nil; or a round jump, votes in hand",
    ),
    ("Tick", CONFIRM): (
        PROPOSE,
        "timeoutPrecommit (line 65): the next round, at propose; or a round jump",
    ),
    ("ProposalReceived", PROPOSE): (
        ATTEST,
        "kept, one per round; in our round attested, the block or nil as the lock allows (lines "
        "22, 28); a later round's waits: one proposal never moves a keeper",
    ),
    ("ProposalReceived", ATTEST): (
        CONFIRM,
        "the block of an attestation quorum in hand: lock it and confirm (line 36)",
    ),
    ("ProposalReceived", CONFIRM): (
        PROPOSE,
        "the block of a confirmation quorum in hand: final (line 49), the next height at propose",
    ),
    ("VoteReceived", PROPOSE): (
        PROPOSE,
        "counted; f + 1 keepers in a higher round: skip to it (line 55); a quorum of "
        "confirmations: final (line 49); beyond r + 8 kept, one per keeper, for the f + 1 rule",
    ),
    ("VoteReceived", ATTEST): (
        CONFIRM,
        "counted; an attestation quorum for the kept block: lock and confirm (line 36), for nil: "
        "confirm nil (line 44); attestations of a quorum start timeoutPrevote (line 34)",
    ),
    ("VoteReceived", CONFIRM): (
        PROPOSE,
        "counted; a confirmation quorum for a held block: final (line 49), the next height; "
        "confirmations of a quorum start timeoutPrecommit (line 47)",
    ),
}
"""Each running step's transition rows: the step the paper's rule for that event leads to (the
one the diagram draws), and what the rule is. The step a keeper ends in also depends on the
votes and proposals in hand (one event can attest, confirm and finalize), so every such row
allows each step (``also``); A-7 ties the control state to what the keeper signed."""


def _attester_rows() -> list[Any]:
    rows: list[Any] = []
    valid_tick = classified(classify_tick, "valid", "now is a u64 and not before our clock")
    every = (WAITING, *STEPS)
    rows.append(
        row(
            WAITING,
            "Tick",
            PROPOSE,
            guard=valid_tick,
            effects=_ATT_EFFECTS,
            note="at the final tip: round 0 at propose, or, restarted, the last round it signed "
            "in at the step it signed last",
            also=STEPS,
        )
    )
    for src in STEPS:
        target, note = _STEP_NOTES[("Tick", src)]
        rows.append(
            row(src, "Tick", target, guard=valid_tick, effects=_ATT_EFFECTS, note=note, also=STEPS)
        )
    rows.append(
        reject(
            every,
            "Tick",
            "clock_regressed",
            guard=classified(classify_tick, "clock_regressed", "now is not a u64 or regressed"),
        )
    )
    for reason in ("malformed_vote", "wrong_chain", "not_a_keeper"):
        rows.append(
            reject(every, "VoteReceived", reason, guard=classified(classify_vote, reason, reason))
        )
    rows.append(
        ignore(
            WAITING,
            "VoteReceived",
            guard=classified(classify_vote, "elsewhere", "not running yet"),
        )
    )
    rows.append(ignore(WAITING, "ProposalReceived", note="not running yet: no height"))
    rows.append(
        ignore(
            STEPS,
            "VoteReceived",
            guard=classified(
                classify_vote,
                "elsewhere",
                "another height, or a round below r (a confirmation: below r - 8)",
            ),
        )
    )
    rows.append(
        reject(
            STEPS,
            "VoteReceived",
            "bad_signature",
            guard=classified(classify_vote, "bad_signature", "the signature does not verify"),
        )
    )
    rows.append(
        ignore(
            STEPS,
            "VoteReceived",
            guard=classified(
                classify_vote,
                "duplicate",
                "this keeper already voted there (beyond r + 8: no higher than its kept vote)",
            ),
        )
    )
    rows.append(
        ignore(
            STEPS,
            "ProposalReceived",
            guard=classified(classify_proposal, "elsewhere", "a proposal for another height"),
        )
    )
    for reason in PROPOSAL_RULES:
        rows.append(
            reject(
                STEPS,
                "ProposalReceived",
                reason,
                guard=classified(classify_proposal, reason, _PROPOSAL_RULE_TEXT[reason]),
            )
        )
    rows.append(
        ignore(
            STEPS,
            "ProposalReceived",
            guard=classified(classify_proposal, "ahead", "valid, but more than 8 rounds from ours"),
        )
    )
    for src in STEPS:
        for event, guard in (
            ("VoteReceived", classified(classify_vote, "counted", "a new valid vote")),
            (
                "ProposalReceived",
                classified(classify_proposal, "valid", "a valid proposal for our height"),
            ),
        ):
            target, note = _STEP_NOTES[(event, src)]
            rows.append(
                row(src, event, target, guard=guard, effects=_ATT_EFFECTS, note=note, also=STEPS)
            )
    return rows


# --- attester invariants -----------------------------------------------------------------------


class OneVotePerRound:
    """A-1: this keeper never broadcasts two different votes for one (height, round, phase)."""

    def __init__(self) -> None:
        self.signed: dict[tuple[int, int, int], bytes] = {}

    def observe(self, t: Transition) -> bool:
        me = t.config.signer.public_key
        for e in t.effects:
            m: Any = getattr(e, "message", None)
            if type(e) is Broadcast and type(m).__name__ == "Vote" and m.voter == me:
                key = (m.height, m.round, m.phase)
                if self.signed.setdefault(key, m.block_hash) != m.block_hash:
                    return False
        return True


def guard_before_vote(t: Transition) -> bool:
    """A-2: every own vote broadcast is covered by a PersistGuard earlier in the same step, or
    was already in the guard when the step began (a vote sent again)."""
    before: Any = getattr(t.before, "guard", None)
    covered: set[tuple[int, int, bytes]] = set(before.signed) if before is not None else set()
    for e in t.effects:
        if type(e).__name__ == "PersistGuard":
            covered |= set(e.guard.signed)
        m: Any = getattr(e, "message", None)
        if type(e) is Broadcast and type(m).__name__ == "Vote":
            if (m.round, m.phase, m.block_hash) not in covered:
                return False
    return True


def confirms_not_below_lock(t: Transition) -> bool:
    """A-5: a keeper never confirms in a round below the lock round it held when the step began
    (restarted, it is back at round 0 with the lock of a later round: point 2 above)."""
    guard: Any = getattr(t.before, "guard", None)
    if guard is None:
        return True
    me = t.config.signer.public_key
    for e in t.effects:
        m: Any = getattr(e, "message", None)
        if type(e) is Broadcast and type(m).__name__ == "Vote" and m.phase == 1 and m.voter == me:
            if (m.round, m.phase, m.block_hash) in guard.signed:
                continue  # sent again, as signed before the lock
            if m.height == guard.height and m.round < guard.locked_round:
                return False
    return True


_STEP = {2: 0, 0: 1, 1: 2}
"""Guard phase -> Tendermint step within a round: proposal (2) < attest (0) < confirm (1)."""


def _last_signed(guard: Any) -> tuple[int, int]:
    return max(((r, _STEP[p]) for r, p, _ in guard.signed), default=(-1, -1))


def control_is_the_step(t: Transition) -> bool:
    """A-7: after every step of a running keeper, its control state names the step its guard
    says it is at in its (height, round): the last thing it signed there (a proposal is still
    the propose step)."""
    after: Any = t.after
    if after.control == WAITING:
        return True
    guard = after.guard
    last_round, last_step = _last_signed(guard)
    if guard.height != after.height or last_round != after.round:
        return bool(after.control == PROPOSE)
    return bool(after.control == STEPS[last_step])


def signs_only_forward(t: Transition) -> bool:
    """A-6: every vote and proposal a keeper signs in a step is at its guard's height and at a
    (round, step) above the last it had signed there when the step began, and above the one
    before it in the step (CometBFT privval's height/round/step rule). Sending again the
    proposal the guard already holds is not a new signature."""
    before: Any = getattr(t.before, "guard", None)
    if before is None:
        return True
    me = t.config.signer.public_key
    last = _last_signed(before)
    height = getattr(t.before, "height", before.height)
    for e in t.effects:
        m: Any = getattr(e, "message", None)
        if type(e) is not Broadcast:
            continue
        kind = type(m).__name__
        if kind == "Proposal" and m.producer == me:
            if m == before.proposal or (
                m.block.height == before.height and (m.round, 2, m.block.hash) in before.signed
            ):
                continue
            at = (m.round, 0)
            h = m.block.height
        elif kind == "Vote" and m.voter == me:
            if m.height == before.height and (m.round, m.phase, m.block_hash) in before.signed:
                continue  # sent again, as signed before
            at = (m.round, _STEP[m.phase])
            h = m.height
        else:
            continue
        if before.height == h and at <= last:
            return False
        if before.height == h == height:
            last = at
    return True


def spec_certificate_holds(c: Any, cert: Certificate) -> bool:
    """A quorum of distinct keepers' confirmations that verify (genesis: the all-zero certificate
    of view 0, height -1, no signatures). Stated here, from the validator set's members."""
    if cert.view == 0 and cert.height == -1 and cert.block_hash == ZERO_HASH:
        return len(cert.signatures) == 0
    members: dict[bytes, int] = dict(c.validators.members)
    seen: set[bytes] = set()
    power = 0
    rnd = cert.view - cert.height * ROUNDS - 1
    payload = spec_vote_bytes(1, cert.chain_id, cert.height, rnd, cert.block_hash)
    for key, sig in cert.signatures:
        if key in seen or key not in members or not c.verifier.verify(key, payload, sig):
            return False
        seen.add(key)
        power += members[key]
    return power >= 2 * sum(members.values()) // 3 + 1


def final_has_quorum(t: Transition) -> bool:
    """A-3: a block the attester makes final carries a quorum certificate of confirmations."""
    for e in t.effects:
        if type(e).__name__ == "UpdateHighestCertificate" and not spec_certificate_holds(
            t.config, e.certificate
        ):
            return False
    return True


def only_keepers_vote(t: Transition) -> bool:
    """A-4: a node whose key is not in the validator set never signs a vote (or a proposal)."""
    me = t.config.signer.public_key
    if me in dict(t.config.validators.members):
        return True
    for e in t.effects:
        m: Any = getattr(e, "message", None)
        if type(e) is Broadcast and type(m).__name__ in ("Vote", "Proposal"):
            return False
    return not any(type(e).__name__ == "PersistGuard" and e.guard.signed for e in t.effects)


SPEC = define_machine(
    name="attester",
    title="Attester",
    summary="Two-phase (attest, confirm) finality per (height, round) with locks, rotation by the "
    "producer selector and re-proposal of an attested block.",
    states=(WAITING, *STEPS),
    initial=WAITING,
    events=("Tick", "ProposalReceived", "VoteReceived"),
    effects=(
        "Persist",
        "Commit",
        "UpdateHighestCertificate",
        "PersistGuard",
        "Broadcast",
        "Rejected",
    ),
    rows=_attester_rows(),
    invariants=(
        Invariant(
            id="A-1",
            statement="a keeper never signs two different blocks for one (height, round, phase)",
            monitor=OneVotePerRound,
            catches="an attester that signs twice per height or round (equivocation)",
        ),
        Invariant(
            id="A-2",
            statement="every vote sent is in a PersistGuard emitted before it in the same step",
            check=guard_before_vote,
            catches="a guard written after the vote: a crash in between forgets the vote",
        ),
        Invariant(
            id="A-3",
            statement="a block made final carries a quorum certificate of confirmations",
            check=final_has_quorum,
            catches="finalizing on attestations, or on less than a quorum",
        ),
        Invariant(
            id="A-4",
            statement="a node whose key is not in the validator set never signs a vote",
            check=only_keepers_vote,
            catches="a non-validator that attests or confirms",
        ),
        Invariant(
            id="A-5",
            statement="a keeper never confirms in a round below its lock round",
            check=confirms_not_below_lock,
            catches="a restarted keeper (back at round 0) confirming, from old messages, a block "
            "of an earlier round than its lock: two finality quorums can then meet in it alone",
        ),
        Invariant(
            id="A-6",
            statement="a keeper signs votes and proposals only above the last (round, step) it "
            "signed at the height, across restarts",
            check=signs_only_forward,
            catches="a restarted keeper that attests or confirms in a round below one it "
            "signed (two finality quorums can meet in it), or a producer that signs a second "
            "proposal for its slot",
        ),
        Invariant(
            id="A-7",
            statement="a running keeper's control state is its step in its round: propose until "
            "it signed an attestation there, attest until it signed a confirmation, then confirm",
            check=control_is_the_step,
            catches="a diagram that says nothing of the protocol: a control state that drifts "
            "from what the keeper signed, or a step that goes back within a round",
        ),
    ),
    row_prefix="A",
)
