"""Campaign for the cluster: rules are fault and delivery choices over a simulated cluster.

Each example builds a cluster (4 or 5 keepers, at most one Byzantine: f < N/3; every honest
node's parts run under their own specs through ``Conformant``), then the rules run the network
for a while, partition it, heal the partition, crash and restart nodes. The simulator checks the
cluster safety invariants C-1..C-5 after every step of every node. ``teardown`` heals (VOPR
style: faults off, partition healed, crashed honest nodes restarted), runs a fair schedule and
checks C-L1 and C-L2.
The Byzantine keeper draws its behaviour from ``POOL``: the filters of the honest machine's output
and the signing-oracle behaviours of ``blockfsm.adapters.engines.adversary`` (forged and replayed
proofs, rounds ahead, floods, conflicting votes, bent certificates); each action is counted under
``adversary:<name>`` in ``STATS.steps``. A chaos phase runs up to 1,000 s of simulated time
(``run_long``); one-way link cuts (``cut_one_way``) join partitions.
A run with no honest quorum is counted as unrecoverable (``STATS.examples["unrecoverable"]``),
never reported as a liveness failure.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from blockfsm.adapters.engines.adversary import ALL
from blockfsm.adapters.engines.itf import DOCUMENT_ATTR
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig, liveness
from blockfsm.adapters.engines.simtrace import TracedSimulation, simulation_document
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.cluster import SPEC as CLUSTER_SPEC
from blockfsm.spec.conformance import InvariantViolation, Stats
from blockfsm.spec.machines import NODE
from blockfsm.spec.node import SPEC as NODE_SPEC

STATS = Stats()
NODE_STATS = Stats()
ATTESTER_STATS = Stats()
"""The attesters run under their spec here too, but the attester's rows and properties are
reported by its own campaign (spec/campaigns/attester.py): only honest traffic reaches an
attester in a cluster, so most of its refusal rows are reached there, not here."""
CATCH_UP_BOUND_MS = CLUSTER_SPEC.liveness[1].bound_ticks
"""C-L2's bound; C-L1's is the spec's function of the round at heal (``liveness_bound_ms``)."""
POOL = ALL
"""The behaviours the Byzantine keeper draws from."""


class ClusterTest(RuleBasedStateMachine):
    pool: tuple[str, ...] = POOL
    known: dict[str, str] = {}
    """Invariants an open finding violates (id -> finding), counted rather than reported; a
    subclass names them (tests/test_cluster_campaign.py), the campaign itself waives nothing."""
    long_runs: tuple[int, ...] = (10, 30, 60, 120, 300, 1_000)
    """Seconds of simulated time ``run_long`` draws from."""
    live: bool = True
    """Whether teardown checks C-L1 and C-L2 (False while a known finding breaks liveness)."""

    def __init__(self) -> None:
        super().__init__()
        self.sim: TracedSimulation | None = None
        self.log: list[str] = []
        self.failed = False

    @initialize(
        nodes=st.sampled_from((4, 4, 5)),
        byzantine=st.sampled_from((0, 1, 1)),
        seed=st.integers(min_value=0, max_value=2**32),
        behaviour=st.integers(min_value=0, max_value=255),
        faults=st.lists(
            st.sampled_from(("loss", "delay", "duplicate", "reorder")), unique=True, max_size=4
        ),
    )
    def setup(
        self, nodes: int, byzantine: int, seed: int, behaviour: int, faults: list[str]
    ) -> None:
        behaviours = (self.pool[behaviour % len(self.pool)],)
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
        self.sim = TracedSimulation(
            config,
            stats={"node": NODE_STATS, "attester": ATTESTER_STATS},
        )
        self.sim.known = dict(self.known)
        STATS.runs += 1

    def _do(self, what: str, action: Any) -> None:
        assert self.sim is not None
        self.log.append(what)
        before = dict(self.sim.checks)
        acted = dict(self.sim.counters)
        try:
            action()
        except SafetyViolation as v:
            self.failed = True
            inv = CLUSTER_SPEC.invariant(v.invariant_id)
            error = InvariantViolation("cluster", v.invariant_id, inv.statement, self.log)
            if self.sim.complete:  # the run as an ITF trace, for `blockfsm replay`
                setattr(error, DOCUMENT_ATTR, simulation_document(self.sim, v))
            raise error from v
        except BaseException:
            self.failed = True
            raise
        finally:
            for key, n in self.sim.checks.items():
                STATS.steps[key] += n - before.get(key, 0)
            for key, n in self.sim.counters.items():
                if key.startswith(("adversary:", "known:")):
                    STATS.steps[key] += n - acted.get(key, 0)
            STATS.rows["C1"] += 1

    @rule(ms=st.integers(min_value=50, max_value=3_000))
    def run(self, ms: int) -> None:
        assert self.sim is not None
        self._do(f"run {ms} ms", lambda: self.sim.run(ms) if self.sim else None)

    @rule(which=st.integers(min_value=0, max_value=255))
    def run_long(self, which: int) -> None:
        """A long chaos phase: up to 1,000 s of simulated time in one step (``long_runs``)."""
        assert self.sim is not None
        seconds = self.long_runs[which % len(self.long_runs)]
        self._do(f"run {seconds} s", lambda: self.sim.run(seconds * 1000) if self.sim else None)

    @rule(a=st.integers(min_value=0, max_value=4), b=st.integers(min_value=0, max_value=4))
    def cut_one_way(self, a: int, b: int) -> None:
        """What ``a`` sends ``b`` is lost; what ``b`` sends ``a`` arrives."""
        sim = self.sim
        assert sim is not None
        a, b = a % sim.config.nodes, b % sim.config.nodes
        if a != b:
            sim.oneway.add((a, b))
            self.log.append(f"cut {a} -> {b}")

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
        self.sim.oneway.clear()
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
            self._do(
                "heal; fair schedule",
                lambda: result.update(liveness(sim, catch_up=CATCH_UP_BOUND_MS)),
            )
            if result["verdict"] == "unrecoverable":
                STATS.examples["unrecoverable"] += 1
                return
            if not self.live or any(k.startswith("known:") for k in sim.counters):
                # Past a known finding's safety violation the run proves nothing about liveness.
                STATS.examples["past a known finding"] += 1
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


MACHINES = (NODE,)
"""The machine whose steps the cluster's honest nodes take (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(
    spec=CLUSTER_SPEC,
    test_class=ClusterTest,
    stats=STATS,
    behaviours=ALL,
    also=((NODE_SPEC, NODE_STATS),),
)
