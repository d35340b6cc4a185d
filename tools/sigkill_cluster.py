"""SIGKILL full-node processes of a 4-keeper cluster many times during consensus and sync.

    python tools/sigkill_cluster.py [KILLS] [SEED]

Each kill picks a keeper at random, waits until it has made progress since its last restart,
SIGKILLs it at a random moment, reads its final chain from its own store before it restarts
(nothing it had committed may be missing), checks the exit status says SIGKILL, and restarts
it. At the end every keeper must reach the highest final height, and the demo's checks (chains
valid, no fork) must hold over the four stores. Prints one summary line and exits 1 on any loss.
"""

from __future__ import annotations

import random
import signal
import sys
import tempfile
import time
from pathlib import Path

from blockfsm.adapters.commands.demo import (
    check_invariants,
    final_hashes,
    make_cluster,
    read_heights,
)


def main(kills: int = 100, seed: int = 11) -> int:
    root = Path(tempfile.mkdtemp(prefix="blockfsm-sigkill-"))
    keepers = ["k0", "k1", "k2", "k3"]
    procs, validators = make_cluster(root, keepers, [], max_height=10**6, interval=40, source=False)
    rng = random.Random(seed)
    lost = bad_status = 0
    started = time.monotonic()
    for p in procs.values():
        p.start()
    try:
        floor = {n: -1 for n in keepers}
        for _ in range(kills):
            victim = rng.choice(keepers)
            deadline = time.monotonic() + 10
            while read_heights(procs[victim].data)[0] <= floor[victim]:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            time.sleep(rng.uniform(0.05, 0.4))
            before = final_hashes(procs[victim].data)
            status = procs[victim].kill9()
            after = final_hashes(procs[victim].data)
            bad_status += status != -signal.SIGKILL
            lost += after[: len(before)] != before
            floor[victim] = len(after) - 1
            procs[victim].start()
        target = max(read_heights(procs[n].data)[0] for n in keepers)
        deadline = time.monotonic() + 30
        while not all(read_heights(procs[n].data)[0] >= target for n in keepers):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in procs.values():
            p.stop()
    results = check_invariants(
        {n: procs[n].data for n in keepers},
        validators,
        killed=keepers[0],
        committed_before_kill=-1,
        target=target,
        final_before_kill=[],
        final_after_kill=[],
    )
    failed = [r["id"] for r in results if not r["held"]]
    print(
        f"{kills} SIGKILLs: {lost} lost a final block, {bad_status} not reported as SIGKILL; "
        f"every keeper at final height >= {target}: "
        f"{'no' if 'all_caught_up' in failed else 'yes'}; "
        f"failed checks: {failed or 'none'}; {time.monotonic() - started:.0f} s"
    )
    return 1 if lost or bad_status or failed else 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
