"""The core driven by asyncio: one task per node, an asyncio.Queue inbox, a ticker per node."""

from __future__ import annotations

import asyncio

from common import Node, caught_up, now_ms, pair

from blockfsm.machine.core import Tick


async def run_node(me: Node, inbox: asyncio.Queue, peers: dict[bytes, asyncio.Queue]) -> None:
    while True:
        try:
            sender, message = await asyncio.wait_for(inbox.get(), 0.05)
            out = me.receive(sender, message)
        except TimeoutError:
            out = me.step(Tick(now=now_ms()))
        for peer, message in out:
            for key, queue in peers.items():
                if key != me.key and (peer is None or peer == key):
                    queue.put_nowait((me.key, message))


async def main() -> int:
    server, client = pair()
    queues = {server.key: asyncio.Queue(), client.key: asyncio.Queue()}
    tasks = [asyncio.create_task(run_node(n, queues[n.key], queues)) for n in (server, client)]
    for _ in range(200):
        if caught_up(client):
            break
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"asyncio: client committed height {client.chain.committed_height}")
    return 0 if caught_up(client) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
