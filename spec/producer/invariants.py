"""The producer's safety invariants, PB-1 to PB-12: the checks and monitors ``INVARIANTS``
declares, run after every step of every campaign.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.producer_view import BlockRef
from blockfsm.spec.language import Invariant, Transition
from blockfsm.spec.producer.classify import IDLE, STOPPED, counted_votes, keeper_set_valid
from blockfsm.spec.producer_rules import (
    candidate_bytes,
    derived_selector,
    is_u64,
    named_by,
    next_round_quorum,
    next_round_success_bytes,
)

PRODUCTION = frozenset(
    {
        "StartExecutor",
        "BuildBlock",
        "SendToSelf",
        "BroadcastCandidate",
        "BroadcastNextRoundSuccess",
        "SaveOptimisticState",
        "ExternalMessageFeedback",
        "PersistSigningGuard",
        "RebroadcastCandidate",
    }
)


def _named(t: Transition, name: str) -> list[Any]:
    return [e for e in t.effects if type(e).__name__ == name]


def _candidates(t: Transition) -> list[Any]:
    return [e.candidate for e in _named(t, "BroadcastCandidate")]


class NothingWithoutStart:
    """Ghost session flag, kept from the events and the executor effects alone."""

    def __init__(self) -> None:
        self.active = False

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        produces = any(n in PRODUCTION for n in names)
        if event == "Start" and ({"StartExecutor", "RebroadcastCandidate"} & set(names)):
            ok = True
        elif event in ("Stop", "Restarted"):
            ok = not produces
        else:
            ok = not produces or self.active
        if event in ("Stop", "Restarted"):
            self.active = False
        elif "StartExecutor" in names:
            self.active = True
        elif "StopExecutor" in names:
            self.active = False
        return ok


def above_finalized(t: Transition) -> bool:
    final = t.view.last_finalized().seq_no
    return all(c.block.seq_no > final for c in _candidates(t))


class SignedOnlyInKeeperSet:
    def __init__(self) -> None:
        self.epoch = -1
        self.in_set: bool | None = None

    def observe(self, t: Transition) -> bool:
        key = t.config.signer.public_key
        if type(t.event).__name__ == "KeeperSetChanged":
            keepers = t.event.keepers
            if keeper_set_valid(keepers) and keepers.epoch > self.epoch:
                self.epoch = keepers.epoch
                self.in_set = key in keepers.members
        signed = (
            _named(t, "BroadcastCandidate")
            + _named(t, "SendToSelf")
            + _named(t, "BroadcastNextRoundSuccess")
        )
        if not signed:
            return True
        return bool(key in t.view.keeper_set().members and self.in_set is not False)


class OnlySelectedProducerSigns:
    """Restates selection: a session's first block on the Start's parent is that parent's
    selector moved by the Start's round; every later block keeps its parent's selector; the
    resulting (seed, index) over the view's keeper set names us. A Start with a round > 0 that
    announces a takeover is held to the same rule for its first block."""

    def __init__(self) -> None:
        self.first_parent: bytes | None = None
        self.first_rounds = 0
        self.signed_in_session = False

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        for e in t.effects:
            if type(e).__name__ == "StartExecutor":
                if event == "Start":
                    p = t.event.params
                    before = t.before
                    fresh = not (before.last_produced is not None and before.params == p)
                    self.first_parent = e.parent.block_id
                    self.first_rounds = p.round if fresh else 0
                    self.signed_in_session = False
                elif self.signed_in_session:
                    self.first_parent = None
        me = t.config.signer.public_key
        keepers = t.view.keeper_set()
        n = len(keepers.members)
        for c in _candidates(t):
            parent = t.view.block(c.block.parent_id)
            if parent is None:
                return False
            first = not self.signed_in_session and c.block.parent_id == self.first_parent
            rounds = self.first_rounds if first else 0
            seed, index = derived_selector(parent.selector, keepers.seed, n, rounds)
            if (c.selector.seed, c.selector.index) != (seed, index):
                return False
            if named_by(keepers.members, seed, index) != me or c.block.producer != me:
                return False
            self.signed_in_session = True
        return True


def signatures_authentic(t: Transition) -> bool:
    signer = t.config.signer
    for c in _candidates(t) + [e.candidate for e in _named(t, "SendToSelf")]:
        payload = candidate_bytes(c.block, c.round, c.selector.seed, c.selector.index, c.fallback)
        if c.signature != signer.sign(payload):
            return False
    for e in _named(t, "BroadcastNextRoundSuccess"):
        a = e.announcement
        if a.producer != signer.public_key or a.signature != signer.sign(
            next_round_success_bytes(a.round, a.parent_id, a.producer)
        ):
            return False
    return True


class OneAnnouncementPerRound:
    """At most one NextRoundSuccess per (round, parent height) in a run, crashes included, and
    each backed by ceil((N+1)/2) distinct keepers' valid votes in the Start that made it."""

    def __init__(self) -> None:
        self.announced: dict[tuple[int, int], bytes] = {}

    def observe(self, t: Transition) -> bool:
        for e in _named(t, "BroadcastNextRoundSuccess"):
            if type(t.event).__name__ != "Start":
                return False
            p = t.event.params
            a = e.announcement
            if (a.round, a.parent_id) != (p.round, p.parent_id):
                return False
            key = (a.round, p.parent_height)
            if key in self.announced:
                return False
            self.announced[key] = a.parent_id
            members = t.view.keeper_set().members
            voters, _ = counted_votes(t.config, p, members)
            if len(voters) < next_round_quorum(len(members)):
                return False
        return True


