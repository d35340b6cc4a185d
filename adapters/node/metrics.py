"""How a running node is doing: Prometheus metrics and a periodic status line.

``NodeMetrics`` holds the node's gauges and counters in a registry of its own (prometheus-client)
and is updated from the runtime after every step (``observe``): final height, the height and
round the attester is at and its step, steps taken, rejections by reason, peers blamed, the
inbox's depth and what it dropped, and, when the transport says, the peers connected. ``serve``
exposes them over HTTP for a Prometheus server to scrape (``[metrics] listen`` in the node
config). ``status_line`` is the one line a node logs every ``status_interval``: height, round,
step, peers, lag behind the highest certificate it has seen, peers blamed.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

STEPS = {"Waiting": 0, "Propose": 1, "Attest": 2, "Confirm": 3}
"""The attester's control states as the ``blockfsm_attester_step`` gauge reports them."""


class NodeMetrics:
    """A node's metrics, in their own registry (so several nodes in one process do not mix)."""

    def __init__(self, node: str = "node") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.final_height = Gauge(
            "blockfsm_final_height", "The node's final (committed) height.", registry=r
        )
        self.height = Gauge(
            "blockfsm_attester_height", "The height the attester follows (final + 1).", registry=r
        )
        self.round = Gauge("blockfsm_attester_round", "The attester's round.", registry=r)
        self.step = Gauge(
            "blockfsm_attester_step",
            "The attester's step: 0 waiting, 1 propose, 2 attest, 3 confirm.",
            registry=r,
        )
        self.lag = Gauge(
            "blockfsm_lag_blocks",
            "Heights between the highest certificate the node has seen and its final height.",
            registry=r,
        )
        self.steps = Counter("blockfsm_steps", "Steps taken by the node machine.", registry=r)
        self.rejections = Counter(
            "blockfsm_rejections", "Inputs refused, by reason.", ["reason"], registry=r
        )
        self.blamed = Counter("blockfsm_peers_blamed", "Peers blamed (blacklisted).", registry=r)
        self.inbox = Gauge("blockfsm_inbox_depth", "Events waiting in the inbox.", registry=r)
        self.dropped = Counter(
            "blockfsm_inbox_dropped", "Events dropped because the inbox was full.", registry=r
        )
        self.peers = Gauge("blockfsm_peers_connected", "Peers with an open channel.", registry=r)
        self._seen: Tally[str] = Tally()
        self._blamed = 0
        self._steps = 0
        self._dropped = 0

    def observe(self, runtime: Any, store: Any = None, peers: int | None = None) -> None:
        """Bring every metric up to the runtime's state (counters by what changed since)."""
        state = runtime.state
        attester = getattr(state, "attester", None)
        final = store.committed_height if store is not None else -1
        self.final_height.set(final)
        if attester is not None:
            self.height.set(attester.height)
            self.round.set(attester.round)
            self.step.set(STEPS.get(attester.control, -1))
        client = getattr(state, "client", None)
        seen = getattr(getattr(client, "highest_certificate", None), "height", None)
        if store is not None:
            seen = max(seen if seen is not None else -1, store.highest_certificate.height)
        if seen is not None:
            self.lag.set(max(0, seen - final))
        self._inc(self.steps, runtime.steps - self._steps)
        self._steps = runtime.steps
        for reason, count in runtime.rejections.items():
            delta = count - self._seen[reason]
            if delta > 0:
                self.rejections.labels(reason=reason).inc(delta)
                self._seen[reason] = count
        self._inc(self.blamed, len(runtime.blamed) - self._blamed)
        self._blamed = len(runtime.blamed)
        self.inbox.set(runtime.inbox.qsize())
        self._inc(self.dropped, runtime.inbox_dropped - self._dropped)
        self._dropped = runtime.inbox_dropped
        if peers is not None:
            self.peers.set(peers)

    @staticmethod
    def _inc(counter: Counter, delta: int) -> None:
        if delta > 0:
            counter.inc(delta)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (``blockfsm_..._total`` for counters), for tests and tools."""
        found = self.registry.get_sample_value(name, labels or None)
        return float(found) if found is not None else 0.0

    def serve(self, host: str, port: int) -> Any:
        """Expose the metrics at http://host:port/metrics; returns the server (``shutdown()``)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


def status_line(metrics: NodeMetrics) -> str:
    """The node's periodic status, one line of key=value pairs."""
    v = metrics.value
    step = {0: "waiting", 1: "propose", 2: "attest", 3: "confirm"}.get(
        int(v("blockfsm_attester_step")), "?"
    )
    return (
        f"status final={int(v('blockfsm_final_height'))} "
        f"height={int(v('blockfsm_attester_height'))} round={int(v('blockfsm_attester_round'))} "
        f"step={step} peers={int(v('blockfsm_peers_connected'))} "
        f"lag={int(v('blockfsm_lag_blocks'))} blamed={int(v('blockfsm_peers_blamed_total'))} "
        f"rejected={int(sum(s.value for s in _samples(metrics, 'blockfsm_rejections_total')))}"
    )


def _samples(metrics: NodeMetrics, name: str) -> list[Any]:
    return [s for m in metrics.registry.collect() for s in m.samples if s.name == name]
