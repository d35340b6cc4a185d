"""``blockfsm check --workers N``: the campaigns in N processes, sharing the budget."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any

from blockfsm.adapters.engines.campaigns import CampaignResult, run_named
from blockfsm.spec.campaigns import Campaign


def run_parallel(
    campaigns: list[Campaign],
    progress: Any,
    share: float,
    seed: int,
    profile: str,
    workers: int,
    max_examples: int | None = None,
    database: str | None = None,
    steer: bool = False,
) -> list[CampaignResult]:
    """Run every campaign in a pool of ``workers`` processes; results in campaign order.

    The budget is wall time: with P campaigns running at once each gets P times its serial share,
    so the whole run still takes about the budget."""
    from blockfsm.adapters.engines.registry import added_modules

    parallel = min(workers, len(campaigns))
    each = share * parallel
    tasks = {c.machine: progress.add_task(c.machine, total=1.0, status="queued") for c in campaigns}
    results: list[CampaignResult] = []
    with ProcessPoolExecutor(max_workers=parallel) as pool:
        futures = [
            (
                c,
                pool.submit(
                    run_named,
                    c.machine,
                    each,
                    seed,
                    profile,
                    max_examples,
                    database,
                    added_modules(),
                    steer=steer,
                ),
            )
            for c in campaigns
        ]
        for campaign, future in futures:
            result = future.result()
            status = (
                f"{result.examples} examples"
                if result.ok
                else f"[red]{result.violation.property_id} violated"  # type: ignore[union-attr]
            )
            progress.update(tasks[campaign.machine], completed=1.0, status=status)
            results.append(result)
            results.extend(result.also)
    return results
