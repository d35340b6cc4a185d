"""The sync client spec's statement of how an input is classified: the control states, the
server choice (``mix``), the registry, blacklist and eligibility, ticks, advertisements and
responses. Each function restates a rule of the docstring of ``blockfsm.spec.sync_client``; the
machine does not import them.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.messages import AdvertiseBlock, AdvertiseCertificate, SyncResponse
from blockfsm.machine.types import MAX_U64, ZERO_HASH, Block, Certificate
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
