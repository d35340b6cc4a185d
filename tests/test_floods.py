"""Floods against one node, each bounded by a count, each with an honest peer still served:
oversized frames before authentication, strangers, idle connections, many connections of one
key, twenty flooding keys, one peer over its rate, large frames, slow and idle peers, and the
log lines all of that causes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

import blockfsm.adapters.node.transport as transport_module
from blockfsm.adapters.node.codec import HEADER, encode_frame
from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.adapters.node.limits import LogLimiter
from blockfsm.adapters.node.transport import Transport, TransportLimits
from blockfsm.machine.messages import SyncRequest, SyncResponse
from tests.netkit import (
    ADMITTED,
    CHAIN,
    FOLLOWERS,
    KEYS,
    STRANGER,
    Node,
    channel,
    closed,
    reasons,
    round_trip,
    tls,
    wait,
)

pytestmark = pytest.mark.timeout(60)
"""This module waits on sockets: a hang fails the test at this deadline."""

HONEST = KEYS[1]


async def _served(node: Node, rounds: int = 3) -> None:
    """The honest peer connects and gets ``rounds`` SyncRequests answered with 4 blocks each."""
    r, w = await channel(node.port, HONEST)
    try:
        for i in range(rounds):
            assert await round_trip(r, w, 1000 + i) == 4
    finally:
        w.close()


def test_frames_announcing_8_mib_before_authentication_are_refused_unread(tmp_path: Path) -> None:
    n = 20

    async def one(node: Node, authenticated: bool, signer: Ed25519Signer) -> None:
        try:
            if authenticated:
                r, w = await tls(node.port, signer)
            else:
                r, w = await asyncio.open_connection("127.0.0.1", node.port)
            w.write(HEADER.pack(8 << 20) + bytes(64 * 1024))
            await closed(r)
        except (OSError, asyncio.IncompleteReadError):
            pass

    async def main() -> None:
        async with Node(tmp_path) as node:
            await asyncio.gather(*(one(node, False, HONEST) for _ in range(n)))
            await asyncio.gather(*(one(node, True, FOLLOWERS[i]) for i in range(n)))
            assert await wait(lambda: node.transport.rejections["bad_hello"] == n)
            assert node.transport.rejections["tls_failed"] == n
            assert "first frame of 8388608 bytes exceeds 1024" in reasons(node)
            await _served(node)
            assert not node.transport.peers.keys() - {HONEST.public_key}

    asyncio.run(main())


def test_strangers_are_refused_and_nothing_is_kept_about_them(tmp_path: Path) -> None:
    n = 200
    strangers = [Ed25519Signer.from_seed(i.to_bytes(2, "big") * 16) for i in range(n)]

    async def one(node: Node, s: Ed25519Signer) -> None:
        try:
            r, _ = await tls(node.port, s)
            await closed(r)
        except (OSError, asyncio.IncompleteReadError):
            pass

    async def main() -> None:
        async with Node(tmp_path) as node:
            for batch in range(0, n, 20):
                await asyncio.gather(*(one(node, s) for s in strangers[batch : batch + 20]))
            assert await wait(lambda: node.transport.rejections["key_not_allowed"] == n)
            await _served(node)
            # Nothing is queued for a key that is not admitted, even by the node itself.
            request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=1)
            assert not node.transport.send(STRANGER.public_key, request)
            assert set(node.transport.peers) == {HONEST.public_key}
            assert node.transport.pending == 0 and not node.transport._pending_by_host
            assert len(node.transport.closed_reasons) <= 256
            assert set(node.runtime.inbox.queues) <= {HONEST.public_key}

    asyncio.run(main())


def test_a_thousand_idle_connections_leave_configured_and_other_peers_served(
    tmp_path: Path,
) -> None:
    """Idle connections from 20 addresses take every handshake slot, up to 4 per address; a
    peer from another address still gets one (the busiest address gives up its oldest), and a
    configured peer is reached by the node's own dial."""
    limits = TransportLimits(
        handshake_timeout=30.0, max_connections=64, max_pending=32, max_pending_per_host=4
    )
    n = 1000

    async def main() -> None:
        async with Node(tmp_path, limits) as node:
            # One address gets at most 4 handshake slots however many connections it opens.
            held = [
                await asyncio.open_connection("127.0.0.1", node.port, local_addr=("127.0.2.1", 0))
                for _ in range(50)
            ]
            assert await wait(lambda: node.transport.rejections["pending_limit"] == 46)
            assert len(node.transport._pending_by_host["127.0.2.1"]) == 4
            for i in range(n):
                source = f"127.0.1.{2 + i % 20}"
                try:
                    held.append(
                        await asyncio.open_connection(
                            "127.0.0.1", node.port, local_addr=(source, 0)
                        )
                    )
                except OSError:
                    pass  # reset while the node's accept queue was full: refused all the same
            assert len(held) > n // 2
            refused = node.transport.rejections
            assert await wait(
                lambda: refused["pending_limit"] + refused["evicted"] >= len(held) - 32 - 4
            )
            assert node.transport.pending <= 32 and node.transport.open_connections <= 64
            # The configured peer: the node dials it (outbound is not limited by inbound slots).
            got: list[object] = []
            peer = Transport(
                chain_id=CHAIN,
                signer=KEYS[2],
                on_message=lambda p, m: got.append(m),
                allowed=ADMITTED,
            )
            _, port = await peer.listen()
            node.transport.dial(KEYS[2].public_key, "127.0.0.1", port)
            try:
                assert await wait(lambda: KEYS[0].public_key in peer.connected())
                request = SyncRequest(chain_id=CHAIN, request_id=5, start_height=0, limit=4)
                peer.send(KEYS[0].public_key, request)
                assert await wait(lambda: any(type(m) is SyncResponse for m in got))
            finally:
                await peer.close()
            # A peer from an address of its own, while the handshake slots are still held.
            assert node.transport.pending > 0
            await _served(node)
            for _, w in held:
                w.close()

    asyncio.run(main())


