"""Spec of the block sync client: an explicit, non-blocking machine a Byzantine server cannot
fool or stall. Upstream HotStuff-rs has no client machine at all (a blocking loop in the node's
main thread); the rules below are ours, with upstream's bugs (PROTOCOLS.md section 1, items 2 to
6) closed and each one named by an invariant.

Control states
- ``Passive``: no sync running; the client registers servers and watches both triggers.
- ``AwaitingResponse``: a sync is running and exactly one ``SyncRequest`` is outstanding, to one
  server, with a deadline ``sent + response_timeout``.

Rules
1. *Registry.* An ``AdvertiseBlock`` registers its sender with its committed height when it names
   our chain, names its sender as ``server``, the sender is a validator other than us and is not
   blacklisted, its timestamp is within ``advertise_freshness`` of our clock and newer than the
   last one registered for that server, and its signature verifies over the domain-tagged
   payload. Checks run cheapest first; the signature last. An entry expires
   ``advertise_expiry`` after it was received.
2. *Triggers.* Event trigger: in ``Passive``, an ``AdvertiseCertificate`` on our chain whose view is
   at least ``trigger_min_view_difference`` above our highest certificate's, at least
   ``trigger_rate_limit`` after the last event trigger, and valid under the validator set. The
   rate limit is checked and spent before any signature is verified: a certificate that reaches
   verification spends it whether it proves valid or not (it is then refused as
   ``invalid_certificate``), so certificates from anyone, valid or not, cost at most one
   verification round per ``trigger_rate_limit``. The price is stated: a peer flooding invalid
   certificates can hold the event trigger shut, and the timeout trigger still fires. Timeout
   trigger: a ``Tick`` at least ``trigger_timeout`` after the last progress. Progress is a commit
   made by a sync, a ``ChainAdvanced`` from the node, or the end of a sync attempt; a trigger that
   finds no eligible server does not reset the progress timer, so the next ``Tick`` tries again.
3. *Choice.* Eligible: registered and unexpired, not blacklisted, not tried in this sync, not us,
   advertised height >= our committed height. Candidates: at the start of a sync, servers
   strictly ahead, or any eligible one when none is ahead, and the peer whose certificate
   triggered it; later in the sync, servers strictly ahead. Every server has a *delivery record*:
   the number of blocks of its last valid answer if that answer was short (rule 8), else
   ``request_limit`` (no answer yet, or the last one in full). Only candidates with the best
   record are chosen: the trigger's sender among them if it is one (it gets no priority over a
   server that delivered more), else the one at index ``mix(seed, draws)`` of them, sorted by
   key (a seed and a counter in the state).
4. *Requests.* ``SyncRequest(chain_id, request_id, s, request_limit, max_response_bytes)``,
   where ``s`` is the first height the client does not hold as settled: ``committed + 2`` when
   the client holds the block at ``committed + 1`` and holds something that certifies it (the
   justify of the block it holds at ``committed + 2``, or its highest certificate), and
   ``committed + 1`` otherwise. A certified block was validated when it was persisted and is on
   the one chain a quorum certifies, so asking for it again would only repeat its signature
   checks; an uncertified block is asked for again. Heights, certificates and held blocks are
   read as they stand once the step's own effects are applied. Request ids strictly increase.
   A response is matched to the outstanding request by peer *and* request id; anything else is
   dropped and counted (``unexpected_response``).
5. *Validation before application.* A matched response is invalid when: its chain id is not ours;
   it holds more blocks than the request's limit; it is larger than ``max_response_bytes`` (the
   byte bound the request carried, counted as the server spec's ``encoded_size`` counts it);
   block i is not at ``start + i`` on our chain;
   a hash is wrong; a block's parent is not the previous block (for the first, our block at
   ``start - 1``); a justify does not certify the parent or is invalid; a block at a height we have
   committed differs from ours; or its highest certificate is invalid.
6. *Application.* Blocks we do not already hold are persisted in order (``Persist``); the highest
   certified height K among the blocks' justifies and the highest certificate (when it certifies a
   block we hold after the step) commits K - 1 (``Commit``); the highest-view such certificate
   above ours is recorded (``UpdateHighestCertificate``). The response's highest certificate is
   processed on every matched, valid response, whether or not it brought new blocks.
   *The uncertified tip, decided:* the last block of a valid response has a valid justify (its
   parent is certified) but nothing certifies the block itself, so a Byzantine server can make
   it a block of its own (``forked_tip``). The client persists it anyway and blames nobody: an
   honest server sends its own uncertified tip the same way, and the two cannot be told apart.
   It is harmless: it is never committed (a commit needs a certified child, and no quorum
   certifies a forked block), requests start at or below the lowest uncertified height (rule 4)
   so the next honest answer covers its height, and ``Persist`` of that answer replaces it.
7. *Blame, only for what no honest server could send.* The server is blacklisted for
   ``blacklist_expiry_time`` when a matched response is invalid (rule 5), and for nothing else. An
   honest server answers with ``min(limit, its own request_limit, blocks it holds from s)``
   blocks, fewer if its byte bound is smaller than ours; its ``request_limit`` may be anything
   from 1 to ``MAX_REQUEST_LIMIT`` and need not be ours, so any valid prefix, however short, is a
   possible honest answer: a short response is
   never blamed (upstream, and this machine before, blamed "under-delivery" against the client's
   own limit and blacklisted honest servers with a smaller cap). Never on timeout either (the
   network may be slow; a timed-out server is only skipped for the rest of the sync).
8. *Moving on.* A valid answer to a request from ``s`` made when the server's advertised
   height was ``A`` is *in full* when it holds at least ``min(request_limit, A + 1 - s)`` blocks
   (all it was asked for, or every block up to the height it advertised: a short answer that
   matches what it advertised is in full), or when one more block the size of its largest would
   not fit ``max_response_bytes``; otherwise it is *short*, and the server's delivery record
   becomes its length (rule 3). After a valid response that made progress (committed a height
   the chain had not committed before the step) while the client is still below the server's
   advertised height, the same server is asked again if the answer was in full, or if no
   eligible server strictly ahead has a better record; otherwise the best such server is asked,
   and the short one, not marked tried, stays a fallback. After a response without progress,
   or once the server's height is reached, and after a server fails or times out, the next
   eligible server is asked in the same step; the sync ends when none is left or when it has
   run ``max_sync_time``. A server that answers short costs one request per sync while a
   server with a better record is eligible, and no blame.

Assumptions (stated, not checked): at least one honest server runs ``request_limit >= 3`` (below
that no response commits anything new) and answers within ``response_timeout`` in the fair phase;
a quorum of validators is honest, so a certificate for a block off the canonical chain cannot
exist.

The classification functions below are the spec's own statement of each rule; the machine does not
import them.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.messages import AdvertiseBlock, AdvertiseCertificate, SyncResponse
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
)
from blockfsm.spec.language import (
    Guard,
    Invariant,
    Liveness,
    MachineSpec,
    Transition,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)
from blockfsm.spec.signed_bytes import (
    advertisement_bytes,
    block_hash_holds,
    certificate_holds,
    is_u64,
)
from blockfsm.spec.sync_server import encoded_size

PASSIVE = "Passive"
AWAITING = "AwaitingResponse"

MASK64 = 2**64 - 1


def mix(seed: int, draws: int) -> int:
    """splitmix64 of ``seed + draws``: the deterministic source of every server choice."""
    z = (seed + (draws + 1) * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


# --- registry, blacklist and eligibility -------------------------------------------------------


def blacklisted(state: Any, peer: bytes, now: int) -> bool:
    return any(p == peer and until > now for p, until in state.blacklist)


def registered_height(state: Any, peer: bytes, now: int, config: Any) -> int | None:
    for entry in state.registry:
        if entry.peer == peer and entry.received + config.advertise_expiry > now:
            return int(entry.height)
    return None


def eligible(
    config: Any, state: Any, now: int, committed: int, tried: tuple[bytes, ...]
) -> list[tuple[bytes, int]]:
    """(peer, advertised height) of every server the client may ask now, sorted by key."""
    out = []
    for entry in state.registry:
        peer = entry.peer
        if (
            entry.received + config.advertise_expiry > now
            and peer != config.own_key
            and peer not in tried
            and not blacklisted(state, peer, now)
            and entry.height >= committed
        ):
            out.append((peer, int(entry.height)))
    return sorted(out)


def has_start_candidate(config: Any, state: Any, view: Any) -> bool:
    return bool(eligible(config, state, state.now, view.committed_height(), ()))


def has_next_candidate(
    config: Any, state: Any, committed: int, tried: tuple[bytes, ...], now: int
) -> bool:
    return any(h > committed for _, h in eligible(config, state, now, committed, tried))


# --- ticks ---------------------------------------------------------------------------------------


def tick_regressed(state: Any, event: Any) -> bool:
    now = event.now
    return type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now


def passive_tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    if tick_regressed(state, event):
        return "regressed"
    now = event.now
    if now - state.last_progress < config.trigger_timeout:
        return "not_due"
    probe = _at(state, now)
    if eligible(config, probe, now, view.committed_height(), ()):
        return "trigger"
    return "no_server"


def awaiting_tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    if tick_regressed(state, event):
        return "regressed"
    now = event.now
    if now - state.sync_started >= config.max_sync_time:
        return "time_cap"
    req = state.request
    if now < req.deadline:
        return "waiting"
    tried = (*state.tried, req.server)
    if has_next_candidate(config, _at(state, now), view.committed_height(), tried, now):
        return "timeout_next"
    return "timeout_end"


class _Clocked:
    """The state as seen at a later ``now`` (registry and blacklist read at that time)."""

    __slots__ = ("blacklist", "now", "registry")

    def __init__(self, state: Any, now: int) -> None:
        self.registry = state.registry
        self.blacklist = state.blacklist
        self.now = now


def _at(state: Any, now: int) -> Any:
    return _Clocked(state, now)


# --- advertisements ------------------------------------------------------------------------------


def advertise_block_kind(config: Any, state: Any, event: Any) -> str:
    """``malformed``, ``wrong_chain``, ``from_self``, ``server_mismatch``, ``not_validator``,
    ``blacklisted``, ``stale``, ``bad_signature`` or ``register``, cheapest check first."""
    ad = event.advertisement
    peer = event.peer
    if not (
        isinstance(ad, AdvertiseBlock)
        and type(peer) is bytes
        and is_u64(ad.chain_id)
        and type(ad.server) is bytes
        and type(ad.committed_height) is int
        and -1 <= ad.committed_height < 2**63
        and is_u64(ad.timestamp)
        and type(ad.signature) is bytes
    ):
        return "malformed"
    if ad.chain_id != config.chain_id:
        return "wrong_chain"
    if peer == config.own_key:
        return "from_self"
    if ad.server != peer:
        return "server_mismatch"
    if peer not in config.validators:
        return "not_validator"
    if blacklisted(state, peer, state.now):
        return "blacklisted"
    if abs(ad.timestamp - state.now) > config.advertise_freshness:
        return "stale"
    for entry in state.registry:
        if entry.peer == peer and ad.timestamp <= entry.timestamp:
            return "stale"
    payload = advertisement_bytes(ad.chain_id, ad.server, ad.committed_height, ad.timestamp)
    if not config.verifier.verify(peer, payload, ad.signature):
        return "bad_signature"
    return "register"


def advertise_certificate_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``malformed``, ``wrong_chain``, ``not_ahead``, ``rate_limited``, ``invalid``,
    ``trigger`` or ``no_server`` (the event trigger, in ``Passive``)."""
    ad = event.advertisement
    cert: Any = ad.certificate if isinstance(ad, AdvertiseCertificate) else None
    if not certificate_well_formed(cert):
        return "malformed"
    if cert.chain_id != config.chain_id:
        return "wrong_chain"
    if cert.view < view.highest_certificate().view + config.trigger_min_view_difference:
        return "not_ahead"
    if state.last_event_trigger >= 0 and (
        state.now - state.last_event_trigger < config.trigger_rate_limit
    ):
        return "rate_limited"
    if not certificate_holds(cert, config.chain_id, config.validators, config.verifier):
        return "invalid"
    if has_start_candidate(config, state, view):
        return "trigger"
    return "no_server"


