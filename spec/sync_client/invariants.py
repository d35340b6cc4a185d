"""The sync client's safety invariants, SC-1 to SC-14: the checks and monitors ``INVARIANTS``
declares, run after every step of every campaign.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.messages import AdvertiseCertificate
from blockfsm.machine.types import ZERO_HASH
from blockfsm.spec.language import Invariant, Transition
from blockfsm.spec.signed_bytes import block_hash_holds, certificate_holds
from blockfsm.spec.sync_client.classify import (
    AWAITING,
    PASSIVE,
    advertise_block_kind,
    awaiting_tick_kind,
    certificate_well_formed,
    eligible,
    held_after,
    record_of,
    records_after,
    response_kind,
    response_matches,
    response_well_formed,
    tick_regressed,
)
from blockfsm.spec.sync_server import encoded_size


def _named(t: Transition, name: str) -> list[Any]:
    return [e for e in t.effects if type(e).__name__ == name]


def _requests(t: Transition) -> list[Any]:
    return [e for e in t.effects if type(e).__name__ == "Send"]


def _committed_after_step(t: Transition) -> int:
    commits = [e.height for e in _named(t, "Commit")]
    return int(max([t.view.committed_height(), *commits]))


class ChainOnlyExtends:
    """SC-1: the committed prefix never shrinks or changes, and no effect asks it to."""

    def __init__(self) -> None:
        self.committed = -1
        self.hashes: dict[int, bytes] = {}

    def observe(self, t: Transition) -> bool:
        view = t.view
        c = view.committed_height()
        if c < self.committed:
            return False
        if self.committed >= 0:
            mine = view.block_at(self.committed)
            if mine is None or mine.hash != self.hashes.get(self.committed):
                return False
        if c >= 0:
            block = view.block_at(c)
            if block is None:
                return False
            self.hashes[c] = block.hash
        self.committed = c
        tip = view.highest_height()
        for e in t.effects:
            name = type(e).__name__
            if name == "Persist":
                if e.block.height <= c:
                    return False
                tip = e.block.height
            elif name == "Commit" and not c < e.height <= tip:
                return False
        return True


def persisted_blocks_validated(t: Transition) -> bool:
    """SC-2: every persisted block is fully validated and links to the one before it."""
    c = t.config
    prev: Any = None
    seen: set[bytes] = set()
    for e in _named(t, "Persist"):
        b = e.block
        if b.hash in seen or b.chain_id != c.chain_id or not block_hash_holds(b):
            return False
        seen.add(b.hash)
        if prev is not None:
            if b.height != prev.height + 1 or b.parent_hash != prev.hash:
                return False
        else:
            parent = t.view.block_at(b.height - 1)
            expected = ZERO_HASH if b.height == 0 else (parent.hash if parent else None)
            if b.parent_hash != expected:
                return False
        j = b.justify
        if j.height != b.height - 1 or j.block_hash != b.parent_hash:
            return False
        if not certificate_holds(j, c.chain_id, c.validators, c.verifier):
            return False
        prev = b
    if prev is not None and type(t.event).__name__ != "SyncResponseReceived":
        return False
    return True


_APPLIED = ("Persist", "Commit", "UpdateHighestCertificate", "Blacklisted")


class AnswersOnlyOutstanding:
    """SC-3: a response is acted on only if it answers the one outstanding request, once."""

    def __init__(self) -> None:
        self.outstanding: tuple[bytes, int] | None = None

    def observe(self, t: Transition) -> bool:
        ok = True
        acted = any(type(e).__name__ in _APPLIED for e in t.effects)
        if acted:
            ev = t.event
            ok = type(ev).__name__ == "SyncResponseReceived" and self.outstanding == (
                ev.peer,
                ev.response.request_id,
            )
            self.outstanding = None
        sends = _requests(t)
        if sends:
            self.outstanding = (sends[-1].peer, sends[-1].message.request_id)
        elif t.after.control == PASSIVE:
            self.outstanding = None
        elif type(t.event).__name__ == "Tick" and t.before.request is not t.after.request:
            self.outstanding = None
        return ok


def block_held_after_step(t: Transition, height: int) -> Any:
    """The block the client holds at ``height`` once the step's ``Persist`` effects are applied in
    order, as a chain store applies them: a block already held at its height changes nothing;
    any other replaces the block there and drops every block above it."""
    placed: dict[int, Any] = {}
    cut: int | None = None

    def at(h: int) -> Any:
        if h in placed:
            return placed[h]
        if cut is not None and h >= cut:
            return None
        return t.view.block_at(h)

    for e in _named(t, "Persist"):
        b = e.block
        held = at(b.height)
        if held is not None and held.hash == b.hash:
            continue
        placed = {h: x for h, x in placed.items() if h < b.height}
        placed[b.height] = b
        cut = b.height if cut is None else min(cut, b.height)
    return at(height)


def highest_certificate_after_step(t: Transition) -> Any:
    updates = _named(t, "UpdateHighestCertificate")
    return updates[-1].certificate if updates else t.view.highest_certificate()


def request_start_after_step(t: Transition) -> int:
    """Rule 4: the first height the client does not hold as committed or certified, once the
    step's effects are applied."""
    committed = _committed_after_step(t)
    block = block_held_after_step(t, committed + 1)
    if block is None:
        return committed + 1
    above = block_held_after_step(t, committed + 2)
    by_child = (
        above is not None
        and above.parent_hash == block.hash
        and above.justify.height == committed + 1
        and above.justify.block_hash == block.hash
    )
    cert = highest_certificate_after_step(t)
    by_certificate = cert.height == committed + 1 and cert.block_hash == block.hash
    return committed + 2 if by_child or by_certificate else committed + 1


