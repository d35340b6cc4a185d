"""Spec of the block sync server (HotStuff-rs ``block_sync/server.rs``, with upstream's bugs fixed).

The server answers ``SyncRequest``s with contiguous blocks read from one chain snapshot, and
advertises its highest certificate and its signed committed height at start and then every
``advertise_time``. This module states the rules; ``blockfsm.machine.sync_server`` implements them
separately, and the conformance checker holds one against the other on every step.

The classification functions below are the spec's own statement of each rule; the machine does not
import them.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.core import Broadcast, Rejected, Send
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
)
from blockfsm.machine.types import MAX_U64
from blockfsm.spec.language import (
    Guard,
    Invariant,
    Liveness,
    MachineSpec,
    Transition,
    classified,
    define_machine,
    reject,
    row,
)
from blockfsm.spec.signed_bytes import advertisement_bytes, is_u64

STARTING = "Starting"
SERVING = "Serving"

# --- the spec's statement of how an input is classified ----------------------------------------


def tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``regressed`` (time went backwards or is malformed), ``first`` (no advertisement yet),
    ``due`` (``advertise_time`` has passed since the last advertisement), or ``not_due``."""
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return "regressed"
    if state.last_advertised < 0:
        return "first"
    if now - state.last_advertised >= config.advertise_time:
        return "due"
    return "not_due"


def encoded_size(value: Any) -> int:
    """The wire size of a response, a block or a certificate, as the spec counts it: 8 bytes for
    every integer field, and a 4-byte length before every byte string and every sequence (the
    pairs of a certificate's signatures: a length before the sequence, one before each half)."""
    # Plain loops, not generator sums: this runs for every block of every response, twice per
    # step (SS-4 and SS-13), and the generators cost the conformance check a fifth of its time.
    name = type(value).__name__
    if name == "Certificate":
        size = 8 * 3 + 4 + len(value.block_hash) + 4
        for k, sig in value.signatures:
            size += 8 + len(k) + len(sig)
        return size
    if name == "Block":
        strings = 4 + len(value.parent_hash) + 4 + len(value.payload) + 4 + len(value.hash)
        return 8 * 2 + strings + encoded_size(value.justify)
    size = 8 * 2 + 4 + encoded_size(value.highest_certificate)
    for block in value.blocks:
        size += encoded_size(block)
    return size


def byte_bound(config: Any, event: Any) -> int:
    return int(min(event.request.max_bytes, config.max_response_bytes))


def request_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``malformed``, ``zero_limit``, ``wrong_chain``, ``rate_limited``, ``too_large`` or
    ``serve``.

    Malformed and wrong-chain requests are refused before they touch any state, so a flood of them
    costs the server nothing and cannot delay an advertisement (upstream bug 8)."""
    req = event.request
    if not (
        isinstance(req, SyncRequest)
        and is_u64(req.chain_id)
        and is_u64(req.request_id)
        and is_u64(req.start_height)
        and is_u64(req.limit)
        and is_u64(req.max_bytes)
        and type(event.peer) is bytes
    ):
        return "malformed"
    if req.limit == 0:
        return "zero_limit"
    if req.chain_id != config.chain_id:
        return "wrong_chain"
    if served_in_window(config, state, event.peer) >= config.rate_limit_requests:
        return "rate_limited"
    empty = {"blocks": (), "highest_certificate": view.highest_certificate()}
    if encoded_size(_Shape(**empty)) > byte_bound(config, event):
        return "too_large"
    return "serve"


class _Shape:
    """A response's shape, for measuring one that was not sent."""

    __slots__ = ("blocks", "highest_certificate")

    def __init__(self, blocks: tuple[Any, ...], highest_certificate: Any) -> None:
        self.blocks = blocks
        self.highest_certificate = highest_certificate


def window_of(config: Any, now: int) -> int:
    return now // config.rate_limit_window if now >= 0 else -1


def served_in_window(config: Any, state: Any, peer: bytes) -> int:
    if state.window != window_of(config, state.now):
        return 0
    for p, count in state.window_counts:
        if p == peer:
            return int(count)
    return 0


def _tick(kind: str) -> Guard:
    return classified(
        tick_kind,
        kind,
        {
            "regressed": "now < last tick, or now is not an unsigned 64-bit integer",
            "first": "no advertisement sent yet",
            "due": "now - last_advertised >= advertise_time",
            "not_due": "now - last_advertised < advertise_time",
        }[kind],
    )


