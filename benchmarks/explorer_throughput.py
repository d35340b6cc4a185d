"""Explorer throughput: distinct states and transitions per second of the breadth-first search.

Runs the complete exploration of the default sync system (`blockfsm explore`: a client, an honest
and a Byzantine server, 3 heights) and, as its baseline in the same run, the same transitions'
steps alone (every (state, action) pair the search tried, stepped again with no deduplication,
canonical encoding or invariant check). The ratio, steps alone over the whole search, is the
share of the explorer's time spent in the real code; the rest is the search's own bookkeeping
(mostly the canonical ITF encoding that deduplicates states). Medians of ``--repeat`` runs, the
two timed in rotation.

    python -m benchmarks.explorer_throughput [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from blockfsm.adapters.explore import SyncSystem, bfs


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    r = measure(args.repeat)
    print(
        f"explorer (sync system, complete): {r['distinct_states']:,.0f} distinct states, "
        f"{r['transitions']:,.0f} transitions; {r['states_per_second']:,.0f} states/s, "
        f"{r['transitions_per_second']:,.0f} transitions/s; the steps alone "
        f"{r['steps_alone_per_second']:,.0f} transitions/s; share of the search in the steps "
        f"{r['share_in_steps']:.2f} (medians of {args.repeat})"
    )


if __name__ == "__main__":
    main()
