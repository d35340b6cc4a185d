"""The cluster safety properties, stated once: what the simulator (and any runner of a cluster)
holds every honest node's every step against.

Each property is a ``Monitor`` (``blockfsm.spec.language``): it is fed, in order, one
``Transition`` per step of an honest node, and remembers what it needs of the cluster's history.
What a cluster observation holds:

- ``config``: the node's ``NodeConfig`` (its key, the chain id, the validator set, the verifier
  are read from ``config.attester``);
- ``before``: the node's final height before the step (before the crash, for a restart);
- ``event``: the event the node was given, or ``Restart()`` when it came back from a crash;
- ``after``: the node's state after the step (not read here);
- ``effects``: what the step returned (the messages the node signed are read from them);
- ``view``: the node's chain once the step's writes applied.

The rules are the spec's own words: nothing here calls a function of ``blockfsm.machine`` that
decides (producer selection, certificate validity, payload bytes are restated below or in
``blockfsm.spec.signed_bytes``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from blockfsm.spec.language import Invariant, Transition
from blockfsm.spec.signed_bytes import certificate_holds

ROUNDS = 1 << 16
ZERO = bytes(32)
ATTEST, CONFIRM, PROPOSE = 0, 1, 2
"""The signing steps of one (height, round): the two votes and the proposal."""
_SHUFFLE_DOMAIN = b"blockfsm/producer-shuffle/v1\x00"
_PROPOSAL_DOMAIN = b"blockfsm/proposal/v1\x00"


def spec_producer(keepers: tuple[bytes, ...], parent: bytes, rnd: int) -> bytes:
    """The keeper at index ``rnd mod N`` of the keepers ordered by BLAKE2b(parent, key)."""
    order = sorted(
        keepers,
        key=lambda k: hashlib.blake2b(_SHUFFLE_DOMAIN + parent + k, digest_size=16).digest() + k,
    )
    return order[rnd % len(order)]


def _proposal_bytes(chain: int, height: int, rnd: int, block_hash: bytes, vr: int) -> bytes:
    return (
        _PROPOSAL_DOMAIN
        + chain.to_bytes(8, "big")
        + height.to_bytes(8, "big", signed=True)
        + rnd.to_bytes(8, "big")
        + block_hash
        + vr.to_bytes(8, "big", signed=True)
    )


FAIR_DELAY_SLACK_MS = 1_000
"""What C-L1's bound adds for message delays under the fair schedule (each at most 100 ms) and
the tick granularity (50 ms)."""


def round_timeout_ms(config: Any, rnd: int) -> int:
    """How long round ``rnd`` waits for its proposal: the base timeout plus one increment per
    round, never more than the cap (Tendermint's timeoutPropose(r), capped)."""
    return int(
        min(config.max_round_timeout, config.round_timeout + rnd * config.round_timeout_increment)
    )


def liveness_bound_ms(config: Any, keepers: int, top_round: int) -> int:
    """C-L1's bound after heal, from what the timeout cap allows (docs/node.md, "Liveness").

    ``config`` is an attester configuration (its ``round_timeout``, ``round_timeout_increment``
    and ``max_round_timeout``), ``top_round`` the highest round an honest keeper is in at heal.
    A round ends, at the latest, when its propose timeout and its two step timeouts (each half a
    round timeout) have run: twice its round timeout. The honest keepers meet in the highest
    round a quorum reached within one round (the f + 1 rule on messages repeated every step
    timeout); then within ``keepers`` rounds an honest keeper produces, and its round finalizes.
    So: ``keepers + 2`` rounds from ``top_round``, each twice its (capped) round timeout, plus
    ``FAIR_DELAY_SLACK_MS``. With the cap, the bound is at most ``(keepers + 2) * 2 * cap`` plus
    the slack whatever round the chaos left the keepers in; without a cap it grows with it."""
    rounds = range(top_round, top_round + keepers + 2)
    return sum(2 * round_timeout_ms(config, r) for r in rounds) + FAIR_DELAY_SLACK_MS


@attrs.frozen
class Restart:
    """The event of a cluster observation for a node that came back from a crash."""


def _key(t: Transition) -> bytes:
    return bytes(t.config.attester.signer.public_key)


def signed_messages(t: Transition) -> list[tuple[int, int, int, Any]]:
    """What the node signed in this step, as (height, round, step, content): its votes (step =
    phase) and its proposals (step ``PROPOSE``; the content is the block and the valid round)."""
    me = _key(t)
    out: list[tuple[int, int, int, Any]] = []
    for e in t.effects:
        m: Any = getattr(e, "message", None)
        name = type(m).__name__
        if name == "Vote" and m.voter == me:
            out.append((m.height, m.round, m.phase, m.block_hash))
        elif name == "Proposal" and m.producer == me:
            out.append((m.block.height, m.round, PROPOSE, (m.block.hash, m.valid_round)))
    return out


def _new_final(t: Transition, low: int) -> range:
    return range(max(low, 0), t.view.committed_height() + 1)


class Agreement:
    """C-1 and C-2: one final block per height across honest nodes, each on its parent."""

    def __init__(self, prefix: bool) -> None:
        self.prefix = prefix
        self.final: dict[int, bytes] = {}
        self.seen: dict[bytes, int] = {}
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        me = _key(t)
        low = min(self.seen.get(me, -1), t.before)
        view = t.view
        for h in _new_final(t, low):
            block = view.block_at(h)
            if block is None:
                continue
            known = self.final.setdefault(h, block.hash)
            if not self.prefix and known != block.hash:
                self.detail = f"two final blocks at height {h}"
                return False
            if self.prefix and h > 0 and self.final.get(h - 1) not in (None, block.parent_hash):
                self.detail = f"the final chain forks below height {h}"
                return False
        self.seen[me] = view.committed_height()
        return True


class NoRevert:
    """C-3: a node's final height never drops, and its final tip's block never changes."""

    def __init__(self) -> None:
        self.tip: dict[bytes, tuple[int, bytes]] = {}
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        if type(t.event) is Restart:
            return True  # across a crash: C-5's business
        me = _key(t)
        height = t.view.committed_height()
        old = self.tip.get(me)
        if old is not None:
            h, block_hash = old
            block = t.view.block_at(h) if h >= 0 else None
            if (
                height < h
                or (block is not None and block.hash != block_hash)
                or (h >= 0 and block is None)
            ):
                self.detail = f"final height {h} -> {height}, or its block replaced"
                return False
        tip = t.view.block_at(height) if height >= 0 else None
        self.tip[me] = (height, tip.hash if tip is not None else ZERO)
        return True


class OneMessagePerStep:
    """C-4: one signed message per (keeper, height, round, step), proposals included."""

    def __init__(self) -> None:
        self.signed: dict[tuple[bytes, int, int, int], Any] = {}
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        me = _key(t)
        for h, r, s, content in signed_messages(t):
            if self.signed.setdefault((me, h, r, s), content) != content:
                self.detail = f"two messages signed at (height, round, step) {(h, r, s)}"
                return False
        return True


class RoundsOnlyGrow:
    """C-6: within a height, a keeper never signs in a round below one it already signed in. A
    message equal to one it signed before (sent again) is no new signature."""

    def __init__(self) -> None:
        self.top: dict[tuple[bytes, int], int] = {}
        self.seen: set[tuple[bytes, int, int, int, Any]] = set()
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        me = _key(t)
        for h, r, s, content in signed_messages(t):
            if (me, h, r, s, content) in self.seen:
                continue
            self.seen.add((me, h, r, s, content))
            top = self.top.get((me, h), -1)
            if r < top:
                self.detail = f"signed in round {r} of height {h} after round {top}"
                return False
            self.top[(me, h)] = max(top, r)
        return True


def _certificate_of(view: Any, height: int) -> Any:
    """The certificate that made ``height`` final: the next block's justify, else the view's
    highest certificate when it is for that height."""
    cert = view.highest_certificate()
    if cert.height == height:
        return cert
    child = view.block_at(height + 1) if height < view.committed_height() else None
    return child.justify if child is not None and child.justify.height == height else None


class Valid:
    """C-7: a final block was proposed (signed) by the producer its (height, round) names, and a
    certificate that verifies names it."""

    memo = ("checked",)
    """Fields that only cache a verdict (a runner that snapshots the memory may leave them out)."""

    def __init__(self) -> None:
        self.proposed: set[bytes] = set()
        self.checked: set[tuple[bytes, bytes]] = set()
        self.seen: dict[bytes, int] = {}
        self.detail = ""

    def _note_proposal(self, t: Transition, p: Any) -> None:
        b = getattr(p, "block", None)
        if type(p).__name__ != "Proposal" or b is None or b.hash in self.proposed:
            return
        key = (b.hash, p.signature)
        if key in self.checked:
            return
        self.checked.add(key)
        c = t.config.attester
        try:
            keepers = tuple(k for k, _ in c.validators.members)
            parent = b.parent_hash
            if p.producer != spec_producer(keepers, parent, p.round):
                return
            payload = _proposal_bytes(c.chain_id, b.height, p.round, b.hash, p.valid_round)
            if c.verifier.verify(p.producer, payload, p.signature):
                self.proposed.add(b.hash)
        except (TypeError, ValueError, OverflowError, AttributeError):
            return

    def observe(self, t: Transition) -> bool:
        self._note_proposal(t, getattr(t.event, "proposal", None))
        for e in t.effects:
            self._note_proposal(t, getattr(e, "message", None))
        me = _key(t)
        c = t.config.attester
        low = min(self.seen.get(me, -1), t.before) + 1
        for h in _new_final(t, low):
            block = t.view.block_at(h)
            if block is None:
                continue
            if block.hash not in self.proposed:
                self.detail = f"final block at height {h} was never proposed by its producer"
                return False
            cert = _certificate_of(t.view, h)
            if cert is not None and not certificate_holds(
                cert, c.chain_id, c.validators, c.verifier
            ):
                self.detail = f"the certificate of final height {h} does not verify"
                return False
        self.seen[me] = t.view.committed_height()
        return True


class CommitOfNamedBlock:
    """C-8: the block final at a height is the one the certificate for that height names."""

    def __init__(self) -> None:
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        top = t.view.committed_height()
        for h in range(max(t.before, -1) + 1, top + 1):
            block = t.view.block_at(h)
            cert = _certificate_of(t.view, h)
            if block is None or (cert is not None and cert.block_hash != block.hash):
                self.detail = f"height {h} final on a block its certificate does not name"
                return False
        return True


class NothingLost:
    """C-5: a restarted node holds at least the final chain it held before the crash."""

    def __init__(self) -> None:
        self.top: dict[bytes, int] = {}
        self.detail = ""

    def observe(self, t: Transition) -> bool:
        me = _key(t)
        height = t.view.committed_height()
        if type(t.event) is Restart and height < max(t.before, self.top.get(me, -1)):
            self.detail = f"final height {max(t.before, self.top.get(me, -1))} -> {height}"
            return False
        self.top[me] = max(self.top.get(me, -1), height)
        return True


CLUSTER_INVARIANTS = (
    Invariant(
        id="C-1",
        statement="no two honest nodes hold different final blocks at one height",
        monitor=lambda: Agreement(prefix=False),
        catches="an attester that signs twice per height; a new-round producer that ignores an "
        "attested block; a sync client that accepts an unchecked certificate; votes of a "
        "new block's proposal counted unchecked",
    ),
    Invariant(
        id="C-2",
        statement="of any two honest nodes, one's final chain is a prefix of the other's",
        monitor=lambda: Agreement(prefix=True),
        catches="forks below the tip",
    ),
    Invariant(
        id="C-3",
        statement="an honest node's finality never reverts (final height and blocks only grow)",
        monitor=NoRevert,
        catches="a store that replaces committed blocks",
    ),
    Invariant(
        id="C-4",
        statement="no honest keeper signs two different messages for one (height, round, step), "
        "the steps being attest, confirm and propose",
        monitor=OneMessagePerStep,
        catches="a guard not persisted, or forgotten on restart; a signed proposal nothing "
        "durable records",
    ),
    Invariant(
        id="C-5",
        statement="nothing final is lost across a crash-restart",
        monitor=NothingLost,
        catches="a node that forgets its persisted final chain on restart",
    ),
    Invariant(
        id="C-6",
        statement="no honest keeper signs in a round below one it already signed in at that "
        "height, across restarts",
        monitor=RoundsOnlyGrow,
        catches="a restarted keeper back at round 0 that votes below a round it voted in",
    ),
    Invariant(
        id="C-7",
        statement="a final block was proposed by the producer of its (height, round) and a "
        "certificate that verifies makes it final",
        monitor=Valid,
        catches="forged votes counted toward finality; a block nobody proposed made final",
    ),
    Invariant(
        id="C-8",
        statement="a commit is of the block its certificate names",
        monitor=CommitOfNamedBlock,
        catches="a commit of the block at a height other than the certified one",
    ),
)
"""The cluster safety invariants, in the order the simulator checks them."""
