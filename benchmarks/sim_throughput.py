"""Simulated events per second of a 4-node cluster (stand-in signer, one core).

One event is one step of one node (a tick or a delivered message), the unit the simulator counts
in ``counters["events"]``. The run is seeded and fault-free, so every repetition does the same
work; the figure is the median over repetitions, against the target of 50,000 events per second
(issue 9), so the ratio is events per second / 50,000.

    python benchmarks/sim_throughput.py [--ms 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from blockfsm.adapters.engines.sim import SimConfig, Simulation

TARGET = 50_000


def events_per_second(ms: int, seed: int = 1) -> tuple[float, int, int]:
    """(events per second, events, lowest final height) of one ``ms``-long simulated run."""
    sim = Simulation(SimConfig(nodes=4, seed=seed, faults=()))
    start = time.perf_counter()
    sim.run(ms)
    elapsed = time.perf_counter() - start
    events = sim.counters["events"]
    return events / elapsed, events, min(n.chain.committed_height for n in sim.nodes)


def median_rate(ms: int, repeat: int) -> float:
    return statistics.median(events_per_second(ms)[0] for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ms", type=int, default=20_000, help="simulated milliseconds per run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rates = []
    for _ in range(args.repeat):
        rate, events, height = events_per_second(args.ms)
        rates.append(rate)
        print(f"{rate:>12,.0f} events/s  ({events:,} events, final height {height})")
    print(f"median {statistics.median(rates):,.0f} events/s; target {TARGET:,}")


if __name__ == "__main__":
    main()
