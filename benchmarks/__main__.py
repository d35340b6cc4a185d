"""The benchmark suite: ``python -m benchmarks [--quick] [--json]``.

Every figure is measured against a baseline in the same run, the two timed in rotation (A, B, A,
B, ...) and reported as medians and as the median of the paired ratios: this machine drifts
between two speeds about 2x apart, so only ratios from one run compare. Each ratio is oriented so
that higher is better, next to its target:

- ``transitions/<machine>``: the bare step against the same control logic written on the
  ``transitions`` library (checked to emit the same effects first); target 3x;
- ``python-statemachine/<machine>``: the same, with the same conditions and callbacks on the
  ``python-statemachine`` library (benchmarks/statemachine_baseline.py); target 3x;
- ``conformant/<machine>``: the bare step over the conformant step; target 1/3 (at most 3x);
- ``sync_throughput``: a fresh client catching up with real Ed25519 certificates (4 validators),
  blocks per second over the verification bound measured in the same run (Ed25519 verifications
  per second divided by the signatures per block); target 0.7;
- ``sync_checks``: the same catch-up at the default ``request_limit`` (10) with stand-in
  signatures, counting what the client verifies: signature checks per new block against one
  certificate's signatures per block; target 0.8 (each response also carries its highest
  certificate, and the uncertified last block of a response must be asked for again, so the floor
  is (limit + 1) / (limit - 1) certificates per block: 0.82 at limit 10);
- ``sync_round_trips``: requests per new block in that catch-up against one request per
  ``request_limit`` blocks; target 0.85 (the floor: limit - 1 new blocks per response, 0.9);
- ``scaling/server_peers``: a server request with 16 peers in the window over one with 1,024;
  target 1/1.5;
- ``scaling/client_registry``: an advertisement with 10 registered servers over one with 10,000
  (1,000 with ``--quick``); target 1/2.
- ``scaling/producer_tree``: store work per block of the producer's block tree (add, record
  attestations, snapshot, read back) at 1,000 blocks over the same at 100,000 (10,000 with
  ``--quick``); target 1/2 (benchmarks/producer_tree.py);
- ``coverage_steering/<machine>``: examples until every row of the attester's spec was taken
  (sync_server's with ``--quick``) without steering over with it (benchmarks/coverage_steering.py);
  target 1.25;
- ``sim_throughput``: simulated events per second of a fault-free 4-node cluster with the
  stand-in signer (benchmarks/sim_throughput.py), over the target of 50,000; target 1.
- ``explorer/states_per_core``: distinct states per CPU-second of the default cluster's
  breadth-first search (cut at 15,000 distinct states; 1,000 with ``--quick``) against the same
  search through the explorer as it was before issue 24 (benchmarks/explorer_throughput.py);
  the ratio is the paired speedup, the target the speedup that would reach 10,000 states per
  second from the earlier figure of the same run;
- ``explorer/workers``: the same search in 2 processes (``bfs_workers``) against one process,
  wall clock, paired; target 1.5 (2 cores).

``--quick`` (under a minute) shrinks the sizes; the test suite runs it once so the suite cannot
rot. Nothing here asserts a time: the figures are printed, and docs/performance.md records them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import attrs

from benchmarks.conformance_overhead import record_sync, time_bare, time_conformant
from benchmarks.transitions_baseline import TransitionsServer, server_events
from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    SyncRequest,
    SyncRequestReceived,
)
from blockfsm.machine.sync_client import Registration, SyncClientConfig, SyncClientState
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import ValidatorSet, advertise_block_payload
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of

CHAIN = 7


@attrs.frozen(kw_only=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target_ratio: float

    @property
    def meets(self) -> bool:
        return self.ratio >= self.target_ratio


def paired(
    a: Callable[[], float], b: Callable[[], float], repeat: int
) -> tuple[float, float, float]:
    """Median of a, median of b, median of the paired ratios b/a, timed in rotation."""
    xs, ys = [], []
    for _ in range(repeat):
        xs.append(a())
        ys.append(b())
    return (
        statistics.median(xs),
        statistics.median(ys),
        statistics.median(y / x for x, y in zip(xs, ys, strict=True)),
    )


def bench_transitions(repeat: int, count: int, library: str = "transitions") -> Figure:
    """The bare step over the same control logic on ``library`` (``transitions`` or
    ``python-statemachine``), after checking that both emit the same effects."""
    baseline: Any = TransitionsServer
    if library == "python-statemachine":
        from benchmarks.statemachine_baseline import StateMachineServer

        baseline = StateMachineServer
    signers = [StandInSigner.from_seed(i) for i in range(4)]
    chain = chain_of(200, signers, CHAIN)
    config = SyncServerConfig(chain_id=CHAIN, signer=signers[0], rate_limit_requests=1_000_000)
    events = server_events(count)
    views = chain.snapshot()

    def run_bare() -> tuple[float, list[Any]]:
        state = SYNC_SERVER.initial(config)
        step = SYNC_SERVER.step
        out: list[Any] = []
        start = time.perf_counter()
        for event in events:
            state, effects = step(config, state, event, views)
            out.append(effects)
        return time.perf_counter() - start, out

    def run_transitions() -> tuple[float, list[Any]]:
        server = baseline(config)
        out: list[Any] = []
        start = time.perf_counter()
        for event in events:
            out.append(server.handle(event, views))
        return time.perf_counter() - start, out

    _, bare_effects = run_bare()
    _, fsm_effects = run_transitions()
    assert bare_effects == fsm_effects, f"the {library} baseline must emit the same effects"
    bare, fsm, ratio = paired(lambda: run_bare()[0], lambda: run_transitions()[0], repeat)
    return Figure(
        name=f"{library}/sync_server",
        value=count / bare,
        unit="events/s",
        baseline=f"the same control logic on {library}",
        baseline_value=count / fsm,
        ratio=ratio,
        target_ratio=3.0,
    )


def bench_conformant(repeat: int, blocks: int) -> list[Figure]:
    figures = []
    server_run, client_run = record_sync(blocks)
    for name, run in (("sync_server", server_run), ("sync_client", client_run)):
        steps = len(run[3])
        bare, checked, ratio = paired(
            lambda r=run: time_bare(r), lambda r=run: time_conformant(r), repeat
        )  # type: ignore[misc]
        figures.append(
            Figure(
                name=f"conformant/{name}",
                value=checked / steps * 1e6,
                unit="µs/step conformant",
                baseline="bare step",
                baseline_value=bare / steps * 1e6,
                ratio=1 / ratio,
                target_ratio=1 / 3,
            )
        )
    return figures


def bench_sync_throughput(repeat: int, blocks: int) -> Figure:
    signers = [Ed25519Signer.from_seed(bytes([i + 1]) * 32) for i in range(4)]
    verifier = Ed25519Verifier()
    validators = ValidatorSet.equal(s.public_key for s in signers)
    chain = chain_of(blocks, signers, CHAIN)  # type: ignore[arg-type]
    sample = chain.block_at(1)
    assert sample is not None
    sigs_per_block = len(sample.justify.signatures)
    payload = sample.justify.payload()
    key, signature = sample.justify.signatures[0]

    def verifications() -> float:
        n = 300
        start = time.perf_counter()
        for _ in range(n):
            verifier.verify(key, payload, signature)
        return (time.perf_counter() - start) / n  # seconds per verification

    server_config = SyncServerConfig(
        chain_id=CHAIN, signer=signers[0], request_limit=100, rate_limit_requests=1_000_000
    )
    client_key = StandInSigner.from_seed(100).public_key
    client_config = SyncClientConfig(
        chain_id=CHAIN,
        own_key=client_key,
        validators=validators,
        verifier=verifier,
        request_limit=100,
        trigger_timeout=1,
    )

    def catch_up() -> float:
        from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
        from blockfsm.machine.view import InMemoryChain

        mine = InMemoryChain(CHAIN)
        state: Any = SYNC_CLIENT.initial(client_config)
        server_state: Any = SYNC_SERVER.initial(server_config)
        now = 0
        ad = AdvertiseBlock(
            chain_id=CHAIN,
            server=signers[0].public_key,
            committed_height=chain.committed_height,
            timestamp=0,
            signature=signers[0].sign(
                advertise_block_payload(CHAIN, signers[0].public_key, chain.committed_height, 0)
            ),
        )
        client_time = 0.0
        pending: list[Any] = [AdvertiseBlockReceived(peer=signers[0].public_key, advertisement=ad)]
        while mine.committed_height < chain.committed_height:
            now += 2
            pending.append(Tick(now=now))
            while pending:
                event = pending.pop(0)
                t0 = time.perf_counter()
                state, effects = SYNC_CLIENT.step(client_config, state, event, mine.snapshot())
                client_time += time.perf_counter() - t0
                for e in effects:
                    if isinstance(e, Persist):
                        mine.persist(e.block)
                    elif isinstance(e, Commit):
                        mine.commit(e.height)
                    elif isinstance(e, UpdateHighestCertificate):
                        mine.set_highest_certificate(e.certificate)
                    elif type(e).__name__ == "Send":
                        request = SyncRequestReceived(peer=client_key, request=e.message)
                        server_state, out = SYNC_SERVER.step(
                            server_config, server_state, request, chain.snapshot()
                        )
                        for o in out:
                            if type(o).__name__ == "Send":
                                from blockfsm.machine.messages import SyncResponseReceived

                                pending.append(
                                    SyncResponseReceived(
                                        peer=signers[0].public_key, response=o.message
                                    )
                                )
        return client_time

    per_verify, client_seconds, _ = paired(verifications, catch_up, repeat)
    bound = 1 / per_verify / sigs_per_block  # blocks per second if only verification cost
    achieved = blocks / client_seconds
    return Figure(
        name="sync_throughput",
        value=achieved,
        unit="blocks/s (pure client, Ed25519)",
        baseline=f"verification bound ({sigs_per_block} signatures per block)",
        baseline_value=bound,
        ratio=achieved / bound,
        target_ratio=0.7,
    )


class CountingVerifier:
    """A verifier that counts the signature checks it is asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.checks = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        self.checks += 1
        return bool(self.inner.verify(public_key, message, signature))


