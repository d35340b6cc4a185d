"""The sync server's control logic written the common way, on the ``transitions`` library: a
mutable model object, states and triggers declared to ``transitions.Machine``, conditions as
callbacks. It is the baseline the bare step is measured against, and it must first emit exactly
the effects the pure machine emits for the same events (checked before any timing)."""

from __future__ import annotations

import random
from typing import Any

from transitions import Machine

from blockfsm.machine.core import Broadcast, Rejected, Send, Tick
from blockfsm.machine.messages import (
    RESPONSE_OVERHEAD,
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    block_size,
    certificate_size,
)
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import MAX_U64, advertise_block_payload

CHAIN = 7


def server_events(count: int, seed: int = 1) -> list[Any]:
    """A seeded mix: 20 % Ticks, the rest requests (honest, wrong-chain, zero-limit), 16 peers."""
    rng = random.Random(seed)
    peers = [bytes([i]) * 32 for i in range(16)]
    now = 0
    out: list[Any] = []
    for i in range(count):
        if rng.random() < 0.2:
            now += rng.randint(1, 5_000)
            out.append(Tick(now=now))
            continue
        kind = rng.random()
        chain = CHAIN if kind < 0.8 else CHAIN + 1
        limit = 0 if 0.8 <= kind < 0.85 else rng.choice([1, 5, 10, 4_000_000_000])
        request = SyncRequest(
            chain_id=chain, request_id=i, start_height=rng.randint(0, 250), limit=limit
        )
        out.append(SyncRequestReceived(peer=rng.choice(peers), request=request))
    return out


def _u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


class ServerLogic:
    """The conditions and callbacks of the server's control logic, shared by the ``transitions``
    and the ``python-statemachine`` baselines (each library calls them with the event and the
    view as its trigger's arguments); the model's fields are set by the subclass."""

    config: SyncServerConfig
    now: int
    last_advertised: int
    window: int
    counts: dict[bytes, int]
    effects: tuple[Any, ...]

    def reset_model(self, config: SyncServerConfig) -> None:
        self.config = config
        self.now = -1
        self.last_advertised = -1
        self.window = -1
        self.counts = {}
        self.effects = ()

    def regressed(self, ev: Tick, view: Any) -> bool:
        now = ev.now
        return type(now) is not int or not 0 <= now <= MAX_U64 or now < self.now

    def due(self, ev: Tick, view: Any) -> bool:
        return (
            self.last_advertised < 0 or ev.now - self.last_advertised >= self.config.advertise_time
        )

    def refuse_clock(self, ev: Tick, view: Any) -> None:
        self.effects = (Rejected(reason="clock_regressed"),)

    def advance(self, ev: Tick, view: Any) -> None:
        self.now = ev.now
        self.effects = ()

    def advertise(self, ev: Tick, view: Any) -> None:
        config = self.config
        now = ev.now
        committed = view.committed_height()
        payload = advertise_block_payload(config.chain_id, config.signer.public_key, committed, now)
        self.effects = (
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
        self.now = now
        self.last_advertised = now

    def serve(self, ev: SyncRequestReceived, view: Any) -> None:
        config = self.config
        req = ev.request
        peer = ev.peer
        if not (
            type(req) is SyncRequest
            and _u64(req.chain_id)
            and _u64(req.request_id)
            and _u64(req.start_height)
            and _u64(req.limit)
            and _u64(req.max_bytes)
            and type(peer) is bytes
        ):
            self.effects = (Rejected(reason="malformed_request", peer=peer),)
            return
        if req.limit == 0:
            self.effects = (Rejected(reason="zero_limit", peer=peer),)
            return
        if req.chain_id != config.chain_id:
            self.effects = (Rejected(reason="wrong_chain", peer=peer),)
            return
        window = self.now // config.rate_limit_window if self.now >= 0 else -1
        if window != self.window:
            self.window = window
            self.counts = {}
        served = self.counts.get(peer, 0)
        if served >= config.rate_limit_requests:
            self.effects = (Rejected(reason="rate_limited", peer=peer),)
            return
        certificate = view.highest_certificate()
        room = min(req.max_bytes, config.max_response_bytes) - (
            RESPONSE_OVERHEAD + certificate_size(certificate)
        )
        if room < 0:
            self.effects = (Rejected(reason="response_too_large", peer=peer),)
            return
        if not served and len(self.counts) >= config.rate_limit_peers:
            fewest = min(self.counts, key=lambda p: self.counts[p])
            del self.counts[fewest]
        self.counts[peer] = served + 1
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
        self.effects = (Send(peer=peer, message=response),)


class TransitionsServer(ServerLogic):
    """The server as a ``transitions`` model; ``handle`` returns the effects of one event."""

    states = ["Starting", "Serving"]

    def __init__(self, config: SyncServerConfig) -> None:
        self.reset_model(config)
        self.machine = Machine(
            model=self,
            states=self.states,
            initial="Starting",
            auto_transitions=False,
            transitions=[
                {"trigger": "tick", "source": "*", "dest": None, "conditions": "regressed",
                 "after": "refuse_clock"},
                {"trigger": "tick", "source": "*", "dest": "Serving", "conditions": "due",
                 "after": "advertise"},
                {"trigger": "tick", "source": "*", "dest": None, "after": "advance"},
                {"trigger": "request", "source": "*", "dest": None, "after": "serve"},
            ],
        )  # fmt: skip

    def handle(self, event: Any, view: Any) -> tuple[Any, ...]:
        if type(event) is Tick:
            self.tick(event, view)  # type: ignore[attr-defined]
        else:
            self.request(event, view)  # type: ignore[attr-defined]
        return self.effects
