"""Step cost per machine: the conformance-checked step against the bare step, and campaign steps.

The events are those a short seeded campaign of the machine generates (its Byzantine peers,
garbage inputs and heal phase): every conforming step is recorded as (config, state, event, view)
and the recorded runs are replayed, once through the machine's bare ``step`` and once through
``Conformant`` (row matching, row check and every safety invariant), interleaved.

Figures:
- ``<machine> conformant step``: events/s; baseline the bare step; ratio bare time / conformant
  time (target >= 1/3, that is conformant at most 3x the bare step);
- ``<machine> campaign steps``: machine steps per second of the campaign itself (Hypothesis
  generation, harness and conformance included), against the bare step rate (no target).
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks import Figure, Options, interleave, rate_figure
from blockfsm.adapters.check import run_campaign
from blockfsm.spec.campaigns import all_campaigns
from blockfsm.spec.conformance import Conformant

Run = tuple[Any, Any, list[tuple[Any, Any, Any]]]
"""(machine, config, [(state, event, view), ...]) of one recorded run."""


def record(campaign: Any, budget: float, seed: int) -> tuple[list[Run], float]:
    """The runs a campaign makes in ``budget`` seconds, and its campaign steps per second."""
    runs: dict[object, Run] = {}
    order: list[object] = []

    def observe(
        runner: Conformant, row: Any, before: Any, event: Any, view: Any, after: Any
    ) -> None:
        key = runner
        if key not in runs:
            runs[key] = (runner.machine, runner.config, [])
            order.append(key)
        runs[key][2].append((before, event, view))

    Conformant.observers.append(observe)
    try:
        result = run_campaign(campaign, budget_seconds=budget, seed=seed)
    finally:
        Conformant.observers.remove(observe)
    steps = sum(campaign.stats.rows.values())
    return [runs[k] for k in order], steps / result.seconds


def _sample(runs: list[Run], limit: int, seed: int) -> list[Run]:
    rng = random.Random(seed)
    rng.shuffle(runs)
    out: list[Run] = []
    total = 0
    for run in runs:
        if total >= limit:
            break
        out.append(run)
        total += len(run[2])
    return out


def bare(runs: list[Run]) -> None:
    for machine, config, steps in runs:
        step = machine.step
        for state, event, view in steps:
            step(config, state, event, view)


def conformant(runs: list[Run]) -> None:
    for machine, config, steps in runs:
        runner = Conformant(machine, config)
        for state, event, view in steps:
            runner.step(state, event, view)


def run(options: Options) -> list[Figure]:
    budget = 2.0 if options.quick else 8.0
    limit = 5_000 if options.quick else 40_000
    figures: list[Figure] = []
    for campaign in all_campaigns():
        runs, campaign_rate = record(campaign, budget, seed=1)
        runs = _sample(runs, limit, seed=1)
        events = sum(len(r[2]) for r in runs)
        paired = interleave(lambda r=runs: conformant(r), lambda r=runs: bare(r), options.repeat)
        figures.append(
            rate_figure(f"{campaign.machine} conformant step", "bare step", paired, events, 1 / 3)
        )
        bare_rate = events / paired.baseline_median
        figures.append(
            Figure(
                name=f"{campaign.machine} campaign steps",
                value=campaign_rate,
                unit="steps/s",
                baseline="bare step",
                baseline_value=bare_rate,
                ratio=campaign_rate / bare_rate,
                target_ratio=None,
            )
        )
    return figures