def guard_persisted_first(t: Transition) -> bool:
    """Every signature released in a step comes after a PersistSigningGuard whose guard already
    records it: the block's (round, height) or the announcement's (round, parent)."""
    stored: Any = None
    for e in t.effects:
        kind = type(e).__name__
        if kind == "PersistSigningGuard":
            stored = e.guard
        elif kind == "BroadcastCandidate" or kind == "SendToSelf":
            c = e.candidate
            if stored is None or not any(
                r == c.round and h == c.block.height for r, h, _ in stored.blocks
            ):
                return False
        elif kind == "BroadcastNextRoundSuccess":
            a = e.announcement
            if stored is None or not any(
                r == a.round and i == a.parent_id for r, _, i in stored.announced
            ):
                return False
    return True


class OneChainPerSession:
    """Restates the continuation rule and follows each session's chain of broadcasts."""

    def __init__(self) -> None:
        self.params: Any = None
        self.last_produced: BlockRef | None = None
        self.expected: BlockRef | None = None

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        if event == "Restarted":
            self.params = self.last_produced = self.expected = None
            return True
        if event == "Start" and "StartExecutor" in names:
            p = t.event.params
            if self.last_produced is not None and self.params == p:
                self.expected = self.last_produced
            else:
                self.last_produced = None
                self.expected = BlockRef(
                    block_id=p.parent_id, seq_no=p.parent_seq_no, height=p.parent_height
                )
            self.params = p
        elif event == "Start" and t.after.control == IDLE and t.before.control != IDLE:
            self.params = self.last_produced = self.expected = None
        ok = True
        for c in _candidates(t):
            e = self.expected
            b = c.block
            if e is None or not (
                b.parent_id == e.block_id and b.seq_no == e.seq_no + 1 and b.height == e.height + 1
            ):
                ok = False
            self.expected = self.last_produced = b.ref
        if t.after.control == STOPPED and event != "Stop" and t.before.control != STOPPED:
            self.last_produced = None
        return ok


class BroadcastOnceOrDiscarded:
    """A ledger of accepted builds: each leaves the buffer broadcast once (lowest seq_no first)
    or discarded with its messages restored; only a restart may lose it. The executor is
    deterministic, so a later session may build an identical block again: that is a new build."""

    def __init__(self) -> None:
        self.buffered: dict[bytes, Any] = {}

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        names = [type(e).__name__ for e in t.effects]
        if event == "Restarted":
            self.buffered.clear()
        if event == "BlockBuilt" and not ({"Rejected", "RestoreMessages"} & set(names)):
            b = t.event.block
            if b.block_id in self.buffered:
                return False
            self.buffered[b.block_id] = b
        for e in t.effects:
            kind = type(e).__name__
            if kind == "BroadcastCandidate":
                b = e.candidate.block
                if self.buffered.get(b.block_id) != b:
                    return False
                if any(o.seq_no < b.seq_no for o in self.buffered.values()):
                    return False
                del self.buffered[b.block_id]
            elif kind == "RestoreMessages":
                if event == "BlockBuilt" and e.block_id == t.event.block.block_id:
                    if e.messages != t.event.block.inputs:
                        return False
                    continue
                b = self.buffered.pop(e.block_id, None)
                if b is None or e.messages != b.inputs:
                    return False
        return set(self.buffered) == {b.block_id for b in t.after.buffer}


class OneSignaturePerHeightRound:
    def __init__(self) -> None:
        self.signed: set[tuple[int, int]] = set()

    def observe(self, t: Transition) -> bool:
        for c in _candidates(t):
            key = (c.block.height, c.round)
            if key in self.signed:
                return False
            self.signed.add(key)
        return True