def _request(kind: str) -> Guard:
    return classified(
        request_kind,
        kind,
        {
            "malformed": "no SyncRequest (None, say), or a field is not an unsigned 64-bit integer",
            "zero_limit": "limit == 0",
            "wrong_chain": "request.chain_id != config.chain_id",
            "rate_limited": "peer already served rate_limit_requests times in this window",
            "too_large": "even a response without blocks exceeds min(request.max_bytes, "
            "max_response_bytes)",
            "serve": "well-formed, our chain, within the peer's rate budget and byte bound",
        }[kind],
    )


ADVERTISE = ("Broadcast", "Broadcast")


# --- invariants ------------------------------------------------------------------------------


def _responses(t: Transition) -> list[tuple[Send, SyncResponse]]:
    return [
        (e, e.message) for e in t.effects if type(e) is Send and type(e.message) is SyncResponse
    ]


def _cap(t: Transition) -> int:
    return int(min(t.event.request.limit, t.config.request_limit))


def response_capped(t: Transition) -> bool:
    return all(len(r.blocks) <= _cap(t) for _, r in _responses(t))


def response_only_for_own_chain(t: Transition) -> bool:
    for send, r in _responses(t):
        if type(t.event) is not SyncRequestReceived:
            return False
        req = t.event.request
        if req.chain_id != t.config.chain_id or r.chain_id != t.config.chain_id:
            return False
        if r.request_id != req.request_id or send.peer != t.event.peer:
            return False
    return True


def response_contiguous(t: Transition) -> bool:
    for _, r in _responses(t):
        start = t.event.request.start_height
        for i, block in enumerate(r.blocks):
            expected = t.view.block_at(start + i)
            if block.height != start + i or (block is not expected and block != expected):
                return False
            if i and block.parent_hash != r.blocks[i - 1].hash:
                return False
    return True


def response_complete(t: Transition) -> bool:
    """SS-4: as many blocks as the count cap, the snapshot and the byte bound allow together."""
    for _, r in _responses(t):
        start = t.event.request.start_height
        available = max(0, t.view.highest_height() - start + 1)
        bound = byte_bound(t.config, t.event)
        fits = 0
        size = encoded_size(_Shape((), t.view.highest_certificate()))
        while fits < min(_cap(t), available):
            size += encoded_size(t.view.block_at(start + fits))
            if size > bound:
                break
            fits += 1
        if len(r.blocks) != fits:
            return False
    return True


def response_within_bytes(t: Transition) -> bool:
    """SS-13: no response is larger than the request's and the server's byte bounds."""
    return all(encoded_size(r) <= byte_bound(t.config, t.event) for _, r in _responses(t))


def eviction_fair(t: Transition) -> bool:
    """SS-15: a new peer served at a full table replaces an entry with the fewest responses."""
    if not _responses(t):
        return True
    c = t.config
    before = t.before
    table = dict(before.window_counts) if before.window == window_of(c, before.now) else {}
    after = dict(t.after.window_counts)
    peer = t.event.peer
    if peer in table or len(table) < c.rate_limit_peers:
        return True
    gone = set(table) - set(after)
    return (
        len(gone) == 1
        and table[gone.pop()] == min(table.values())
        and after.get(peer) == 1
        and len(after) == len(table)
    )


def certificate_from_snapshot(t: Transition) -> bool:
    current = t.view.highest_certificate()
    for _, r in _responses(t):
        if r.highest_certificate != current:
            return False
    for e in t.effects:
        if type(e) is Broadcast and type(e.message) is AdvertiseCertificate:
            if e.message.certificate != current:
                return False
    return True


def advertisement_authentic(t: Transition) -> bool:
    c = t.config
    for e in t.effects:
        if type(e) is Broadcast and type(e.message) is AdvertiseBlock:
            ad = e.message
            if (
                ad.chain_id != c.chain_id
                or ad.server != c.signer.public_key
                or ad.committed_height != t.view.committed_height()
                or ad.timestamp != t.event.now
            ):
                return False
            payload = advertisement_bytes(ad.chain_id, ad.server, ad.committed_height, ad.timestamp)
            if ad.signature != c.signer.sign(payload):
                return False
    return True


