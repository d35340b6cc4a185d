"""The campaign runner behind ``blockfsm check``.

Each machine's campaign (its Hypothesis state machine) is run in batches of examples, each batch
with its own seed derived from the run's seed, until the machine's share of the time budget is
spent (at least one batch always runs). The first violation stops that machine's campaign; the
counterexample reported is the one Hypothesis shrank, as the readable step list the conformance
wrapper recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.table import Table

from blockfsm.adapters.itf import document_of, recording
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.conformance import ConformanceError, InvariantViolation, Stats, StepRaised
from blockfsm.spec.language import MachineSpec

BATCH_EXAMPLES = 20


@attrs.frozen(kw_only=True)
class PropertyResult:
    machine: str
    id: str
    kind: str
    statement: str
    status: str
    examples: int
    steps: int


@attrs.frozen(kw_only=True)
class Violation:
    machine: str
    property_id: str
    statement: str
    message: str
    trace: tuple[str, ...]
    itf: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class CampaignResult:
    machine: str
    properties: tuple[PropertyResult, ...]
    rows_hit: int
    rows_declared: int
    unhit_rows: tuple[str, ...]
    examples: int
    batches: int
    seconds: float
    violation: Violation | None
    rules: tuple[tuple[str, int], ...] = ()
    """Per single-rule strategy: (rule, inputs rejected by that rule alone), in rule order."""
    also: tuple[CampaignResult, ...] = ()
    unrecoverable: int = 0

    @property
    def ok(self) -> bool:
        return self.violation is None

    @property
    def unreached_rules(self) -> tuple[str, ...]:
        return tuple(rule for rule, count in self.rules if not count)


def _first_failure(error: BaseException) -> BaseException:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_failure(inner)
            if isinstance(found, InvariantViolation | ConformanceError):
                return found
        return _first_failure(error.exceptions[0])
    return error


def _violation(campaign: Campaign, error: BaseException) -> Violation:
    error = _first_failure(error)
    if isinstance(error, InvariantViolation):
        return Violation(
            machine=campaign.machine,
            property_id=error.invariant_id,
            statement=error.statement,
            message=str(error).splitlines()[0],
            trace=tuple(error.trace),
            itf=document_of(error),
        )
    trace = tuple(getattr(error, "trace", ()))
    kind = (
        "conformance"
        if isinstance(error, ConformanceError) and not isinstance(error, StepRaised)
        else "crash"
    )
    return Violation(
        machine=campaign.machine,
        property_id=kind,
        statement=(
            "every step matches exactly one spec row, with its target and effects"
            if kind == "conformance"
            else "step never raises"
        ),
        message=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
        trace=trace,
        itf=document_of(error),
    )


def run_campaign(
    campaign: Campaign,
    *,
    budget_seconds: float,
    seed: int,
    on_batch: Callable[[float], None] | None = None,
) -> CampaignResult:
    """Run ``campaign`` for about ``budget_seconds``; ``on_batch`` gets the fraction done."""
    stats = campaign.stats
    stats.reset()
    if campaign.rules is not None:
        campaign.rules.clear()
    for _, extra in campaign.also:
        extra.reset()
    started = time.monotonic()
    batches = 0
    violation = None
    base = settings()
    while True:
        runnable = type(campaign.test_class.__name__, (campaign.test_class,), {})
        hypothesis_seed(seed * 1_000_003 + batches)(runnable)
        run_settings = settings(
            base,
            max_examples=BATCH_EXAMPLES,
            derandomize=False,
            database=None,
            deadline=None,
            verbosity=Verbosity.quiet,
            print_blob=False,
        )
        try:
            with recording():
                run_state_machine_as_test(runnable, settings=run_settings)
        except BaseException as error:  # a failing campaign raises whatever the machine raised
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            violation = _violation(campaign, error)
        batches += 1
        elapsed = time.monotonic() - started
        if on_batch is not None:
            on_batch(min(1.0, elapsed / budget_seconds) if budget_seconds > 0 else 1.0)
        if violation is not None or elapsed >= budget_seconds:
            break
    spec = campaign.spec
    properties = []
    for inv in spec.invariants:
        properties.append(_result(campaign, inv.id, "safety", inv.statement, violation))
    for lv in spec.liveness:
        properties.append(_result(campaign, lv.id, "liveness", lv.statement, violation))
    if violation is not None and violation.property_id in ("conformance", "crash"):
        properties.append(
            PropertyResult(
                machine=campaign.machine,
                id=violation.property_id,
                kind="safety",
                statement=violation.statement,
                status="violated",
                examples=0,
                steps=0,
            )
        )
    declared = [r.id for r in spec.rows]
    also = tuple(
        _also_result(extra_spec, extra_stats, violation, time.monotonic() - started, batches)
        for extra_spec, extra_stats in campaign.also
    )
    return CampaignResult(
        also=also,
        unrecoverable=stats.examples["unrecoverable"],
        machine=campaign.machine,
        properties=tuple(properties),
        rows_hit=sum(1 for r in declared if stats.rows[r]),
        rows_declared=len(declared),
        unhit_rows=tuple(r for r in declared if not stats.rows[r]),
        examples=stats.runs,
        batches=batches,
        seconds=time.monotonic() - started,
        violation=violation,
        rules=_rule_counts(campaign),
    )


def _rule_counts(campaign: Campaign) -> tuple[tuple[str, int], ...]:
    counts = campaign.rules
    if counts is None:
        return ()
    names = list(campaign.rule_names) + sorted(set(counts) - set(campaign.rule_names))
    return tuple((name, counts[name]) for name in names)


def rules_json(results: list[CampaignResult]) -> dict[str, object]:
    """``{machine: {"counts": {rule: n}, "reached": k, "declared": m}}`` for machines with
    single-rule strategies: n inputs rejected by that rule alone."""
    out: dict[str, object] = {}
    for r in results:
        if r.rules:
            out[r.machine] = {
                "counts": dict(r.rules),
                "reached": sum(1 for _, n in r.rules if n),
                "declared": len(r.rules),
            }
    return out


def print_rules(out: Console, results: list[CampaignResult]) -> None:
    """The per-rule table: inputs that broke one validation rule and were rejected by it alone."""
    for r in results:
        if not r.rules:
            continue
        table = Table(title=f"{r.machine}: inputs rejected by one rule alone")
        table.add_column("rule", overflow="fold")
        table.add_column("rejected", justify="right")
        for rule, count in r.rules:
            table.add_row(rule, str(count) if count else "[red bold]0")
        out.print(table)
        missing = r.unreached_rules
        note = f" (not reached: {', '.join(missing)})" if missing else ""
        out.print(
            f"{r.machine}: {len(r.rules) - len(missing)}/{len(r.rules)} rules each rejected "
            f"inputs that broke it alone{note}"
        )


def _result(
    campaign: Campaign, pid: str, kind: str, statement: str, violation: Violation | None
) -> PropertyResult:
    stats = campaign.stats
    violated = violation is not None and violation.property_id == pid
    return PropertyResult(
        machine=campaign.machine,
        id=pid,
        kind=kind,
        statement=statement,
        status="violated" if violated else "held",
        examples=stats.examples[pid],
        steps=stats.steps[pid],
    )


def _also_result(
    spec: MachineSpec, stats: Stats, violation: Violation | None, seconds: float, batches: int
) -> CampaignResult:
    """The result of a machine another campaign ran under its spec (the node in the cluster)."""
    properties = []
    for inv in spec.invariants:
        violated = violation is not None and violation.property_id == inv.id
        properties.append(
            PropertyResult(
                machine=spec.name,
                id=inv.id,
                kind="safety",
                statement=inv.statement,
                status="violated" if violated else "held",
                examples=stats.examples[inv.id],
                steps=stats.steps[inv.id],
            )
        )
    declared = [r.id for r in spec.rows]
    return CampaignResult(
        machine=spec.name,
        properties=tuple(properties),
        rows_hit=sum(1 for r in declared if stats.rows[r]),
        rows_declared=len(declared),
        unhit_rows=tuple(r for r in declared if not stats.rows[r]),
        examples=stats.runs,
        batches=batches,
        seconds=seconds,
        violation=None,
    )


def run_named(machine: str, budget_seconds: float, seed: int, profile: str) -> CampaignResult:
    """``run_campaign`` for the campaign of ``machine``, in a worker process (``--workers``)."""
    from blockfsm.spec.campaigns import all_campaigns
    from blockfsm.spec.strategies.profiles import load_profile

    load_profile(profile)
    for campaign in all_campaigns():
        if campaign.machine == machine:
            return run_campaign(campaign, budget_seconds=budget_seconds, seed=seed)
    raise KeyError(machine)