class SavedAtBoundaries:
    def __init__(self) -> None:
        self.sync_at = -1

    def observe(self, t: Transition) -> bool:
        event = type(t.event).__name__
        if event == "Restarted":
            self.sync_at = -1
        if event == "StateSyncRequested" and is_u64(t.event.seq_no):
            self.sync_at = t.event.seq_no
        saves = _named(t, "SaveOptimisticState")
        expected = []
        for c in _candidates(t):
            b = c.block
            if b.seq_no % t.config.save_state_frequency == 0:
                expected.append((b.block_id, b.seq_no, "frequency"))
            if self.sync_at >= 0 and b.seq_no >= self.sync_at:
                expected.append((b.block_id, b.seq_no, "state_sync"))
                self.sync_at = -1
        return [(s.block_id, s.seq_no, s.reason) for s in saves] == expected


def buffer_capped(t: Transition) -> bool:
    return bool(len(t.after.buffer) <= t.config.buffer_cap)


INVARIANTS = (
    Invariant(
        id="PB-1",
        statement="nothing is built, signed, broadcast or saved without an accepted Start, nor "
        "after Stop, an abort or a restart until the next accepted Start",
        monitor=NothingWithoutStart,
        catches="production without a command; upstream has no Stop, so production could not be "
        "halted; production resuming by itself after a restart",
    ),
    Invariant(
        id="PB-2",
        statement="every broadcast block's seq_no is above the last finalized seq_no",
        check=above_finalized,
        catches="producing at or below finality (a fork of finalized history)",
    ),
    Invariant(
        id="PB-3",
        statement="nothing is signed unless we are in the view's keeper set and our latest known "
        "keeper set does not exclude us",
        monitor=SignedOnlyInKeeperSet,
        catches="signing after leaving the block keeper set (AbortNotInBKSet ignored)",
    ),
    Invariant(
        id="PB-4",
        statement="only the selected producer produces: every broadcast block's selector is its "
        "parent's moved by the Start's round (first block on the Start's parent) or by 0, and "
        "names us over the view's keeper set",
        monitor=OnlySelectedProducerSigns,
        catches="a selector computed from our own key (always naming us) instead of from the "
        "parent's selector and the round; receivers would reject the block",
    ),
    Invariant(
        id="PB-5",
        statement="within one production session broadcasts form one chain from the continuation "
        "point: parent = previous block, seq_no + 1, height = parent height + 1",
        monitor=OneChainPerSession,
        catches="a wrong continuation point; a block built on a discarded sibling",
    ),
    Invariant(
        id="PB-6",
        statement="each accepted built block leaves the buffer exactly once: broadcast (lowest "
        "seq_no first) or discarded with exactly its messages restored",
        monitor=BroadcastOnceOrDiscarded,
        catches="double broadcast, out-of-order broadcast, silently dropped blocks and lost "
        "external messages",
    ),
    Invariant(
        id="PB-7",
        statement="at most one block is signed per (height, round), across sessions and restarts",
        monitor=OneSignaturePerHeightRound,
        catches="equivocation after a Stop/Start on a lower parent in the same round (upstream "
        "has no such guard)",
    ),
    Invariant(
        id="PB-8",
        statement="optimistic state is saved exactly for broadcast blocks whose seq_no is a "
        "multiple of save_state_frequency, and once for a requested state sync",
        monitor=SavedAtBoundaries,
        catches="off-by-one save boundaries, saves of unbroadcast blocks, lost sync requests",
    ),
    Invariant(
        id="PB-9",
        statement="the buffer of built, unbroadcast blocks never holds more than buffer_cap",
        check=buffer_capped,
        catches="unbounded memory while attestations stall (upstream: 30)",
    ),
    Invariant(
        id="PB-10",
        statement="every candidate and next-round announcement is signed by our signer over its "
        "domain-tagged payload",
        check=signatures_authentic,
        catches="signing the wrong bytes, or bytes another message type could reuse",
    ),
    Invariant(
        id="PB-11",
        statement="at most one NextRoundSuccess per (round, parent height), across crashes, each "
        "from a Start carrying ceil((N+1)/2) distinct keepers' valid NextRound votes",
        monitor=OneAnnouncementPerRound,
        catches="two Starts in one round signing conflicting announcements; a takeover "
        "without the NextRound quorum",
    ),
    Invariant(
        id="PB-12",
        statement="no signature is released before a PersistSigningGuard in the same step that "
        "records it",
        check=guard_persisted_first,
        catches="a signing guard kept only in memory: after a crash the producer signs a second "
        "block at the same (height, round)",
    ),
)
