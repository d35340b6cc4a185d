"""The transport and runtime under bad input: every failure closes a connection with a logged
reason or is a counted rejection; the node keeps running and its store stays intact."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockfsm.adapters.codec import HEADER, WIRE_VERSION, Hello, Proof, encode_frame
from blockfsm.adapters.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
from blockfsm.adapters.store import LmdbStore
from blockfsm.adapters.transport import Transport, handshake_payload
from blockfsm.machine.messages import AdvertiseBlock, AdvertiseCertificate
from blockfsm.machine.types import ValidatorSet, advertise_block_payload, certify

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

CHAIN = 9
KEYS = [Ed25519Signer.from_seed(bytes([i + 40]) * 32) for i in range(4)]
VALIDATORS = ValidatorSet.equal(k.public_key for k in KEYS)


class Node:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    async def __aenter__(self) -> Node:
        self.store = LmdbStore(self.tmp / "node", CHAIN)
        BlockSource(self.store, KEYS[:3]).extend(6)
        config = sync_node_config(
            chain_id=CHAIN, signer=KEYS[0], validators=VALIDATORS, verifier=Ed25519Verifier()
        )
        self.transport = Transport(
            chain_id=CHAIN,
            signer=KEYS[0],
            verifier=Ed25519Verifier(),
            on_message=lambda p, m: self.runtime.deliver(p, m),
            handshake_timeout=1.0,
        )
        self.runtime = Runtime(SYNC_NODE, config, self.store, self.transport, tick_ms=50)
        _, self.port = await self.transport.listen()
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


async def _raw_handshake(
    port: int, me: Ed25519Signer, *, chain: int = CHAIN, forge: bool = False
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        encode_frame(Hello(chain_id=chain, public_key=me.public_key, nonce=os.urandom(32)))
    )
    header = await reader.readexactly(4)
    from blockfsm.adapters.codec import decode_body

    hello: Any = decode_body(await reader.readexactly(HEADER.unpack(header)[0]))
    signer = KEYS[3] if forge else me
    sig = signer.sign(handshake_payload(chain, me.public_key, hello.public_key, hello.nonce))
    writer.write(encode_frame(Proof(signature=sig)))
    await writer.drain()
    await reader.readexactly(4)  # its proof's header
    return reader, writer


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        while await asyncio.wait_for(reader.read(65536), 3):
            pass
    except (ConnectionError, TimeoutError):
        return True
    return True


async def _wait(cond: Any, timeout: float = 5) -> bool:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return True
        await asyncio.sleep(0.02)
    return bool(cond())


def _reasons(node: Node) -> str:
    return " | ".join(node.transport.closed_reasons)


@pytest.mark.parametrize(
    "case", ["bad_signature", "wrong_chain", "garbage", "silent", "proof_first", "self_key"]
)
def test_a_peer_failing_the_handshake_is_closed_with_a_reason(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    expected = {
        "bad_signature": "bad handshake signature",
        "wrong_chain": "wrong chain id",
        "garbage": "handshake failed",
        "silent": "timed out",
        "proof_first": "expected Hello",
        "self_key": "connected to itself",
    }[case]

    async def main() -> None:
        async with Node(tmp_path) as node:
            if case in ("bad_signature", "wrong_chain"):
                try:
                    r, w = await _raw_handshake(
                        node.port,
                        KEYS[1],
                        chain=CHAIN + 1 if case == "wrong_chain" else CHAIN,
                        forge=case == "bad_signature",
                    )
                    await _closed(r)
                except (asyncio.IncompleteReadError, ConnectionError):
                    pass
            else:
                r, w = await asyncio.open_connection("127.0.0.1", node.port)
                if case == "garbage":
                    w.write(b"\x00\x00\x00\x05\x01\xc1\xc1\xc1\xc1")
                elif case == "proof_first":
                    w.write(encode_frame(Proof(signature=bytes(64))))
                elif case == "self_key":
                    hello = Hello(chain_id=CHAIN, public_key=KEYS[0].public_key, nonce=bytes(32))
                    w.write(encode_frame(hello))
                await _closed(r)
            assert await _wait(lambda: expected in _reasons(node)), _reasons(node)
            assert not node.transport.connected()
            node.intact()

    with caplog.at_level(logging.WARNING, logger="blockfsm.transport"):
        asyncio.run(main())
    assert any(expected in rec.getMessage() for rec in caplog.records)


def test_bad_frames_after_the_handshake_close_the_connection_not_the_node(
    tmp_path: Path,
) -> None:
    frames = [
        b"\x00\x00\x00\x03\x01\x92\x01",  # truncated array
        HEADER.pack(1 << 30),  # oversized
        HEADER.pack(2) + bytes((WIRE_VERSION + 1, 0x90)),  # wrong version
        HEADER.pack(4) + bytes((WIRE_VERSION,)) + b"\x92\x01\xa1",  # wrong types / truncated
        HEADER.pack(3) + bytes((WIRE_VERSION,)) + b"\x91\x63",  # unknown tag
    ]

    async def main() -> None:
        async with Node(tmp_path) as node:
            for i, frame in enumerate(frames):
                r, w = await _raw_handshake(node.port, KEYS[1])
                await _wait(lambda: node.transport.connected())
                w.write(frame)
                await w.drain()
                if i == 0:
                    w.write_eof()
                await _closed(r)
                await _wait(lambda n=i: len(node.transport.closed_reasons) > n)
            reasons = node.transport.closed_reasons
            assert len(reasons) == len(frames), reasons
            assert any("exceeds" in x for x in reasons)
            assert any("version" in x for x in reasons)
            assert any("tag" in x for x in reasons)
            # still serving: a well-behaved peer gets through
            r, w = await _raw_handshake(node.port, KEYS[2])
            assert await _wait(lambda: KEYS[2].public_key in node.transport.connected())
            w.close()
            node.intact()

    asyncio.run(main())


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(garbage=st.binary(min_size=1, max_size=300))
def test_hypothesis_garbage_after_the_handshake_never_crashes_the_node(
    tmp_path_factory: pytest.TempPathFactory, garbage: bytes
) -> None:
    tmp = tmp_path_factory.mktemp("g")

    async def main() -> None:
        async with Node(tmp) as node:
            r, w = await _raw_handshake(node.port, KEYS[1])
            w.write(HEADER.pack(len(garbage)) + garbage)
            w.write_eof()
            await _closed(r)
            assert await _wait(lambda: node.transport.closed_reasons)
            assert await _wait(lambda: not node.runtime._tasks[1].done())
            node.intact()

    asyncio.run(main())


def test_wrong_chain_bad_signature_and_replayed_advertisements_are_counted_rejections(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with Node(tmp_path) as node:
            _r, w = await _raw_handshake(node.port, KEYS[1])
            await _wait(lambda: node.transport.connected())
            now = node.runtime.now()
            key = KEYS[1].public_key

            def ad(chain: int, ts: int, signer: Ed25519Signer = KEYS[1]) -> AdvertiseBlock:
                sig = signer.sign(advertise_block_payload(chain, key, 50, ts))
                return AdvertiseBlock(
                    chain_id=chain, server=key, committed_height=50, timestamp=ts, signature=sig
                )

            good = ad(CHAIN, now)
            block = node.store.block_at(5)
            assert block is not None
            bad_cert = certify(chain_id=CHAIN + 1, view=99, block=block, signers=KEYS[:3])
            for m in [
                good,
                good,  # replayed
                ad(CHAIN + 1, now + 1),  # wrong chain
                ad(CHAIN, now + 2, signer=KEYS[2]),  # bad signature
                attrs.evolve(good, timestamp=now + 3),  # signature does not cover it
                AdvertiseCertificate(certificate=bad_cert),  # wrong chain certificate
            ]:
                w.write(encode_frame(m))
            await w.drain()
            assert await _wait(lambda: sum(node.runtime.rejections.values()) >= 5)
            assert dict(node.runtime.rejections) == {
                "stale_advertisement": 1,
                "wrong_chain": 2,
                "bad_signature": 2,
            }
            assert node.transport.connected()
            w.close()
            node.intact()
            return None

    asyncio.run(main())
