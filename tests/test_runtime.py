"""The asyncio runtime over loopback TCP, LMDB and Ed25519: catch-up, and blame for bad ranges."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs
import pytest

from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.adapters.node.transport import Transport
from blockfsm.machine.core import Send, Step
from blockfsm.machine.messages import SyncResponse
from blockfsm.machine.types import ValidatorSet

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

CHAIN = 5
KEYS = [Ed25519Signer.from_seed(bytes([i + 1]) * 32) for i in range(4)]
VALIDATORS = ValidatorSet.equal(k.public_key for k in KEYS)


class Tampering:
    """A server that answers sync requests with a block range whose payloads were altered."""

    def initial(self, config: Any) -> Any:
        return SYNC_NODE.initial(config)

    def step(self, config: Any, state: Any, event: Any, view: Any) -> Step:
        result = SYNC_NODE.step(config, state, event, view)
        effects = []
        for e in result.effects:
            if type(e) is Send and type(e.message) is SyncResponse and e.message.blocks:
                blocks = tuple(attrs.evolve(b, payload=b"forged") for b in e.message.blocks)
                e = Send(peer=e.peer, message=attrs.evolve(e.message, blocks=blocks))
            effects.append(e)
        return Step(result.state, tuple(effects))


async def _node(tmp: Path, i: int, machine: Any = SYNC_NODE) -> tuple[Runtime, Transport, int]:
    store = LmdbStore(tmp / f"n{i}", CHAIN)
    config = sync_node_config(
        chain_id=CHAIN, signer=KEYS[i], validators=VALIDATORS, verifier=Ed25519Verifier(), seed=i
    )
    runtime: Runtime
    transport = Transport(
        chain_id=CHAIN,
        signer=KEYS[i],
        on_message=lambda p, m: runtime.deliver(p, m),
        allowed=[k.public_key for k in KEYS],
    )
    runtime = Runtime(machine, config, store, transport, tick_ms=50, name=f"n{i}")
    _, port = await transport.listen("127.0.0.1", 0)
    await runtime.start()
    return runtime, transport, port


async def _wait(cond: Any, timeout: float) -> bool:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return bool(cond())


def test_a_fresh_node_catches_up_over_tcp(tmp_path: Path) -> None:
    async def main() -> None:
        n = 120
        server, st, port = await _node(tmp_path, 0)
        BlockSource(server.store, KEYS[:3]).extend(n)
        client, ct, _ = await _node(tmp_path, 1)
        ct.dial(KEYS[0].public_key, "127.0.0.1", port)
        try:
            assert await _wait(lambda: client.store.committed_height >= n - 2, 20)
        finally:
            await client.stop()
            await server.stop()
            await ct.close()
            await st.close()
        with client.store.snapshot() as mine, server.store.snapshot() as theirs:
            top = mine.committed_height()
            assert mine.blocks_from(0, top + 1) == theirs.blocks_from(0, top + 1)
        assert not client.blamed

    asyncio.run(main())


def test_a_node_sent_an_invalid_range_keeps_its_chain_and_blames_the_peer(tmp_path: Path) -> None:
    async def main() -> None:
        liar, lt, port = await _node(tmp_path, 0, Tampering())
        BlockSource(liar.store, KEYS[:3]).extend(40)
        victim, vt, _ = await _node(tmp_path, 1)
        BlockSource(victim.store, KEYS[:3]).extend(5)
        with victim.store.snapshot() as v:
            before = v.blocks_from(0, 10)
        vt.dial(KEYS[0].public_key, "127.0.0.1", port)
        try:
            assert await _wait(lambda: victim.blamed, 20)
        finally:
            await victim.stop()
            await liar.stop()
            await vt.close()
            await lt.close()
        assert victim.blamed[0] == (KEYS[0].public_key, "invalid_response")
        with victim.store.snapshot() as v:
            assert v.blocks_from(0, 10) == before
            assert v.committed_height() == 3

    asyncio.run(main())


class Recorder:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def apply(self, effects: list[Any]) -> int:
        self.log.append("apply " + ",".join(type(e).__name__ for e in effects))
        return len(effects)

    def send(self, peer: bytes, message: Any) -> bool:
        self.log.append("send")
        return True

    def broadcast(self, message: Any) -> None:
        self.log.append("broadcast")


def test_writes_are_durable_before_any_later_message_and_batched() -> None:
    from blockfsm.machine.core import Broadcast, Rejected
    from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
    from blockfsm.machine.types import ZERO_HASH, Block, Certificate

    b = Block.make(
        chain_id=CHAIN, height=0, parent_hash=ZERO_HASH, justify=Certificate.genesis(CHAIN)
    )
    log: list[str] = []
    rec = Recorder(log)

    async def main() -> None:
        runtime = Runtime(SYNC_NODE, _config(), rec, rec)  # type: ignore[arg-type]
        await runtime.execute(
            [
                Persist(block=b),
                Commit(height=0),
                Send(peer=KEYS[1].public_key, message="m"),
                Rejected(reason="x"),
                UpdateHighestCertificate(certificate=Certificate.genesis(CHAIN)),
                Broadcast(message="n"),
                Persist(block=b),
            ]
        )
        assert runtime.rejections == {"x": 1}

    asyncio.run(main())
    assert log == [
        "apply Persist,Commit",
        "send",
        "apply UpdateHighestCertificate",
        "broadcast",
        "apply Persist",
    ]


def _config() -> Any:
    return sync_node_config(
        chain_id=CHAIN, signer=KEYS[0], validators=VALIDATORS, verifier=Ed25519Verifier()
    )


def test_a_message_the_machine_does_not_serve_is_counted_not_a_crash(tmp_path: Path) -> None:
    from blockfsm.machine.attester import Vote

    async def main() -> None:
        store = LmdbStore(tmp_path / "s", CHAIN)
        runtime = Runtime(SYNC_NODE, _config(), store, None, tick_ms=20)
        await runtime.start()
        vote = Vote(
            phase=0,
            chain_id=CHAIN,
            height=0,
            round=0,
            block_hash=bytes(32),
            voter=KEYS[1].public_key,
            signature=bytes(64),
        )
        runtime.deliver(KEYS[1].public_key, vote)
        await asyncio.sleep(0.1)
        await runtime.stop()
        assert runtime.rejections["not_served"] == 1
        assert runtime.failures == 0
        assert runtime.steps > 0

    asyncio.run(main())