def catch_up_counts(blocks: int, request_limit: int = 10) -> tuple[int, int, int, int]:
    """A fresh client catching up ``blocks`` blocks from one honest server: (new blocks,
    signature checks, requests, signatures per certificate)."""
    from blockfsm.machine.core import Send
    from blockfsm.machine.messages import SyncResponseReceived
    from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
    from blockfsm.machine.view import InMemoryChain

    signers = [StandInSigner.from_seed(i + 1) for i in range(4)]
    chain = chain_of(blocks, signers, CHAIN)
    verifier = CountingVerifier(StandInVerifier.of(signers))
    server_config = SyncServerConfig(
        chain_id=CHAIN,
        signer=signers[0],
        request_limit=request_limit,
        rate_limit_requests=1_000_000,
    )
    client_key = StandInSigner.from_seed(100).public_key
    client_config = SyncClientConfig(
        chain_id=CHAIN,
        own_key=client_key,
        validators=ValidatorSet.equal(s.public_key for s in signers),
        verifier=verifier,
        request_limit=request_limit,
        trigger_timeout=1,
    )
    mine = InMemoryChain(CHAIN)
    state: Any = SYNC_CLIENT.initial(client_config)
    server_state: Any = SYNC_SERVER.initial(server_config)
    key = signers[0].public_key
    height = chain.committed_height
    ad = AdvertiseBlock(
        chain_id=CHAIN,
        server=key,
        committed_height=height,
        timestamp=0,
        signature=signers[0].sign(advertise_block_payload(CHAIN, key, height, 0)),
    )
    pending: list[Any] = [AdvertiseBlockReceived(peer=key, advertisement=ad)]
    requests = 0
    now = 0
    verifier.checks = 0
    while mine.committed_height < height:
        now += 2
        pending.append(Tick(now=now))
        while pending:
            event = pending.pop(0)
            state, effects = SYNC_CLIENT.step(client_config, state, event, mine.snapshot())
            for e in effects:
                if type(e) is Persist:
                    mine.persist(e.block)
                elif type(e) is Commit:
                    mine.commit(e.height)
                elif type(e) is UpdateHighestCertificate:
                    mine.set_highest_certificate(e.certificate)
                elif type(e) is Send:
                    requests += 1
                    request = SyncRequestReceived(peer=client_key, request=e.message)
                    server_state, out = SYNC_SERVER.step(
                        server_config, server_state, request, chain.snapshot()
                    )
                    for o in out:
                        if type(o) is Send:
                            pending.append(SyncResponseReceived(peer=key, response=o.message))
    sample = chain.block_at(1)
    assert sample is not None
    # The advertisement's own signature is one check, not a block's.
    return mine.highest_height + 1, verifier.checks - 1, requests, len(sample.justify.signatures)


