"""Sync throughput of the real adapters: a fresh node catching up over loopback TCP into LMDB.

Two processes' worth of work in one: a serving node whose LMDB store holds ``blocks`` blocks,
each certified by 3 of 4 Ed25519 validators, and a fresh node that dials it and catches up through
the sync client, verifying every certificate with Ed25519 and writing every batch durably before
its next request. The figure is blocks per second over the verification bound measured in the
same run (Ed25519 verifications per second on this core divided by the signatures per block), as
for the pure machine's ``sync_throughput``: the runtime, codec, transport and store together cost
what the ratio falls short of the pure machine's.

Run alone: ``python -m benchmarks.tcp_sync [--blocks N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.adapters.node.transport import Transport
from blockfsm.machine.types import ValidatorSet

CHAIN = 9
KEYS = [Ed25519Signer.from_seed(bytes([i + 41]) * 32) for i in range(4)]
VALIDATORS = ValidatorSet.equal(k.public_key for k in KEYS)
SIGNERS_PER_CERTIFICATE = 3


async def _node(directory: Path, i: int) -> tuple[Runtime, Transport, int]:
    store = LmdbStore(directory / f"n{i}", CHAIN)
    config = sync_node_config(
        chain_id=CHAIN,
        signer=KEYS[i],
        validators=VALIDATORS,
        verifier=Ed25519Verifier(),
        seed=i,
        request_limit=100,
        trigger_timeout=50,
        advertise_time=20,
    )
    runtime: Runtime
    transport = Transport(
        chain_id=CHAIN,
        signer=KEYS[i],
        on_message=lambda p, m: runtime.deliver(p, m),
        allowed=[k.public_key for k in KEYS],
    )
    runtime = Runtime(SYNC_NODE, config, store, transport, tick_ms=10, name=f"n{i}")
    _, port = await transport.listen("127.0.0.1", 0)
    await runtime.start()
    return runtime, transport, port


def prepare(directory: Path, blocks: int) -> Path:
    """A serving store of ``blocks`` certified blocks, written once and copied per run."""
    source = directory / "source"
    store = LmdbStore(source / "n0", CHAIN)
    BlockSource(store, KEYS[:SIGNERS_PER_CERTIFICATE]).extend(blocks)
    store.close()
    return source


def catch_up_seconds(source: Path, blocks: int) -> float:
    """Seconds for a fresh node to commit ``blocks - 2`` blocks from a server over loopback."""
    import shutil

    async def main(work: Path) -> float:
        shutil.copytree(source, work, dirs_exist_ok=True)
        server, server_transport, port = await _node(work, 0)
        client, client_transport, _ = await _node(work, 1)
        started = time.perf_counter()
        client_transport.dial(KEYS[0].public_key, "127.0.0.1", port)
        try:
            while client.store.committed_height < blocks - 2:
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            await client.stop()
            await server.stop()
            await client_transport.close()
            await server_transport.close()
        return elapsed

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(main(Path(tmp)))


def seconds_per_verification() -> float:
    verifier = Ed25519Verifier()
    key = KEYS[0].public_key
    message = b"blockfsm benchmark"
    signature = KEYS[0].sign(message)
    n = 500
    start = time.perf_counter()
    for _ in range(n):
        verifier.verify(key, message, signature)
    return (time.perf_counter() - start) / n


def measure(blocks: int, repeat: int) -> dict[str, Any]:
    """Median blocks per second, the median bound, and the median of the paired ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        source = prepare(Path(tmp), blocks)
        rates, bounds, ratios = [], [], []
        for _ in range(repeat):
            bound = 1 / (seconds_per_verification() * SIGNERS_PER_CERTIFICATE)
            rate = (blocks - 1) / catch_up_seconds(source, blocks)
            rates.append(rate)
            bounds.append(bound)
            ratios.append(rate / bound)
    return {
        "blocks_per_second": statistics.median(rates),
        "bound_blocks_per_second": statistics.median(bounds),
        "ratio": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.blocks, args.repeat)
    print(
        f"tcp_sync: {result['blocks_per_second']:.0f} blocks/s over loopback TCP into LMDB, "
        f"bound {result['bound_blocks_per_second']:.0f} blocks/s, ratio {result['ratio']:.2f} "
        f"(median of {args.repeat}, {args.blocks} blocks)"
    )


if __name__ == "__main__":
    main()
