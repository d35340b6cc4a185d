"""Conformance overhead: the conformant step over the bare step, per machine, with guards classified
once per step (now) against once per candidate row (before), interleaved in one run.

A recorded run of each machine (its events, and the view each step saw) is replayed three ways:
the bare step (the baseline), ``Conformant`` as it is (one classification per step, certificate
verdicts memoized), and ``Conformant`` as it was (per-row matching, every certificate verified
again by every guard and invariant that asks). Each is timed ``--repeat`` times in rotation and the
medians and paired ratios are printed: this machine's speed drifts by up to 2x, so a lone absolute
time means little.

    python benchmarks/conformance_overhead.py [--blocks N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.messages import (
    AdvertiseBlockReceived,
    AdvertiseCertificateReceived,
    SyncRequestReceived,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client import Commit, Persist, SyncClientConfig, UpdateHighestCertificate
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.language import MachineSpec, Row
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of, validator_setup

CHAIN = 7


def per_row_matching(
    self: MachineSpec, config: Any, state: Any, event: Any, view: Any
) -> list[Row]:
    """The matching the conformance wrapper used before: every guard runs its rule itself."""
    rows = self.rows_for(state.control, type(event).__name__)
    return [r for r in rows if r.guard is None or r.guard.holds(config, state, event, view)]


Recorded = tuple[Any, Any, Any, list[tuple[Any, Any, Any]]]  # machine, config, initial, steps


def record_sync(blocks: int) -> tuple[Recorded, Recorded]:
    """A fresh client catching up ``blocks`` blocks from one honest server, over a lossless
    in-memory link; returns the server's and the client's recorded runs."""
    signers, validators, verifier = validator_setup(4)
    server_chain = chain_of(blocks, signers, CHAIN)
    server_config = SyncServerConfig(
        chain_id=CHAIN, signer=signers[0], request_limit=10, rate_limit_requests=1_000_000
    )
    client_key = StandInSigner.from_seed(100).public_key
    client_config = SyncClientConfig(
        chain_id=CHAIN,
        own_key=client_key,
        validators=validators,
        verifier=verifier,
        request_limit=10,
        trigger_timeout=10,
    )
    client_chain = InMemoryChain(CHAIN)
    server_state = SYNC_SERVER.initial(server_config)
    client_state = SYNC_CLIENT.initial(client_config)
    server_steps: list[tuple[Any, Any, Any]] = []
    client_steps: list[tuple[Any, Any, Any]] = []
    now = 0
    inbox_server: list[Any] = []
    inbox_client: list[Any] = []

    def run_server(event: Any) -> None:
        nonlocal server_state
        view = server_chain.snapshot()
        server_steps.append((server_state, event, view))
        server_state, effects = SYNC_SERVER.step(server_config, server_state, event, view)
        for e in effects:
            message = getattr(e, "message", None)
            name = type(message).__name__
            peer = signers[0].public_key
            if name == "SyncResponse":
                inbox_client.append(SyncResponseReceived(peer=peer, response=message))
            elif name == "AdvertiseBlock":
                inbox_client.append(AdvertiseBlockReceived(peer=peer, advertisement=message))
            elif name == "AdvertiseCertificate":
                inbox_client.append(AdvertiseCertificateReceived(peer=peer, advertisement=message))

    def run_client(event: Any) -> None:
        nonlocal client_state
        view = client_chain.snapshot()
        client_steps.append((client_state, event, view))
        client_state, effects = SYNC_CLIENT.step(client_config, client_state, event, view)
        for e in effects:
            if isinstance(e, Persist):
                client_chain.persist(e.block)
            elif isinstance(e, Commit):
                client_chain.commit(e.height)
            elif isinstance(e, UpdateHighestCertificate):
                client_chain.set_highest_certificate(e.certificate)
            elif type(e).__name__ == "Send":
                inbox_server.append(SyncRequestReceived(peer=client_key, request=e.message))

    for _ in range(100_000):
        if client_chain.committed_height >= server_chain.committed_height:
            break
        now += 5
        run_server(Tick(now=now))
        run_client(Tick(now=now))
        while inbox_server or inbox_client:
            while inbox_client:
                run_client(inbox_client.pop(0))
            while inbox_server:
                run_server(inbox_server.pop(0))
    assert client_chain.committed_height >= server_chain.committed_height, "sync did not finish"
    server_run = (SYNC_SERVER, server_config, SYNC_SERVER.initial(server_config), server_steps)
    client_run = (SYNC_CLIENT, client_config, SYNC_CLIENT.initial(client_config), client_steps)
    return server_run, client_run


def time_bare(run: Recorded) -> float:
    machine, config, _, steps = run
    step = machine.step
    start = time.perf_counter()
    for state, event, view in steps:
        step(config, state, event, view)
    return time.perf_counter() - start


def time_conformant(run: Recorded) -> float:
    machine, config, _, steps = run
    checked = Conformant(machine, config)
    start = time.perf_counter()
    for state, event, view in steps:
        checked.step(state, event, view)
    return time.perf_counter() - start


def _before(enable: bool) -> None:
    """Switch the spec back to what it was before: per-row matching, no memo of certificates."""
    from blockfsm.spec import signed_bytes
    from blockfsm.spec.sync_client import classify, invariants

    memo = signed_bytes.certificate_holds
    for client_spec in (classify, invariants):
        client_spec.certificate_holds = memo.__wrapped__ if enable else memo  # type: ignore[attr-defined]
    MachineSpec.matching_rows = per_row_matching if enable else ONCE  # type: ignore[method-assign]


ONCE = MachineSpec.matching_rows


def measure(run: Recorded, repeat: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {"bare": [], "once": [], "per_row": []}
    variants: list[tuple[str, Callable[[Recorded], float]]] = [
        ("bare", time_bare),
        ("once", time_conformant),
        ("per_row", time_conformant),
    ]
    for _ in range(repeat):
        for name, timer in variants:
            _before(name == "per_row")
            try:
                samples[name].append(timer(run))
            finally:
                _before(False)
    steps = len(run[3])
    out = {f"{k}_us": statistics.median(v) / steps * 1e6 for k, v in samples.items()}
    out["ratio_once"] = statistics.median(
        o / b for o, b in zip(samples["once"], samples["bare"], strict=True)
    )
    out["ratio_per_row"] = statistics.median(
        p / b for p, b in zip(samples["per_row"], samples["bare"], strict=True)
    )
    out["steps"] = steps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server_run, client_run = record_sync(args.blocks)
    print(
        f"{'machine':<12}{'steps':>7}{'bare µs':>10}{'now µs':>10}{'before µs':>12}"
        f"{'now/bare':>11}{'before/bare':>14}"
    )
    for name, run in (("sync_server", server_run), ("sync_client", client_run)):
        m = measure(run, args.repeat)
        print(
            f"{name:<12}{int(m['steps']):>7}{m['bare_us']:>10.1f}{m['once_us']:>10.1f}"
            f"{m['per_row_us']:>12.1f}{m['ratio_once']:>11.2f}{m['ratio_per_row']:>14.2f}"
        )


if __name__ == "__main__":
    main()
