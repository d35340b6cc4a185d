"""The channel binds each peer's key: a relay in the middle can neither read nor speak, and a
dialled address that answers with another key is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from blockfsm.adapters.node.codec import encode_frame
from blockfsm.adapters.node.transport import Transport
from blockfsm.machine.messages import SyncRequest, SyncResponse
from blockfsm.machine.types import MAX_U64
from tests.netkit import ADMITTED, CHAIN, KEYS, Node, reasons, wait

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets: a hang fails the test at this deadline."""


class Relay:
    """A man in the middle: forwards bytes both ways and records them; can inject bytes into
    the stream towards the node it dials."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.seen = bytearray()
        self.to_target: asyncio.StreamWriter | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                self.seen += data
                w.write(data)
                await w.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        w.close()

    async def _accept(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        tr, tw = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.to_target = tw
        await asyncio.gather(self._pipe(r, tw), self._pipe(tr, w))

    async def close(self) -> None:
        self.server.close()


def test_a_relay_between_two_nodes_can_neither_read_nor_speak_for_either(tmp_path: Path) -> None:
    async def main() -> None:
        async with Node(tmp_path) as a:
            delivered: list[tuple[bytes, object]] = []
            deliver = a.transport.on_message

            def record(peer: bytes, message: object) -> None:
                delivered.append((peer, message))
                deliver(peer, message)

            a.transport.on_message = record
            relay = Relay(a.port)
            relay_port = await relay.start()
            got: list[object] = []
            b = Transport(
                chain_id=CHAIN,
                signer=KEYS[1],
                on_message=lambda p, m: got.append(m),
                allowed=ADMITTED,
            )
            # B dials A's key at the relay's address: the relay sits in the middle.
            b.dial(KEYS[0].public_key, "127.0.0.1", relay_port)
            try:
                assert await wait(lambda: KEYS[1].public_key in a.transport.connected())
                request = SyncRequest(chain_id=CHAIN, request_id=77, start_height=0, limit=4)
                b.send(KEYS[0].public_key, request)
                assert await wait(lambda: any(type(m) is SyncResponse for m in got))
                response = next(m for m in got if type(m) is SyncResponse)
                assert len(response.blocks) == 4
                # Encrypted: neither the request's frame nor any served block is in the clear.
                assert encode_frame(request) not in relay.seen
                for block in response.blocks:
                    assert block.payload not in relay.seen
                assert (KEYS[1].public_key, request) in delivered
                # The relay speaks: a well-formed frame of its own into the stream towards A.
                forged = SyncRequest(chain_id=CHAIN, request_id=MAX_U64, start_height=0, limit=1)
                before = len(a.transport.closed_reasons)
                assert relay.to_target is not None
                relay.to_target.write(encode_frame(forged))
                await relay.to_target.drain()
                assert await wait(lambda: len(a.transport.closed_reasons) > before), reasons(a)
                assert "SSL" in reasons(a) or "TLS" in reasons(a), reasons(a)
                assert all(m != forged for _, m in delivered)
                assert {p for p, _ in delivered} == {KEYS[1].public_key}
            finally:
                await b.close()
                await relay.close()

    asyncio.run(main())


def test_an_address_that_answers_with_another_key_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with Node(tmp_path) as a:
            dialler = Transport(
                chain_id=CHAIN,
                signer=KEYS[2],
                on_message=lambda p, m: None,
                allowed=ADMITTED,
            )
            # KEYS[1] is dialled, but the node listening there holds KEYS[0].
            dialler.dial(KEYS[1].public_key, "127.0.0.1", a.port)
            try:
                assert await wait(lambda: dialler.rejections["not_dialled_key"] >= 1)
                assert not dialler.connected()
                assert "not the one dialled" in " | ".join(dialler.closed_reasons)
            finally:
                await dialler.close()

    asyncio.run(main())