class RequestsWellFormed:
    """SC-4: every request is ours, starts at the first height not held as committed or
    certified (rule 4), is within our limit, has a fresh id, and goes to a registered server other
    than us."""

    def __init__(self) -> None:
        self.last_id = 0

    def observe(self, t: Transition) -> bool:
        sends = _requests(t)
        if len(sends) > 1:
            return False
        for s in sends:
            m = s.message
            c = t.config
            if type(m).__name__ != "SyncRequest" or m.chain_id != c.chain_id:
                return False
            if m.start_height != request_start_after_step(t) or m.limit != c.request_limit:
                return False
            if m.max_bytes != c.max_response_bytes:
                return False
            if m.request_id <= self.last_id or s.peer == c.own_key:
                return False
            self.last_id = m.request_id
            before = t.before
            continuing = before.request is not None and before.request.server == s.peer
            if not continuing and not any(e.peer == s.peer for e in before.registry):
                return False
        return True


def honest_could_send(config: Any, state: Any, event: Any, view: Any) -> bool:
    """Whether some honest server could have sent ``event``'s response to the outstanding
    request, whatever that server's own ``request_limit`` (any value from 1 to
    ``MAX_REQUEST_LIMIT``, independent of ours).

    Stated from the honest server's strategy, not from the client's rules: an honest server holds
    a chain of quorum-certified blocks that agrees with every block the client has committed or
    holds certified (a quorum is honest, so only one chain can be certified; a request starts
    just past such a block, rule 4), and answers with its blocks from the
    request's start, ``min(request limit, its own cap, what it holds)`` of them, plus its highest
    certificate, within the byte bound the request carried. Over all caps and byte bounds, that is
    any prefix of at most the request's limit of such a chain, within the byte bound: its length
    says nothing. What no honest server can send: another chain id, a block that does
    not sit at its height on the chain extending the client's block at ``start - 1``, a block whose
    hash or justify is wrong, a block contradicting a committed one, more blocks or more bytes
    than asked, or a highest certificate without a quorum."""
    r = event.response
    req = state.request
    if not response_well_formed(event) or req is None or r.chain_id != config.chain_id:
        return False
    if len(r.blocks) > req.limit or encoded_size(r) > config.max_response_bytes:
        return False
    chain = config.chain_id

    def certified(cert: Any) -> bool:
        return bool(certificate_holds(cert, chain, config.validators, config.verifier))

    below = view.block_at(req.start_height - 1)
    links: list[bytes] = [ZERO_HASH if req.start_height == 0 else (below.hash if below else b"")]
    if req.start_height > 0 and below is None:
        return False
    for offset, block in enumerate(r.blocks):
        height = req.start_height + offset
        held = view.block_at(height)
        on_chain = (
            block.chain_id == chain
            and block.height == height
            and block.parent_hash == links[-1]
            and block.justify.height == height - 1
            and block.justify.block_hash == links[-1]
            and block_hash_holds(block)
            and (height > view.committed_height() or (held is not None and held.hash == block.hash))
        )
        if not on_chain or not certified(block.justify):
            return False
        links.append(block.hash)
    return certified(r.highest_certificate)


