"""Spec of the cluster: what only a network can break. The cluster safety invariants
(``blockfsm.spec.cluster_rules``) are checked after every simulator step, and the two liveness
properties VOPR style: a chaos phase, heal, then a bounded fair schedule."""

from __future__ import annotations

from blockfsm.spec.cluster_rules import CLUSTER_INVARIANTS
from blockfsm.spec.language import (
    Liveness,
    define_machine,
    ignore,
)
from blockfsm.spec.node import RUNNING

# --- the cluster -------------------------------------------------------------------------------

CLUSTER_LIVENESS = (
    Liveness(
        id="C-L1",
        statement="the final height of the honest core grows",
        fairness="after heal: no loss, delay <= 100 ms, an honest quorum connected and alive, "
        "every node ticked every 50 ms",
        bound="within N + 2 rounds from the highest honest round at heal, each twice its round "
        "timeout (which max_round_timeout caps), plus 1 s (liveness_bound_ms); at most 721 s "
        "for 4 keepers at the default cap, 28 s from round 0",
        bound_ticks=721_000,
        catches="a locked keeper that never unlocks; a producer that ignores an attested block; "
        "round timeouts that grow without a cap",
    ),
    Liveness(
        id="C-L2",
        statement="every honest node, including one down or partitioned for long, reaches the "
        "core's final height (at the end of the C-L1 run) by block sync",
        fairness="as C-L1; the lagging node is restarted and reconnected at heal",
        bound="within 40 s of simulated time after C-L1",
        bound_ticks=40_000,
        catches="a node that cannot catch up: sync never triggered, or its blocks refused",
    ),
)

SPEC = define_machine(
    name="cluster",
    title="Cluster",
    summary="N nodes under network faults, crash-restart and Byzantine keepers; the invariants "
    "are checked over all honest nodes after every simulator step (adapters/engines/sim.py).",
    states=(RUNNING,),
    initial=RUNNING,
    events=("Tick",),
    effects=("Rejected",),
    rows=[ignore(RUNNING, "Tick", note="the cluster is driven by the simulator, not by rows")],
    invariants=CLUSTER_INVARIANTS,
    liveness=CLUSTER_LIVENESS,
    row_prefix="C",
)