def bench_sync_checks(blocks: int) -> list[Figure]:
    limit = 10
    new, checks, requests, per_certificate = catch_up_counts(blocks, limit)
    return [
        Figure(
            name="sync_checks",
            value=checks / new,
            unit=f"signature checks per new block (limit {limit})",
            baseline=f"one certificate per block ({per_certificate} signatures)",
            baseline_value=float(per_certificate),
            ratio=per_certificate / (checks / new),
            target_ratio=0.8,
        ),
        Figure(
            name="sync_round_trips",
            value=requests / new * 100,
            unit=f"requests per 100 new blocks (limit {limit})",
            baseline=f"one request per {limit} blocks",
            baseline_value=100 / limit,
            ratio=(100 / limit) / (requests / new * 100),
            target_ratio=0.85,
        ),
    ]


def bench_server_peers(repeat: int) -> Figure:
    signers = [StandInSigner.from_seed(i) for i in range(4)]
    chain = chain_of(20, signers, CHAIN)
    view = chain.snapshot()

    def cost(peers: int) -> float:
        config = SyncServerConfig(
            chain_id=CHAIN,
            signer=signers[0],
            rate_limit_requests=1_000_000,
            rate_limit_peers=max(peers, 1),
            rate_limit_window=10_000_000,
        )
        state: Any = SYNC_SERVER.initial(config)
        state, _ = SYNC_SERVER.step(config, state, Tick(now=0), view)
        ids = [i.to_bytes(32, "big") for i in range(peers)]
        for peer in ids:  # fill the window's table
            request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=1)
            state, _ = SYNC_SERVER.step(
                config, state, SyncRequestReceived(peer=peer, request=request), view
            )
        events = [
            SyncRequestReceived(
                peer=ids[i % peers],
                request=SyncRequest(chain_id=CHAIN, request_id=i, start_height=0, limit=1),
            )
            for i in range(2_000)
        ]
        start = time.perf_counter()
        for event in events:
            SYNC_SERVER.step(config, state, event, view)
        return (time.perf_counter() - start) / len(events)

    small, large, ratio = paired(lambda: cost(16), lambda: cost(1_024), repeat)
    return Figure(
        name="scaling/server_peers",
        value=large * 1e6,
        unit="µs/request with 1,024 peers",
        baseline="16 peers",
        baseline_value=small * 1e6,
        ratio=1 / ratio,
        target_ratio=1 / 1.5,
    )