# --- responses -----------------------------------------------------------------------------------


def certificate_well_formed(cert: Any) -> bool:
    """Fields a codec could get wrong: u64 chain and view, an i64 height, bytes, and a tuple of
    (signer, signature) byte pairs."""
    return (
        type(cert) is Certificate
        and is_u64(cert.chain_id)
        and is_u64(cert.view)
        and type(cert.height) is int
        and -(2**63) <= cert.height < 2**63
        and type(cert.block_hash) is bytes
        and type(cert.signatures) is tuple
        and all(
            type(p) is tuple and len(p) == 2 and type(p[0]) is bytes and type(p[1]) is bytes
            for p in cert.signatures
        )
    )


def block_well_formed(b: Any) -> bool:
    return (
        type(b) is Block
        and is_u64(b.chain_id)
        and is_u64(b.height)
        and type(b.parent_hash) is bytes
        and type(b.payload) is bytes
        and type(b.hash) is bytes
        and certificate_well_formed(b.justify)
    )


def response_well_formed(event: Any) -> bool:
    r = event.response
    return (
        type(r) is SyncResponse
        and type(event.peer) is bytes
        and is_u64(r.chain_id)
        and is_u64(r.request_id)
        and type(r.blocks) is tuple
        and all(block_well_formed(b) for b in r.blocks)
        and certificate_well_formed(r.highest_certificate)
    )