def blame_justified(t: Transition) -> bool:
    """SC-5: a blacklisting follows a matched response no honest server could have sent, whatever
    its cap; stated without the client's own rules (see ``honest_could_send``)."""
    blames = _named(t, "Blacklisted")
    if not blames:
        return True
    ev = t.event
    if type(ev).__name__ != "SyncResponseReceived" or len(blames) != 1:
        return False
    b = blames[0]
    return (
        response_well_formed(ev)
        and response_matches(t.before, ev)
        and not honest_could_send(t.config, t.before, ev, t.view)
        and b.peer == ev.peer
        and b.until == t.before.now + t.config.blacklist_expiry_time
    )


def certificate_processed(t: Transition) -> bool:
    """SC-6: a matched, valid response's highest certificate is used whenever it can be."""
    ev = t.event
    if type(ev).__name__ != "SyncResponseReceived":
        return True
    kind = response_kind(t.config, t.before, ev, t.view)
    if kind not in ("accepted_more", "accepted_end"):
        return True
    r = ev.response
    cert = r.highest_certificate
    start = t.before.request.start_height
    if not held_after(t.view, start, r.blocks, cert.height, cert.block_hash):
        return True
    if _committed_after_step(t) < cert.height - 1:
        return False
    if cert.view > t.view.highest_certificate().view:
        updates = _named(t, "UpdateHighestCertificate")
        return bool(updates) and updates[-1].certificate.view >= cert.view
    return True


class BlacklistExpires:
    """SC-7: the blacklist holds exactly the entries made in the last blacklist_expiry_time, and
    no request goes to a peer on it."""

    def __init__(self) -> None:
        self.entries: dict[bytes, int] = {}

    def observe(self, t: Transition) -> bool:
        for b in _named(t, "Blacklisted"):
            self.entries[b.peer] = b.until
        now = t.after.now
        live = {(p, u) for p, u in self.entries.items() if u > now}
        if set(t.after.blacklist) != live or len(t.after.blacklist) != len(live):
            return False
        return all(self.entries.get(s.peer, -1) <= now for s in _requests(t))


def registry_sound(t: Transition) -> bool:
    """SC-8: registry and blacklist never overlap; the registry holds validators other than us,
    once each."""
    s = t.after
    c = t.config
    peers = [e.peer for e in s.registry]
    if len(set(peers)) != len(peers) or len(peers) > len(c.validators):
        return False
    banned = {p for p, _ in s.blacklist}
    return all(p in c.validators and p != c.own_key and p not in banned for p in peers)


def moves_on(t: Transition) -> bool:
    """SC-9: after a server fails or times out, the client asks the next eligible server in the
    same step, and ends the sync only when none is left."""
    ev = t.event
    name = type(ev).__name__
    before = t.before
    if before.control != AWAITING:
        return True
    if name == "SyncResponseReceived":
        if not response_well_formed(ev) or not response_matches(before, ev):
            return True
        kind = response_kind(t.config, before, ev, t.view)
        if kind == "invalid_next":
            return len(_requests(t)) == 1 and t.after.control == AWAITING
        return True
    if name == "Tick" and not tick_regressed(before, ev):
        kind = awaiting_tick_kind(t.config, before, ev, t.view)
        if kind == "timeout_next":
            sends = _requests(t)
            return len(sends) == 1 and sends[0].peer != before.request.server
    return True


