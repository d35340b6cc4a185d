"""Server choice: which registered server to ask, starting a sync, and asking the next server."""

from __future__ import annotations

from typing import Any

from blockfsm.machine.core import PeerId, Step
from blockfsm.machine.messages import SyncRequest
from blockfsm.machine.sync_client.config import AWAITING, SyncClientConfig
from blockfsm.machine.sync_client.effects import Observe, Send
from blockfsm.machine.sync_client.state import (
    Outstanding,
    Registration,
    Registry,
    SyncClientState,
    _ended,
)
from blockfsm.machine.types import MAX_U64, Block, Certificate, Height
from blockfsm.machine.view import ChainView

_MASK64 = MAX_U64


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
