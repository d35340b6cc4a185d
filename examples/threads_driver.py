"""The core driven by plain threads: one thread per node, a queue.Queue inbox, ticks on timeout."""

from __future__ import annotations

import queue
import threading
import time

from common import Node, caught_up, now_ms, pair

from blockfsm.machine.core import Tick


def run_node(
    me: Node, inbox: queue.Queue, peers: dict[bytes, queue.Queue], stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            sender, message = inbox.get(timeout=0.05)
            out = me.receive(sender, message)
        except queue.Empty:
            out = me.step(Tick(now=now_ms()))
        for peer, message in out:
            for key, q in peers.items():
                if key != me.key and (peer is None or peer == key):
                    q.put((me.key, message))


def main() -> int:
    server, client = pair()
    queues: dict[bytes, queue.Queue] = {server.key: queue.Queue(), client.key: queue.Queue()}
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_node, args=(n, queues[n.key], queues, stop), daemon=True)
        for n in (server, client)
    ]
    for t in threads:
        t.start()
    for _ in range(200):
        if caught_up(client):
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    print(f"threads: client committed height {client.chain.committed_height}")
    return 0 if caught_up(client) else 1


if __name__ == "__main__":
    raise SystemExit(main())
