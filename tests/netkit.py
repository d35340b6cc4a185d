"""Helpers for the transport tests: a serving node on loopback, and raw TLS channels to it that
speak the wire by hand (so a test can be a stranger, a relay, a flooder or an honest client)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from blockfsm.adapters.node.codec import HEADER, Hello, decode_body, encode_frame
from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.limits import LogLimiter
from blockfsm.adapters.node.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.adapters.node.tls import client_context
from blockfsm.adapters.node.transport import Transport, TransportLimits
from blockfsm.machine.messages import SyncRequest, SyncResponse
from blockfsm.machine.types import ValidatorSet

CHAIN = 9
KEYS = [Ed25519Signer.from_seed(bytes([i + 40]) * 32) for i in range(4)]
VALIDATORS = ValidatorSet.equal(k.public_key for k in KEYS)
FOLLOWERS = [Ed25519Signer.from_seed(bytes([i + 100]) * 32) for i in range(24)]
STRANGER = Ed25519Signer.from_seed(b"\x07" * 32)
ADMITTED = [k.public_key for k in KEYS + FOLLOWERS]


class Node:
    """KEYS[0] serving a 6-block chain, admitting KEYS and FOLLOWERS."""

    def __init__(
        self,
        tmp: Path,
        limits: TransportLimits | None = None,
        *,
        inbox_per_peer: int = 256,
        logs: LogLimiter | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.tmp = tmp
        self.limits = limits or TransportLimits(handshake_timeout=1.0, max_pending_per_host=64)
        self.inbox_per_peer = inbox_per_peer
        self.logs = logs
        self.host = host

    async def __aenter__(self) -> Node:
        self.store = LmdbStore(self.tmp / "node", CHAIN)
        BlockSource(self.store, KEYS[:3]).extend(6)
        config = sync_node_config(
            chain_id=CHAIN, signer=KEYS[0], validators=VALIDATORS, verifier=Ed25519Verifier()
        )
        self.transport = Transport(
            chain_id=CHAIN,
            signer=KEYS[0],
            on_message=lambda p, m: self.runtime.deliver(p, m),
            allowed=ADMITTED,
            limits=self.limits,
            logs=self.logs,
        )
        self.runtime = Runtime(
            SYNC_NODE,
            config,
            self.store,
            self.transport,
            tick_ms=50,
            inbox_per_peer=self.inbox_per_peer,
        )
        _, self.port = await self.transport.listen(self.host)
        await self.runtime.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.stop()
        await self.transport.close()
        self.store.close()

    def intact(self) -> None:
        with self.store.snapshot() as v:
            assert v.highest_height() == 5 and v.committed_height() == 4
            assert all(b.hash_is_valid() for b in v.blocks_from(0, 10))


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def tls(
    port: int,
    me: Ed25519Signer,
    *,
    admitted: Iterable[bytes] | None = None,
    local: str = "",
    verify: bool = True,
) -> Streams:
    """A TLS connection to the node at ``port`` as ``me`` (no Hello yet); ``verify=False``
    accepts any server certificate."""
    context = client_context(me, admitted if admitted is not None else [KEYS[0].public_key])
    if not verify:
        context.verify_mode = ssl.CERT_NONE
    local_addr = (local, 0) if local else None
    return await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, local_addr=local_addr, server_hostname=None
    )


async def read_message(reader: asyncio.StreamReader) -> Any:
    (length,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return decode_body(await reader.readexactly(length))


async def channel(
    port: int, me: Ed25519Signer, *, chain: int = CHAIN, admitted: Iterable[bytes] | None = None
) -> Streams:
    """An authenticated channel: TLS, then Hello both ways."""
    reader, writer = await tls(port, me, admitted=admitted)
    writer.write(
        encode_frame(Hello(chain_id=chain, public_key=me.public_key, nonce=os.urandom(32)))
    )
    await writer.drain()
    hello = await read_message(reader)
    assert type(hello) is Hello
    return reader, writer


async def closed(reader: asyncio.StreamReader) -> bool:
    """Wait until the other side closes (any error counts as closed); False if it is still
    open after 5 s."""
    try:
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (OSError, asyncio.IncompleteReadError):
        pass
    return True


async def wait(cond: Callable[[], object], timeout: float = 10) -> bool:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return bool(cond())


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rid: int) -> int:
    """One SyncRequest answered: the number of blocks in the SyncResponse to it."""
    request = SyncRequest(chain_id=CHAIN, request_id=rid, start_height=0, limit=4)
    writer.write(encode_frame(request))
    await writer.drain()
    while True:
        message = await asyncio.wait_for(read_message(reader), 20)
        if type(message) is SyncResponse and message.request_id == rid:
            return len(message.blocks)


def reasons(node: Node) -> str:
    return " | ".join(node.transport.closed_reasons)
