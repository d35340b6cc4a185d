"""The block sync client as a pure machine. Its rules are stated in ``blockfsm.spec.sync_client``.

In brief, and in the order this module applies them:

- A ``Tick`` first drops expired registry and blacklist entries (a blacklist entry is live while
  ``until > now``; upstream's cleanup compared the other way round). In ``Passive`` it fires the
  timeout trigger after ``trigger_timeout`` without progress; in ``AwaitingResponse`` it ends a
  sync that has run ``max_sync_time``, or skips a server whose deadline passed and asks the next.
- An ``AdvertiseBlock`` registers its sender only after chain, sender, validator, blacklist and
  freshness checks, and last the signature (the expensive one).
- An ``AdvertiseCertificate`` far enough ahead starts a sync at most once per
  ``trigger_rate_limit``; the rate limit is checked, and spent, before any signature is verified,
  so an invalid certificate spends it too.
- A message field that is ``None`` or of the wrong type is a counted rejection, never a crash.
- A ``SyncResponse`` is matched by peer and request id, checked in full, then applied through
  ``Persist``/``Commit``/``UpdateHighestCertificate`` effects. Its sender is blamed only for what
  no honest server could send, whatever that server's own ``request_limit``: an invalid response.
  A short valid response is never blamed. A server is asked again while it makes progress and
  answers in full (``min(limit, target + 1 - start)`` blocks, or as many as the byte bound
  holds); after a short answer the sync moves to an eligible server that delivered more, if
  there is one, and the short server stays a fallback.
- Server choice ranks by what each server delivered: a server's record is the length of its
  last short answer, or ``request_limit`` (presumed full) if it has none. The trigger's sender
  goes first only among the best records; ties are drawn with the seed.
- A sync never waits for the next trigger after a failure: the next eligible server is asked in
  the same step.

Nothing here blocks, reads a clock or draws random numbers: server choice mixes a seed and a draw
counter carried in the state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from blockfsm.machine._maps import SortedMap
from blockfsm.machine.core import (
    MAX_PERIOD_MS,
    Observe,
    PeerId,
    Rejected,
    Send,
    Step,
    Tick,
    require,
    require_int,
)
from blockfsm.machine.crypto import PUBLIC_KEY_SIZE, Verifier
from blockfsm.machine.messages import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncResponse,
    SyncResponseReceived,
    block_size,
    response_size,
)
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
    ChainId,
    Height,
    ValidatorSet,
    advertise_block_payload,
    certificate_is_valid,
)
from blockfsm.machine.view import ChainView

PASSIVE, AWAITING = "Passive", "AwaitingResponse"
"""The client's control states (``SyncClientState.control``); ``blockfsm.spec.sync_client`` states
them again."""


MAX_REQUEST_LIMIT = 100_000
_MASK64 = MAX_U64


# --- config ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SyncClientConfig:
    """Defaults follow upstream: request_limit 10, response_timeout 3 s, blacklist 10 s,
    trigger_min_view_difference 2, trigger_timeout 60 s. The rest are ours: advertisements expire
    after three advertise periods of 10 s and must be within 20 s of our clock; one sync may run
    30 s; certificates may start a sync once a second; a response may hold 4 MiB."""

    chain_id: ChainId
    own_key: PeerId
    validators: ValidatorSet
    verifier: Verifier = attrs.field(eq=False, hash=False)
    seed: int = 0
    request_limit: int = 10
    response_timeout: int = 3_000
    blacklist_expiry_time: int = 10_000
    trigger_min_view_difference: int = 2
    trigger_timeout: int = 60_000
    trigger_rate_limit: int = 1_000
    advertise_expiry: int = 30_000
    advertise_freshness: int = 20_000
    max_sync_time: int = 30_000
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __attrs_post_init__(self) -> None:
        require_int(self.chain_id, "chain_id", 0, MAX_U64)
        require(
            type(self.own_key) is bytes and len(self.own_key) == PUBLIC_KEY_SIZE,
            f"own_key must be a {PUBLIC_KEY_SIZE}-byte public key",
        )
        require(
            isinstance(self.validators, ValidatorSet) and len(self.validators) > 0,
            "validators must be a non-empty ValidatorSet",
        )
        require(callable(getattr(self.verifier, "verify", None)), "verifier needs verify()")
        require_int(self.seed, "seed", 0, MAX_U64)
        # Below 3 a full response can commit nothing new (block h commits once h + 1 is certified,
        # and the last block's certificate is not in the response), so sync could never progress.
        require_int(self.request_limit, "request_limit", 3, MAX_REQUEST_LIMIT)
        require_int(self.response_timeout, "response_timeout (ms)", 1, MAX_PERIOD_MS)
        require_int(self.blacklist_expiry_time, "blacklist_expiry_time (ms)", 1, MAX_PERIOD_MS)
        require_int(self.trigger_min_view_difference, "trigger_min_view_difference", 1, 2**32)
        require_int(self.trigger_timeout, "trigger_timeout (ms)", 1, MAX_PERIOD_MS)
        require_int(self.trigger_rate_limit, "trigger_rate_limit (ms)", 1, MAX_PERIOD_MS)
        require_int(self.advertise_expiry, "advertise_expiry (ms)", 1, MAX_PERIOD_MS)
        require_int(self.advertise_freshness, "advertise_freshness (ms)", 1, MAX_PERIOD_MS)
        require_int(self.max_sync_time, "max_sync_time (ms)", 1, MAX_PERIOD_MS)
        require_int(
            self.max_response_bytes, "max_response_bytes", MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES
        )
        require(
            self.max_sync_time > self.response_timeout,
            "max_sync_time must exceed response_timeout, or no response could ever be awaited",
        )


# --- state, events, effects ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Registration:
    """A server as its last accepted AdvertiseBlock described it; ``received`` is our clock."""

    peer: PeerId
    height: Height
    timestamp: int
    received: int


@attrs.frozen(slots=False)
class Registry:
    """The registered servers, one ``Registration`` per peer.

    Its value is ``entries``, the registrations sorted by peer (what it equals, encodes and
    iterates as). A step reads and updates it through two sorted maps, so an advertisement costs
    the same with 10,000 servers registered as with 10, and a Tick finds expired entries without
    a scan: ``_by_peer`` (peer to registration) and ``_by_received`` (``(received, peer)``, one
    key per entry, oldest first)."""

    entries: tuple[Registration, ...]

    _by_peer: SortedMap[PeerId, Registration] = attrs.field(init=False, eq=False, repr=False)
    _by_received: SortedMap[tuple[int, PeerId], None] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        by_peer: SortedMap[PeerId, Registration] = SortedMap(
            (entry.peer, entry) for entry in self.entries
        )
        if len(by_peer) != len(self.entries):
            raise ValueError("a registry holds one registration per peer")
        by_received: SortedMap[tuple[int, PeerId], None] = SortedMap(
            ((entry.received, entry.peer), None) for entry in self.entries
        )
        self.__dict__.update(
            entries=tuple(by_peer.values()), _by_peer=by_peer, _by_received=by_received
        )

    @classmethod
    def _of(
        cls,
        by_peer: SortedMap[PeerId, Registration],
        by_received: SortedMap[tuple[int, PeerId], None],
    ) -> Registry:
        registry: Registry = object.__new__(cls)
        registry.__dict__.update(_by_peer=by_peer, _by_received=by_received)
        return registry

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # ``entries`` is built the first time it is read (to compare or encode).
            if name != "entries" or "_by_peer" not in self.__dict__:
                raise AttributeError(name)
            entries = tuple(self._by_peer.values())
            self.__dict__["entries"] = entries
            return entries

    def __iter__(self) -> Iterator[Registration]:
        return self._by_peer.values()

    def __len__(self) -> int:
        return len(self._by_peer)

    def get(self, peer: PeerId) -> Registration | None:
        return self._by_peer.get(peer)

    def put(self, entry: Registration) -> Registry:
        """This registry with ``entry`` in place of any registration of its peer."""
        peer = entry.peer
        by_received = self._by_received
        old = self._by_peer.get(peer)
        if old is not None:
            by_received = by_received.delete((old.received, peer))
        return self._of(
            self._by_peer.set(peer, entry), by_received.set((entry.received, peer), None)
        )

    def without(self, peer: PeerId) -> Registry:
        old = self._by_peer.get(peer)
        if old is None:
            return self
        return self._of(self._by_peer.delete(peer), self._by_received.delete((old.received, peer)))

    def expire(self, cutoff: int) -> Registry:
        """This registry without the entries received at or before ``cutoff``."""
        by_received = self._by_received
        if not by_received or by_received.first()[0][0] > cutoff:
            return self
        by_peer = self._by_peer
        while by_received:
            key = by_received.first()[0]
            if key[0] > cutoff:
                break
            by_received = by_received.delete(key)
            by_peer = by_peer.delete(key[1])
        return self._of(by_peer, by_received)


EMPTY_REGISTRY = Registry(())


def _registry(value: Any) -> Registry:
    return value if type(value) is Registry else Registry(tuple(value))


@attrs.frozen(kw_only=True)
class Outstanding:
    """The one request in flight; ``target`` is the server's advertised height when it was sent."""

    server: PeerId
    request_id: int
    start_height: Height
    limit: int
    target: Height
    deadline: int


