"""The core driven by trio: one task per node in a nursery, memory channels as inboxes."""

from __future__ import annotations

import trio
from common import Node, caught_up, now_ms, pair

from blockfsm.machine.core import Tick


async def run_node(me: Node, inbox: trio.MemoryReceiveChannel, peers: dict) -> None:
    while True:
        out = []
        with trio.move_on_after(0.05) as scope:
            sender, message = await inbox.receive()
            out = me.receive(sender, message)
        if scope.cancelled_caught:
            out = me.step(Tick(now=now_ms()))
        for peer, message in out:
            for key, send in peers.items():
                if key != me.key and (peer is None or peer == key):
                    send.send_nowait((me.key, message))


async def main() -> int:
    server, client = pair()
    channels = {n.key: trio.open_memory_channel(1000) for n in (server, client)}
    senders = {k: c[0] for k, c in channels.items()}
    async with trio.open_nursery() as nursery:
        for n in (server, client):
            nursery.start_soon(run_node, n, channels[n.key][1], senders)
        for _ in range(200):
            if caught_up(client):
                break
            await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    print(f"trio: client committed height {client.chain.committed_height}")
    return 0 if caught_up(client) else 1


if __name__ == "__main__":
    raise SystemExit(trio.run(main))