def response_matches(state: Any, event: Any) -> bool:
    req = state.request
    return (
        req is not None and event.peer == req.server and event.response.request_id == req.request_id
    )


def response_is_valid(config: Any, state: Any, event: Any, view: Any) -> bool:
    """Rule 5, in full, before anything is applied."""
    r = event.response
    req = state.request
    if r.chain_id != config.chain_id or len(r.blocks) > req.limit:
        return False
    if encoded_size(r) > config.max_response_bytes:
        return False
    committed = view.committed_height()
    parent = view.block_at(req.start_height - 1)
    prev_hash = ZERO_HASH if req.start_height == 0 else (parent.hash if parent else None)
    if prev_hash is None:
        return False
    for i, b in enumerate(r.blocks):
        h = req.start_height + i
        j = b.justify
        if b.height != h or b.chain_id != config.chain_id or b.parent_hash != prev_hash:
            return False
        if j.height != h - 1 or j.block_hash != b.parent_hash or not block_hash_holds(b):
            return False
        if not certificate_holds(j, config.chain_id, config.validators, config.verifier):
            return False
        if h <= committed:
            mine = view.block_at(h)
            if mine is None or mine.hash != b.hash:
                return False
        prev_hash = b.hash
    return bool(
        certificate_holds(
            r.highest_certificate, config.chain_id, config.validators, config.verifier
        )
    )