def one_outcome_per_request(t: Transition) -> bool:
    if type(t.event) is not SyncRequestReceived:
        return True
    if len(t.effects) != 1:
        return False
    e = t.effects[0]
    if type(e) is Send:
        return type(e.message) is SyncResponse and e.peer == t.event.peer
    return type(e) is Rejected and bool(e.peer == t.event.peer)


def peer_table_bounded(t: Transition) -> bool:
    return bool(len(t.after.window_counts) <= t.config.rate_limit_peers)


def _advertisements(t: Transition) -> list[Any]:
    return [e.message for e in t.effects if type(e) is Broadcast]


class AdvertisementSchedule:
    """Ghost clock for the advertisement period, kept apart from the machine's own state."""

    def __init__(self) -> None:
        self.now = -1
        self.last: int | None = None

    def due(self, t: Transition) -> bool:
        now = t.event.now
        return self.last is None or now - self.last >= t.config.advertise_time

    def valid_tick(self, t: Transition) -> bool:
        return is_u64(t.event.now) and t.event.now >= max(self.now, 0)

    def advance(self, t: Transition, ads: list[Any]) -> None:
        if type(t.event).__name__ == "Tick" and self.valid_tick(t):
            self.now = t.event.now
            if ads:
                self.last = t.event.now


class NotLate(AdvertisementSchedule):
    def observe(self, t: Transition) -> bool:
        ads = _advertisements(t)
        ok = True
        if type(t.event).__name__ == "Tick" and self.valid_tick(t) and self.due(t):
            ok = [type(a) for a in ads] == [AdvertiseCertificate, AdvertiseBlock]
        self.advance(t, ads)
        return ok


class NotEarly(AdvertisementSchedule):
    def observe(self, t: Transition) -> bool:
        ads = _advertisements(t)
        ok = True
        if ads:
            ok = type(t.event).__name__ == "Tick" and self.valid_tick(t) and self.due(t)
        self.advance(t, ads)
        return ok


class FreshTimestamps:
    def __init__(self) -> None:
        self.last = -1

    def observe(self, t: Transition) -> bool:
        for ad in _advertisements(t):
            if type(ad) is AdvertiseBlock:
                if ad.timestamp <= self.last:
                    return False
                self.last = ad.timestamp
        return True


class GhostWindows:
    """Responses per peer per window of ghost time, counted independently of the machine."""

    def __init__(self) -> None:
        self.now = -1
        self.counts: dict[tuple[int, bytes], int] = {}
        self.peers: dict[int, set[bytes]] = {}

    def window(self, t: Transition) -> int:
        return self.now // t.config.rate_limit_window if self.now >= 0 else -1

    def advance(self, t: Transition) -> bool:
        """Moves the ghost clock on a valid Tick; True when the step was a Tick."""
        if type(t.event).__name__ == "Tick":
            if is_u64(t.event.now) and t.event.now >= max(self.now, 0):
                self.now = t.event.now
            return True
        return False

    def count(self, t: Transition) -> list[tuple[int, bytes]]:
        window = self.window(t)
        keys = []
        for send, _ in _responses(t):
            key = (window, send.peer)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.peers.setdefault(window, set()).add(send.peer)
            keys.append(key)
        return keys


class RateLimit(GhostWindows):
    """SS-10: the per-peer budget is exact while the window's table never had to drop anyone,
    that is while at most rate_limit_peers distinct peers were served in the window."""

    def observe(self, t: Transition) -> bool:
        if self.advance(t):
            return True
        for window, peer in self.count(t):
            crowded = len(self.peers[window]) > t.config.rate_limit_peers
            if self.counts[(window, peer)] > t.config.rate_limit_requests and not crowded:
                return False
        return True


class RefusedOnlyOverBudget(GhostWindows):
    """SS-14: a peer is refused as rate limited only after rate_limit_requests responses in the
    window, whatever other peers (or one peer under many identities) did."""

    def observe(self, t: Transition) -> bool:
        if self.advance(t):
            return True
        self.count(t)
        for e in t.effects:
            if type(e) is Rejected and e.reason == "rate_limited":
                served = self.counts.get((self.window(t), t.event.peer), 0)
                if served < t.config.rate_limit_requests:
                    return False
        return True