class SyncTerminates:
    """SC-10: no sync attempt outlives max_sync_time of Tick time."""

    def __init__(self) -> None:
        self.started: int | None = None

    def observe(self, t: Transition) -> bool:
        if t.before.control == PASSIVE and t.after.control == AWAITING:
            self.started = t.before.now if type(t.event).__name__ != "Tick" else t.event.now
        if t.after.control == PASSIVE:
            self.started = None
        if self.started is None:
            return True
        if t.after.request is None:
            return False
        return bool(t.after.now - self.started < t.config.max_sync_time)


def ranked_by_delivery(t: Transition) -> bool:
    """SC-14: delivery records follow rule 8, and every request goes to a server whose record
    is at least that of every other eligible server strictly ahead not tried in this sync."""
    c = t.config
    records = records_after(c, t.before, t.event, t.view)
    if tuple(sorted(records.items())) != tuple(t.after.delivered):
        return False
    sends = _requests(t)
    if not sends:
        return True
    peer = sends[-1].peer
    mine = record_of(c, records, peer)
    committed = _committed_after_step(t)
    after = t.after
    for other, height in eligible(c, after, after.now, committed, after.tried):
        if other != peer and height > committed and record_of(c, records, other) > mine:
            return False
    return True


def registration_checked(t: Transition) -> bool:
    """SC-11: the registry changes on an AdvertiseBlock only if every registration check holds."""
    if type(t.event).__name__ != "AdvertiseBlockReceived":
        return True
    if t.after.registry == t.before.registry:
        return True
    return advertise_block_kind(t.config, t.before, t.event) == "register"


class EventTriggerRateLimited:
    """SC-12: syncs started by certificates are at least trigger_rate_limit apart."""

    def __init__(self) -> None:
        self.last: int | None = None

    def observe(self, t: Transition) -> bool:
        if type(t.event).__name__ != "AdvertiseCertificateReceived":
            return True
        if t.after.last_event_trigger == t.before.last_event_trigger:
            return True
        now = t.before.now
        ok = self.last is None or now - self.last >= t.config.trigger_rate_limit
        self.last = now
        return ok


class CertificateChecksRateLimited:
    """SC-13: certificate checks are at least trigger_rate_limit apart, whatever their outcome.

    A ghost clock of its own: a certificate that passes the cheap checks (well-formed, our chain,
    far enough ahead) in ``Passive`` is an attempt; within ``trigger_rate_limit`` of the previous
    attempt the step must be silent and leave the state as it was (no verification outcome can be
    observed: no sync started, no ``invalid_certificate``). The machine's own
    ``last_event_trigger`` is not read."""

    def __init__(self) -> None:
        self.last: int | None = None

    def observe(self, t: Transition) -> bool:
        ev = t.event
        if type(ev).__name__ != "AdvertiseCertificateReceived" or t.before.control != PASSIVE:
            return True
        c = t.config
        ad = ev.advertisement
        cert: Any = ad.certificate if isinstance(ad, AdvertiseCertificate) else None
        if (
            not certificate_well_formed(cert)
            or cert.chain_id != c.chain_id
            or cert.view < t.view.highest_certificate().view + c.trigger_min_view_difference
        ):
            return True
        now = t.before.now
        if self.last is not None and now - self.last < c.trigger_rate_limit:
            return not t.effects and t.after == t.before
        self.last = now
        return True


