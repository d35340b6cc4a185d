"""The runtime's inbox under a flood: each peer has its own quota and peers are served in turn,
so twenty flooding keys cannot push an honest peer's event behind theirs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.runtime import SYNC_NODE, Runtime, sync_node_config
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.machine.core import Step, Tick
from blockfsm.machine.messages import SyncRequest
from blockfsm.machine.types import ValidatorSet

pytestmark = pytest.mark.timeout(60)
"""This module waits on the runtime's tasks: a hang fails the test at this deadline."""

CHAIN = 5
ME = Ed25519Signer.from_seed(b"\x01" * 32)
HONEST = Ed25519Signer.from_seed(b"\x02" * 32).public_key
FLOODERS = [Ed25519Signer.from_seed(bytes([i + 10]) * 32).public_key for i in range(20)]


class Recording:
    """The sync node, recording each event it steps."""

    accepts = SYNC_NODE.accepts

    def __init__(self) -> None:
        self.events: list[Any] = []

    def initial(self, config: Any) -> Any:
        return SYNC_NODE.initial(config)

    def step(self, config: Any, state: Any, event: Any, view: Any) -> Step:
        self.events.append(event)
        return SYNC_NODE.step(config, state, event, view)


def test_twenty_flooding_keys_fill_only_their_own_quota(tmp_path: Path) -> None:
    per_flooder, quota = 200, 16
    machine = Recording()

    async def main() -> None:
        store = LmdbStore(tmp_path / "s", CHAIN)
        config = sync_node_config(
            chain_id=CHAIN,
            signer=ME,
            validators=ValidatorSet.equal([ME.public_key]),
            verifier=Ed25519Verifier(),
        )
        runtime = Runtime(machine, config, store, None, tick_ms=20, inbox_per_peer=quota)
        request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=1)
        for _ in range(per_flooder):
            for key in FLOODERS:
                runtime.deliver(key, request)
        runtime.deliver(HONEST, request)
        assert runtime.inbox.depth() == 20 * quota + 1
        await runtime.start()
        for _ in range(2_000):
            if any(getattr(e, "peer", None) == HONEST for e in machine.events):
                break
            await asyncio.sleep(0.01)
        await runtime.stop()
        store.close()
        assert runtime.inbox_dropped == 20 * (per_flooder - quota)
        assert runtime.inbox.dropped["peer"] == runtime.inbox_dropped
        peers = [e.peer for e in machine.events if type(e) is not Tick]
        # Round robin: the honest peer's one event comes within the first turn of 21 sources.
        assert HONEST in peers[:21], peers.index(HONEST) if HONEST in peers else None
        assert not runtime.inbox.queues.get(HONEST)

    asyncio.run(main())