def bench_client_registry(repeat: int, servers: int) -> Figure:
    signers = [StandInSigner.from_seed(i) for i in range(servers + 1)]
    validators = ValidatorSet.equal(s.public_key for s in signers)
    verifier = StandInVerifier.of(signers)
    config = SyncClientConfig(
        chain_id=CHAIN, own_key=bytes(32), validators=validators, verifier=verifier
    )
    from blockfsm.machine.view import InMemoryChain

    view = InMemoryChain(CHAIN).snapshot()

    def cost(registered: int) -> float:
        registry = tuple(
            sorted(
                (
                    Registration(peer=s.public_key, height=5, timestamp=1, received=1)
                    for s in signers[:registered]
                ),
                key=lambda e: e.peer,
            )
        )
        state = SyncClientState(control="Passive", now=10, registry=registry)
        newcomer = signers[servers]
        ad = AdvertiseBlock(
            chain_id=CHAIN,
            server=newcomer.public_key,
            committed_height=5,
            timestamp=10,
            signature=newcomer.sign(advertise_block_payload(CHAIN, newcomer.public_key, 5, 10)),
        )
        event = AdvertiseBlockReceived(peer=newcomer.public_key, advertisement=ad)
        n = 2_000
        start = time.perf_counter()
        for _ in range(n):
            SYNC_CLIENT.step(config, state, event, view)
        return (time.perf_counter() - start) / n

    small, large, ratio = paired(lambda: cost(10), lambda: cost(servers), repeat)
    return Figure(
        name="scaling/client_registry",
        value=large * 1e6,
        unit=f"µs/advertisement with {servers:,} servers",
        baseline="10 servers",
        baseline_value=small * 1e6,
        ratio=1 / ratio,
        target_ratio=1 / 2,
    )


def bench_sim_throughput(repeat: int, ms: int) -> Figure:
    from benchmarks.sim_throughput import TARGET, median_rate

    rate = median_rate(ms, repeat)
    return Figure(
        name="sim_throughput",
        value=rate,
        unit="events/s (4 nodes, stand-in signer)",
        baseline="target",
        baseline_value=TARGET,
        ratio=rate / TARGET,
        target_ratio=1.0,
    )


def bench_coverage_steering(machine: str, seeds: int, cap: int) -> Figure:
    """Examples until every row of ``machine`` was taken, without steering (the baseline) over
    with it, from the same seeds in rotation (benchmarks/coverage_steering.py)."""
    from benchmarks.coverage_steering import compare

    steered, plain, complete = compare(machine, seeds, cap)
    at, baseline = statistics.median(steered), statistics.median(plain)
    bound = "" if complete else f", a run capped at {cap}"
    return Figure(
        name=f"coverage_steering/{machine}",
        value=at,
        unit=f"examples to every row (median of {seeds} seeds{bound})",
        baseline="not steered",
        baseline_value=baseline,
        ratio=baseline / at,
        target_ratio=1.25,
    )


