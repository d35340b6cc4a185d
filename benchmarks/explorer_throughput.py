"""Explorer throughput: distinct states and transitions per second of the breadth-first search.

Runs the complete exploration of the default sync system (`blockfsm explore`: a client, an honest
and a Byzantine server, 3 heights) and, as its baseline in the same run, the same transitions'
steps alone (every (state, action) pair the search tried, stepped again with no deduplication,
canonical encoding or invariant check). The ratio, steps alone over the whole search, is the
share of the explorer's time spent in the real code; the rest is the search's own bookkeeping
(mostly the canonical ITF encoding that deduplicates states). Medians of ``--repeat`` runs, the
two timed in rotation.

The second figure is the partial-order reduction of the cluster system on an asynchronous
network (4 nodes, 3 heights, one tick, 12 messages in flight, any delivery order): the
breadth-first search to ``--cluster-depth`` with sleep sets over commuting deliveries against, as
its baseline in the same run, the same search without them. Both visit the same distinct states
(checked); the report gives the transitions each took and the ratio of their times, medians of
``--repeat`` pairs timed back to back.

The third is the complete exploration of the delay-bounded cluster (the default bounds, with
``--cluster-delays`` delays) with the explorer's state key (``StateEncoder``) against, as its
baseline in the same run, the key built from each part's ITF encoding (``itf.canonical``, the
key before ``StateEncoder``): same states (checked), medians and the median of paired ratios.

    python -m benchmarks.explorer_throughput [--repeat 5] [--cluster-depth 5] [--cluster-delays 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore import ClusterSystem, SyncSystem, bfs

ASYNC: dict[str, Any] = {"delays": None, "ticks": 1, "in_flight": 12}


class _ItfKeyed(ClusterSystem):
    """The cluster with the earlier state key: each part's ``itf.canonical``, length-prefixed,
    kept per object."""

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self._itf: dict[int, tuple[Any, bytes]] = {}

    def _part(self, value: Any) -> bytes:
        hit = self._itf.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        encoded = itf.canonical(value)
        self._itf[id(value)] = (value, encoded)
        return encoded

    def key(self, world: Any) -> bytes:
        parts = [
            itf.canonical((world.now, world.faults, world.delays)),
            *(self._part(n) for n in world.nodes),
            *(self._part(c) for c in world.chains),
            *(self._part(m) for m in world.flight),
            self._part(world.signed),
        ]
        return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class _Recording(SyncSystem):
    """The sync system, remembering every (state, action) the search steps."""

    def __init__(self) -> None:
        super().__init__()
        self.tried: list[tuple[Any, Any]] = []

    def step(self, world: Any, action: Any) -> Any:
        self.tried.append((world, action))
        return super().step(world, action)


def measure(repeat: int) -> dict[str, float]:
    recording = _Recording()
    report = bfs(recording)
    assert report.complete and report.violation is None
    tried = recording.tried
    plain = SyncSystem()

    def search() -> float:
        start = time.perf_counter()
        result = bfs(SyncSystem())
        elapsed = time.perf_counter() - start
        assert result.distinct == report.distinct
        return elapsed

    def steps_alone() -> float:
        start = time.perf_counter()
        for world, action in tried:
            plain.step(world, action)
        return time.perf_counter() - start

    searches, alone, ratios = [], [], []
    for _ in range(repeat):
        s = search()
        a = steps_alone()
        searches.append(s)
        alone.append(a)
        ratios.append(a / s)
    seconds = statistics.median(searches)
    return {
        "distinct_states": report.distinct,
        "transitions": len(tried),
        "states_per_second": report.distinct / seconds,
        "transitions_per_second": len(tried) / seconds,
        "steps_alone_per_second": len(tried) / statistics.median(alone),
        "share_in_steps": statistics.median(ratios),
    }


def measure_cluster(repeat: int, depth: int) -> dict[str, float]:
    times: dict[bool, list[float]] = {True: [], False: []}
    reports = {}
    ratios = []
    for _ in range(repeat):
        for reduce in (False, True):
            start = time.perf_counter()
            reports[reduce] = bfs(ClusterSystem(**ASYNC), max_depth=depth, reduce=reduce)
            times[reduce].append(time.perf_counter() - start)
        ratios.append(times[False][-1] / times[True][-1])
    full, reduced = reports[False], reports[True]
    assert full.distinct == reduced.distinct and full.violation is None
    return {
        "depth": depth,
        "distinct_states": full.distinct,
        "transitions_full": full.states,
        "transitions_reduced": reduced.states,
        "seconds_full": statistics.median(times[False]),
        "seconds_reduced": statistics.median(times[True]),
        "speedup": statistics.median(ratios),
    }


def measure_keys(repeat: int, delays: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"encoder": [], "itf": []}
    ratios = []
    distinct = 0
    for _ in range(repeat):
        found = {}
        for name, system in (
            ("itf", _ItfKeyed(delays=delays)),
            ("encoder", ClusterSystem(delays=delays)),
        ):
            start = time.perf_counter()
            report = bfs(system)
            times[name].append(time.perf_counter() - start)
            assert report.complete and report.violation is None
            found[name] = report.distinct
        assert found["itf"] == found["encoder"]
        distinct = found["encoder"]
        ratios.append(times["itf"][-1] / times["encoder"][-1])
    return {
        "delays": delays,
        "distinct_states": distinct,
        "seconds_encoder": statistics.median(times["encoder"]),
        "seconds_itf": statistics.median(times["itf"]),
        "speedup": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cluster-depth", type=int, default=5)
    parser.add_argument("--cluster-delays", type=int, default=1)
    args = parser.parse_args()
    r = measure(args.repeat)
    print(
        f"explorer (sync system, complete): {r['distinct_states']:,.0f} distinct states, "
        f"{r['transitions']:,.0f} transitions; {r['states_per_second']:,.0f} states/s, "
        f"{r['transitions_per_second']:,.0f} transitions/s; the steps alone "
        f"{r['steps_alone_per_second']:,.0f} transitions/s; share of the search in the steps "
        f"{r['share_in_steps']:.2f} (medians of {args.repeat})"
    )
    c = measure_cluster(args.repeat, args.cluster_depth)
    print(
        f"explorer (cluster system, depth {c['depth']}): {c['distinct_states']:,.0f} distinct "
        f"states either way; transitions {c['transitions_full']:,.0f} without the reduction, "
        f"{c['transitions_reduced']:,.0f} with it; {c['seconds_full']:.2f} s and "
        f"{c['seconds_reduced']:.2f} s; speedup {c['speedup']:.2f} (medians of {args.repeat})"
    )
    k = measure_keys(args.repeat, args.cluster_delays)
    print(
        f"explorer (cluster system, {k['delays']} delays, complete): "
        f"{k['distinct_states']:,.0f} distinct states; {k['seconds_encoder']:.2f} s with the "
        f"state encoder, {k['seconds_itf']:.2f} s with ITF-encoded keys; speedup "
        f"{k['speedup']:.2f} (medians of {args.repeat} pairs)"
    )


if __name__ == "__main__":
    main()
