"""The spec language, structural checks, conformance wrapper and oracle, on every machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from blockfsm.adapters.engines.registry import campaigns as all_campaigns
from blockfsm.machine.core import Rejected, Step
from blockfsm.spec import Guard, Invariant, SpecError, define_machine, ignore, reject, row
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.conformance import (
    ConformanceError,
    Conformant,
    InvariantViolation,
    StepRaised,
)
from blockfsm.spec.language import MachineDef, classified, compile_effect_pattern
from blockfsm.spec.oracle import Oracle
from blockfsm.spec.render import all_specs
from blockfsm.spec.structure import problems

CAMPAIGNS = all_campaigns()
SHORT = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
EXAMPLES = {"cluster": 8}
"""A cluster example runs a simulator for seconds of simulated time under four conformance
wrappers per node: fewer examples reach every node and attester row."""
ORACLE_STEPS = 400


def test_every_spec_has_a_campaign() -> None:
    """Each spec runs under some campaign: its own, or one that also runs it (the cluster
    campaign runs the node and the attester under their specs)."""
    run = {c.machine for c in CAMPAIGNS} | {s.name for c in CAMPAIGNS for s, _ in c.also}
    assert {s.name for s in all_specs()} == run


@pytest.mark.parametrize("spec", all_specs(), ids=lambda s: s.name)
def test_spec_is_total_connected_and_free_of_dead_rows(spec: Any) -> None:
    assert problems(spec) == []


@pytest.fixture
def recorded_runs() -> Iterator[dict[int, list[tuple[Any, ...]]]]:
    runs: dict[int, list[tuple[Any, ...]]] = {}

    def observe(
        runner: Conformant, row: Any, before: Any, event: Any, view: Any, after: Any
    ) -> None:
        runs.setdefault(id(runner), []).append((runner, before, event, view, after))

    Conformant.observers.append(observe)
    yield runs
    Conformant.observers.remove(observe)


@pytest.mark.parametrize("campaign", CAMPAIGNS, ids=lambda c: c.machine)
def test_campaign_hits_every_row_and_checks_every_property(
    campaign: Campaign, recorded_runs: dict[int, list[tuple[Any, ...]]]
) -> None:
    """Row coverage (a row never hit is dead in practice), every property counted, and the
    transitions-built oracle agrees with the machine on every recorded run."""
    campaign.stats.reset()
    for _, extra in campaign.also:
        extra.reset()
    examples = EXAMPLES.get(campaign.machine, SHORT.max_examples)
    test_class = campaign.test_class
    steps = SHORT.stateful_step_count
    if campaign.machine == "cluster":  # chaos phases of 10 s (check runs up to 300 s)
        test_class = type("ShortChaos", (test_class,), {"long_runs": (10,)})
        steps = 20
    run_state_machine_as_test(
        test_class,
        settings=settings(SHORT, max_examples=examples, stateful_step_count=steps),
    )
    stats = campaign.stats
    unhit = [r.id for r in campaign.spec.rows if not stats.rows[r.id]]
    assert unhit == [], f"rows never hit: {unhit}"
    for pid in [i.id for i in campaign.spec.invariants] + [lv.id for lv in campaign.spec.liveness]:
        assert stats.steps[pid] > 0 and stats.examples[pid] > 0, f"{pid} was never checked"

    for spec, extra in campaign.also:
        unhit = [r.id for r in spec.rows if not extra.rows[r.id]]
        assert unhit == [], f"{spec.name}: rows never hit: {unhit}"

    # The transitions-built oracle replays every recorded step of every machine the campaign
    # runs under a spec (the cluster itself is driven by the simulator: its node and attester
    # steps are the recorded ones).
    specs = {id(campaign.spec)} | {id(s) for s, _ in campaign.also}
    replayed = 0
    for steps in recorded_runs.values():
        runner = steps[0][0]
        if id(runner.spec) not in specs:
            continue
        oracle = Oracle(runner.spec)
        oracle.model.state = steps[0][1].control  # type: ignore[misc]
        # A cluster run records thousands of steps per node; a prefix of each run is replayed
        # (the oracle is slow, and the parts' own campaigns replay theirs in full).
        for _, before, event, view, after in steps[:ORACLE_STEPS]:
            assert oracle.state == before.control
            reported = after.control
            assert oracle.fire(runner.config, before, event, view, reported) == after.control
            replayed += 1
    assert replayed > 0


# --- the framework's own checks can fail ------------------------------------------------------


@attrs.frozen(kw_only=True)
class Ping:
    n: int


@attrs.frozen(kw_only=True)
class Pong:
    n: int


@attrs.frozen(kw_only=True)
class Toy:
    control: str
    count: int = 0


POSITIVE = Guard(name="positive", text="n > 0", holds=lambda c, s, e, v: e.n > 0)
NOT_POSITIVE = Guard(name="not_positive", text="n <= 0", holds=lambda c, s, e, v: e.n <= 0)


def toy_spec(**overrides: Any) -> Any:
    fields: dict[str, Any] = dict(
        name="toy",
        title="Toy",
        summary="",
        states=("Off", "On"),
        initial="Off",
        events=("Ping",),
        effects=("Pong", "Rejected"),
        rows=(
            row("Off", "Ping", "On", guard=POSITIVE, effects=("Pong",)),
            reject("Off", "Ping", "not_positive", guard=NOT_POSITIVE),
            row("On", "Ping", "On", guard=POSITIVE, effects=("Pong*",)),
            ignore("On", "Ping", guard=NOT_POSITIVE),
        ),
        invariants=(Invariant(id="T-1", statement="count < 3", check=lambda t: t.after.count < 3),),
    )
    fields.update(overrides)
    return define_machine(**fields)


def toy_step(config: Any, state: Toy, event: Ping, view: Any) -> Step:
    if event.n <= 0:
        if state.control == "Off":
            return Step(state, (Rejected(reason="not_positive"),))
        return Step(state, ())
    return Step(Toy(control="On", count=state.count + 1), (Pong(n=event.n),))


def toy_machine(step: Any = toy_step, spec: Any = None) -> MachineDef[Any, Toy, Ping, None]:
    return MachineDef(
        name="toy", spec=spec or toy_spec(), initial=lambda c: Toy(control="Off"), step=step
    )


def test_conformance_accepts_a_conforming_run() -> None:
    runner = Conformant(toy_machine(), None)
    state = Toy(control="Off")
    state, _ = runner.step(state, Ping(n=0), None)
    state, _ = runner.step(state, Ping(n=1), None)
    state, _ = runner.step(state, Ping(n=-1), None)
    assert state == Toy(control="On", count=1)
    assert dict(runner.stats.rows) == {"R2": 1, "R1": 1, "R4": 1}


def test_conformance_catches_wrong_target_effects_and_reason() -> None:
    def wrong_target(c: Any, s: Toy, e: Ping, v: Any) -> Step:
        return Step(Toy(control="Off", count=1), (Pong(n=1),))

    def wrong_effects(c: Any, s: Toy, e: Ping, v: Any) -> Step:
        return Step(Toy(control="On"), ())

    def wrong_reason(c: Any, s: Toy, e: Ping, v: Any) -> Step:
        return Step(s, (Rejected(reason="other"),))

    def ignore_changes_state(c: Any, s: Toy, e: Ping, v: Any) -> Step:
        return Step(Toy(control="On", count=9), ())

    for step, event, start in (
        (wrong_target, Ping(n=1), "Off"),
        (wrong_effects, Ping(n=1), "Off"),
        (wrong_reason, Ping(n=0), "Off"),
        (ignore_changes_state, Ping(n=0), "On"),
    ):
        with pytest.raises(ConformanceError):
            Conformant(toy_machine(step), None).step(Toy(control=start), event, None)


def test_conformance_catches_overlapping_guards_and_invariant_violations() -> None:
    always = Guard(name="always", text="true", holds=lambda c, s, e, v: True)
    spec = toy_spec(
        rows=(
            row("Off", "Ping", "On", guard=POSITIVE, effects=("Pong",)),
            reject("Off", "Ping", "not_positive", guard=always),
            row("On", "Ping", "On", effects=("Pong*",)),
        )
    )
    with pytest.raises(ConformanceError, match="matched 2 rows"):
        Conformant(toy_machine(spec=spec), None).step(Toy(control="Off"), Ping(n=1), None)
    runner = Conformant(toy_machine(), None)
    state = Toy(control="Off")
    with pytest.raises(InvariantViolation, match="T-1"):
        for _ in range(3):
            state, _ = runner.step(state, Ping(n=1), None)


def test_structure_finds_gaps_unreachable_states_and_ambiguity() -> None:
    spec = toy_spec(
        states=("Off", "On", "Lost"),
        rows=(
            row("Off", "Ping", "On", effects=("Pong",)),
            row("On", "Ping", "On", effects=("Pong",)),
            row("On", "Ping", "Off", effects=("Pong",)),
        ),
    )
    found = problems(spec)
    assert any("not total" in p and "Lost" in p for p in found)
    assert any("unreachable state: Lost" in p for p in found)
    assert any("ambiguous" in p for p in found)


def test_structure_reports_two_classifiers_that_can_both_match_one_pair() -> None:
    def by_size(c: Any, s: Any, e: Any, v: Any) -> str:
        return "big" if e.n > 5 else "small"

    def by_parity(c: Any, s: Any, e: Any, v: Any) -> str:
        return "odd" if e.n % 2 else "even"

    one_rule = toy_spec(
        rows=(
            row("Off", "Ping", "On", guard=classified(by_size, "big", "n > 5"), effects=("Pong",)),
            row("Off", "Ping", "Off", guard=classified(by_size, "small", "n <= 5")),
            row("On", "Ping", "On", effects=("Pong",)),
        ),
    )
    assert problems(one_rule) == []
    two_rules = toy_spec(
        rows=(
            row("Off", "Ping", "On", guard=classified(by_size, "big", "n > 5"), effects=("Pong",)),
            row("Off", "Ping", "Off", guard=classified(by_parity, "odd", "n odd")),
            row("On", "Ping", "On", effects=("Pong",)),
        ),
    )
    found = problems(two_rules)
    assert any("2 classifiers (by_parity, by_size)" in p and "(Off, Ping)" in p for p in found)
    mixed = toy_spec(
        rows=(
            row("Off", "Ping", "On", guard=classified(by_size, "big", "n > 5"), effects=("Pong",)),
            row("Off", "Ping", "Off", guard=Guard(name="odd", text="n odd", holds=lambda *a: True)),
            row("On", "Ping", "On", effects=("Pong",)),
        ),
    )
    assert any("mixes classified rows with plain guards" in p for p in problems(mixed))


def test_spec_declarations_are_validated() -> None:
    with pytest.raises(SpecError, match="undeclared effect"):
        toy_spec(rows=(row("Off", "Ping", "On", effects=("Boom",)),))
    with pytest.raises(SpecError, match="unknown state"):
        toy_spec(rows=(row("Off", "Ping", "Nowhere"),))
    with pytest.raises(SpecError, match="initial"):
        toy_spec(initial="Nowhere")
    with pytest.raises(SpecError, match="exactly one"):
        toy_spec(invariants=(Invariant(id="X", statement="x"),))


@pytest.mark.parametrize(
    ("pattern", "observed", "matches"),
    [
        (("Send",), "Send;", True),
        (("Send",), "", False),
        (("Persist*", "Commit?"), "Persist;Persist;Commit;", True),
        (("Persist*", "Commit?"), "Commit;Persist;", False),
        (("Broadcast+",), "", False),
        (("Broadcast+",), "Broadcast;Broadcast;", True),
    ],
)
def test_effect_patterns(pattern: tuple[str, ...], observed: str, matches: bool) -> None:
    assert (compile_effect_pattern(pattern).fullmatch(observed) is not None) is matches


def test_a_step_that_raises_is_reported_with_its_trace() -> None:
    def raises(c: Any, s: Toy, e: Ping, v: Any) -> Step:
        raise KeyError("boom")

    runner = Conformant(toy_machine(raises), None)
    with pytest.raises(StepRaised, match="KeyError") as caught:
        runner.step(Toy(control="Off"), Ping(n=5), None)
    assert "Ping(n=5)" in caught.value.trace[-1]
    assert isinstance(caught.value.__cause__, KeyError)


def test_trace_keeps_only_the_last_steps_of_a_long_run() -> None:
    runner = Conformant(toy_machine(), None, check_invariants=False, trace_limit=3)
    state = Toy(control="On")
    for n in range(10):
        state, _ = runner.step(state, Ping(n=-n), None)
    trace = runner.trace
    assert trace[1] == "... 7 earlier steps not kept (trace_limit)"
    assert len(trace) == 5 and "Ping(n=-9)" in trace[-1]