@attrs.frozen(kw_only=True)
class SyncClientState:
    control: str
    now: int = 0
    seed: int = 0
    draws: int = 0
    next_request_id: int = 1
    registry: Registry = attrs.field(default=EMPTY_REGISTRY, converter=_registry)
    blacklist: tuple[tuple[PeerId, int], ...] = ()
    last_progress: int = 0
    last_event_trigger: int = -1
    sync_started: int = -1
    tried: tuple[PeerId, ...] = ()
    request: Outstanding | None = None
    delivered: tuple[tuple[PeerId, int], ...] = ()
    """Per server (sorted by peer), the blocks of its last valid answer when that answer was
    short; a server without an entry is presumed to answer in full. One entry per validator at
    most: requests only go to registered validators."""


@attrs.frozen(kw_only=True)
class ChainAdvanced:
    """The node progressed on its own (consensus committed a block): restarts the timeout
    trigger."""


@attrs.frozen(kw_only=True)
class Persist:
    """Store ``block`` at its height (replacing an uncommitted block there and above)."""

    block: Block


@attrs.frozen(kw_only=True)
class Commit:
    """Mark every block up to ``height`` committed."""

    height: Height


@attrs.frozen(kw_only=True)
class UpdateHighestCertificate:
    certificate: Certificate


