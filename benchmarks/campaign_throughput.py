"""Campaign throughput: machine steps and Hypothesis examples per second, per machine.

Runs each machine's campaign exactly as `blockfsm check` does, for the same budget, and prints
what it achieved. The baseline in the same run is the sync server, the simplest machine: the
ratio shows what each machine's richer harness (several nodes, Byzantine peers, ghost state)
costs.

    python benchmarks/campaign_throughput.py [--budget SECONDS] [--seed N]
"""

from __future__ import annotations

import argparse
import platform
import sys

from blockfsm.adapters.engines.campaigns import run_campaign
from blockfsm.adapters.engines.registry import campaigns as all_campaigns
from blockfsm.spec.strategies.profiles import load_profile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per machine")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    profile = load_profile()
    print(
        f"python {sys.version.split()[0]} on {platform.machine()} {platform.system()}; "
        f"profile {profile}, {args.budget:g} s per machine, seed {args.seed}"
    )
    rows = []
    for campaign in all_campaigns():
        result = run_campaign(campaign, budget_seconds=args.budget, seed=args.seed)
        steps = sum(campaign.stats.rows.values())
        rows.append((campaign, result, steps, steps / result.seconds))
    baseline = next(rate for c, _, _, rate in rows if c.machine == "sync_server")
    for campaign, result, steps, rate in rows:
        print(
            f"{campaign.machine:<12} {steps:>9,} steps {result.examples:>6,} examples "
            f"in {result.seconds:5.1f} s: {rate:>8,.0f} steps/s, "
            f"{result.examples / result.seconds:6.1f} examples/s "
            f"({rate / baseline:.2f}x sync_server){'' if result.ok else '  VIOLATION'}"
        )


if __name__ == "__main__":
    main()
