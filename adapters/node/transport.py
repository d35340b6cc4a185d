"""Peer connections over mutually authenticated TLS 1.3, with every resource bounded.

Handshake, on every connection (``tls`` says how keys are bound to certificates)::

    TCP connect -> TLS 1.3, each side presenting the certificate of its node key and requiring an
    admitted one -> each side checks the key of the other's certificate (admitted, not its own,
    the dialled one on a dialled connection) -> Hello(chain_id, key, nonce) both ways, at most
    ``hello_frame`` bytes -> frames.

The key a peer is known by is the key of the certificate it proved it holds on this connection,
so the sync machines can trust the peer key the transport reports. A connection that fails any
step is closed, counted in ``rejections`` under a short reason, and logged (rate-limited); it
never reaches the machine and nothing is kept about it.

Bounds (``TransportLimits``): connections in all, connections still in their handshake, in all
and per remote address, and authenticated connections per peer key (the oldest is closed); the
handshake, the wait for the next frame (idle) and for a frame's body (read) are timed; frames are
capped (``hello_frame`` before the Hello, ``max_frame`` after); each peer's frames and bytes per
second are limited by a token bucket that the reader waits on before reading a frame's body (a
flooding peer is slowed by TCP backpressure, not buffered); frames of ``offload_bytes`` or more
are decoded in a worker thread; a write that cannot drain within the read timeout closes its
connection. Outgoing messages go to a bounded per-peer queue (oldest dropped and counted when full)
drained by one writer task per peer over the peer's newest live connection; only admitted keys
get a queue. ``dial`` keeps one outbound connection per configured peer with exponential backoff
and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from blockfsm.adapters.node.codec import (
    DEFAULT_MAX_FRAME,
    HEADER,
    NONCE_SIZE,
    CodecError,
    Hello,
    Proof,
    decode_body,
    encode_frame,
)
from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.adapters.node.limits import LogLimiter, TokenBucket, log_event
from blockfsm.adapters.node.tls import client_context, peer_key, server_context
from blockfsm.machine.core import PeerId

log = logging.getLogger("blockfsm.transport")

__all__ = ["HandshakeError", "Transport", "TransportLimits", "log_event"]


@attrs.frozen(kw_only=True)
class TransportLimits:
    hello_frame: int = 1024
    max_frame: int = DEFAULT_MAX_FRAME
    max_connections: int = 256
    max_pending: int = 64
    max_pending_per_host: int = 8
    connections_per_peer: int = 2
    handshake_timeout: float = 5.0
    idle_timeout: float = 60.0
    read_timeout: float = 10.0
    peer_frames_per_second: float = 500.0
    peer_bytes_per_second: float = 16 * 1024 * 1024
    offload_bytes: int = 64 * 1024
    send_queue: int = 256


class HandshakeError(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class _Peer:
    def __init__(self, key: PeerId, limits: TransportLimits) -> None:
        self.key = key
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=limits.send_queue)
        self.conns: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.dropped = 0
        self.writer_task: asyncio.Task[None] | None = None
        frames = limits.peer_frames_per_second
        rate = limits.peer_bytes_per_second
        self.frames = TokenBucket(frames, max(1.0, frames))
        self.bytes = TokenBucket(rate, max(rate, float(limits.max_frame)))


class Transport:
    """Authenticated peer connections; ``on_message(peer, message)`` gets each decoded frame."""

    def __init__(
        self,
        *,
        chain_id: int,
        signer: Ed25519Signer,
        on_message: Callable[[PeerId, object], None],
        allowed: Iterable[PeerId],
        limits: TransportLimits | None = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        logs: LogLimiter | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.signer = signer
        self.on_message = on_message
        self.allowed = frozenset(allowed) - {signer.public_key}
        self.limits = limits or TransportLimits()
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.logs = logs or LogLimiter()
        self.peers: dict[PeerId, _Peer] = {}
        self.rejections: Counter[str] = Counter()
        self.closed_reasons: deque[str] = deque(maxlen=256)
        self.open_connections = 0
        self.pending = 0
        self.offloaded = 0
        # Inbound connections still in their handshake, per remote address (oldest first).
        self._pending_by_host: dict[str, list[asyncio.StreamWriter]] = {}
        self._evicted: set[asyncio.StreamWriter] = set()
        self._server_context = server_context(signer, self.allowed)
        self._client_context = client_context(signer, self.allowed)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def key(self) -> PeerId:
        return self.signer.public_key

    # --- lifecycle -----------------------------------------------------------------------------

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port)
        sock = self._server.sockets[0].getsockname()
        return sock[0], sock[1]

    def dial(self, peer: PeerId, host: str, port: int) -> None:
        """Keep an outbound connection to ``peer`` at host:port, reconnecting with backoff."""
        self._spawn(self._dial_forever(peer, host, port))

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            _close(w)
        # Accepted connections end on their own once closed (cancelling them trips asyncio's
        # stream callback in Python 3.11); wait briefly, then cancel any stragglers.
        if self._handlers:
            _, pending = await asyncio.wait(list(self._handlers), timeout=1.0)
            for t in pending:
                t.cancel()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- sending -------------------------------------------------------------------------------

    def connected(self) -> list[PeerId]:
        return [k for k, p in self.peers.items() if p.conns]

    def send(self, peer: PeerId, message: object) -> bool:
        """Queue ``message`` for ``peer``; False if the queue was full (the oldest was dropped)
        or ``peer`` is not an admitted key."""
        if peer not in self.allowed:
            self.logs.log(log, logging.ERROR, "send_refused", peer=peer, reason="not admitted")
            return False
        try:
            frame = encode_frame(message, self.limits.max_frame)
        except CodecError as error:
            self.logs.log(log, logging.ERROR, "send_refused", peer=peer, reason=str(error))
            return False
        return self._enqueue(self._peer(peer), frame)

    def broadcast(self, message: object) -> None:
        try:
            frame = encode_frame(message, self.limits.max_frame)
        except CodecError as error:
            self.logs.log(log, logging.ERROR, "send_refused", reason=str(error))
            return
        for p in self.peers.values():
            if p.conns:
                self._enqueue(p, frame)

    def _peer(self, key: PeerId) -> _Peer:
        p = self.peers.get(key)
        if p is None:
            p = self.peers[key] = _Peer(key, self.limits)
            p.writer_task = self._spawn(self._write_loop(p))
        return p

    def _enqueue(self, p: _Peer, frame: bytes) -> bool:
        ok = True
        if p.queue.full():
            p.queue.get_nowait()
            p.dropped += 1
            ok = False
            self.logs.log(log, logging.WARNING, "send_queue_full", peer=p.key, dropped=p.dropped)
        p.queue.put_nowait(frame)
        return ok

    async def _write_loop(self, p: _Peer) -> None:
        while True:
            frame = await p.queue.get()
            while not p.conns:
                p.connected.clear()
                await p.connected.wait()
            w = p.conns[-1]
            try:
                w.write(frame)
                async with asyncio.timeout(self.limits.read_timeout):
                    await w.drain()
            except TimeoutError:
                self._drop(p, w, "write stalled past the read timeout")
            except (ConnectionError, OSError) as error:
                self._drop(p, w, f"write failed: {error!r}")

    # --- connections ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # No await before start_tls: the peer's first TLS bytes must reach the TLS layer.
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if self._closing:
            writer.close()
            return
        address = writer.get_extra_info("peername")
        host = str(address[0]) if address else "?"
        limits = self.limits
        mine = self._pending_by_host.get(host, [])
        if self.open_connections >= limits.max_connections:
            self._refuse(writer, None, "connection_limit", "too many connections")
        elif len(mine) >= limits.max_pending_per_host:
            self._refuse(writer, None, "pending_limit", "too many handshakes from one address")
        elif self.pending >= limits.max_pending and not self._evict_for(len(mine)):
            self._refuse(writer, None, "pending_limit", "too many connections in handshake")
        else:
            await self._serve(reader, writer, expected=None, outbound=False, host=host)

    def _evict_for(self, mine: int) -> bool:
        """Make room for an address with ``mine`` handshakes in progress by closing the oldest
        handshake of the address with the most, if that is more than ``mine + 1``: the slots end
        up shared among addresses, so many idle connections from a few cannot lock out others."""
        host, busiest = max(self._pending_by_host.items(), key=lambda kv: len(kv[1]))
        if len(busiest) <= mine + 1:
            return False
        victim = busiest[0]
        self._release_pending(host, victim)
        self._evicted.add(victim)
        _close(victim)
        return True

    def _release_pending(self, host: str, writer: asyncio.StreamWriter) -> None:
        waiting = self._pending_by_host.get(host)
        if waiting is not None and writer in waiting:
            waiting.remove(writer)
            self.pending -= 1
            if not waiting:
                del self._pending_by_host[host]

    async def _dial_forever(self, peer: PeerId, host: str, port: int) -> None:
        delay = self.backoff_initial
        while not self._closing:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as error:
                log_event(log, logging.DEBUG, "dial_failed", peer=peer, reason=repr(error))
            else:
                ok = await self._serve(reader, writer, expected=peer, outbound=True, host=host)
                if ok:
                    delay = self.backoff_initial
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self.backoff_max, delay * 2)

    async def _authenticate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        expected: PeerId | None,
        outbound: bool,
    ) -> PeerId:
        context = self._client_context if outbound else self._server_context
        plain = writer.transport
        try:
            await writer.start_tls(context, ssl_handshake_timeout=self.limits.handshake_timeout)
        except AttributeError:
            # Python 3.11's StreamWriter.start_tls fails this way when the peer closes before
            # the TLS handshake ends, leaving the writer without a transport: give it back its
            # (closed) plain one, so closing and collecting it stay quiet.
            writer._transport = plain  # type: ignore[attr-defined]
            raise ConnectionResetError("closed during the TLS handshake") from None
        their = peer_key(writer.get_extra_info("ssl_object"))
        if their is None:
            raise HandshakeError("no_certificate", "no Ed25519 certificate")
        if their == self.key:
            raise HandshakeError("self", "connected to itself")
        if their not in self.allowed:
            raise HandshakeError("key_not_allowed", "peer key not allowed")
        if expected is not None and their != expected:
            raise HandshakeError("not_dialled_key", "peer key is not the one dialled")
        nonce = os.urandom(NONCE_SIZE)
        writer.write(encode_frame(Hello(chain_id=self.chain_id, public_key=self.key, nonce=nonce)))
        await writer.drain()
        header = await reader.readexactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        if length > self.limits.hello_frame:
            raise HandshakeError(
                "bad_hello", f"first frame of {length} bytes exceeds {self.limits.hello_frame}"
            )
        hello = decode_body(await reader.readexactly(length))
        if type(hello) is not Hello:
            raise HandshakeError("bad_hello", f"expected Hello, got {type(hello).__name__}")
        if hello.chain_id != self.chain_id:
            raise HandshakeError("wrong_chain", f"wrong chain id {hello.chain_id}")
        if hello.public_key != their:
            raise HandshakeError("bad_hello", "Hello names a key other than the certificate's")
        return their

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        expected: PeerId | None,
        outbound: bool,
        host: str,
    ) -> bool:
        """Handshake then read until the connection ends; True if the handshake succeeded."""
        self._writers.add(writer)
        self.open_connections += 1
        try:
            peer = await self._handshake(reader, writer, expected, outbound, host)
            if peer is None:
                return False
            await self._read_loop(reader, writer, self._peer(peer), outbound)
            return True
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            _close(writer)

    async def _handshake(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        expected: PeerId | None,
        outbound: bool,
        host: str,
    ) -> PeerId | None:
        if not outbound:
            self.pending += 1
            self._pending_by_host.setdefault(host, []).append(writer)
        try:
            async with asyncio.timeout(self.limits.handshake_timeout):
                return await self._authenticate(reader, writer, expected, outbound)
        except HandshakeError as error:
            self._refuse(writer, expected, error.kind, f"handshake failed: {error}")
        except ssl.SSLCertVerificationError as error:
            reason = f"handshake failed: certificate not admitted ({error.verify_message})"
            self._refuse(writer, expected, "key_not_allowed", reason)
        except ssl.SSLError as error:
            reason = f"handshake failed: TLS {error.reason or error.strerror or error}"
            self._refuse(writer, expected, "tls_failed", reason)
        except CodecError as error:
            self._refuse(writer, expected, "bad_hello", f"handshake failed: {error}")
        except TimeoutError:
            self._refuse(writer, expected, "handshake_timeout", "handshake failed: timed out")
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as error:
            if writer in self._evicted:
                self._refuse(writer, expected, "evicted", "handshake evicted for another address")
            else:
                reason = f"handshake failed: connection lost ({error!r})"
                self._refuse(writer, expected, "connection_lost", reason)
        finally:
            self._evicted.discard(writer)
            if not outbound:
                self._release_pending(host, writer)
        return None

    async def _read_loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, p: _Peer, outbound: bool
    ) -> None:
        limits = self.limits
        if len(p.conns) >= limits.connections_per_peer:
            self._drop(p, p.conns[0], "replaced by a newer connection")
        p.conns.append(writer)
        p.connected.set()
        self.logs.log(log, logging.INFO, "peer_connected", peer=p.key, outbound=outbound)
        reason = "closed by peer"
        try:
            while writer in p.conns:
                try:
                    async with asyncio.timeout(limits.idle_timeout):
                        header = await reader.readexactly(HEADER.size)
                except TimeoutError:
                    reason = f"idle for {limits.idle_timeout} s"
                    break
                (length,) = HEADER.unpack(header)
                if length > limits.max_frame:
                    raise CodecError(
                        f"frame of {length} bytes exceeds the maximum {limits.max_frame}"
                    )
                await p.frames.take(1)
                await p.bytes.take(length)
                try:
                    async with asyncio.timeout(limits.read_timeout):
                        body = await reader.readexactly(length)
                except TimeoutError:
                    reason = f"a frame's body took over {limits.read_timeout} s"
                    break
                if length >= limits.offload_bytes:
                    self.offloaded += 1
                    message = await asyncio.to_thread(decode_body, body)
                else:
                    message = decode_body(body)
                del body
                if type(message) in (Hello, Proof):
                    reason = "handshake message after the handshake"
                    break
                self.on_message(p.key, message)
                # A full read buffer would let this loop run on without yielding: let the other
                # peers' readers and the runtime have their turn after every frame.
                await asyncio.sleep(0)
        except CodecError as error:
            reason = f"bad frame: {error}"
        except asyncio.IncompleteReadError:
            reason = "closed by peer"
        except (ConnectionError, OSError) as error:
            reason = f"connection lost: {error!r}"
        self._drop(p, writer, reason)

    def _refuse(
        self, writer: asyncio.StreamWriter, peer: PeerId | None, kind: str, reason: str
    ) -> None:
        self.rejections[kind] += 1
        self.closed_reasons.append(reason)
        self.logs.log(
            log, logging.WARNING, "connection_refused", peer=peer, kind=kind, reason=reason
        )
        _close(writer)

    def _drop(self, p: _Peer, writer: asyncio.StreamWriter, reason: str) -> None:
        if writer in p.conns:
            p.conns.remove(writer)
            self.closed_reasons.append(reason)
            level = logging.INFO if reason == "closed by peer" else logging.WARNING
            self.logs.log(log, level, "connection_closed", peer=p.key, reason=reason)
        _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    if writer.transport is not None:
        writer.close()
