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

The fourth is the default cluster's breadth-first search (4 nodes, 3 heights, 2 delays), cut
at ``--states`` distinct states, in distinct states per CPU-second of the process, against, as
its baseline in the same run, the same search through the explorer as it was before issue 24
(``EarlierCluster``: the whole canonical encoding as the key, one cache dropped whole when full,
every monitor's memory sorted again on every step, a conformance runner made for every step, a
new chain tuple for every step): the same states (checked), medians and the median of paired
ratios, against the target of 10,000 states per second on one core.

The fifth is the same search run by ``bfs_workers`` in 2 processes against one process
(``bfs``), wall clock, paired: the same states (checked).

    python -m benchmarks.explorer_throughput [--repeat 5] [--cluster-depth 5] [--cluster-delays 1]
        [--states 15000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore import ClusterSystem, SyncSystem, bfs, bfs_workers

ASYNC: dict[str, Any] = {"delays": None, "ticks": 1, "in_flight": 12}
TARGET_STATES_PER_SECOND = 10_000
"""Distinct states per second on one core the cluster explorer is asked for (issue 24)."""


class EarlierEncoder:
    """``StateEncoder`` as it was before issue 24: one cache by object, dropped whole when full,
    every part encoded through a call."""

    limit = 100_000

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, bytes]] = {}
        self._fields: dict[type, tuple[bytes, tuple[str, ...]]] = {}

    def __call__(self, value: Any) -> bytes:
        kind = type(value)
        if kind is int:
            return b"i%d;" % value
        if kind is bytes:
            return b"b%d;%b" % (len(value), value)
        if kind is str:
            text = value.encode()
            return b"s%d;%b" % (len(text), text)
        if value is None:
            return b"N"
        if kind is bool:
            return b"T" if value else b"F"
        if kind is list:
            return b"(%d;%b" % (len(value), b"".join([self(v) for v in value]))
        if kind is set:
            return b"{%d;%b" % (len(value), b"".join(sorted([self(v) for v in value])))
        if kind is dict:
            items = sorted([self(k) + self(v) for k, v in value.items()])
            return b"[%d;%b" % (len(items), b"".join(items))
        hit = self._cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        if kind is tuple:
            encoded = b"(%d;%b" % (len(value), b"".join([self(v) for v in value]))
        elif kind is frozenset:
            encoded = b"{%d;%b" % (len(value), b"".join(sorted([self(v) for v in value])))
        elif attrs.has(kind):
            known = self._fields.get(kind)
            if known is None:
                name = f"{kind.__module__}.{kind.__qualname__}".encode()
                fields = tuple(f.name for f in attrs.fields(kind) if f.eq)
                known = self._fields[kind] = (b"<%d;%b" % (len(name), name), fields)
            head, fields = known
            encoded = head + b"".join([self(getattr(value, f)) for f in fields])
        else:
            text = itf.canonical(value)
            encoded = b"?%d;%b" % (len(text), text)
        if len(self._cache) >= self.limit:
            self._cache.clear()
        self._cache[id(value)] = (value, encoded)
        return encoded