def test_past_the_connection_limit_inbound_is_refused_and_configured_peers_are_dialled(
    tmp_path: Path,
) -> None:
    """Eight admitted keys take all eight connections; 50 more connections are refused at
    accept, and a configured peer is still reached by the node's own dial."""
    limits = TransportLimits(handshake_timeout=5.0, max_connections=8, max_pending_per_host=64)

    async def main() -> None:
        async with Node(tmp_path, limits) as node:
            held = [await channel(node.port, FOLLOWERS[i]) for i in range(8)]
            assert await wait(lambda: node.transport.open_connections == 8)
            for i in range(50):
                try:
                    r, _ = await tls(node.port, FOLLOWERS[8 + i % 8])
                    await closed(r)
                except (OSError, asyncio.IncompleteReadError):
                    pass
            assert await wait(lambda: node.transport.rejections["connection_limit"] == 50)
            assert node.transport.open_connections == 8
            got: list[object] = []
            peer = Transport(
                chain_id=CHAIN,
                signer=KEYS[2],
                on_message=lambda p, m: got.append(m),
                allowed=ADMITTED,
            )
            _, port = await peer.listen()
            node.transport.dial(KEYS[2].public_key, "127.0.0.1", port)
            try:
                assert await wait(lambda: KEYS[0].public_key in peer.connected())
                request = SyncRequest(chain_id=CHAIN, request_id=5, start_height=0, limit=4)
                peer.send(KEYS[0].public_key, request)
                assert await wait(lambda: any(type(m) is SyncResponse for m in got))
            finally:
                await peer.close()
            for _, w in held:
                w.close()

    asyncio.run(main())


def test_many_connections_of_one_key_keep_at_most_the_newest_two(tmp_path: Path) -> None:
    n = 60

    async def main() -> None:
        async with Node(tmp_path) as node:
            held = [await channel(node.port, FOLLOWERS[0]) for _ in range(n)]
            p = node.transport.peers[FOLLOWERS[0].public_key]
            assert await wait(lambda: len(p.conns) == 2)
            assert await wait(lambda: node.transport.open_connections == 2)
            assert sum("replaced" in x for x in node.transport.closed_reasons) == n - 2
            await _served(node)
            for _, w in held:
                w.close()

    asyncio.run(main())


async def _flood(
    port: int, signer: Ed25519Signer, stop: asyncio.Event, cap: int, sent: list[int]
) -> None:
    """SyncRequests as fast as the node takes them, until ``stop`` or ``cap`` frames, counted
    in a new last item of ``sent`` as they go; the connection stays open until ``stop``."""
    r, w = await channel(port, signer)
    frame = encode_frame(SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=4))
    sent.append(0)
    mine = len(sent) - 1
    try:
        while not stop.is_set() and sent[mine] < cap:
            w.write(frame * 50)
            sent[mine] += 50
            await w.drain()
            while r._buffer:  # type: ignore[attr-defined]  # discard the answers
                r._buffer.clear()  # type: ignore[attr-defined]
                await asyncio.sleep(0)
        await stop.wait()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        w.transport.abort()


async def _stop(stop: asyncio.Event, floods: list[asyncio.Task[None]]) -> None:
    stop.set()
    for task in floods:
        task.cancel()
    await asyncio.gather(*floods, return_exceptions=True)


def test_twenty_flooding_keys_do_not_starve_an_honest_peer(tmp_path: Path) -> None:
    """Twenty keys flood with no rate limit; each honest request waits behind about one event
    per flooder (every reader yields after each frame and every peer has its own inbox queue),
    not behind the flood, while every flooder is still sending."""
    cap = 10_000_000
    unlimited = TransportLimits(handshake_timeout=5.0, max_pending_per_host=64,
                                peer_frames_per_second=1e9)  # fmt: skip

    async def main() -> None:
        async with Node(tmp_path, unlimited, inbox_per_peer=16) as node:
            stop = asyncio.Event()
            sent: list[int] = []
            floods = [
                asyncio.create_task(_flood(node.port, FOLLOWERS[i], stop, cap, sent))
                for i in range(20)
            ]
            assert await wait(lambda: node.runtime.steps > 2_000, 30)
            r, w = await channel(node.port, HONEST)
            waited = []
            for i in range(20):
                before = node.runtime.steps
                assert await round_trip(r, w, 1000 + i) == 4
                waited.append(node.runtime.steps - before)
            w.close()
            flooded = list(sent)
            await _stop(stop, floods)
            assert len(flooded) == 20 and max(flooded) < cap, flooded  # it outlasted the honest
            assert max(waited) <= 400, waited  # behind all queued flood events: 320 and more
            assert node.runtime.inbox.depth() <= 21 * 16

    asyncio.run(main())


