"""The asyncio runtime: frames, timers and store results in, ``step`` called, effects executed.

``Runtime`` is generic over any machine with ``initial(config)`` and
``step(config, state, event, view)`` (a ``MachineDef`` fits). One task consumes one event queue,
so steps are strictly sequential; each step reads a fresh LMDB snapshot. Effects run in order:

- write effects (``Persist``, ``Commit``, ``UpdateHighestCertificate``, ``PersistGuard``,
  ``PersistSigningGuard``) are gathered into a batch, and the batch is applied in one durable
  LMDB write transaction before the next ``Send`` or ``Broadcast`` and at the end of the step, so
  no message that depends on a write leaves before the write is on disk;
- ``Send``/``Broadcast`` go to the transport's bounded per-peer queues;
- ``Rejected``, ``Blacklisted`` and ``Observe`` are counted and logged (one JSON line each).

A step that fails because of the store (``STORE_FAILURES``: a block that does not match its
hash, a full map, an LMDB error) stops the runtime: stepping on would serve damaged data or retry
a write that cannot succeed every tick. The error is kept in ``fatal`` and handed to ``on_fatal``
(the node reports it as one line and exits); with no ``on_fatal`` it is logged once. Any other
exception out of a step is a bug: it is logged with its traceback and the node steps on.

Nothing blocks the loop: fsyncing writes run in a worker thread, and so does the step for a
``SyncResponseReceived`` carrying at least ``offload_blocks`` blocks (its certificate checks are
Ed25519 verifications); the snapshot for an offloaded step is opened in that thread.

Events wait in a ``FairInbox``: one queue per authenticated peer (``inbox_per_peer`` events
each, the newest dropped and counted when full) served round robin, the node's own events (ticks)
first, so a flooding peer fills only its own queue and every other peer still gets its turn.
Log lines that a peer can cause (rejections, drops) go through a ``LogLimiter``.

``SyncNode`` composes the sync server and the sync client into one machine for the runtime (what
a non-validator runs: it serves and catches up but attests nothing), and ``BlockSource`` extends
a store with
certified blocks, standing in for consensus in the demo and tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from blockfsm.adapters.node.inbound import message_event
from blockfsm.adapters.node.limits import FairInbox, LogLimiter
from blockfsm.adapters.node.store import STORE_FAILURES, WRITE_EFFECTS, LmdbStore
from blockfsm.adapters.node.transport import Transport, log_event
from blockfsm.machine.core import Broadcast, Observe, PeerId, Rejected, Send, Step, Tick
from blockfsm.machine.crypto import Signer
from blockfsm.machine.messages import (
    AdvertiseBlockReceived,
    AdvertiseCertificateReceived,
    SyncRequestReceived,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client import (
    Blacklisted,
    Commit,
    Persist,
    SyncClientConfig,
    SyncClientState,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, certify
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER

log = logging.getLogger("blockfsm.runtime")


class Machine(Protocol):
    def initial(self, config: Any) -> Any: ...

    def step(self, config: Any, state: Any, event: Any, view: Any) -> Step: ...


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


# --- the sync server and client as one machine ------------------------------------------------


@attrs.frozen(kw_only=True)
class SyncNodeConfig:
    server: SyncServerConfig
    client: SyncClientConfig


@attrs.frozen(kw_only=True)
class SyncNodeState:
    server: SyncServerState
    client: SyncClientState


class _SyncNode:
    """Ticks go to both machines (server first); requests to the server; the rest to the client."""

    name = "sync_node"
    accepts = frozenset(
        {
            Tick,
            SyncRequestReceived,
            SyncResponseReceived,
            AdvertiseBlockReceived,
            AdvertiseCertificateReceived,
        }
    )

    def initial(self, config: SyncNodeConfig) -> SyncNodeState:
        return SyncNodeState(
            server=SYNC_SERVER.initial(config.server), client=SYNC_CLIENT.initial(config.client)
        )

    def step(self, config: SyncNodeConfig, state: SyncNodeState, event: Any, view: Any) -> Step:
        if type(event) is SyncRequestReceived:
            s = SYNC_SERVER.step(config.server, state.server, event, view)
            return Step(SyncNodeState(server=s.state, client=state.client), s.effects)
        if type(event) is Tick:
            s = SYNC_SERVER.step(config.server, state.server, event, view)
            c = SYNC_CLIENT.step(config.client, state.client, event, view)
            return Step(SyncNodeState(server=s.state, client=c.state), s.effects + c.effects)
        c = SYNC_CLIENT.step(config.client, state.client, event, view)
        return Step(SyncNodeState(server=state.server, client=c.state), c.effects)


SYNC_NODE = _SyncNode()


# --- a stand-in for consensus: certified blocks from a quorum of keys ---------------------------


class BlockSource:
    """Extends a store by one block per call, certified by ``signers`` (a quorum), committing
    the parent: the chain a set of validators running consensus would produce."""

    def __init__(self, store: LmdbStore, signers: list[Signer], payload_size: int = 64) -> None:
        self.store = store
        self.signers = signers
        self.payload_size = payload_size

    def next_effects(self) -> list[Any]:
        with self.store.snapshot() as view:
            tip = view.highest_height()
            parent = view.block_at(tip) if tip >= 0 else None
            justify = view.highest_certificate()
        h = tip + 1
        block = Block.make(
            chain_id=self.store.chain_id,
            height=h,
            parent_hash=parent.hash if parent is not None else ZERO_HASH,
            justify=justify,
            payload=h.to_bytes(8, "big") * max(1, self.payload_size // 8),
        )
        cert = certify(chain_id=self.store.chain_id, view=h + 1, block=block, signers=self.signers)
        out: list[Any] = [Persist(block=block), UpdateHighestCertificate(certificate=cert)]
        if h > 0:
            out.append(Commit(height=h - 1))
        return out

    def extend(self, n: int = 1) -> None:
        for _ in range(n):
            self.store.apply(self.next_effects())


# --- the runtime ---------------------------------------------------------------------------


class Runtime:
    def __init__(
        self,
        machine: Machine,
        config: Any,
        store: LmdbStore,
        transport: Transport | None = None,
        *,
        tick_ms: int = 100,
        clock: Callable[[], int] = wall_clock_ms,
        offload_blocks: int = 8,
        inbox_size: int = 4096,
        inbox_per_peer: int = 256,
        name: str = "node",
        state: Any = None,
    ) -> None:
        self.machine = machine
        self.config = config
        self.store = store
        self.transport = transport
        self.tick_ms = tick_ms
        self.clock = clock
        self.offload_blocks = offload_blocks
        self.name = name
        self.state = machine.initial(config) if state is None else state
        self.accepts: frozenset[type] | None = getattr(machine, "accepts", None)
        self.failures = 0
        self.inbox = FairInbox(per_source=inbox_per_peer, local=inbox_size)
        self.logs = LogLimiter()
        self.rejections: Counter[str] = Counter()
        self.blamed: list[tuple[PeerId, str]] = []
        self.steps = 0
        self.inbox_dropped = 0
        self._last_now = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self.on_step: Callable[[Runtime], None] | None = None
        self.on_fatal: Callable[[BaseException], None] | None = None
        self.fatal: BaseException | None = None

    # --- inputs --------------------------------------------------------------------------------

    def deliver(self, peer: PeerId, message: object) -> None:
        """Transport callback: a decoded message from an authenticated peer."""
        event = message_event(peer, message)
        if event is None or (self.accepts is not None and type(event) not in self.accepts):
            self.rejections["not_served"] += 1
            self.logs.log(
                log, logging.DEBUG, "message_ignored", peer=peer, kind=type(message).__name__
            )
            return
        self.put(event, peer)

    def put(self, event: object, peer: PeerId | None = None) -> None:
        """Queue ``event``: from ``peer``'s quota, or (None) the node's own."""
        if not self.inbox.put(peer, event):
            self.inbox_dropped += 1
            self.logs.log(
                log, logging.WARNING, "inbox_full", node=self.name, peer=peer,
                kind=type(event).__name__, dropped=self.inbox_dropped,
            )  # fmt: skip

    def now(self) -> int:
        self._last_now = max(self._last_now, self.clock())
        return self._last_now

    # --- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._ticker()))
        self._tasks.append(loop.create_task(self._consume()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks.clear()

    async def _ticker(self) -> None:
        while self.fatal is None:
            self.put(Tick(now=self.now()))
            await asyncio.sleep(self.tick_ms / 1000)

    async def _consume(self) -> None:
        while True:
            event = await self.inbox.get()
            try:
                await self.handle(event)
            except STORE_FAILURES as error:
                self.fail(error)
                return
            except Exception as error:
                # A bug, not bad input (the machines reject bad input as data): log it with the
                # event kind, count it, and keep the node running on its last good state.
                self.failures += 1
                log.exception(
                    "step_failed kind=%s error=%r", type(event).__name__, error, exc_info=True
                )

    def fail(self, error: BaseException) -> None:
        """Stop stepping for good: the store cannot be trusted or written."""
        if self.fatal is not None:
            return
        self.fatal = error
        if self.on_fatal is not None:
            self.on_fatal(error)
        else:
            log_event(log, logging.ERROR, "store_failed", node=self.name, error=str(error))

    def _step_sync(self, event: object) -> Step:
        with self.store.snapshot() as view:
            return self.machine.step(self.config, self.state, event, view)

    async def handle(self, event: object) -> None:
        """One step: compute it (off the loop if large), then execute its effects in order."""
        if (
            type(event) is SyncResponseReceived
            and len(event.response.blocks) >= self.offload_blocks
        ):
            result = await asyncio.to_thread(self._step_sync, event)
        else:
            result = self._step_sync(event)
        self.state = result.state
        self.steps += 1
        if type(event) is not Tick:
            log_event(log, logging.DEBUG, "event", node=self.name, kind=type(event).__name__)
        await self.execute(result.effects)
        if self.on_step is not None:
            self.on_step(self)

    async def execute(self, effects: Iterable[Any]) -> None:
        batch: list[Any] = []
        for effect in effects:
            kind = type(effect)
            if kind in WRITE_EFFECTS:
                batch.append(effect)
                continue
            if kind is Send or kind is Broadcast:
                if batch:
                    await self._flush(batch)
                    batch = []
                if self.transport is not None:
                    if kind is Send:
                        self.transport.send(effect.peer, effect.message)
                    else:
                        self.transport.broadcast(effect.message)
                log_event(
                    log,
                    logging.DEBUG,
                    "effect",
                    node=self.name,
                    kind=kind.__name__,
                    message=type(effect.message).__name__,
                )
            elif kind is Rejected:
                self.rejections[effect.reason] += 1
                self.logs.log(
                    log, logging.INFO, "rejected", node=self.name, reason=effect.reason,
                    peer=effect.peer,
                )  # fmt: skip
            elif kind is Blacklisted:
                self.blamed.append((effect.peer, effect.reason))
                self.logs.log(
                    log, logging.WARNING, "peer_blamed", node=self.name, peer=effect.peer,
                    reason=effect.reason, until=effect.until,
                )  # fmt: skip
            elif kind is Observe:
                log_event(log, logging.DEBUG, "observe", node=self.name, name=effect.name)
            else:
                log_event(log, logging.DEBUG, "effect", node=self.name, kind=kind.__name__)
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[Any]) -> None:
        n = await asyncio.to_thread(self.store.apply, batch)
        log_event(log, logging.DEBUG, "persisted", node=self.name, effects=n)


def sync_node_config(
    *,
    chain_id: int,
    signer: Signer,
    validators: Any,
    verifier: Any,
    advertise_time: int = 300,
    request_limit: int = 20,
    trigger_timeout: int = 2_000,
    response_timeout: int = 1_000,
    blacklist_expiry_time: int = 5_000,
    seed: int = 0,
) -> SyncNodeConfig:
    return SyncNodeConfig(
        server=SyncServerConfig(
            chain_id=chain_id,
            signer=signer,
            request_limit=request_limit,
            advertise_time=advertise_time,
            rate_limit_requests=200,
        ),
        client=SyncClientConfig(
            chain_id=chain_id,
            own_key=signer.public_key,
            validators=validators,
            verifier=verifier,
            seed=seed,
            request_limit=request_limit,
            response_timeout=response_timeout,
            blacklist_expiry_time=blacklist_expiry_time,
            trigger_timeout=trigger_timeout,
            trigger_rate_limit=200,
            advertise_expiry=max(3 * advertise_time, 1_000),
            max_sync_time=max(10_000, 2 * response_timeout),
        ),
    )


__all__ = [
    "SYNC_NODE",
    "BlockSource",
    "Certificate",
    "Runtime",
    "SyncNodeConfig",
    "sync_node_config",
]