def chain_after(view: Any, start: int, blocks: tuple[Any, ...]) -> dict[int, bytes]:
    """Hashes at the heights a response touches, as the chain will hold them after the step."""
    out: dict[int, bytes] = {}
    diverged = False
    for b in blocks:
        mine = view.block_at(b.height)
        if mine is None or mine.hash != b.hash:
            diverged = True
        out[b.height] = b.hash
    if not diverged:
        h = start + len(blocks)
        while (mine := view.block_at(h)) is not None:
            out[h] = mine.hash
            h += 1
    return out


def held_after(
    view: Any, start: int, blocks: tuple[Any, ...], height: int, block_hash: bytes
) -> bool:
    after = chain_after(view, start, blocks)
    if height in after:
        return after[height] == block_hash
    if height < start:
        mine = view.block_at(height)
        return mine is not None and mine.hash == block_hash
    return False


def derived_commit(view: Any, start: int, r: Any) -> int:
    """K - 1, with K the highest height certified by the response (rule 6)."""
    k = start - 1
    if r.blocks:
        k = r.blocks[-1].height - 1
    cert = r.highest_certificate
    if cert.height > k and held_after(view, start, r.blocks, cert.height, cert.block_hash):
        k = cert.height
    return k - 1


def committed_after(view: Any, start: int, r: Any) -> int:
    return max(int(view.committed_height()), derived_commit(view, start, r))