class EarlierCluster(ClusterSystem):
    """The cluster system through the explorer's code paths as they were before issue 24 (the
    node machine and its spec are today's in both)."""

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        self._encoded = EarlierEncoder()  # type: ignore[assignment]
        self._runners = None  # type: ignore[assignment]  # a conformance runner per step

    def key(self, world: Any) -> bytes:
        encode = self._encoded
        parts = [
            b"%d;%d;%d;%d;%d;%d;%d;"
            % (
                world.now,
                world.faults,
                world.delays,
                world.crashed,
                world.forged,
                world.lost,
                len(world.flight),
            )
        ]
        parts.extend(encode(n) for n in world.nodes)
        parts.extend(encode(c) for c in world.chains)
        parts.extend(encode(m) for m in world.flight)
        parts.append(encode(world.signed))
        parts.append(encode(world.durable))
        parts.append(encode(world.ghost))
        return b"".join(parts)

    def _node_step(self, world: Any, i: int, *rest: Any) -> Any:
        after = super()._node_step(world, i, *rest)
        blocks, committed, certificate = after.chains[i]
        chain = (tuple(list(blocks)), committed, certificate)  # a new chain every step
        return attrs.evolve(after, chains=(*after.chains[:i], chain, *after.chains[i + 1 :]))

    def _freeze(self, monitor: Any, old: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        skip = ("detail", *getattr(monitor, "memo", ()))
        out: list[Any] = []
        before = iter(old or ())
        for name, value in sorted(vars(monitor).items()):
            if name in skip:
                continue
            kind = type(value)
            if kind is dict:
                field = (name, "map", tuple(self._sorted(value.items(), pairs=True)))
            elif kind is set:
                field = (name, "set", tuple(self._sorted(value)))
            else:
                field = (name, "value", value)
            was = next(before, None)
            out.append(was if was == field else field)
        frozen = tuple(out)
        return old if old == frozen and old is not None else frozen


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


def measure_per_core(repeat: int, states: int) -> dict[str, float]:
    """The default cluster cut at ``states`` distinct states, earlier and current explorer in
    rotation, in distinct states per CPU-second of this process."""
    rates: dict[str, list[float]] = {"earlier": [], "current": []}
    ratios = []
    distinct = 0
    for _ in range(repeat):
        found = {}
        for name, system in (("earlier", EarlierCluster()), ("current", ClusterSystem())):
            start = time.process_time()
            report = bfs(system, max_states=states)
            elapsed = time.process_time() - start
            assert report.violation is None
            found[name] = (report.distinct, report.states, report.depth)
            rates[name].append(report.distinct / elapsed)
        assert found["earlier"] == found["current"], found
        distinct = found["current"][0]
        ratios.append(rates["current"][-1] / rates["earlier"][-1])
    return {
        "distinct_states": distinct,
        "earlier": statistics.median(rates["earlier"]),
        "current": statistics.median(rates["current"]),
        "speedup": statistics.median(ratios),
    }


def measure_workers(repeat: int, states: int, workers: int = 2) -> dict[str, float]:
    """The same search in one process and in ``workers``, in rotation, wall clock."""
    times: dict[int, list[float]] = {1: [], workers: []}
    ratios = []
    distinct = 0
    for _ in range(repeat):
        found = {}
        for n in (1, workers):
            start = time.perf_counter()
            system = ClusterSystem()
            if n == 1:
                report = bfs(system, max_depth=_depth_of(states))
            else:
                report = bfs_workers(system, n, max_depth=_depth_of(states))
            times[n].append(time.perf_counter() - start)
            found[n] = (report.distinct, report.states, report.depth)
        assert found[1] == found[workers], found
        distinct = found[1][0]
        ratios.append(times[1][-1] / times[workers][-1])
    return {
        "workers": workers,
        "distinct_states": distinct,
        "one": distinct / statistics.median(times[1]),
        "many": distinct / statistics.median(times[workers]),
        "speedup": statistics.median(ratios),
    }


_DEPTHS: dict[int, int] = {}


def _depth_of(states: int) -> int:
    """The depth at which the default cluster's breadth-first search first holds ``states``
    distinct states: the workers cut at a level's end, so both searches are cut by depth."""
    if states not in _DEPTHS:
        _DEPTHS[states] = bfs(ClusterSystem(), max_states=states).depth
    return _DEPTHS[states]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cluster-depth", type=int, default=5)
    parser.add_argument("--cluster-delays", type=int, default=1)
    parser.add_argument("--states", type=int, default=15_000)
    parser.add_argument("--only-issue-24", action="store_true", help="the last two figures only")
    args = parser.parse_args()
    p = measure_per_core(args.repeat, args.states)
    print(
        f"explorer (default cluster, first {p['distinct_states']:,.0f} distinct states): "
        f"{p['current']:,.0f} states per CPU-second, {p['earlier']:,.0f} before; paired speedup "
        f"{p['speedup']:.2f}; target {TARGET_STATES_PER_SECOND:,} (medians of {args.repeat})"
    )
    w = measure_workers(args.repeat, args.states)
    print(
        f"explorer (default cluster, {w['distinct_states']:,.0f} distinct states): "
        f"{w['many']:,.0f} states/s with {w['workers']:.0f} workers, {w['one']:,.0f} with one "
        f"process; paired speedup {w['speedup']:.2f} (wall clock, medians of {args.repeat})"
    )
    if args.only_issue_24:
        return
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
