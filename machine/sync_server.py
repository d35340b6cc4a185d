"""The block sync server as a pure machine. Its rules are stated in ``blockfsm.spec.sync_server``.

What it does, in order of precedence for a ``SyncRequestReceived``:

1. a request that is not a ``SyncRequest`` (``None``, say) or whose fields are not unsigned 64-bit
   integers is refused (``malformed_request``);
2. ``limit == 0`` is refused (``zero_limit``): upstream's loop treated it as unlimited;
3. a request for another chain is refused (``wrong_chain``);
4. a peer over its budget of ``rate_limit_requests`` per ``rate_limit_window`` is refused
   (``rate_limited``). The window's table tracks at most ``rate_limit_peers`` peers: a new peer
   arriving at a full table is served, and the entry with the fewest responses (the earliest of
   those) is dropped to make room. A table full of fresh identities can therefore never refuse
   an honest peer, and a heavy peer at its budget is the last to be forgotten;
5. a request whose byte bound ``min(request.max_bytes, max_response_bytes)`` cannot hold even a
   response without blocks is refused (``response_too_large``);
6. otherwise the server sends the highest certificate and, from ``start_height`` upward, the
   longest run of at most ``min(request.limit, request_limit)`` blocks whose response fits the
   byte bound, all from the one view snapshot of this step.

Refusals change no state, so they cannot disturb the advertisement schedule, which depends on
``Tick`` alone: the first valid Tick advertises, and so does every Tick at least ``advertise_time``
after the last advertisement (highest certificate first, then the signed committed height).
"""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.core import (
    MAX_PERIOD_MS,
    Broadcast,
    MachineDef,
    PeerId,
    Rejected,
    Send,
    Step,
    Tick,
    require_int,
)
from blockfsm.machine.crypto import Signer, require_signer
from blockfsm.machine.messages import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    RESPONSE_OVERHEAD,
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    block_size,
    certificate_size,
)
from blockfsm.machine.types import MAX_U64, ChainId, advertise_block_payload
from blockfsm.machine.view import ChainView
from blockfsm.spec.sync_server import SERVING, SPEC, STARTING

MAX_REQUEST_LIMIT = 100_000


@attrs.frozen(kw_only=True)
class SyncServerConfig:
    """Defaults follow upstream's tests: request_limit 10, advertise_time 10 s."""

    chain_id: ChainId
    signer: Signer = attrs.field(eq=False, hash=False)
    request_limit: int = 10
    advertise_time: int = 10_000
    rate_limit_requests: int = 50
    rate_limit_window: int = 1_000
    rate_limit_peers: int = 1_024
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __attrs_post_init__(self) -> None:
        require_int(self.chain_id, "chain_id", 0, MAX_U64)
        require_signer(self.signer)
        require_int(self.request_limit, "request_limit", 1, MAX_REQUEST_LIMIT)
        require_int(self.advertise_time, "advertise_time (ms)", 1, MAX_PERIOD_MS)
        require_int(self.rate_limit_requests, "rate_limit_requests", 1, 1_000_000)
        require_int(self.rate_limit_window, "rate_limit_window (ms)", 1, MAX_PERIOD_MS)
        require_int(self.rate_limit_peers, "rate_limit_peers", 1, 1_000_000)
        require_int(
            self.max_response_bytes,
            "max_response_bytes",
            MIN_RESPONSE_BYTES,
            MAX_RESPONSE_BYTES,
        )


@attrs.frozen(kw_only=True)
class SyncServerState:
    control: str
    now: int = -1
    last_advertised: int = -1
    window: int = -1
    window_counts: tuple[tuple[PeerId, int], ...] = ()


def initial(config: SyncServerConfig) -> SyncServerState:
    return SyncServerState(control=STARTING)


def step(config: SyncServerConfig, state: SyncServerState, event: Any, view: ChainView) -> Step:
    if type(event) is SyncRequestReceived:
        return _on_request(config, state, event, view)
    if type(event) is Tick:
        return _on_tick(config, state, event, view)
    raise TypeError(f"sync server does not take {type(event).__name__}")


def _on_tick(
    config: SyncServerConfig, state: SyncServerState, event: Tick, view: ChainView
) -> Step:
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return Step(state, (Rejected(reason="clock_regressed"),))
    if state.last_advertised >= 0 and now - state.last_advertised < config.advertise_time:
        return Step(
            SyncServerState(
                control=state.control,
                now=now,
                last_advertised=state.last_advertised,
                window=state.window,
                window_counts=state.window_counts,
            ),
            (),
        )
    committed = view.committed_height()
    payload = advertise_block_payload(config.chain_id, config.signer.public_key, committed, now)
    effects = (
        Broadcast(message=AdvertiseCertificate(certificate=view.highest_certificate())),
        Broadcast(
            message=AdvertiseBlock(
                chain_id=config.chain_id,
                server=config.signer.public_key,
                committed_height=committed,
                timestamp=now,
                signature=config.signer.sign(payload),
            )
        ),
    )
    new_state = SyncServerState(
        control=SERVING,
        now=now,
        last_advertised=now,
        window=state.window,
        window_counts=state.window_counts,
    )
    return Step(new_state, effects)


def _u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


def _on_request(
    config: SyncServerConfig, state: SyncServerState, event: SyncRequestReceived, view: ChainView
) -> Step:
    req = event.request
    peer = event.peer
    if not (
        type(req) is SyncRequest
        and _u64(req.chain_id)
        and _u64(req.request_id)
        and _u64(req.start_height)
        and _u64(req.limit)
        and _u64(req.max_bytes)
        and type(peer) is bytes
    ):
        return Step(state, (Rejected(reason="malformed_request", peer=peer),))
    if req.limit == 0:
        return Step(state, (Rejected(reason="zero_limit", peer=peer),))
    if req.chain_id != config.chain_id:
        return Step(state, (Rejected(reason="wrong_chain", peer=peer),))

    window = state.now // config.rate_limit_window if state.now >= 0 else -1
    counts = state.window_counts if state.window == window else ()
    served = 0
    for p, n in counts:
        if p == peer:
            served = n
            break
    if served >= config.rate_limit_requests:
        return Step(state, (Rejected(reason="rate_limited", peer=peer),))
    certificate = view.highest_certificate()
    room = min(req.max_bytes, config.max_response_bytes) - (
        RESPONSE_OVERHEAD + certificate_size(certificate)
    )
    if room < 0:
        return Step(state, (Rejected(reason="response_too_large", peer=peer),))
    if served:
        counts = tuple((p, n + 1) if p == peer else (p, n) for p, n in counts)
    elif len(counts) < config.rate_limit_peers:
        counts = (*counts, (peer, 1))
    else:
        fewest = min(range(len(counts)), key=lambda i: counts[i][1])
        counts = (*counts[:fewest], *counts[fewest + 1 :], (peer, 1))

    blocks = view.blocks_from(req.start_height, min(req.limit, config.request_limit))
    for i, block in enumerate(blocks):
        room -= block_size(block)
        if room < 0:
            blocks = blocks[:i]
            break
    response = SyncResponse(
        chain_id=config.chain_id,
        request_id=req.request_id,
        blocks=blocks,
        highest_certificate=certificate,
    )
    new_state = SyncServerState(
        control=state.control,
        now=state.now,
        last_advertised=state.last_advertised,
        window=window,
        window_counts=counts,
    )
    return Step(new_state, (Send(peer=peer, message=response),))


SYNC_SERVER: MachineDef[SyncServerConfig, SyncServerState, Any, ChainView] = MachineDef(
    name="sync_server", spec=SPEC, initial=initial, step=step
)
