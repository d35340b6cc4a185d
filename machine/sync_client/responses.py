"""Responses: matching, checking and applying a ``SyncResponse``, what its server delivered, and
blame."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.core import PeerId, Step
from blockfsm.machine.messages import SyncResponse, SyncResponseReceived, block_size, response_size
from blockfsm.machine.sync_client.choice import _choose, _next_or_end, _record, _request, _resume
from blockfsm.machine.sync_client.config import AWAITING, SyncClientConfig
from blockfsm.machine.sync_client.effects import (
    Blacklisted,
    Commit,
    Persist,
    Rejected,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_client.state import Outstanding, Registration, SyncClientState
from blockfsm.machine.types import (
    MAX_U64,
    ZERO_HASH,
    Block,
    Certificate,
    Height,
    certificate_is_valid,
)
from blockfsm.machine.view import ChainView


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
