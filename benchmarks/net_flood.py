"""A node process under floods: its memory and an honest peer's round trip, per flood.

Starts ``blockfsm node`` (sync-only, over a 10-block chain it certifies itself) for each flood,
floods it from a separate process, and meanwhile measures an honest follower's SyncRequest ->
SyncResponse round trips over its own authenticated channel. Memory is the node process's
resident set (VmRSS) after the flood and its peak (VmHWM), from /proc.

Run alone: ``python -m benchmarks.net_flood [--rounds N]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from blockfsm.adapters.node.codec import HEADER, Hello, decode_body, encode_frame
from blockfsm.adapters.node.crypto import Ed25519Signer
from blockfsm.adapters.node.keys import write_key_file
from blockfsm.adapters.node.tls import client_context
from blockfsm.machine.messages import SyncRequest, SyncResponse

CHAIN = 3
FLOODS = ("none", "8 MiB frames", "strangers", "idle connections", "20 flooding keys")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024  # MiB
    return out


async def _tls(port: int, me: Ed25519Signer, node: bytes) -> Any:
    return await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context(me, [node]), server_hostname=None
    )


async def _channel(port: int, me: Ed25519Signer, node: bytes) -> Any:
    r, w = await _tls(port, me, node)
    w.write(encode_frame(Hello(chain_id=CHAIN, public_key=me.public_key, nonce=os.urandom(32))))
    await w.drain()
    await _read(r)
    return r, w


async def _read(r: asyncio.StreamReader) -> object:
    (n,) = HEADER.unpack(await r.readexactly(HEADER.size))
    return decode_body(await r.readexactly(n))


async def _attack(kind: str, port: int, node: bytes, seeds: list[bytes], ready: Any) -> None:
    keep: list[Any] = []
    if kind == "8 MiB frames":
        junk = bytes(8 << 20)
        for i in range(8):
            try:
                if i % 2:  # an admitted key's first frame, before its Hello
                    _, w = await _tls(port, Ed25519Signer.from_seed(seeds[i]), node)
                else:  # before TLS
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(HEADER.pack(8 << 20) + junk)
                await asyncio.wait_for(w.drain(), 5)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
        ready.set()
    elif kind == "strangers":
        ready.set()
        for i in range(2_000):
            try:
                stranger = Ed25519Signer.from_seed(i.to_bytes(4, "big") * 8)
                await _channel(port, stranger, node)
            except (OSError, asyncio.IncompleteReadError):
                pass
    elif kind == "idle connections":
        for i in range(1_000):
            try:
                keep.append(
                    await asyncio.open_connection(
                        "127.0.0.1", port, local_addr=(f"127.0.1.{2 + i % 20}", 0)
                    )
                )
            except OSError:
                pass
        ready.set()
    elif kind == "20 flooding keys":
        frame = encode_frame(SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=8))
        conns = [await _channel(port, Ed25519Signer.from_seed(s), node) for s in seeds[:20]]
        ready.set()

        async def flood(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while True:
                w.write(frame * 50)
                await w.drain()
                while r._buffer:  # type: ignore[attr-defined]
                    r._buffer.clear()  # type: ignore[attr-defined]
                    await asyncio.sleep(0)

        await asyncio.gather(*(flood(r, w) for r, w in conns), return_exceptions=True)
    await asyncio.sleep(3600)


def _attacker(kind: str, port: int, node: bytes, seeds: list[bytes], ready: Any) -> None:
    asyncio.run(_attack(kind, port, node, seeds, ready))


async def _honest(port: int, me: Ed25519Signer, node: bytes, rounds: int) -> list[float]:
    r, w = await _channel(port, me, node)
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        w.write(encode_frame(SyncRequest(chain_id=CHAIN, request_id=i, start_height=0, limit=8)))
        await w.drain()
        while True:
            m = await asyncio.wait_for(_read(r), 30)
            if type(m) is SyncResponse and m.request_id == i:
                break
        times.append((time.perf_counter() - start) * 1000)
    w.close()
    return times


def run(kind: str, rounds: int, root: Path) -> dict[str, Any]:
    keys = [write_key_file(root / f"v{i}.key") for i in range(4)]
    honest = Ed25519Signer.generate()
    flooders = [os.urandom(32) for _ in range(20)]
    followers = [honest.public_key] + [Ed25519Signer.from_seed(s).public_key for s in flooders]
    port = _port()
    quoted = ", ".join(f'"{k.public_key.hex()}"' for k in keys)
    (root / "node.toml").write_text(
        "\n".join(
            [
                f"chain_id = {CHAIN}",
                'key_file = "v0.key"',
                'data_dir = "data"',
                f'listen = "127.0.0.1:{port}"',
                f"validators = [{quoted}]",
                "followers = [" + ", ".join(f'"{k.hex()}"' for k in followers) + "]",
                "[source]",
                'key_files = ["v0.key", "v1.key", "v2.key"]',
                "interval = 50",
                "max_height = 10",
            ]
        )
        + "\n"
    )
    node = subprocess.Popen(
        [sys.executable, "-m", "blockfsm", "node", "--config", str(root / "node.toml"),
         "--log-level", "WARNING"],
        stderr=open(root / "node.log", "w"),
    )  # fmt: skip
    attacker = None
    try:
        time.sleep(2.0)  # start and extend the chain to height 10
        before = _status(node.pid)
        if kind != "none":
            ready = multiprocessing.Event()
            attacker = multiprocessing.Process(
                target=_attacker, args=(kind, port, keys[0].public_key, flooders, ready)
            )
            attacker.start()
            ready.wait(120)
            time.sleep(1.0)
        times = asyncio.run(_honest(port, honest, keys[0].public_key, rounds))
        after = _status(node.pid)
    finally:
        if attacker is not None:
            attacker.kill()
            attacker.join()
        node.terminate()
        node.wait(10)
    return {
        "flood": kind,
        "rss_before": before["VmRSS"],
        "rss_after": after["VmRSS"],
        "peak": after["VmHWM"],
        "median_ms": statistics.median(times),
        "max_ms": max(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(
        "| flood | node RSS before (MiB) | after (MiB) | peak (MiB) "
        "| honest round trip median (ms) | max (ms) |"
    )
    print("|---|---|---|---|---|---|")
    for kind in FLOODS:
        with tempfile.TemporaryDirectory() as tmp:
            r = run(kind, args.rounds, Path(tmp))
        print(
            f"| {r['flood']} | {r['rss_before']} | {r['rss_after']} | {r['peak']} | "
            f"{r['median_ms']:.1f} | {r['max_ms']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