def continues_with_server(config: Any, state: Any, view: Any, r: Any) -> bool:
    req = state.request
    new_committed = committed_after(view, req.start_height, r)
    target = registered_height(state, req.server, state.now, config)
    target = req.target if target is None else max(target, req.target)
    progressed = derived_commit(view, req.start_height, r) > view.committed_height()
    return bool(new_committed < target and progressed)


def response_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``malformed``, ``unexpected``, then for a matched response ``invalid_next``,
    ``invalid_end``, ``accepted_more`` or ``accepted_end``."""
    if not response_well_formed(event):
        return "malformed"
    if not response_matches(state, event):
        return "unexpected"
    req = state.request
    tried = (*state.tried, req.server)
    if not response_is_valid(config, state, event, view):
        committed = view.committed_height()
        nxt = has_next_candidate(config, _without(state, req.server), committed, tried, state.now)
        return "invalid_next" if nxt else "invalid_end"
    r = event.response
    committed = committed_after(view, req.start_height, r)
    if continues_with_server(config, state, view, r):
        return "accepted_more"
    nxt = has_next_candidate(config, state, committed, tried, state.now)
    return "accepted_more" if nxt else "accepted_end"


def answered_in_full(config: Any, req: Any, r: Any) -> bool:
    """Rule 8: every block asked for up to the height the server advertised when asked, or so
    many that one more of its largest would not fit the byte bound."""
    count = len(r.blocks)
    if count >= min(req.limit, req.target + 1 - req.start_height):
        return True
    if not count:
        return False
    largest = max(encoded_size(b) for b in r.blocks)
    return bool(encoded_size(r) + largest > config.max_response_bytes)


def records_after(config: Any, state: Any, event: Any, view: Any) -> dict[bytes, int]:
    """Rule 3's delivery records (peer -> blocks of its last short answer) after ``event``: only
    a matched, valid response changes them, and only its sender's."""
    records = dict(state.delivered)
    if (
        type(event).__name__ == "SyncResponseReceived"
        and state.control == AWAITING
        and response_well_formed(event)
        and response_matches(state, event)
        and response_is_valid(config, state, event, view)
    ):
        peer = state.request.server
        if answered_in_full(config, state.request, event.response):
            records.pop(peer, None)
        else:
            records[peer] = len(event.response.blocks)
    return records


def record_of(config: Any, records: dict[bytes, int], peer: bytes) -> int:
    return records.get(peer, int(config.request_limit))


class _Without:
    __slots__ = ("blacklist", "now", "registry")

    def __init__(self, state: Any, peer: bytes) -> None:
        self.registry = tuple(e for e in state.registry if e.peer != peer)
        self.blacklist = state.blacklist
        self.now = state.now


def _without(state: Any, peer: bytes) -> Any:
    return _Without(state, peer)


# --- guards --------------------------------------------------------------------------------------


def _passive_tick(kind: str, text: str) -> Guard:
    return classified(passive_tick_kind, kind, text)


def _awaiting_tick(kind: str, text: str) -> Guard:
    return classified(awaiting_tick_kind, kind, text)


_AD_TEXT = {
    "malformed": "a field has the wrong type or range",
    "wrong_chain": "advertisement.chain_id != config.chain_id",
    "from_self": "peer == own_key",
    "server_mismatch": "advertisement.server != peer",
    "not_validator": "peer not in the validator set",
    "blacklisted": "peer has a live blacklist entry",
    "stale": "timestamp outside advertise_freshness of now, or not newer than the registered one",
    "bad_signature": "signature does not verify over the domain-tagged payload",
    "register": "every registration check holds",
}


def _ad(kind: str) -> Guard:
    return Guard(
        name=kind,
        text=_AD_TEXT[kind],
        holds=lambda c, s, e, v: advertise_block_kind(c, s, e) == kind,
    )


_CERT_TEXT = {
    "malformed": "the certificate has the wrong type or fields",
    "wrong_chain": "certificate.chain_id != config.chain_id",
    "not_ahead": "view < highest certificate's view + trigger_min_view_difference",
    "rate_limited": "now - last event trigger < trigger_rate_limit",
    "invalid": "the certificate is not a valid quorum certificate",
    "trigger": "valid, far enough ahead, rate limit open, and some server eligible",
    "no_server": "valid, far enough ahead, rate limit open, but no server eligible",
}


