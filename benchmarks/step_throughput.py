"""Step throughput of the sync server: the bare step function against the conformance-checked step.

Prints steps per second and microseconds per step for a fixed, seeded mix of events (ticks,
honest requests, wrong-chain floods, malformed and zero-limit requests) over a 1,000-block chain.
The bare step is the baseline; the conformant step adds row matching and every safety invariant.

    python benchmarks/step_throughput.py [--steps N] [--repeat R]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from blockfsm.machine.core import Tick
from blockfsm.machine.messages import SyncRequest, SyncRequestReceived
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of, make_signers

CHAIN = 7


def events(count: int, seed: int = 1) -> list[Any]:
    rng = random.Random(seed)
    peers = [bytes([i]) * 32 for i in range(16)]
    out: list[Any] = []
    now = 0
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2:
            now += rng.randrange(0, 3_000)
            out.append(Tick(now=now))
        else:
            chain = CHAIN if roll < 0.7 else CHAIN + 1
            limit = 0 if roll > 0.95 else rng.choice([1, 10, 2**32 - 1])
            request = SyncRequest(
                chain_id=chain,
                request_id=rng.randrange(2**32),
                start_height=rng.randrange(1_000),
                limit=limit,
            )
            out.append(SyncRequestReceived(peer=rng.choice(peers), request=request))
    return out


def measure(label: str, run: Callable[[], None], steps: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    rate = steps / best
    print(f"{label:<28} {rate:>12,.0f} steps/s {1e6 / rate:>9.2f} us/step  (best of {repeat})")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    signers = make_signers(4)
    view = chain_of(1_000, signers, CHAIN).snapshot()
    config = SyncServerConfig(chain_id=CHAIN, signer=signers[0], rate_limit_requests=1_000_000)
    stream = events(args.steps)
    step = SYNC_SERVER.step

    def bare() -> None:
        state = SYNC_SERVER.initial(config)
        for event in stream:
            state = step(config, state, event, view)[0]

    def conformant() -> None:
        runner = Conformant(SYNC_SERVER, config)
        state = SYNC_SERVER.initial(config)
        for event in stream:
            state = runner.step(state, event, view)[0]

    print(
        f"python {sys.version.split()[0]} on {platform.machine()} {platform.system()}; "
        f"{args.steps:,} events over a 1,000-block chain"
    )
    base = measure("sync_server bare step", bare, args.steps, args.repeat)
    checked = measure("sync_server conformant step", conformant, args.steps, args.repeat)
    print(f"conformance + invariants cost: {base / checked:.1f}x the bare step")

    tracemalloc.start()
    bare()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory during one bare run: {peak / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
