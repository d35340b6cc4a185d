"""A node's metrics (prometheus-client) and its status line, from the runtime's state."""

from __future__ import annotations

import asyncio
import urllib.request
from collections import Counter
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from blockfsm.adapters.metrics import NodeMetrics, status_line
from blockfsm.machine import node as node_machine
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.types import Certificate, ValidatorSet

pytestmark = pytest.mark.timeout(60)
"""This module serves HTTP on loopback: a hang fails the test at this deadline."""

SIGNERS = [StandInSigner.from_seed(i) for i in range(4)]


def _runtime() -> Any:
    config = node_machine.NodeConfig.make(
        chain_id=7,
        signer=SIGNERS[0],
        validators=ValidatorSet.equal(s.public_key for s in SIGNERS),
        verifier=StandInVerifier.of(SIGNERS),
    )
    state = node_machine.initial(config)
    attester = attrs.evolve(state.attester, control="Attest", height=6, round=2)
    inbox: asyncio.Queue[object] = asyncio.Queue()
    for n in range(3):
        inbox.put_nowait(n)
    return SimpleNamespace(
        state=attrs.evolve(state, attester=attester),
        steps=40,
        rejections=Counter({"bad_signature": 3, "wrong_chain": 1}),
        blamed=[(b"p", "bad_response")],
        inbox=inbox,
        inbox_dropped=2,
    )


def _store(final: int, seen: int) -> Any:
    cert = Certificate(chain_id=7, view=seen + 1, height=seen, block_hash=bytes(32))
    return SimpleNamespace(committed_height=final, highest_certificate=cert)


def test_the_metrics_follow_the_runtime_and_counters_only_grow_by_what_changed() -> None:
    metrics = NodeMetrics()
    runtime = _runtime()
    metrics.observe(runtime, _store(5, 9), peers=3)
    v = metrics.value
    assert (v("blockfsm_final_height"), v("blockfsm_attester_height")) == (5, 6)
    assert (v("blockfsm_attester_round"), v("blockfsm_attester_step")) == (2, 2)
    assert (v("blockfsm_lag_blocks"), v("blockfsm_peers_connected")) == (4, 3)
    assert v("blockfsm_steps_total") == 40 and v("blockfsm_inbox_depth") == 3
    assert v("blockfsm_rejections_total", reason="bad_signature") == 3
    assert v("blockfsm_peers_blamed_total") == 1 and v("blockfsm_inbox_dropped_total") == 2
    runtime.steps = 45
    runtime.rejections["bad_signature"] += 2
    metrics.observe(runtime, _store(6, 9))
    assert v("blockfsm_steps_total") == 45
    assert v("blockfsm_rejections_total", reason="bad_signature") == 5
    assert v("blockfsm_rejections_total", reason="wrong_chain") == 1
    line = status_line(metrics)
    assert line == (
        "status final=6 height=6 round=2 step=attest peers=3 lag=3 blamed=1 rejected=6"
    ), line


def test_the_metrics_are_served_for_prometheus() -> None:
    metrics = NodeMetrics()
    metrics.observe(_runtime(), _store(5, 5), peers=2)
    server = metrics.serve("127.0.0.1", 0)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    finally:
        server.shutdown()
    assert "blockfsm_final_height 5.0" in text
    assert 'blockfsm_rejections_total{reason="bad_signature"} 3.0' in text
