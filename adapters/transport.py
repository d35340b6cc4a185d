"""An authenticated asyncio TCP transport: frames from ``codec``, Ed25519 identities, backoff.

Handshake (both sides at once, each frame from ``codec``)::

    -> Hello(chain_id, my_key, my_nonce)           <- Hello(chain_id, their_key, their_nonce)
    -> Proof(sign(HANDSHAKE_DOMAIN | chain_id | my_key | their_key | their_nonce))
    <- Proof(sign(HANDSHAKE_DOMAIN | chain_id | their_key | my_key | my_nonce))

Each side proves it holds the private key of the identity it claims by signing the other's fresh
32-byte challenge, bound to the chain and to both keys under a domain tag of its own, so a proof
can neither be replayed to another node or chain, nor confused with any other signed payload. The
sync machines trust the peer key the transport reports, so a peer that fails any step (wrong
chain, a key other than the one dialled, a key not in the allowed set, a bad signature, a frame
out of order, a handshake slower than ``handshake_timeout``) is closed with a logged reason and
never reaches the machine.

After the handshake each connection is read by one task; a frame that does not decode closes that
connection with the codec's reason (the node keeps running). Outgoing messages go to a bounded
per-peer queue (oldest dropped and counted when full) drained by one writer task per peer over the
peer's newest live connection. ``dial`` keeps one outbound connection per configured peer with
exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
from collections.abc import Callable
from typing import Any

from blockfsm.adapters.codec import (
    DEFAULT_MAX_FRAME,
    HEADER,
    NONCE_SIZE,
    CodecError,
    Hello,
    Proof,
    decode_body,
    encode_frame,
)
from blockfsm.machine.core import PeerId
from blockfsm.machine.crypto import Signer, Verifier
from blockfsm.machine.types import u64

HANDSHAKE_DOMAIN = b"blockfsm/handshake/v1\x00"

log = logging.getLogger("blockfsm.transport")


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """One structured log line: a JSON object with ``event`` and the fields."""
    if logger.isEnabledFor(level):
        doc = {"event": event}
        for k, v in fields.items():
            doc[k] = v.hex()[:16] if isinstance(v, bytes) else v
        logger.log(level, json.dumps(doc, default=str), extra={"fields": doc})


def handshake_payload(chain_id: int, prover: PeerId, verifier: PeerId, nonce: bytes) -> bytes:
    return HANDSHAKE_DOMAIN + u64(chain_id) + prover + verifier + nonce


class HandshakeError(Exception):
    pass


class _Peer:
    def __init__(self, key: PeerId, queue_size: int) -> None:
        self.key = key
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self.conns: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.dropped = 0
        self.writer_task: asyncio.Task[None] | None = None


class Transport:
    """Authenticated peer connections; ``on_message(peer, message)`` gets each decoded frame."""

    def __init__(
        self,
        *,
        chain_id: int,
        signer: Signer,
        verifier: Verifier,
        on_message: Callable[[PeerId, object], None],
        allowed: frozenset[PeerId] | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        queue_size: int = 256,
        handshake_timeout: float = 5.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
    ) -> None:
        self.chain_id = chain_id
        self.signer = signer
        self.verifier = verifier
        self.on_message = on_message
        self.allowed = allowed
        self.max_frame = max_frame
        self.queue_size = queue_size
        self.handshake_timeout = handshake_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.peers: dict[PeerId, _Peer] = {}
        self.closed_reasons: list[str] = []
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
            w.close()
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
        """Queue ``message`` for ``peer``; False if the queue was full (the oldest was dropped)."""
        try:
            frame = encode_frame(message, self.max_frame)
        except CodecError as error:
            log_event(log, logging.ERROR, "send_refused", peer=peer, reason=str(error))
            return False
        return self._enqueue(self._peer(peer), frame)

    def broadcast(self, message: object) -> None:
        try:
            frame = encode_frame(message, self.max_frame)
        except CodecError as error:
            log_event(log, logging.ERROR, "send_refused", reason=str(error))
            return
        for p in self.peers.values():
            if p.conns:
                self._enqueue(p, frame)

    def _peer(self, key: PeerId) -> _Peer:
        p = self.peers.get(key)
        if p is None:
            p = self.peers[key] = _Peer(key, self.queue_size)
            p.writer_task = self._spawn(self._write_loop(p))
        return p

    def _enqueue(self, p: _Peer, frame: bytes) -> bool:
        ok = True
        if p.queue.full():
            p.queue.get_nowait()
            p.dropped += 1
            ok = False
            log_event(log, logging.WARNING, "send_queue_full", peer=p.key, dropped=p.dropped)
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
                await w.drain()
            except (ConnectionError, OSError) as error:
                self._drop(p, w, f"write failed: {error!r}")

    # --- connections ---------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if self._closing:
            writer.close()
            return
        await self._serve(reader, writer, expected=None, outbound=False)

    async def _dial_forever(self, peer: PeerId, host: str, port: int) -> None:
        delay = self.backoff_initial
        while not self._closing:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as error:
                log_event(log, logging.DEBUG, "dial_failed", peer=peer, reason=repr(error))
            else:
                if await self._serve(reader, writer, expected=peer, outbound=True):
                    delay = self.backoff_initial
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self.backoff_max, delay * 2)

    async def _read_frame(self, reader: asyncio.StreamReader) -> object:
        header = await reader.readexactly(HEADER.size)
        (length,) = HEADER.unpack(header)
        if length > self.max_frame:
            raise CodecError(f"frame of {length} bytes exceeds the maximum {self.max_frame}")
        return decode_body(await reader.readexactly(length))

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, expected: PeerId | None
    ) -> PeerId:
        nonce = os.urandom(NONCE_SIZE)
        writer.write(encode_frame(Hello(chain_id=self.chain_id, public_key=self.key, nonce=nonce)))
        await writer.drain()
        hello = await self._read_frame(reader)
        if type(hello) is not Hello:
            raise HandshakeError(f"expected Hello, got {type(hello).__name__}")
        if hello.chain_id != self.chain_id:
            raise HandshakeError(f"wrong chain id {hello.chain_id}")
        their = hello.public_key
        if their == self.key:
            raise HandshakeError("connected to itself")
        if expected is not None and their != expected:
            raise HandshakeError("peer key is not the one dialled")
        if self.allowed is not None and their not in self.allowed:
            raise HandshakeError("peer key not allowed")
        proof = self.signer.sign(handshake_payload(self.chain_id, self.key, their, hello.nonce))
        writer.write(encode_frame(Proof(signature=proof)))
        await writer.drain()
        answer = await self._read_frame(reader)
        if type(answer) is not Proof:
            raise HandshakeError(f"expected Proof, got {type(answer).__name__}")
        mine = handshake_payload(self.chain_id, their, self.key, nonce)
        if not self.verifier.verify(their, mine, answer.signature):
            raise HandshakeError("bad handshake signature")
        return their

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        expected: PeerId | None,
        outbound: bool,
    ) -> bool:
        """Handshake then read until the connection ends; True if the handshake succeeded."""
        self._writers.add(writer)
        try:
            return await self._serve_inner(reader, writer, expected=expected, outbound=outbound)
        finally:
            self._writers.discard(writer)

    async def _serve_inner(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        expected: PeerId | None,
        outbound: bool,
    ) -> bool:
        try:
            peer = await asyncio.wait_for(
                self._handshake(reader, writer, expected), self.handshake_timeout
            )
        except (HandshakeError, CodecError) as error:
            self._refuse(writer, expected, f"handshake failed: {error}")
            return False
        except TimeoutError:
            self._refuse(writer, expected, "handshake failed: timed out")
            return False
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as error:
            self._refuse(writer, expected, f"handshake failed: connection lost ({error!r})")
            return False
        p = self._peer(peer)
        p.conns.append(writer)
        p.connected.set()
        log_event(log, logging.INFO, "peer_connected", peer=peer, outbound=outbound)
        reason = "closed by peer"
        try:
            while True:
                message = await self._read_frame(reader)
                if type(message) in (Hello, Proof):
                    reason = "handshake message after the handshake"
                    break
                self.on_message(peer, message)
        except CodecError as error:
            reason = f"bad frame: {error}"
        except asyncio.IncompleteReadError:
            reason = "closed by peer"
        except (ConnectionError, OSError) as error:
            reason = f"connection lost: {error!r}"
        self._drop(p, writer, reason)
        return True

    def _refuse(self, writer: asyncio.StreamWriter, peer: PeerId | None, reason: str) -> None:
        self.closed_reasons.append(reason)
        log_event(log, logging.WARNING, "connection_refused", peer=peer, reason=reason)
        writer.close()

    def _drop(self, p: _Peer, writer: asyncio.StreamWriter, reason: str) -> None:
        if writer in p.conns:
            p.conns.remove(writer)
            self.closed_reasons.append(reason)
            level = logging.INFO if reason == "closed by peer" else logging.WARNING
            log_event(log, level, "connection_closed", peer=p.key, reason=reason)
        writer.close()
