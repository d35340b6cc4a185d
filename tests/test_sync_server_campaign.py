"""The sync server campaign under pytest, with the profile's settings.

Every step runs through the conformance wrapper, which checks each safety invariant of
``spec/sync_server.py``; ``teardown`` heals and checks the liveness properties. Which upstream
HotStuff-rs bug (numbered as in PROTOCOLS.md §1) each property would have caught:

| id    | would have caught |
|-------|-------------------|
| SS-1  | bug 1: responses capped at max(limit, request_limit) |
| SS-2  | a dropped chain-id filter; bug 4 (no request id to answer) |
| SS-3  | gaps, duplicates or mixed snapshots in a response |
| SS-4  | bug 1: limit 0 treated as unlimited; needless truncation |
| SS-5  | blocks and certificate read from different snapshots |
| SS-6  | bug 8: advertisement timer starved by a request flood; advertising late |
| SS-7  | advertising early or on request events |
| SS-8  | bug 7: AdvertiseBlock signing the bytes of a timeout vote |
| SS-9  | bug 7: advertisements without freshness, replayable |
| SS-10 | a missing per-peer rate limit |
| SS-11 | requests silently dropped (upstream sends nothing on a failed snapshot read) |
| SS-12 | unbounded memory under a flood of distinct peers |
| SS-13 | responses with no byte bound (issue 7) |
| SS-14 | 1,024 identities filling the peer table to shut honest peers out (issue 7) |
| SS-15 | an eviction that forgets the heaviest peer, resetting its budget |
| SL-1  | bug 8, as a liveness failure: no advertisement while requests keep coming |
| SL-2  | requests left unanswered |

The mutations tried against these properties are in docs/mutations-sync_server.md.
"""

import re

from blockfsm.spec.campaigns.sync_server import SyncServerTest
from blockfsm.spec.sync_server import SPEC

TestSyncServerCampaign = SyncServerTest.TestCase


def test_the_table_above_names_every_property_of_the_spec() -> None:
    documented = re.findall(r"^\| (S[SL]-\d+) ", __doc__ or "", flags=re.M)
    declared = [i.id for i in SPEC.invariants] + [lv.id for lv in SPEC.liveness]
    assert documented == declared
    assert all(p.catches for p in (*SPEC.invariants, *SPEC.liveness))