INVARIANTS = (
    Invariant(
        id="SC-1",
        statement="the client's chain only extends: the committed prefix never shrinks or "
        "changes, Persist is only above the committed height, Commit only moves up to the tip",
        monitor=ChainOnlyExtends,
        catches="a fork or a replayed block rewriting committed history",
    ),
    Invariant(
        id="SC-2",
        statement="only fully validated blocks are persisted: right chain and hash, a valid "
        "justify certifying the parent, heights contiguous, each block once",
        check=persisted_blocks_validated,
        catches="upstream bug 5: a block listed twice was inserted twice, and nothing checked "
        "height = parent height + 1",
    ),
    Invariant(
        id="SC-3",
        statement="a response is acted on only when it answers the outstanding request (same "
        "peer, same request id), and at most once",
        monitor=AnswersOnlyOutstanding,
        catches="upstream bug 4: without request ids a late reply to an old request was taken "
        "as the reply to a new one",
    ),
    Invariant(
        id="SC-4",
        statement="every request carries our chain id, the first height not held as committed "
        "or certified after the step (committed + 2 when the held block at committed + 1 is "
        "certified by the held block above it or by the highest certificate, else committed + 1), "
        "request_limit, max_response_bytes and a fresh id, and goes to a registered server other "
        "than us",
        monitor=RequestsWellFormed,
        catches="requests for the wrong chain or height (refetching a certified block costs its "
        "signature checks and a round trip in every response; skipping an uncertified one lets a "
        "forked tip stand), limit abuse by the client, choosing itself",
    ),
    Invariant(
        id="SC-5",
        statement="a server is blacklisted, until now + blacklist_expiry_time, only for a "
        "matched response that no honest server could have sent, whatever its own request_limit "
        "(1 to MAX_REQUEST_LIMIT): never for a short answer, never for blocks the client already "
        "had, never on timeout (so never an honest server)",
        check=blame_justified,
        catches="upstream bug 3: an honest server was blacklisted when the client already held "
        "the blocks but lagged in commits; and an honest server with a smaller request_limit "
        "blacklisted for 'under-delivering' against the client's own limit",
    ),
    Invariant(
        id="SC-6",
        statement="a matched, valid response's highest certificate is always processed: when it "
        "certifies a block held after the step it commits its parent and, if newer, becomes the "
        "highest certificate",
        check=certificate_processed,
        catches="upstream bug 3: the response's highest certificate was thrown away on the "
        "'nothing new' path",
    ),
    Invariant(
        id="SC-7",
        statement="the blacklist holds exactly the entries made less than blacklist_expiry_time "
        "ago, and no request goes to a peer on it",
        monitor=BlacklistExpires,
        catches="upstream bug 2: cleanup kept expired entries and dropped live ones",
    ),
    Invariant(
        id="SC-8",
        statement="registry and blacklist never overlap; the registry holds distinct validators "
        "other than the client",
        check=registry_sound,
        catches="a blacklisted server re-registering by advertising; unbounded registry growth",
    ),
    Invariant(
        id="SC-9",
        statement="after a server fails or times out, the next eligible server is asked in the "
        "same step; the sync ends only when none is left",
        check=moves_on,
        catches="upstream bug 6: after a failure the client waited for the next trigger instead "
        "of trying another server",
    ),
    Invariant(
        id="SC-10",
        statement="a running sync always has one outstanding request and never outlives "
        "max_sync_time of Tick time",
        monitor=SyncTerminates,
        catches="upstream bug 6: sync blocked the node's main loop for as long as servers "
        "kept it busy",
    ),
    Invariant(
        id="SC-11",
        statement="the registry changes on an AdvertiseBlock only when chain, sender, "
        "validator, blacklist, freshness and signature checks all hold",
        check=registration_checked,
        catches="upstream bug 7 on the client side: unauthenticated or replayed advertisements",
    ),
    Invariant(
        id="SC-12",
        statement="syncs started by the event trigger are at least trigger_rate_limit apart",
        monitor=EventTriggerRateLimited,
        catches="a certificate flood restarting sync, and its signature checks, on every message",
    ),
    Invariant(
        id="SC-13",
        statement="advertised certificates reach signature verification at most once per "
        "trigger_rate_limit, valid or not: within the window a far-ahead certificate changes "
        "nothing and emits nothing",
        monitor=CertificateChecksRateLimited,
        catches="issue 7: invalid certificates skipped the rate limit, so 1,000 of them in one "
        "millisecond cost 1,000 verification rounds",
    ),
    Invariant(
        id="SC-14",
        statement="a server's delivery record is the length of its last valid answer when that "
        "answer was short (fewer than min(request_limit, advertised height + 1 - start) blocks "
        "and room for more), request_limit otherwise; every request goes to a server whose "
        "record is at least that of every other eligible server strictly ahead not yet tried "
        "in this sync: a short answer hands the sync to a server that delivered more, and the "
        "trigger's sender is not preferred to one",
        check=ranked_by_delivery,
        catches="a Byzantine server setting the catch-up pace with valid answers of one to "
        "three blocks, kept while it made progress and asked first because its certificate "
        "triggered the sync (the throttling finding; SCL-3 measures it)",
    ),
)
