"""A node's metrics (prometheus-client) and its status line, from the runtime's state."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from blockfsm.adapters.node.keys import write_key_file
from blockfsm.adapters.node.metrics import NodeMetrics, status_line
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


def test_a_running_node_serves_its_metrics_and_logs_its_status(tmp_path: Path) -> None:
    """``blockfsm node`` with ``[metrics]``: the endpoint answers with the node's gauges, and
    the log has status lines. (Its peers are not running: it stays at height -1, round 0.)"""
    import socket

    keys = [write_key_file(tmp_path / f"k{i}.key") for i in range(4)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = [
        "chain_id = 3",
        'key_file = "k0.key"',
        'data_dir = "data"',
        'listen = "127.0.0.1:0"',
        "validators = [" + ", ".join(f'"{k.public_key.hex()}"' for k in keys) + "]",
    ]
    for i in range(1, 4):
        lines += ["[[peers]]", f'key = "{keys[i].public_key.hex()}"', 'address = "127.0.0.1:9"']
    lines += ["[metrics]", f'listen = "127.0.0.1:{port}"', "status_interval = 100"]
    (tmp_path / "n.toml").write_text("\n".join(lines) + "\n")
    log = tmp_path / "node.log"
    with log.open("w") as out:
        node = subprocess.Popen(
            [sys.executable, "-m", "blockfsm", "node", "--config", str(tmp_path / "n.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        text = ""
        for _ in range(200):  # until it answers (bounded by attempts; the test's timeout caps it)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
                if "status final=" in log.read_text():
                    break
            except OSError:
                pass
            time.sleep(0.1)
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=20)
    assert "blockfsm_final_height -1.0" in text and "blockfsm_attester_round" in text, text
    assert "status final=-1 height=0 round=0" in log.read_text(), log.read_text()