def bench_producer_tree(repeat: int, sizes: tuple[int, int], blocks: int = 200) -> Figure:
    """Store work per block of the producer's block tree (add, record attestations, snapshot,
    read back) with the tree filled to the large size over the same with the small size."""
    from benchmarks.producer_tree import chain, filled, per_block
    from blockfsm.machine.producer_view import InMemoryBlockTree

    small, large = sizes
    runs = {size: (chain(size), chain(blocks, start=size)) for size in sizes}

    def cost(size: int) -> float:
        prefill, timed = runs[size]
        return per_block(filled(InMemoryBlockTree, prefill), timed)

    at_small, at_large, ratio = paired(lambda: cost(small), lambda: cost(large), repeat)
    return Figure(
        name="scaling/producer_tree",
        value=at_large * 1e6,
        unit=f"µs/block with {large:,} blocks",
        baseline=f"{small:,} blocks",
        baseline_value=at_small * 1e6,
        ratio=1 / ratio,
        target_ratio=1 / 2,
    )


def bench_explorer(repeat: int, states: int) -> list[Figure]:
    from benchmarks.explorer_throughput import (
        TARGET_STATES_PER_SECOND,
        measure_per_core,
        measure_workers,
    )

    core = measure_per_core(repeat, states)
    workers = measure_workers(repeat, states)
    return [
        Figure(
            name="explorer/states_per_core",
            value=core["current"],
            unit=f"states/CPU-s (cluster, {core['distinct_states']:,.0f} states)",
            baseline="explorer before issue 24",
            baseline_value=core["earlier"],
            ratio=core["speedup"],
            target_ratio=TARGET_STATES_PER_SECOND / core["earlier"],
        ),
        Figure(
            name="explorer/workers",
            value=workers["many"],
            unit=f"states/s with {workers['workers']:.0f} workers",
            baseline="one process",
            baseline_value=workers["one"],
            ratio=workers["speedup"],
            target_ratio=1.5,
        ),
    ]


def run(quick: bool) -> list[Figure]:
    repeat = 5
    figures = [bench_transitions(repeat, 2_000 if quick else 20_000)]
    if importlib.util.find_spec("statemachine") is not None:  # the benchmarks extra
        figures.append(bench_transitions(repeat, 2_000 if quick else 20_000, "python-statemachine"))
    else:
        print(
            "python-statemachine is not installed (pip install '.[benchmarks]'): skipped",
            file=sys.stderr,
        )
    figures += bench_conformant(repeat, 300 if quick else 2_000)
    figures.append(bench_sync_throughput(repeat, 200 if quick else 10_000))
    figures += bench_sync_checks(1_000 if quick else 10_000)
    figures.append(bench_server_peers(repeat))
    figures.append(bench_client_registry(repeat, 1_000 if quick else 10_000))
    figures.append(bench_producer_tree(repeat, (1_000, 10_000 if quick else 100_000)))
    figures.append(bench_sim_throughput(repeat, 2_000 if quick else 20_000))
    figures.append(
        bench_coverage_steering("sync_server", 2, 200)
        if quick
        else bench_coverage_steering("attester", 7, 3_000)
    )
    figures += bench_explorer(2 if quick else repeat, 1_000 if quick else 15_000)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args.quick)
    if args.json:
        json.dump(
            {
                "benchmarks": [
                    {
                        "name": f.name,
                        "value": f.value,
                        "unit": f.unit,
                        "baseline": f.baseline,
                        "baseline_value": f.baseline_value,
                        "ratio": f.ratio,
                        "target_ratio": f.target_ratio,
                    }
                    for f in figures
                ],
                "python": platform.python_version(),
                "quick": args.quick,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    print(
        f"{'benchmark':<26}{'value':>14} {'unit':<34}{'baseline value':>15}"
        f"{'ratio':>8}{'target':>8}"
    )
    for f in figures:
        mark = "" if f.meets else "  (misses)"
        print(
            f"{f.name:<26}{f.value:>14,.1f} {f.unit:<34}{f.baseline_value:>15,.1f}"
            f"{f.ratio:>8.2f}{f.target_ratio:>8.2f}{mark}"
        )


if __name__ == "__main__":
    main()