INVARIANTS = (
    Invariant(
        id="SS-1",
        statement="a response holds at most min(request.limit, config.request_limit) blocks",
        check=response_capped,
        catches="upstream bug 1: the cap was max(limit, request_limit), so a client asking for "
        "4 billion blocks got the whole chain",
    ),
    Invariant(
        id="SS-2",
        statement="a response answers a request on our chain, to its sender, with our chain id "
        "and the request's id",
        check=response_only_for_own_chain,
        catches="a dropped chain-id filter; upstream bug 4 (responses without request ids)",
    ),
    Invariant(
        id="SS-3",
        statement="response blocks are the snapshot's blocks at start_height, start_height+1, ... "
        "with unbroken parent links",
        check=response_contiguous,
        catches="gaps, duplicates or blocks from two different snapshots in one response",
    ),
    Invariant(
        id="SS-4",
        statement="a response holds exactly as many blocks as min(limit, request_limit), the "
        "blocks available from start_height and the byte bound allow together",
        check=response_complete,
        catches="upstream's limit loop (limit 0 meant unlimited) and needless truncation",
    ),
    Invariant(
        id="SS-5",
        statement="the certificate in a response or advertisement is the snapshot's highest "
        "certificate",
        check=certificate_from_snapshot,
        catches="a stale cached certificate, or blocks and certificate from different snapshots",
    ),
    Invariant(
        id="SS-6",
        statement="on the first valid Tick and on every valid Tick at least advertise_time after "
        "the last advertisement, the server broadcasts AdvertiseCertificate then AdvertiseBlock",
        monitor=NotLate,
        catches="advertising late, or never; upstream bug 8 (wrong-chain floods starving the "
        "advertisement timer)",
    ),
    Invariant(
        id="SS-7",
        statement="advertisements are sent only on a Tick at least advertise_time after the "
        "previous one",
        monitor=NotEarly,
        catches="advertising early or on request events (an amplification channel)",
    ),
    Invariant(
        id="SS-8",
        statement="AdvertiseBlock names our chain, our key, the snapshot's committed height and "
        "the Tick time, and its signature is over the domain-tagged payload",
        check=advertisement_authentic,
        catches="upstream bug 7: AdvertiseBlock signed the same bytes as a timeout vote",
    ),
    Invariant(
        id="SS-9",
        statement="AdvertiseBlock timestamps strictly increase, so a replayed one is recognisable",
        monitor=FreshTimestamps,
        catches="upstream bug 7: advertisements carried no freshness and could be replayed",
    ),
    Invariant(
        id="SS-10",
        statement="no peer is served more than rate_limit_requests responses in one "
        "rate_limit_window, while at most rate_limit_peers distinct peers were served in it (past "
        "that, a dropped entry restarts its peer's count: the table bounds memory, not a Sybil)",
        monitor=RateLimit,
        catches="a missing or leaky per-peer rate limit",
    ),
    Invariant(
        id="SS-11",
        statement="every SyncRequest gets exactly one outcome: a response to its sender or a "
        "counted rejection",
        check=one_outcome_per_request,
        catches="silently dropped requests (upstream sends nothing when the snapshot read fails)",
    ),
    Invariant(
        id="SS-12",
        statement="the per-peer rate table never holds more than rate_limit_peers entries",
        check=peer_table_bounded,
        catches="unbounded memory under a flood of distinct peers",
    ),
    Invariant(
        id="SS-13",
        statement="no response is larger than min(request.max_bytes, max_response_bytes) "
        "bytes, as encoded_size counts them",
        check=response_within_bytes,
        catches="issue 7: responses had no byte bound, so a long chain of large blocks went out "
        "in one message whatever the client could take",
    ),
    Invariant(
        id="SS-14",
        statement="a request is refused as rate_limited only when its peer has already been "
        "served rate_limit_requests responses in the window (counted by a ghost clock): never "
        "because other peers filled the table",
        monitor=RefusedOnlyOverBudget,
        catches="issue 7: 1,024 identities filled the peer table and every new (honest) peer "
        "was refused for the rest of the window",
    ),
    Invariant(
        id="SS-15",
        statement="a new peer served while the window's table is full takes the place of an "
        "entry with the fewest responses, so a peer at its budget is the last one forgotten",
        check=eviction_fair,
        catches="an eviction that frees the heaviest peer (a rotating attacker resetting its "
        "own budget) or grows the table",
    ),
)

