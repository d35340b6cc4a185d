"""The benchmark suite: ``python -m benchmarks [--quick] [--json]``.

Every figure is measured against a baseline in the same run, the two timed in rotation (A, B, A,
B, ...) and reported as medians and as the median of the paired ratios: this machine drifts
between two speeds about 2x apart, so only ratios from one run compare. Each ratio is oriented so
that higher is better, next to its target:

- ``transitions/<machine>``: the bare step against the same control logic written on the
  ``transitions`` library (checked to emit the same effects first); target 3x;
- ``conformant/<machine>``: the bare step over the conformant step; target 1/3 (at most 3x);
- ``sync_throughput``: a fresh client catching up with real Ed25519 certificates (4 validators),
  blocks per second over the verification bound measured in the same run (Ed25519 verifications
  per second divided by the signatures per block); target 0.7;
- ``scaling/server_peers``: a server request with 16 peers in the window over one with 1,024;
  target 1/1.5;
- ``scaling/client_registry``: an advertisement with 10 registered servers over one with 10,000
  (1,000 with ``--quick``); target 1/2.

``--quick`` (under a minute) shrinks the sizes; the test suite runs it once so the suite cannot
rot. Nothing here asserts a time: the figures are printed, and docs/performance.md records them.
"""

from __future__ import annotations

import argparse
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
from blockfsm.adapters.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    SyncRequest,
    SyncRequestReceived,
)
from blockfsm.machine.sync_client import (
    SYNC_CLIENT,
    Registration,
    SyncClientConfig,
    SyncClientState,
)
from blockfsm.machine.sync_server import SYNC_SERVER, SyncServerConfig
from blockfsm.machine.types import ValidatorSet, advertise_block_payload
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


def bench_transitions(repeat: int, count: int) -> Figure:
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
        server = TransitionsServer(config)
        out: list[Any] = []
        start = time.perf_counter()
        for event in events:
            out.append(server.handle(event, views))
        return time.perf_counter() - start, out

    _, bare_effects = run_bare()
    _, fsm_effects = run_transitions()
    assert bare_effects == fsm_effects, "the transitions baseline must emit the same effects"
    bare, fsm, ratio = paired(lambda: run_bare()[0], lambda: run_transitions()[0], repeat)
    return Figure(
        name="transitions/sync_server",
        value=count / bare,
        unit="events/s",
        baseline="the same control logic on transitions",
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
        n = 200
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


def run(quick: bool) -> list[Figure]:
    repeat = 5
    figures = [bench_transitions(repeat, 2_000 if quick else 20_000)]
    figures += bench_conformant(repeat, 300 if quick else 2_000)
    figures.append(bench_sync_throughput(repeat, 200 if quick else 10_000))
    figures.append(bench_server_peers(repeat))
    figures.append(bench_client_registry(repeat, 1_000 if quick else 10_000))
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
