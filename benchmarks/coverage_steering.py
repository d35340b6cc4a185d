"""Coverage that steers: examples until every row of a machine's spec was taken, with steering
(each example reports with Hypothesis's ``target`` how many coverage keys it took first) and
without, from the same seeds, in rotation.

Examples are run in seeded batches of ``BATCH`` as ``blockfsm check`` runs them, until every row
was taken or ``cap`` examples ran (a run that reaches the cap counts as the cap: the figure is
then a lower bound, and says so). The figure is examples, not seconds: it does not drift with
the machine's speed.

    python benchmarks/coverage_steering.py [--machine attester] [--seeds 5] [--cap 2000]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from hypothesis import Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from blockfsm.adapters.engines.campaigns import PHASES
from blockfsm.adapters.engines.registry import campaigns
from blockfsm.spec.campaigns import set_steering
from blockfsm.spec.coverage import coverage

BATCH = 50


def _campaign(machine: str) -> Any:
    (found,) = [c for c in campaigns() if c.machine == machine]
    return found


def examples_to_rows(machine: str, seed: int, steer: bool, cap: int) -> tuple[int, bool]:
    """(examples run until every row was taken, whether they all were within ``cap``)."""
    campaign = _campaign(machine)
    stats = campaign.stats
    stats.reset()
    set_steering(steer)
    declared = len(campaign.spec.rows)
    try:
        for batch in range(cap // BATCH):
            runnable = type(campaign.test_class.__name__, (campaign.test_class,), {})
            hypothesis_seed(seed * 1_000_003 + batch)(runnable)
            run_state_machine_as_test(
                runnable,
                settings=settings(
                    max_examples=BATCH,
                    database=None,
                    deadline=None,
                    verbosity=Verbosity.quiet,
                    phases=PHASES,
                ),
            )
            hit = sum(1 for _, n in coverage(campaign.spec, stats.taken).rows if n)
            if hit == declared:
                return stats.runs, True
        return stats.runs, False
    finally:
        set_steering(False)


def compare(machine: str, seeds: int, cap: int) -> tuple[list[int], list[int], bool]:
    """Examples to full row coverage per seed, (steered, unsteered), run in rotation; and
    whether every run got there within ``cap``."""
    steered, plain, complete = [], [], True
    for seed in range(1, seeds + 1):
        n, ok = examples_to_rows(machine, seed, True, cap)
        steered.append(n)
        complete &= ok
        n, ok = examples_to_rows(machine, seed, False, cap)
        plain.append(n)
        complete &= ok
    return steered, plain, complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", default="attester")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cap", type=int, default=2_000)
    args = parser.parse_args()
    steered, plain, complete = compare(args.machine, args.seeds, args.cap)
    print(f"{args.machine}: examples to every row, steered {steered}, not steered {plain}")
    print(
        f"median steered {statistics.median(steered)}, not steered {statistics.median(plain)}"
        + ("" if complete else f" (a run reached the cap of {args.cap}: a lower bound)")
    )


if __name__ == "__main__":
    main()