@attrs.frozen(kw_only=True)
class Blacklisted:
    """An observation: ``peer`` is ignored until ``until``; the state already holds the entry."""

    peer: PeerId
    until: int
    reason: str


def initial(config: SyncClientConfig) -> SyncClientState:
    return SyncClientState(control=PASSIVE, seed=config.seed)


def _ended(
    state: SyncClientState,
    now: int,
    registry: Registry,
    blacklist: tuple[tuple[PeerId, int], ...],
) -> SyncClientState:
    """Back to Passive when a sync ends, for any reason; the timeout trigger's clock restarts at
    the end of the sync."""
    return SyncClientState(
        control=PASSIVE,
        now=now,
        seed=state.seed,
        draws=state.draws,
        next_request_id=state.next_request_id,
        registry=registry,
        blacklist=blacklist,
        last_progress=now,
        last_event_trigger=state.last_event_trigger,
        delivered=state.delivered,
    )


def step(config: SyncClientConfig, state: SyncClientState, event: Any, view: ChainView) -> Step:
    kind = type(event)
    if kind is Tick:
        return _on_tick(config, state, event, view)
    if kind is SyncResponseReceived:
        return _on_response(config, state, event, view)
    if kind is AdvertiseBlockReceived:
        return _on_advertise_block(config, state, event)
    if kind is AdvertiseCertificateReceived:
        return _on_advertise_certificate(config, state, event, view)
    if kind is ChainAdvanced:
        return Step(attrs.evolve(state, last_progress=state.now), ())
    raise TypeError(f"sync client does not take {kind.__name__}")