LIVENESS = (
    Liveness(
        id="SL-1",
        statement="an advertisement is broadcast at least every advertise_time + tick_interval",
        fairness="after the chaos phase, Ticks arrive every tick_interval (<= advertise_time) "
        "while any mix of requests keeps arriving",
        bound="advertise_time + tick_interval of Tick time",
        bound_ticks=2,
        catches="advertisements starved by request floods (upstream bug 8)",
    ),
    Liveness(
        id="SL-2",
        statement="a well-formed request on our chain from a peer within its rate budget is "
        "answered in the step that receives it",
        fairness="after the chaos phase, with the peer's window not exhausted",
        bound="the same step (0 ticks)",
        bound_ticks=0,
        catches="requests left unanswered (upstream: a failed snapshot read sends nothing)",
    ),
)

SPEC: MachineSpec = define_machine(
    name="sync_server",
    title="Block sync server",
    summary=(
        "Answers SyncRequests with contiguous blocks and the highest certificate from one chain "
        "snapshot, capped at min(request.limit, request_limit) blocks and min(request.max_bytes, "
        "max_response_bytes) bytes; advertises its highest certificate "
        "and its signed committed height at start and every advertise_time; refuses wrong-chain, "
        "malformed and over-rate requests with a counted rejection."
    ),
    states=(STARTING, SERVING),
    initial=STARTING,
    events=("Tick", "SyncRequestReceived"),
    effects=("Send", "Broadcast", "Rejected"),
    rows=(
        reject(STARTING, "Tick", "clock_regressed", guard=_tick("regressed")),
        row(
            STARTING,
            "Tick",
            SERVING,
            guard=_tick("first"),
            effects=ADVERTISE,
            note="advertise at start",
        ),
        reject(SERVING, "Tick", "clock_regressed", guard=_tick("regressed")),
        row(
            SERVING,
            "Tick",
            SERVING,
            guard=_tick("due"),
            effects=ADVERTISE,
            note="advertise every advertise_time",
        ),
        row(SERVING, "Tick", SERVING, guard=_tick("not_due"), note="only the clock moves"),
        *(
            draft
            for state in (STARTING, SERVING)
            for draft in (
                reject(
                    state, "SyncRequestReceived", "malformed_request", guard=_request("malformed")
                ),
                reject(
                    state,
                    "SyncRequestReceived",
                    "zero_limit",
                    guard=_request("zero_limit"),
                    note="upstream treated limit 0 as unlimited",
                ),
                reject(state, "SyncRequestReceived", "wrong_chain", guard=_request("wrong_chain")),
                reject(
                    state, "SyncRequestReceived", "rate_limited", guard=_request("rate_limited")
                ),
                reject(
                    state,
                    "SyncRequestReceived",
                    "response_too_large",
                    guard=_request("too_large"),
                    note="the byte bound cannot hold the highest certificate",
                ),
                row(
                    state,
                    "SyncRequestReceived",
                    state,
                    guard=_request("serve"),
                    effects=("Send",),
                    note="blocks from start_height, capped by count and bytes, plus the highest "
                    "certificate",
                ),
            )
        ),
    ),
    invariants=INVARIANTS,
    liveness=LIVENESS,
    notes=(
        "Upstream caps a response at max(limit, request_limit) and treats limit 0 as unlimited; "
        "here the cap is min(request.limit, request_limit) and limit 0 is rejected.",
        "Upstream's AdvertiseBlock signs (chain_id, height), the same bytes as a timeout vote; "
        "here it signs a domain-tagged payload with the server's key and a timestamp.",
        "Upstream checks the advertisement timer in the same busy loop that drains requests; here "
        "advertising depends on Tick alone, and refused requests change no state.",
        "A peer's rate budget is rate_limit_requests responses per fixed rate_limit_window of Tick "
        "time. A window's table tracks at most rate_limit_peers peers; a new peer arriving at a "
        "full table is served and the entry with the fewest responses is dropped. Refusing new "
        "peers instead (the earlier rule) let 1,024 fresh identities shut every honest peer out "
        "for the rest of the window. The cost: a peer whose entry was dropped starts counting "
        "again, so the per-peer budget is exact only while at most rate_limit_peers peers are "
        "served in a window; a per-identity budget cannot bound a peer that makes identities at "
        "will in any case, and the table only bounds the server's memory.",
        "Responses are bounded in bytes as well as blocks: the request carries max_bytes, and "
        "the server sends the longest run of blocks that keeps the response within "
        "min(max_bytes, max_response_bytes); if even the highest certificate does not fit, the "
        "request is refused (response_too_large).",
    ),
)