def test_a_peer_over_its_frame_rate_is_slowed_and_an_honest_peer_served(tmp_path: Path) -> None:
    rate = 200.0
    limits = TransportLimits(
        handshake_timeout=5.0, max_pending_per_host=64, peer_frames_per_second=rate
    )

    async def main() -> None:
        async with Node(tmp_path, limits) as node:
            delivered: list[bytes] = []
            deliver = node.transport.on_message

            def count(peer: bytes, message: object) -> None:
                delivered.append(peer)
                deliver(peer, message)

            node.transport.on_message = count
            stop = asyncio.Event()
            sent: list[int] = []
            start = time.monotonic()
            flood = asyncio.create_task(_flood(node.port, FOLLOWERS[0], stop, 5_000, sent))
            bucket = await _bucket(node, FOLLOWERS[0].public_key)
            assert await wait(lambda: bucket.waits > 0), (reasons(node), sent)
            await _served(node, rounds=5)
            elapsed = time.monotonic() - start
            await _stop(stop, [flood])
            flooded = delivered.count(FOLLOWERS[0].public_key)
            assert flooded <= rate * (1 + elapsed) + 1, (flooded, elapsed)
            assert sent[0] > flooded

    asyncio.run(main())


async def _bucket(node: Node, key: bytes) -> Any:
    assert await wait(lambda: key in node.transport.peers)
    return node.transport.peers[key].frames


def test_large_frames_are_decoded_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, bool]] = []
    decode = transport_module.decode_body

    def spy(body: bytes) -> object:
        decoded.append((len(body), threading.current_thread() is threading.main_thread()))
        return decode(body)

    monkeypatch.setattr(transport_module, "decode_body", spy)

    async def main() -> None:
        async with Node(tmp_path) as node:
            block = node.store.block_at(5)
            cert = node.store.highest_certificate
            assert block is not None and cert is not None
            big = attrs.evolve(block, payload=bytes(100_000))
            response = SyncResponse(chain_id=CHAIN, request_id=3, blocks=(big,) * 3,
                                    highest_certificate=cert)  # fmt: skip
            _, w = await channel(node.port, FOLLOWERS[0])
            for _ in range(10):
                w.write(encode_frame(response))
            await w.drain()
            assert await wait(lambda: node.transport.offloaded == 10)
            await _served(node)
            w.close()
        large = [on_loop for size, on_loop in decoded if size >= 64 * 1024]
        small = [on_loop for size, on_loop in decoded if size < 64 * 1024]
        assert len(large) == 10 and not any(large)
        assert small and all(small)

    asyncio.run(main())


def test_idle_and_slow_peers_are_closed_and_an_honest_peer_served(tmp_path: Path) -> None:
    limits = TransportLimits(
        handshake_timeout=5.0, max_pending_per_host=64, idle_timeout=0.5, read_timeout=0.5
    )
    n = 10

    async def main() -> None:
        async with Node(tmp_path, limits) as node:
            idle = [await channel(node.port, FOLLOWERS[i]) for i in range(n)]
            slow = [await channel(node.port, FOLLOWERS[n + i]) for i in range(n)]
            for _, w in slow:
                w.write(HEADER.pack(100) + bytes(10))  # a body that never comes
            await _served(node)
            assert await wait(
                lambda: sum("idle for" in x for x in node.transport.closed_reasons) == n
            ), reasons(node)
            assert await wait(
                lambda: sum("body took over" in x for x in node.transport.closed_reasons) == n
            ), reasons(node)
            assert node.transport.connected() == []
            for r, _ in idle + slow:
                assert await closed(r)

    asyncio.run(main())


def test_log_lines_under_a_flood_of_strangers_are_rate_limited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    limiter = LogLimiter(burst=5, window=60.0, clock=lambda: now[0])
    n = 100

    async def one(node: Node) -> None:
        try:
            r, _ = await tls(node.port, STRANGER)
            await closed(r)
        except (OSError, asyncio.IncompleteReadError):
            pass

    async def main() -> None:
        async with Node(tmp_path, logs=limiter) as node:
            for _ in range(n):
                await one(node)
            assert await wait(lambda: node.transport.rejections["key_not_allowed"] == n)
            refused = [r for r in caplog.records if "connection_refused" in r.getMessage()]
            assert len(refused) == 5
            now[0] = 61.0
            await one(node)
            assert await wait(lambda: node.transport.rejections["key_not_allowed"] == n + 1)
            last = [r for r in caplog.records if "connection_refused" in r.getMessage()][-1]
            assert '"suppressed": 95' in last.getMessage()
            await _served(node)

    with caplog.at_level(logging.INFO, logger="blockfsm.transport"):
        asyncio.run(main())