# --- choice ----------------------------------------------------------------------------------


def mix(seed: int, draws: int) -> int:
    z = (seed + (draws + 1) * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return int(z ^ (z >> 31))


def _is_banned(blacklist: tuple[tuple[PeerId, int], ...], peer: PeerId, now: int) -> bool:
    for p, until in blacklist:
        if p == peer and until > now:
            return True
    return False


def _record(config: SyncClientConfig, records: dict[PeerId, int], peer: PeerId) -> int:
    return records.get(peer, config.request_limit)


def _choose(
    config: SyncClientConfig,
    registry: Registry,
    blacklist: tuple[tuple[PeerId, int], ...],
    now: int,
    committed: Height,
    tried: tuple[PeerId, ...],
    seed: int,
    draws: int,
    *,
    first: PeerId | None,
    at_start: bool,
    delivered: tuple[tuple[PeerId, int], ...],
) -> Registration | None:
    """Among servers strictly ahead (at the start, failing those, any eligible) and the trigger
    peer, those with the best delivery record; of them the trigger peer, else a seeded draw."""
    ahead: list[Registration] = []
    level: list[Registration] = []
    trigger: Registration | None = None
    expiry = config.advertise_expiry
    for entry in registry:
        peer = entry.peer
        if (
            entry.received + expiry <= now
            or peer == config.own_key
            or peer in tried
            or entry.height < committed
            or _is_banned(blacklist, peer, now)
        ):
            continue
        if peer == first:
            trigger = entry
        elif entry.height > committed:
            ahead.append(entry)
        else:
            level.append(entry)
    pool = ahead if ahead or not at_start else level
    if not delivered:
        if trigger is not None:
            return trigger
        return pool[mix(seed, draws) % len(pool)] if pool else None
    records = dict(delivered)
    best = max((_record(config, records, e.peer) for e in pool), default=-1)
    if trigger is not None and _record(config, records, trigger.peer) >= best:
        return trigger
    if not pool:
        return None
    top = [e for e in pool if _record(config, records, e.peer) == best]
    return top[mix(seed, draws) % len(top)]


def _held(
    view: ChainView, start: Height, blocks: tuple[Block, ...], diverged: bool, height: Height
) -> Block | None:
    """The block the chain holds at ``height`` once a response's blocks from ``start`` are
    applied (``diverged``: some of them replace the chain's own, which drops the chain's blocks
    above them)."""
    offset = height - start
    if 0 <= offset < len(blocks):
        return blocks[offset]
    if offset >= len(blocks) and diverged:
        return None
    return view.block_at(height)


def _resume(
    view: ChainView,
    committed: Height,
    certificate: Certificate,
    start: Height = 0,
    blocks: tuple[Block, ...] = (),
    diverged: bool = False,
) -> Height:
    """Where the next request starts: past the committed block, and past the block above it too
    when that block is held and certified (by the justify of the held block above it, or by the
    highest certificate), since both were validated when they were persisted or recorded and a
    certified block is on the one chain an honest server extends. An uncertified block (the tip of
    the last response) is asked for again: it may be a Byzantine server's fork."""
    height = committed + 1
    block = _held(view, start, blocks, diverged, height)
    if block is None:
        return height
    child = _held(view, start, blocks, diverged, height + 1)
    if (
        child is not None
        and child.parent_hash == block.hash
        and child.justify.height == height
        and child.justify.block_hash == block.hash
    ):
        return height + 1
    if certificate.height == height and certificate.block_hash == block.hash:
        return height + 1
    return height


def _request(
    config: SyncClientConfig,
    state: SyncClientState,
    server: Registration,
    now: int,
    start: Height,
    target: Height,
) -> tuple[Outstanding, Send]:
    rid = state.next_request_id
    out = Outstanding(
        server=server.peer,
        request_id=rid,
        start_height=start,
        limit=config.request_limit,
        target=target,
        deadline=now + config.response_timeout,
    )
    msg = SyncRequest(
        chain_id=config.chain_id,
        request_id=rid,
        start_height=start,
        limit=config.request_limit,
        max_bytes=config.max_response_bytes,
    )
    return out, Send(peer=server.peer, message=msg)


def _start(
    config: SyncClientConfig,
    state: SyncClientState,
    now: int,
    view: ChainView,
    registry: Registry,
    blacklist: tuple[tuple[PeerId, int], ...],
    first: PeerId | None,
    last_event_trigger: int,
) -> Step | None:
    committed = view.committed_height()
    server = _choose(
        config,
        registry,
        blacklist,
        now,
        committed,
        (),
        state.seed,
        state.draws,
        first=first,
        at_start=True,
        delivered=state.delivered,
    )
    if server is None:
        return None
    start = _resume(view, committed, view.highest_certificate())
    out, send = _request(config, state, server, now, start, server.height)
    new = SyncClientState(
        control=AWAITING,
        now=now,
        seed=state.seed,
        draws=state.draws + 1,
        next_request_id=state.next_request_id + 1,
        registry=registry,
        blacklist=blacklist,
        last_progress=state.last_progress,
        last_event_trigger=last_event_trigger,
        sync_started=now,
        tried=(),
        request=out,
        delivered=state.delivered,
    )
    return Step(new, (Observe(name="sync_started", detail=server.peer.hex()[:8]), send))


def _next_or_end(
    config: SyncClientConfig,
    state: SyncClientState,
    now: int,
    committed: Height,
    start: Height,
    registry: Registry,
    blacklist: tuple[tuple[PeerId, int], ...],
    tried: tuple[PeerId, ...],
    last_progress: int,
    effects: tuple[Any, ...],
    reason: str,
) -> Step:
    """Ask the next server strictly ahead in this same step (from ``start``), or end the
    sync."""
    server = _choose(
        config,
        registry,
        blacklist,
        now,
        committed,
        tried,
        state.seed,
        state.draws,
        first=None,
        at_start=False,
        delivered=state.delivered,
    )
    if server is None:
        new = _ended(state, now, registry, blacklist)
        return Step(new, (*effects, Observe(name="sync_ended", detail=reason)))
    out, send = _request(config, state, server, now, start, server.height)
    new = SyncClientState(
        control=AWAITING,
        now=now,
        seed=state.seed,
        draws=state.draws + 1,
        next_request_id=state.next_request_id + 1,
        registry=registry,
        blacklist=blacklist,
        last_progress=last_progress,
        last_event_trigger=state.last_event_trigger,
        sync_started=state.sync_started,
        tried=tried,
        request=out,
        delivered=state.delivered,
    )
    return Step(new, (*effects, send))


# --- ticks -----------------------------------------------------------------------------------


def _on_tick(
    config: SyncClientConfig, state: SyncClientState, event: Tick, view: ChainView
) -> Step:
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return Step(state, (Rejected(reason="clock_regressed"),))
    registry = state.registry.expire(now - config.advertise_expiry)
    blacklist = state.blacklist
    if any(until <= now for _, until in blacklist):
        blacklist = tuple(entry for entry in blacklist if entry[1] > now)

    if state.control == PASSIVE:
        if now - state.last_progress >= config.trigger_timeout:
            started = _start(
                config, state, now, view, registry, blacklist, None, state.last_event_trigger
            )
            if started is not None:
                return started
        return Step(attrs.evolve(state, now=now, registry=registry, blacklist=blacklist), ())

    req = state.request
    assert req is not None
    if now - state.sync_started >= config.max_sync_time:
        new = _ended(state, now, registry, blacklist)
        return Step(new, (Observe(name="sync_ended", detail="time_cap"),))
    if now < req.deadline:
        return Step(attrs.evolve(state, now=now, registry=registry, blacklist=blacklist), ())
    committed = view.committed_height()
    return _next_or_end(
        config,
        state,
        now,
        committed,
        _resume(view, committed, view.highest_certificate()),
        registry,
        blacklist,
        (*state.tried, req.server),
        state.last_progress,
        (),
        "timeout",
    )


# --- advertisements --------------------------------------------------------------------------


def _advertisement_refusal(
    config: SyncClientConfig, state: SyncClientState, event: AdvertiseBlockReceived
) -> str | None:
    ad = event.advertisement
    peer = event.peer
    if type(ad) is not AdvertiseBlock:
        return "malformed_advertisement"
    height = ad.committed_height
    ts = ad.timestamp
    if not (
        type(peer) is bytes
        and type(ad.chain_id) is int
        and 0 <= ad.chain_id <= MAX_U64
        and type(ad.server) is bytes
        and type(height) is int
        and -1 <= height < 2**63
        and type(ts) is int
        and 0 <= ts <= MAX_U64
        and type(ad.signature) is bytes
    ):
        return "malformed_advertisement"
    if ad.chain_id != config.chain_id:
        return "wrong_chain"
    if peer == config.own_key:
        return "from_self"
    if ad.server != peer:
        return "server_mismatch"
    if peer not in config.validators:
        return "not_validator"
    if _is_banned(state.blacklist, peer, state.now):
        return "blacklisted"
    if ts > state.now + config.advertise_freshness or ts < state.now - config.advertise_freshness:
        return "stale_advertisement"
    known = state.registry.get(peer)
    if known is not None and ts <= known.timestamp:
        return "stale_advertisement"
    payload = advertise_block_payload(ad.chain_id, peer, height, ts)
    if not config.verifier.verify(peer, payload, ad.signature):
        return "bad_signature"
    return None


def _on_advertise_block(
    config: SyncClientConfig, state: SyncClientState, event: AdvertiseBlockReceived
) -> Step:
    refusal = _advertisement_refusal(config, state, event)
    if refusal is not None:
        return Step(state, (Rejected(reason=refusal, peer=event.peer),))
    ad = event.advertisement
    entry = Registration(
        peer=event.peer, height=ad.committed_height, timestamp=ad.timestamp, received=state.now
    )
    return Step(attrs.evolve(state, registry=state.registry.put(entry)), ())


def _on_advertise_certificate(
    config: SyncClientConfig,
    state: SyncClientState,
    event: AdvertiseCertificateReceived,
    view: ChainView,
) -> Step:
    if state.control != PASSIVE:
        return Step(state, ())
    ad = event.advertisement
    cert: Any = ad.certificate if type(ad) is AdvertiseCertificate else None
    if not _certificate_well_formed(cert):
        return Step(state, (Rejected(reason="malformed_certificate", peer=event.peer),))
    if cert.chain_id != config.chain_id:
        return Step(state, (Rejected(reason="wrong_chain", peer=event.peer),))
    if cert.view < view.highest_certificate().view + config.trigger_min_view_difference:
        return Step(state, ())
    now = state.now
    last = state.last_event_trigger
    if last >= 0 and now - last < config.trigger_rate_limit:
        return Step(state, ())
    # The attempt spends the rate limit before any signature is verified, valid or not: a flood
    # of invalid certificates costs one verification round per trigger_rate_limit.
    if not certificate_is_valid(cert, config.chain_id, config.validators, config.verifier):
        return Step(
            attrs.evolve(state, last_event_trigger=now),
            (Rejected(reason="invalid_certificate", peer=event.peer),),
        )
    started = _start(config, state, now, view, state.registry, state.blacklist, event.peer, now)
    if started is not None:
        return started
    return Step(attrs.evolve(state, last_event_trigger=now), ())


# --- responses -------------------------------------------------------------------------------


def _certificate_well_formed(cert: Any) -> bool:
    if type(cert) is not Certificate:
        return False
    if not (
        type(cert.chain_id) is int
        and type(cert.view) is int
        and type(cert.height) is int
        and type(cert.block_hash) is bytes
        and type(cert.signatures) is tuple
        and 0 <= cert.chain_id <= MAX_U64
        and 0 <= cert.view <= MAX_U64
        and -(2**63) <= cert.height < 2**63
    ):
        return False
    for pair in cert.signatures:
        if type(pair) is not tuple or len(pair) != 2:
            return False
        if type(pair[0]) is not bytes or type(pair[1]) is not bytes:
            return False
    return True


def _response_well_formed(event: SyncResponseReceived) -> bool:
    r = event.response
    if type(r) is not SyncResponse or type(event.peer) is not bytes:
        return False
    if type(r.chain_id) is not int or type(r.request_id) is not int or type(r.blocks) is not tuple:
        return False
    if not (0 <= r.chain_id <= MAX_U64 and 0 <= r.request_id <= MAX_U64):
        return False
    for b in r.blocks:
        if type(b) is not Block or not (
            type(b.chain_id) is int
            and type(b.height) is int
            and type(b.parent_hash) is bytes
            and type(b.payload) is bytes
            and type(b.hash) is bytes
            and 0 <= b.chain_id <= MAX_U64
            and 0 <= b.height <= MAX_U64
            and _certificate_well_formed(b.justify)
        ):
            return False
    return _certificate_well_formed(r.highest_certificate)


def _valid(config: SyncClientConfig, req: Outstanding, r: SyncResponse, view: ChainView) -> bool:
    chain_id = config.chain_id
    blocks = r.blocks
    if r.chain_id != chain_id or len(blocks) > req.limit:
        return False
    # We asked for at most max_response_bytes: no honest server sends more.
    if response_size(r) > config.max_response_bytes:
        return False
    height = req.start_height
    if height == 0:
        prev = ZERO_HASH
    else:
        parent = view.block_at(height - 1)
        if parent is None:
            return False
        prev = parent.hash
    committed = view.committed_height()
    validators = config.validators
    verifier = config.verifier
    for b in blocks:
        justify = b.justify
        if b.height != height or b.chain_id != chain_id or b.parent_hash != prev:
            return False
        if justify.height != height - 1 or justify.block_hash != prev:
            return False
        if not b.hash_is_valid():
            return False
        if not certificate_is_valid(justify, chain_id, validators, verifier):
            return False
        if height <= committed:
            mine = view.block_at(height)
            if mine is None or mine.hash != b.hash:
                return False
        prev = b.hash
        height += 1
    return bool(certificate_is_valid(r.highest_certificate, chain_id, validators, verifier))


def _on_response(
    config: SyncClientConfig, state: SyncClientState, event: SyncResponseReceived, view: ChainView
) -> Step:
    peer = event.peer
    if not _response_well_formed(event):
        return Step(state, (Rejected(reason="malformed_response", peer=peer),))
    req = state.request
    r = event.response
    # Only AwaitingResponse has a request outstanding; a request left in a Passive state is stale.
    if (
        state.control != AWAITING
        or req is None
        or peer != req.server
        or r.request_id != req.request_id
    ):
        return Step(state, (Rejected(reason="unexpected_response", peer=peer),))
    now = state.now
    tried = (*state.tried, peer)
    if not _valid(config, req, r, view):
        committed = view.committed_height()
        return _blame(
            config,
            state,
            peer,
            "invalid_response",
            committed,
            _resume(view, committed, view.highest_certificate()),
            tried,
            state.last_progress,
            (),
        )

    # Apply: persist what we do not hold yet, commit what the certificates allow.
    start = req.start_height
    blocks = r.blocks
    effects: list[Any] = []
    diverged = False
    for b in blocks:
        if not diverged:
            mine = view.block_at(b.height)
            if mine is not None and mine.hash == b.hash:
                continue
            diverged = True
        effects.append(Persist(block=b))
    certified = blocks[-1].height - 1 if blocks else start - 1
    best = blocks[-1].justify if blocks else None
    cert = r.highest_certificate
    if _held_after(view, start, blocks, diverged, cert):
        if cert.height > certified:
            certified = cert.height
        if best is None or cert.view > best.view:
            best = cert
    derived = certified - 1
    committed = view.committed_height()
    last_progress = state.last_progress
    # Progress: the response committed something the chain had not committed.
    progressed = derived > committed
    if progressed:
        effects.append(Commit(height=derived))
        committed = derived
        last_progress = now
    highest = view.highest_certificate()
    if best is not None and best.view > highest.view:
        effects.append(UpdateHighestCertificate(certificate=best))
        highest = best
    resume = _resume(view, committed, highest, start, blocks, diverged)

    # No blame for a short answer: an honest server whose own request_limit (or byte bound) is
    # smaller than ours sends fewer blocks, and the client cannot tell it from a stingy one. But
    # a short answer is recorded, and a server is asked again only while it makes progress and
    # answers in full, or no eligible server delivered more: a Byzantine server answering a few
    # valid blocks at a time must not set the pace of the catch-up.
    delivered = _delivered(config, state.delivered, req, r)
    state = attrs.evolve(state, delivered=delivered)
    target = req.target
    known = state.registry.get(peer)
    if known is not None and known.received + config.advertise_expiry > now:
        target = max(target, known.height)
    if progressed and committed < target:
        short = dict(delivered).get(peer)
        other = None
        if short is not None:
            other = _choose(
                config,
                state.registry,
                state.blacklist,
                now,
                committed,
                tried,
                state.seed,
                state.draws,
                first=None,
                at_start=False,
                delivered=delivered,
            )
            if other is not None and _record(config, dict(delivered), other.peer) <= short:
                other = None
        server = other or Registration(peer=peer, height=target, timestamp=0, received=now)
        out, send = _request(config, state, server, now, resume, server.height)
        new = SyncClientState(
            control=AWAITING,
            now=now,
            seed=state.seed,
            draws=state.draws + (other is not None),
            next_request_id=state.next_request_id + 1,
            registry=state.registry,
            blacklist=state.blacklist,
            last_progress=last_progress,
            last_event_trigger=state.last_event_trigger,
            sync_started=state.sync_started,
            tried=state.tried,
            request=out,
            delivered=delivered,
        )
        effects.append(send)
        return Step(new, tuple(effects))
    return _next_or_end(
        config,
        state,
        now,
        committed,
        resume,
        state.registry,
        state.blacklist,
        tried,
        last_progress,
        tuple(effects),
        "caught_up",
    )


def _delivered(
    config: SyncClientConfig,
    delivered: tuple[tuple[PeerId, int], ...],
    req: Outstanding,
    r: SyncResponse,
) -> tuple[tuple[PeerId, int], ...]:
    """The delivery records after a valid answer to ``req``: in full (``min(limit, target + 1 -
    start)`` blocks, every block up to the height the server advertised when asked; or so many
    that one more of its largest would not fit the byte bound) drops the server's entry; short
    sets it to the answer's length."""
    blocks = r.blocks
    count = len(blocks)
    full = count >= min(req.limit, req.target + 1 - req.start_height) or (
        count > 0
        and response_size(r) + max(block_size(b) for b in blocks) > config.max_response_bytes
    )
    peer = req.server
    kept = tuple(e for e in delivered if e[0] != peer)
    if full:
        return kept if len(kept) != len(delivered) else delivered
    return tuple(sorted((*kept, (peer, count))))


def _held_after(
    view: ChainView, start: Height, blocks: tuple[Block, ...], diverged: bool, cert: Certificate
) -> bool:
    """Whether ``cert`` certifies a block the chain holds once this response is applied."""
    h = cert.height
    if h < 0:
        return False
    offset = h - start
    if 0 <= offset < len(blocks):
        return bool(blocks[offset].hash == cert.block_hash)
    if offset >= len(blocks) and diverged:
        return False
    mine = view.block_at(h)
    return mine is not None and mine.hash == cert.block_hash


def _blame(
    config: SyncClientConfig,
    state: SyncClientState,
    peer: PeerId,
    reason: str,
    committed: Height,
    start: Height,
    tried: tuple[PeerId, ...],
    last_progress: int,
    effects: tuple[Any, ...],
) -> Step:
    now = state.now
    until = now + config.blacklist_expiry_time
    registry = state.registry.without(peer)
    blacklist = (*(e for e in state.blacklist if e[0] != peer), (peer, until))
    return _next_or_end(
        config,
        state,
        now,
        committed,
        start,
        registry,
        blacklist,
        tried,
        last_progress,
        (*effects, Blacklisted(peer=peer, until=until, reason=reason)),
        reason,
    )
