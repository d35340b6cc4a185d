"""The cluster campaign under pytest, with a small budget of its own.

Every step of every honest node runs through the conformance wrappers (sync server, sync client,
attester, node); the simulator checks the cluster invariants after every step; ``teardown`` heals
and checks the liveness properties. What each property would catch:

| id    | would catch |
|-------|-------------|
| C-1   | signing twice per height; a sync client accepting an unchecked certificate |
| C-2   | forks below the tip |
| C-3   | a store that replaces committed blocks |
| C-4   | a keeper that signs two blocks for one (height, round, phase) |
| C-5   | a node that forgets its persisted final chain on restart |
| C-6   | a restarted keeper that signs in a round below one it signed in |
| C-7   | forged votes counted toward finality; a block nobody proposed made final |
| C-8   | a commit of another block than its certificate names |
| C-L1  | a producer that ignores an attested block; a lock never released |
| C-L2  | a node that cannot catch up by block sync |

The mutations tried against these properties are in docs/mutations-node.md.

The Byzantine keeper draws from every behaviour of the adversary (adapters/engines/adversary.py),
the findings F1-F4 included (docs/mutations-node.md, "The adversary's findings";
tests/test_adversary.py holds each). Chaos phases here are drawn from 10 and 20 s of simulated
time to keep the test short; ``blockfsm check`` runs them up to 300 s.
"""

import re

from hypothesis import settings

from blockfsm.adapters.engines.cluster_campaign import ClusterTest
from blockfsm.spec.cluster import SPEC as CLUSTER_SPEC


class ShortChaos(ClusterTest):
    long_runs = (10, 20)


TestClusterCampaign = ShortChaos.TestCase
TestClusterCampaign.settings = settings(
    settings(), max_examples=12, stateful_step_count=20, deadline=None
)


def test_the_table_above_names_every_property_of_the_spec() -> None:
    documented = re.findall(r"^\| (C-L?\d+) ", __doc__ or "", flags=re.M)
    declared = [i.id for i in CLUSTER_SPEC.invariants] + [lv.id for lv in CLUSTER_SPEC.liveness]
    assert documented == declared
    assert all(p.catches for p in (*CLUSTER_SPEC.invariants, *CLUSTER_SPEC.liveness))