def _cert(kind: str) -> Guard:
    return classified(advertise_certificate_kind, kind, _CERT_TEXT[kind])


_RESPONSE_TEXT = {
    "malformed": "a field has the wrong type",
    "unexpected": "no request outstanding, or the peer or request id differs from it",
    "invalid_next": "fails rule 5; another server strictly ahead is eligible",
    "invalid_end": "fails rule 5; no other server strictly ahead is eligible",
    "accepted_more": "valid; it made progress and the server has more (asked again if in full "
    "or none delivered more, else the best record ahead), or another server is ahead",
    "accepted_end": "valid; no server is left ahead",
}


def _response(kind: str) -> Guard:
    return classified(response_kind, kind, _RESPONSE_TEXT[kind])


def _passive_response(kind: str) -> Guard:
    def holds(c: Any, s: Any, e: Any, v: Any) -> bool:
        return (response_well_formed(e)) == (kind == "unexpected")

    return Guard(name=kind, text=_RESPONSE_TEXT[kind], holds=holds)


APPLY = ("Persist*", "Commit?", "UpdateHighestCertificate?")


# --- invariants ----------------------------------------------------------------------------------


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

TICK_INTERVAL = 500
"""The fair schedule's tick interval T (ms) used for ``bound_ticks`` at default config (SCL-3's
at a gap of 198 blocks, S = 4 other servers, B = 3 and a round trip of R = 100 ms)."""

DEFAULT_BOUND_MS = 10_000 + 500 + 30_000 + 500 + 60_000 + 500 + 3 * (3_000 + 500) + 500
"""P + T + max_sync_time + T + trigger_timeout + T + B(response_timeout + T) + T at defaults,
with P = 10 s (the server's advertise_time) and B = 3 Byzantine servers."""

