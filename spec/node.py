"""Spec of the node (``blockfsm.machine.node``): its routing of each event to its part and its
composition of the block producer; every part, the producer included, still runs under its own spec
when the node runs under ``Conformant`` (``NodeConfig.steppers``). The attester's spec and the
safety argument are in ``blockfsm.spec.attester``; the cluster's in ``blockfsm.spec.cluster``."""

from __future__ import annotations

from typing import Any

from blockfsm.spec.attester import ROUNDS, spec_certificate_holds
from blockfsm.spec.language import (
    Invariant,
    Transition,
    define_machine,
    row,
)
from blockfsm.spec.producer_rules import block_id_of

RUNNING = "Running"
"""The node's one control state (``SPEC``)."""
# --- the node ----------------------------------------------------------------------------------

_NODE_EFFECTS = (
    "Persist*",
    "Commit*",
    "UpdateHighestCertificate*",
    "PersistGuard*",
    "PersistSigningGuard*",
    "Send*",
    "Broadcast*",
    "Rejected*",
    "Blacklisted*",
    "Observe*",
)

_OWNER = {
    "SyncRequestReceived": "server",
    "SyncResponseReceived": "client",
    "AdvertiseBlockReceived": "client",
    "AdvertiseCertificateReceived": "client",
    "ProposalReceived": "attester",
    "VoteReceived": "attester",
}


_FOLLOWS = {"attester": ("client", "producer", "slot")}
"""What a part's message may change besides that part: the attester finalizing restarts the sync
client's timeout trigger, and the attester's slot decides what the producer does."""


def routed_to_owner(t: Transition) -> bool:
    """N-1: a message changes only the part that owns it (and what follows that part)."""
    owner = _OWNER.get(type(t.event).__name__)
    if owner is None:
        return True
    follows = _FOLLOWS.get(owner, ())
    for part in ("server", "client", "attester", "producer", "slot"):
        if part == owner or part in follows:
            continue
        if getattr(t.before, part) != getattr(t.after, part):
            return False
    return True


def proposals_released_by_producer(t: Transition) -> bool:
    """N-3: every new block this node proposes (a ``Proposal`` it signed with no valid round) is
    the candidate its producer released in this step, at a slot its signing guard records; or
    the very proposal its attester's guard kept, sent again after a restart.

    Restated from the mapping in docs/node.md: the slot of (height h, round r) is its
    certificate view ``h * 2**16 + r + 1``, the producer's seq_no is h + 1, and the producer's
    block commits to the proposed block's hash as its resulting state, with no inputs. So the
    ``PersistSigningGuard`` before the broadcast records (0, slot, h + 1), and the producer's
    last released block, new in this step, is that block."""
    me = t.config.attester.signer.public_key
    guard: Any = None
    for e in t.effects:
        kind = type(e).__name__
        if kind == "PersistSigningGuard":
            guard = e.guard
        m: Any = getattr(e, "message", None)
        if kind != "Broadcast" or type(m).__name__ != "Proposal" or m.producer != me:
            continue
        if m.valid_round != -1:
            continue  # a re-proposal of an attested block, with its proof: the attester's own
        if m == t.before.attester.guard.proposal:
            continue  # sent again after a restart, as signed before it: no new signature
        b = m.block
        slot = b.height * ROUNDS + m.round + 1
        if guard is None or (0, slot, b.height + 1) not in guard.blocks:
            return False
        released = t.after.producer.last_produced
        if released is None or released == t.before.producer.last_produced:
            return False
        expected = block_id_of(b.parent_hash, b.height + 1, slot, b.hash, (), me)
        if (released.block_id, released.seq_no, released.height) != (expected, b.height + 1, slot):
            return False
    return True


def commits_are_certified(t: Transition) -> bool:
    """N-2: the node commits height h only if a verified certificate for h, or a block whose
    justify certifies h, is in hand once the step's effects apply."""
    commits = [e.height for e in t.effects if type(e).__name__ == "Commit"]
    if not commits:
        return True
    top = max(commits)
    certs = [e.certificate for e in t.effects if type(e).__name__ == "UpdateHighestCertificate"]
    certs.append(t.view.highest_certificate())
    for e in t.effects:
        if type(e).__name__ == "Persist":
            certs.append(e.block.justify)
    return any(
        c.height >= top and spec_certificate_holds(t.config.attester, c) for c in certs
    ) or any(c.height == top for c in certs if spec_certificate_holds(t.config.attester, c))


SPEC = define_machine(
    name="node",
    title="Node",
    summary="The block producer, the sync server, the sync client and the attester over one chain "
    "view: each event goes to the part that owns it; a Tick goes to the attester, the server and "
    "the client; after each attester step the node starts, releases or stops its producer.",
    states=(RUNNING,),
    initial=RUNNING,
    events=(
        "Tick",
        "SyncRequestReceived",
        "SyncResponseReceived",
        "AdvertiseBlockReceived",
        "AdvertiseCertificateReceived",
        "ProposalReceived",
        "VoteReceived",
    ),
    effects=tuple(x.rstrip("*") for x in _NODE_EFFECTS),
    rows=[
        row(
            RUNNING,
            "Tick",
            RUNNING,
            effects=_NODE_EFFECTS,
            note="attester (then the producer), server, client",
        ),
        row(RUNNING, "SyncRequestReceived", RUNNING, effects=_NODE_EFFECTS, note="sync server"),
        row(
            RUNNING,
            "SyncResponseReceived",
            RUNNING,
            effects=_NODE_EFFECTS,
            note="sync client; then Commit of the highest certified block",
        ),
        row(RUNNING, "AdvertiseBlockReceived", RUNNING, effects=_NODE_EFFECTS, note="client"),
        row(RUNNING, "AdvertiseCertificateReceived", RUNNING, effects=_NODE_EFFECTS),
        row(
            RUNNING,
            "ProposalReceived",
            RUNNING,
            effects=_NODE_EFFECTS,
            note="attester (then the producer)",
        ),
        row(
            RUNNING,
            "VoteReceived",
            RUNNING,
            effects=_NODE_EFFECTS,
            note="attester (then the producer)",
        ),
    ],
    invariants=(
        Invariant(
            id="N-1",
            statement="a message changes only the part that owns it (an attester message may "
            "also move the sync client's trigger and the producer)",
            check=routed_to_owner,
            catches="a message routed to the wrong part",
        ),
        Invariant(
            id="N-2",
            statement="the node commits only certified blocks",
            check=commits_are_certified,
            catches="a commit past what a verified certificate supports",
        ),
        Invariant(
            id="N-3",
            statement="every new block the node proposes is a candidate its producer released in "
            "that step, at a (height, round) its signing guard records (or the proposal its "
            "guard kept, sent again after a restart)",
            check=proposals_released_by_producer,
            catches="a node that proposes a block its producer did not release, or before the "
            "producer's signing guard is written",
        ),
    ),
    row_prefix="N",
)
