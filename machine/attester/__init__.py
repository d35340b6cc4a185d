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

The package: ``state`` (constants, signed payloads, config, messages, events, the signing guard
and the state), ``effects`` (every effect the attester emits), ``proposals`` and ``votes`` (what
makes one valid, and making and recording one) and ``rounds`` (``step`` and the rounds: timeouts,
proposing, attesting, confirming, finality). Every public name is imported here.
"""

from __future__ import annotations

from blockfsm.machine.attester.effects import PersistGuard
from blockfsm.machine.attester.proposals import (
    justifies_tip,
    new_block,
    proposal_refusal,
    signed_proposal,
)
from blockfsm.machine.attester.rounds import round_timeout, step, step_timeout
from blockfsm.machine.attester.state import (
    ATTEST,
    ATTEST_DOMAIN,
    ATTEST_STEP,
    ATTESTING,
    CONFIRM,
    CONFIRM_STEP,
    CONFIRMING,
    MAX_ROUND,
    PHASES,
    PROPOSAL_DOMAIN,
    PROPOSE,
    PROPOSE_STEP,
    PROPOSING,
    ROUND_WINDOW,
    ROUNDS_PER_HEIGHT,
    STEP_OF,
    STEPS,
    WAITING,
    AttesterConfig,
    AttesterState,
    Guard,
    Proposal,
    ProposalReceived,
    Vote,
    VoteReceived,
    attest_payload,
    held_blocks,
    initial,
    last_signed,
    may_sign,
    producer_for,
    proposal_payload,
    running,
    step_of,
    view_of,
    vote_payload,
)
from blockfsm.machine.attester.votes import vote_refusal

# Names this module re-exported before it became a package; kept so that every import of them
# from blockfsm.machine.attester still works.
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

__all__ = [
    "ATTEST",
    "ATTESTING",
    "ATTEST_DOMAIN",
    "ATTEST_STEP",
    "CONFIRM",
    "CONFIRMING",
    "CONFIRM_STEP",
    "MAX_PERIOD_MS",
    "MAX_ROUND",
    "MAX_U64",
    "PHASES",
    "PROPOSAL_DOMAIN",
    "PROPOSE",
    "PROPOSE_STEP",
    "PROPOSING",
    "ROUNDS_PER_HEIGHT",
    "ROUND_WINDOW",
    "STEPS",
    "STEP_OF",
    "WAITING",
    "ZERO_HASH",
    "AttesterConfig",
    "AttesterState",
    "Block",
    "BlockHash",
    "Broadcast",
    "Certificate",
    "ChainId",
    "ChainView",
    "Commit",
    "Guard",
    "Height",
    "PeerId",
    "Persist",
    "PersistGuard",
    "Proposal",
    "ProposalReceived",
    "Rejected",
    "Signer",
    "Step",
    "Tick",
    "UpdateHighestCertificate",
    "ValidatorSet",
    "Verifier",
    "Vote",
    "VoteReceived",
    "attest_payload",
    "certificate_is_valid",
    "certificate_payload",
    "child_selector",
    "held_blocks",
    "i64",
    "initial",
    "justifies_tip",
    "last_signed",
    "may_sign",
    "new_block",
    "producer_for",
    "proposal_payload",
    "proposal_refusal",
    "require",
    "require_int",
    "require_signer",
    "round_timeout",
    "running",
    "signed_proposal",
    "step",
    "step_of",
    "step_timeout",
    "u64",
    "view_of",
    "vote_payload",
    "vote_refusal",
]