LIVENESS = (
    Liveness(
        id="SCL-1",
        statement="once faults stop, if an honest server whose own request_limit c is at least 3 "
        "advertises a committed height A above the client's, the client commits A; in the sync "
        "that does it that server is asked at most ceil(gap / (min(request_limit, c) - 2)) + 1 "
        "times",
        fairness="after heal: every machine ticks every T <= response_timeout; messages are "
        "delivered in order in the round they are sent; honest servers advertise every P <= "
        "advertise_expiry - T and answer every request; the server of the statement runs "
        "request_limit >= 3 and a byte bound that holds three blocks (other honest servers may "
        "run any cap: they are asked in the same round and never blamed); "
        "B Byzantine servers do anything; max_sync_time >= B(response_timeout + T) + 2T",
        bound="P + T + max_sync_time + T + trigger_timeout + T + B(response_timeout + T) + T of "
        "Tick time: the honest server registers, any older sync ends, the timeout trigger fires, "
        "at most B servers are tried first",
        bound_ticks=-(-DEFAULT_BOUND_MS // TICK_INTERVAL),
        catches="a client a Byzantine server can stall: upstream bugs 3, 4 and 6",
    ),
    Liveness(
        id="SCL-2",
        statement="every sync attempt terminates: the client is back in Passive within "
        "max_sync_time + T of the sync's start",
        fairness="Ticks every T after heal, whatever the servers do",
        bound="max_sync_time + T of Tick time",
        bound_ticks=-(-(30_000 + TICK_INTERVAL) // TICK_INTERVAL),
        catches="upstream bug 6: a sync loop that never returns",
    ),
    Liveness(
        id="SCL-3",
        statement="once faults stop, if an honest server whose own request_limit is at least "
        "the client's and whose byte bound is at least max_response_bytes advertises a "
        "committed height A above the client's, the sync that commits A sends at most "
        "ceil(gap / (m - 2)) + 1 + 3S requests before it does, with m = min(request_limit, the "
        "blocks max_response_bytes holds), gap = A - the committed height at that sync's first "
        "request, and S the number of other servers: each other server costs at most three "
        "requests that commit fewer than m - 2 blocks, whatever it answers",
        fairness="SCL-1's: ticks every T, in-order delivery in the round sent, honest servers "
        "advertise every P and answer every request; B Byzantine servers do anything, among "
        "them answer valid blocks a few at a time and win every trigger with a valid "
        "certificate",
        bound="ceil(gap / (m - 2)) + 1 + 3S requests; at a round trip of R per request and "
        "response_timeout per withheld one, (ceil(gap / (m - 2)) + 1 + 3S) R + B "
        "response_timeout of Tick time",
        bound_ticks=-(-((-(-198 // 8) + 1 + 3 * 4) * 100 + 3 * 3_000) // TICK_INTERVAL),
        catches="a Byzantine server setting the catch-up pace: kept 'while it makes progress' "
        "with one to three blocks per answer, and asked first because its certificate "
        "triggered the sync (198 blocks took 57 s against SCL-1's 18.5 s)",
    ),
)

_STATES = (PASSIVE, AWAITING)


SPEC: MachineSpec = define_machine(
    name="sync_client",
    title="Block sync client",
    summary=(
        "Registers servers from signed, fresh AdvertiseBlocks; starts a sync on a certificate far "
        "enough ahead (rate limited) or after trigger_timeout without progress; asks one server "
        "at a time with request ids and deadlines; validates a response in full before "
        "persisting and committing through effects; blames a server by result only, with "
        "blacklist entries that expire; moves on to the next server in the same step; caps the "
        "time of one sync."
    ),
    states=_STATES,
    initial=PASSIVE,
    events=(
        "Tick",
        "AdvertiseBlockReceived",
        "AdvertiseCertificateReceived",
        "SyncResponseReceived",
        "ChainAdvanced",
    ),
    effects=(
        "Send",
        "Rejected",
        "Observe",
        "Persist",
        "Commit",
        "UpdateHighestCertificate",
        "Blacklisted",
    ),
    rows=(
        reject(
            PASSIVE,
            "Tick",
            "clock_regressed",
            guard=_passive_tick("regressed", "now < last tick, or not an unsigned 64-bit integer"),
        ),
        row(
            PASSIVE,
            "Tick",
            PASSIVE,
            guard=_passive_tick("not_due", "now - last_progress < trigger_timeout"),
            note="expire entries",
        ),
        row(
            PASSIVE,
            "Tick",
            AWAITING,
            guard=_passive_tick("trigger", "timeout trigger due and some server eligible"),
            effects=("Observe", "Send"),
            note="timeout trigger",
        ),
        row(
            PASSIVE,
            "Tick",
            PASSIVE,
            guard=_passive_tick("no_server", "timeout trigger due but no server eligible"),
            note="the progress timer is not reset, so the next Tick tries again",
        ),
        reject(
            AWAITING,
            "Tick",
            "clock_regressed",
            guard=_awaiting_tick("regressed", "now < last tick, or not an unsigned 64-bit integer"),
        ),
        row(
            AWAITING,
            "Tick",
            PASSIVE,
            guard=_awaiting_tick("time_cap", "now - sync start >= max_sync_time"),
            effects=("Observe",),
        ),
        row(
            AWAITING,
            "Tick",
            AWAITING,
            guard=_awaiting_tick("waiting", "now < the request's deadline"),
        ),
        row(
            AWAITING,
            "Tick",
            AWAITING,
            guard=_awaiting_tick(
                "timeout_next", "deadline passed; another server strictly ahead is eligible"
            ),
            effects=("Send",),
            note="skip the slow server for this sync, without blame",
        ),
        row(
            AWAITING,
            "Tick",
            PASSIVE,
            guard=_awaiting_tick(
                "timeout_end", "deadline passed; no other server strictly ahead is eligible"
            ),
            effects=("Observe",),
        ),
        *(
            draft
            for state in _STATES
            for draft in (
                reject(
                    state,
                    "AdvertiseBlockReceived",
                    "malformed_advertisement",
                    guard=_ad("malformed"),
                ),
                reject(state, "AdvertiseBlockReceived", "wrong_chain", guard=_ad("wrong_chain")),
                reject(state, "AdvertiseBlockReceived", "from_self", guard=_ad("from_self")),
                reject(
                    state, "AdvertiseBlockReceived", "server_mismatch", guard=_ad("server_mismatch")
                ),
                reject(
                    state, "AdvertiseBlockReceived", "not_validator", guard=_ad("not_validator")
                ),
                reject(state, "AdvertiseBlockReceived", "blacklisted", guard=_ad("blacklisted")),
                reject(state, "AdvertiseBlockReceived", "stale_advertisement", guard=_ad("stale")),
                reject(
                    state, "AdvertiseBlockReceived", "bad_signature", guard=_ad("bad_signature")
                ),
                row(
                    state,
                    "AdvertiseBlockReceived",
                    state,
                    guard=_ad("register"),
                    note="add or update the server's entry",
                ),
            )
        ),
        reject(
            PASSIVE,
            "AdvertiseCertificateReceived",
            "malformed_certificate",
            guard=_cert("malformed"),
        ),
        reject(PASSIVE, "AdvertiseCertificateReceived", "wrong_chain", guard=_cert("wrong_chain")),
        ignore(PASSIVE, "AdvertiseCertificateReceived", guard=_cert("not_ahead")),
        ignore(
            PASSIVE,
            "AdvertiseCertificateReceived",
            guard=_cert("rate_limited"),
            note="checked before the signatures, so a flood costs no verification",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            PASSIVE,
            guard=_cert("invalid"),
            effects=("Rejected",),
            note="refused as invalid_certificate; the attempt spends the rate limit",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            AWAITING,
            guard=_cert("trigger"),
            effects=("Observe", "Send"),
            note="event trigger; the sender is tried first among the best delivery records",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            PASSIVE,
            guard=_cert("no_server"),
            note="the rate limit is spent; the progress timer is not reset",
        ),
        ignore(AWAITING, "AdvertiseCertificateReceived", note="a sync is already running"),
        reject(
            PASSIVE,
            "SyncResponseReceived",
            "malformed_response",
            guard=_passive_response("malformed"),
        ),
        reject(
            PASSIVE,
            "SyncResponseReceived",
            "unexpected_response",
            guard=_passive_response("unexpected"),
            note="no request outstanding",
        ),
        reject(
            AWAITING, "SyncResponseReceived", "malformed_response", guard=_response("malformed")
        ),
        reject(
            AWAITING,
            "SyncResponseReceived",
            "unexpected_response",
            guard=_response("unexpected"),
            note="stale, duplicated or someone else's reply",
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            AWAITING,
            guard=_response("invalid_next"),
            effects=("Blacklisted", "Send"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            PASSIVE,
            guard=_response("invalid_end"),
            effects=("Blacklisted", "Observe"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            AWAITING,
            guard=_response("accepted_more"),
            effects=(*APPLY, "Send"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            PASSIVE,
            guard=_response("accepted_end"),
            effects=(*APPLY, "Observe"),
        ),
        row(PASSIVE, "ChainAdvanced", PASSIVE, note="progress: the timeout trigger restarts"),
        row(AWAITING, "ChainAdvanced", AWAITING, note="progress: the timeout trigger restarts"),
    ),
    invariants=INVARIANTS,
    liveness=LIVENESS,
    notes=(
        "Upstream runs sync as a blocking loop in the node's main thread; here every step "
        "returns at once and a sync is a control state with a deadline and a time cap.",
        "Upstream's blacklist cleanup compares the wrong way round (expired entries stay, live "
        "ones go); here an entry is live while until > now and is removed on the first Tick after.",
        "Upstream blames a server whose response brought no new blocks, even when the client "
        "already held them and only lagged in commits, and discards that response's highest "
        "certificate; here blame is judged by the committed height after the response.",
        "Upstream has no request id; here a response must match the outstanding request's peer "
        "and id, and is acted on once.",
        "Upstream inserts a block listed twice twice and never checks heights; here a response "
        "must be contiguous from the requested start with unbroken parent links.",
        "A timed-out server is skipped for the rest of the sync but not blacklisted: a slow "
        "network must not make an honest server look Byzantine.",
    ),
)
