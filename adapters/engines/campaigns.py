"""The campaign runner behind ``blockfsm check``.

Each machine's campaign (its Hypothesis state machine) is run in batches of examples, each batch
with its own seed derived from the run's seed, until either a fixed number of examples ran
(``max_examples``: what tests use, so a run decides the same way on any machine) or the machine's
share of the time budget is spent (at least one batch always runs). Under a time budget the
batches are sized from the time an example took so far, so the last batch ends near the budget
even when one example takes seconds (the cluster's).

The first violation stops that machine's campaign; the counterexample reported is the one
Hypothesis shrank, as the readable step list the conformance wrapper recorded. Shrinking is
capped at ``shrink_cap(budget)`` seconds; a counterexample whose shrinking was cut short says so
(``CampaignResult.fully_shrunk``). A run therefore ends within the budget, plus the shrink cap,
plus one example's time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from hypothesis import Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import ExampleDatabase
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.table import Table

from blockfsm.adapters.engines.itf import document_of, recording
from blockfsm.spec.campaigns import Campaign, set_steering
from blockfsm.spec.conformance import ConformanceError, InvariantViolation, Stats, StepRaised
from blockfsm.spec.coverage import Coverage, coverage
from blockfsm.spec.language import MachineSpec

BATCH_EXAMPLES = 20
SHRINK_SHARE = 0.5
MIN_SHRINK_SECONDS = 5.0
MAX_SHRINK_SECONDS = 300.0
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
"""No ``explain`` phase: for a stateful campaign it re-runs the counterexample many times to
comment on it, which the readable step list already does."""


def shrink_cap(budget_seconds: float) -> float:
    """Seconds Hypothesis may spend shrinking one counterexample: half the budget, at least
    ``MIN_SHRINK_SECONDS``, at most ``MAX_SHRINK_SECONDS`` (Hypothesis's own cap)."""
    return min(MAX_SHRINK_SECONDS, max(MIN_SHRINK_SECONDS, budget_seconds * SHRINK_SHARE))


@contextlib.contextmanager
def _shrinking_capped(seconds: float, cut: list[bool]) -> Iterator[None]:
    """Cap Hypothesis's shrink phase at ``seconds``; append True to ``cut`` when a shrink ran
    into the cap (the counterexample is then smaller than the one found, not minimal).

    Hypothesis has no public setting for this: its engine stops shrinking after
    ``MAX_SHRINKING_SECONDS`` (300). The constant is read at each shrink, so it is set for the
    duration of one batch and restored. Should a Hypothesis release rename it, shrinking is
    uncapped (as before) rather than broken."""
    try:
        from hypothesis.internal.conjecture import engine
    except ImportError:  # pragma: no cover - a Hypothesis without that module
        yield
        return
    runner = getattr(engine, "ConjectureRunner", None)
    name = next(
        (
            n
            for n in ("shrink_interesting_test_cases", "shrink_interesting_examples")
            if hasattr(runner, n)
        ),
        "",
    )
    original_shrink = getattr(runner, name, None)
    if not hasattr(engine, "MAX_SHRINKING_SECONDS") or original_shrink is None:
        yield  # pragma: no cover
        return
    saved = engine.MAX_SHRINKING_SECONDS

    def timed(self: Any) -> None:
        started = time.perf_counter()
        try:
            original_shrink(self)
        finally:
            if time.perf_counter() - started >= seconds:
                cut.append(True)

    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    setattr(runner, name, timed)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved
        setattr(runner, name, original_shrink)


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
    source: str = ""
    """The machine whose property failed, when it is not the campaign's own (a part of a
    composed machine, such as a node's attester, checked under its own spec)."""


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
    fully_shrunk: bool = True
    """False when shrinking the counterexample ran into the shrink cap (it is then a smaller
    counterexample than the one first found, but maybe not the smallest)."""
    shrink_cap_seconds: float = MAX_SHRINK_SECONDS
    adversary: tuple[tuple[str, int], ...] = ()
    """Per behaviour of the adversary the campaign draws from: how many times it acted."""
    stopped: bool = False
    """Whether the campaign stopped at a violation (its own, or the campaign's it ran inside)
    before its examples or its budget ran out: rows and rules it did not reach might have been
    reached by the rest of the run, so they are not reported as not reached."""
    coverage: Coverage | None = None
    """Rows, guard outcomes and row pairs the campaign covered (``blockfsm.spec.coverage``)."""

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
            source=error.machine,
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
    max_examples: int | None = None,
    database: ExampleDatabase | None = None,
    steer: bool = False,
) -> CampaignResult:
    """Run ``campaign`` for about ``budget_seconds``, or for ``max_examples`` examples when it is
    given (then the budget does not bound generation, only shrinking); ``on_batch`` gets the
    fraction done. ``database``: Hypothesis's example database (None: none, so a seeded run
    decides the same way anywhere), whose saved failures are replayed before anything new.
    ``steer``: each example reports how rare its coverage was (``target``); off by default."""
    set_steering(steer)
    stats = campaign.stats
    stats.reset()
    if campaign.rules is not None:
        campaign.rules.clear()
    for _, extra in campaign.also:
        extra.reset()
    started = time.monotonic()
    batches = 0
    requested = 0
    violation = None
    cut: list[bool] = []
    cap = shrink_cap(budget_seconds)
    base = settings()
    while True:
        elapsed = time.monotonic() - started
        if max_examples is not None:
            size = min(BATCH_EXAMPLES, max_examples - requested)
        elif requested == 0:
            size = 2  # measure an example's cost before committing to a full batch
        else:
            per_example = elapsed / requested
            size = int((budget_seconds - elapsed) / per_example) if per_example > 0 else 0
            size = max(1, min(BATCH_EXAMPLES, size))
        # Named as the class it runs, so Hypothesis's database key is that class's source.
        test_class = campaign.test_class
        runnable = type(
            test_class.__name__,
            (test_class,),
            {"__module__": test_class.__module__, "__qualname__": test_class.__qualname__},
        )
        hypothesis_seed(seed * 1_000_003 + batches)(runnable)
        run_settings = settings(
            base,
            max_examples=max(1, size),
            derandomize=False,
            database=database,
            deadline=None,
            verbosity=Verbosity.quiet,
            print_blob=False,
            phases=PHASES,
            report_multiple_bugs=False,
        )
        try:
            with recording(), _shrinking_capped(cap, cut):
                run_state_machine_as_test(runnable, settings=run_settings)
        except BaseException as error:  # a failing campaign raises whatever the machine raised
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            violation = _violation(campaign, error)
        batches += 1
        requested += max(1, size)
        elapsed = time.monotonic() - started
        if max_examples is not None:
            done = requested / max_examples if max_examples > 0 else 1.0
        else:
            done = elapsed / budget_seconds if budget_seconds > 0 else 1.0
        if on_batch is not None:
            on_batch(min(1.0, done))
        if violation is not None or done >= 1.0:
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
    reported = {p.id for p in properties} | {p.id for a in also for p in a.properties}
    if violation is not None and violation.property_id not in reported:
        # A property of a machine that runs inside this campaign's under its own spec but is not
        # reported beside it: the violation is listed under that machine, so it is never lost.
        properties.append(
            PropertyResult(
                machine=violation.source or campaign.machine,
                id=violation.property_id,
                kind="safety",
                statement=violation.statement,
                status="violated",
                examples=0,
                steps=0,
            )
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
        fully_shrunk=not cut,
        shrink_cap_seconds=cap,
        adversary=tuple((name, stats.steps[f"adversary:{name}"]) for name in campaign.behaviours),
        stopped=violation is not None,
        coverage=coverage(spec, stats.taken),
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


def print_rules(out: Console, results: list[CampaignResult], *, compact: bool = False) -> None:
    """The per-rule counts: inputs that broke one validation rule and were rejected by it alone.
    A rule is reported as not reached only when the campaign ran to its end: one stopped at a
    violation might still have reached it. ``compact``: lines at most 80 wide instead of a
    table."""
    import textwrap

    for r in results:
        if not r.rules:
            continue
        title = f"{r.machine}: inputs rejected by one rule alone"
        if compact:
            out.print()
            counts = ", ".join(f"{rule}\x00{count}" for rule, count in r.rules)
            for line in textwrap.wrap(
                f"{title}: {counts}", width=80, subsequent_indent="  ", break_on_hyphens=False
            ):
                out.print(line.replace("\x00", " "), markup=False, highlight=False, soft_wrap=True)
        else:
            table = Table(title=title)
            table.add_column("rule", overflow="fold")
            table.add_column("rejected", justify="right")
            for rule, count in r.rules:
                table.add_row(rule, str(count) if count else "[red bold]0")
            out.print(table)
        missing = r.unreached_rules
        if r.stopped:
            note = (
                f" ({len(missing)} not reached before the run stopped at the violation)"
                if missing
                else ""
            )
        else:
            note = f" (not reached: {', '.join(missing)})" if missing else ""
        line = (
            f"{r.machine}: {len(r.rules) - len(missing)}/{len(r.rules)} rules each rejected "
            f"inputs that broke it alone{note}"
        )
        if compact:
            for part in textwrap.wrap(line, width=80, subsequent_indent="  "):
                out.print(part, markup=False, highlight=False, soft_wrap=True)
        else:
            out.print(line, markup=False, highlight=False)


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
        stopped=violation is not None,
        coverage=coverage(spec, stats.taken),
    )


def run_named(
    machine: str,
    budget_seconds: float,
    seed: int,
    profile: str | None,
    max_examples: int | None = None,
    database: str | None = None,
    modules: tuple[str, ...] = (),
    steer: bool = False,
) -> CampaignResult:
    """``run_campaign`` for the campaign of ``machine``, in a worker process (``--workers``, a
    queue's worker); ``database`` as ``--database`` takes it, ``modules`` as ``--module``."""
    from blockfsm.adapters.engines.example_database import open_database
    from blockfsm.adapters.engines.registry import campaigns as all_campaigns
    from blockfsm.spec.strategies.profiles import load_profile

    load_profile(profile)
    for campaign in all_campaigns(modules):
        if campaign.machine == machine:
            return run_campaign(
                campaign,
                budget_seconds=budget_seconds,
                seed=seed,
                max_examples=max_examples,
                database=open_database(database),
                steer=steer,
            )
    raise KeyError(machine)
