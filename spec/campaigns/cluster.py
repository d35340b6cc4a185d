"""Campaign for the cluster: rules are fault and delivery choices over a simulated cluster.

Each example builds a cluster (4 or 5 keepers, at most one Byzantine: f < N/3; every honest
node's parts run under their own specs through ``Conformant``), then the rules run the network
for a while, partition it, heal the partition, crash and restart nodes. The simulator checks the
cluster safety invariants C-1..C-5 after every step of every node. ``teardown`` heals (VOPR
style: faults off, partition healed, crashed honest nodes restarted), runs a fair schedule and
checks C-L1 and C-L2.
A run with no honest quorum is counted as unrecoverable (``STATS.examples["unrecoverable"]``),
never reported as a liveness failure.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from blockfsm.adapters.sim import SafetyViolation, SimConfig, Simulation, liveness
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.conformance import InvariantViolation, Stats
from blockfsm.spec.node import ATTESTER_SPEC, CLUSTER_SPEC, NODE_SPEC

STATS = Stats()
NODE_STATS = Stats()
ATTESTER_STATS = Stats()
LIVENESS_BOUND_MS = CLUSTER_SPEC.liveness[0].bound_ticks


class ClusterTest(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim: Simulation | None = None
        self.log: list[str] = []
        self.failed = False

    @initialize(
        nodes=st.sampled_from((4, 4, 5)),
        byzantine=st.sampled_from((0, 1, 1)),
        seed=st.integers(min_value=0, max_value=2**32),
        behaviour=st.sampled_from(("equivocate", "lie", "withhold", "replay")),
        faults=st.lists(
            st.sampled_from(("loss", "delay", "duplicate", "reorder")), unique=True, max_size=4
        ),
    )
    def setup(
        self, nodes: int, byzantine: int, seed: int, behaviour: str, faults: list[str]
    ) -> None:
        behaviours = (behaviour, "equivocate", "lie", "withhold", "replay")
        config = SimConfig(
            nodes=nodes,
            byzantine=byzantine,
            seed=seed,
            faults=tuple(faults),
            conformant=True,
            random_faults=False,
            behaviours=behaviours,
        )
        self.log.append(f"cluster {config}")
        self.sim = Simulation(
            config,
            stats={"node": NODE_STATS, "attester": ATTESTER_STATS},
        )
        STATS.runs += 1

    def _do(self, what: str, action: Any) -> None:
        assert self.sim is not None
        self.log.append(what)
        before = dict(self.sim.checks)
        try:
            action()
        except SafetyViolation as v:
            self.failed = True
            inv = CLUSTER_SPEC.invariant(v.invariant_id)
            raise InvariantViolation("cluster", v.invariant_id, inv.statement, self.log) from v
        except BaseException:
            self.failed = True
            raise
        finally:
            for key, n in self.sim.checks.items():
                STATS.steps[key] += n - before.get(key, 0)
            STATS.rows["C1"] += 1

    @rule(ms=st.integers(min_value=50, max_value=3_000))
    def run(self, ms: int) -> None:
        assert self.sim is not None
        self._do(f"run {ms} ms", lambda: self.sim.run(ms) if self.sim else None)

    @rule(cut=st.integers(min_value=1, max_value=4), order=st.permutations(range(5)))
    def partition(self, cut: int, order: list[int]) -> None:
        sim = self.sim
        assert sim is not None
        ids = [i for i in order if i < sim.config.nodes]
        cut = min(cut, len(ids) - 1)
        sim.partition = (frozenset(ids[:cut]), frozenset(ids[cut:]))
        self.log.append(f"partition {sorted(ids[:cut])} | {sorted(ids[cut:])}")

    @rule()
    def heal_partition(self) -> None:
        assert self.sim is not None
        self.sim.partition = None
        self.log.append("heal partition")

    @rule(index=st.integers(min_value=0, max_value=4))
    def crash(self, index: int) -> None:
        sim = self.sim
        assert sim is not None
        node = sim.nodes[index % sim.config.nodes]
        if node.alive:
            self._do(f"crash node {node.index}", lambda: sim.crash(node))

    @rule(index=st.integers(min_value=0, max_value=14))
    def crash_for_good(self, index: int) -> None:
        """A node that never comes back (not even at heal): enough of them leave no honest
        quorum, and the run is unrecoverable. Drawn a third as often as the other faults."""
        sim = self.sim
        assert sim is not None
        if index >= 5:
            return
        node = sim.nodes[index % sim.config.nodes]
        node.permanent = True
        if node.alive:
            self._do(f"crash node {node.index} for good", lambda: sim.crash(node))

    @rule(index=st.integers(min_value=0, max_value=4))
    def restart(self, index: int) -> None:
        sim = self.sim
        assert sim is not None
        node = sim.nodes[index % sim.config.nodes]
        if not node.alive and not node.permanent:
            self._do(f"restart node {node.index}", lambda: sim.restart(node))

    def teardown(self) -> None:
        sim = self.sim
        if sim is None:
            return
        try:
            if self.failed:
                return
            result: dict[str, Any] = {}
            self._do("heal; fair schedule", lambda: result.update(liveness(sim, LIVENESS_BOUND_MS)))
            if result["verdict"] == "unrecoverable":
                STATS.examples["unrecoverable"] += 1
                return
            for lv in CLUSTER_SPEC.liveness:
                STATS.steps[lv.id] += 1
                STATS.examples[lv.id] += 1
                if not result[lv.id]:
                    self.log.append(f"liveness: {result}")
                    raise InvariantViolation("cluster", lv.id, lv.statement, self.log)
            for inv in CLUSTER_SPEC.invariants:
                if sim.checks[inv.id]:
                    STATS.examples[inv.id] += 1
        finally:
            sim.finish()


CAMPAIGN = Campaign(
    spec=CLUSTER_SPEC,
    test_class=ClusterTest,
    stats=STATS,
    also=((NODE_SPEC, NODE_STATS), (ATTESTER_SPEC, ATTESTER_STATS)),
)
