"""The simulator over any system: deterministic by seed, a safety violation with its path, heal
and a fair schedule before liveness, and liveness that fails when the fair phase cannot help."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from blockfsm.adapters.engines.explore import SpecSystem, StateInvariant, bfs
from blockfsm.adapters.engines.itf import canonical
from blockfsm.adapters.engines.system_campaign import SystemTest, SystemViolation
from blockfsm.adapters.engines.system_sim import simulate_system
from blockfsm.spec.render import render_system
from blockfsm.spec.sync_server import SPEC as SYNC_SERVER_SPEC
from blockfsm.spec.system import (
    Action,
    Member,
    SystemInvariant,
    SystemLiveness,
    define_system,
)


class Counters:
    """Two counters; chaos may also 'jam' (a fault) and 'unjam'. Safety: never above ``cap``.
    Liveness: after heal (no jamming), both counters reach ``goal``."""

    name = "counters"

    def __init__(self, cap: int = 50, goal: int = 3, heal_unjams: bool = True) -> None:
        self.cap, self.goal, self.heal_unjams = cap, goal, heal_unjams

    @property
    def parameters(self) -> dict[str, Any]:
        return {"cap": self.cap, "goal": self.goal}

    @property
    def invariants(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("C-1", "no counter above cap", lambda s: max(s[:2]) <= self.cap),)

    @property
    def liveness(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("CL-1", "both reach goal", lambda s: min(s[:2]) >= self.goal),)

    def initial(self) -> tuple[int, int, bool]:
        return (0, 0, False)

    def actions(self, s: tuple[int, int, bool]) -> Iterable[Any]:
        yield ("jam",) if not s[2] else ("unjam",)
        if not s[2]:
            yield ("inc", 0)
            yield ("inc", 1)

    def heal_actions(self, s: tuple[int, int, bool]) -> Iterable[Any]:
        if s[2]:
            if self.heal_unjams:
                yield ("unjam",)
            return
        if s[0] < self.goal:
            yield ("inc", 0)
        if s[1] < self.goal:
            yield ("inc", 1)

    def step(self, s: tuple[int, int, bool], action: Any) -> tuple[int, int, bool]:
        if action[0] == "jam":
            return (s[0], s[1], True)
        if action[0] == "unjam":
            return (s[0], s[1], False)
        counts = list(s[:2])
        counts[action[1]] += 1
        return (counts[0], counts[1], s[2])

    def key(self, s: Any) -> bytes:
        return canonical(s)


def test_the_same_seed_gives_the_same_run_and_liveness_holds_after_heal() -> None:
    runs = [simulate_system(Counters(), seed=9, steps=20, bound=20) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0].healed and runs[0].liveness == {"CL-1": True} and runs[0].ok


def test_a_safety_violation_comes_with_its_path_from_the_initial_state() -> None:
    run = simulate_system(Counters(cap=2), seed=1, steps=200, bound=20)
    assert run.violation is not None and run.violation.property_id == "C-1"
    system, state = Counters(cap=2), Counters().initial()
    for action in run.violation.actions:
        state = system.step(state, action)
    assert max(state[:2]) > 2


def test_liveness_fails_when_heal_cannot_undo_a_fault() -> None:
    """A jam that the heal phase leaves in place: the fair schedule has nothing to do."""
    failed = [
        simulate_system(Counters(heal_unjams=False), seed=seed, steps=5, bound=20)
        for seed in range(20)
    ]
    assert any(r.liveness == {"CL-1": False} and not r.ok for r in failed)


# --- a system declared by a SystemSpec ---------------------------------------------------------

TOGGLE_SPEC = define_system(
    name="toggle",
    title="A toggle",
    summary="A bit that may be flipped, and jammed by a fault.",
    machines=[Member(name="server", spec=SYNC_SERVER_SPEC)],
    world="the bit and whether it is jammed",
    actions=[
        Action(name="flip", statement="the bit flips"),
        Action(name="jam", statement="the bit sticks", fault=True),
    ],
    invariants=[
        SystemInvariant(id="T-1", statement="the bit is 0 or 1", check=lambda s: s[0] in (0, 1))
    ],
    liveness=[
        SystemLiveness(
            id="TL-1",
            statement="the bit is 1",
            fairness="flips",
            bound="2",
            holds=lambda s: s[0] == 1,
        )
    ],
)


class Toggle(SpecSystem):
    spec = TOGGLE_SPEC

    def __init__(self, extra: str = "") -> None:
        self.extra = extra

    def initial(self) -> tuple[int, bool]:
        return (0, False)

    def actions(self, s: tuple[int, bool]) -> Iterable[Any]:
        yield ("flip",)
        yield ("jam",)
        if self.extra:
            yield (self.extra,)

    def apply(self, s: tuple[int, bool], action: Any) -> tuple[int, bool]:
        if action[0] == "jam":
            return (s[0], True)
        return (s[0] if s[1] else 1 - s[0], s[1])


def test_a_spec_system_takes_its_invariants_liveness_and_heal_from_its_spec() -> None:
    system = Toggle()
    assert system.name == "toggle"
    assert [i.id for i in system.invariants] == ["T-1"] and [lv.id for lv in system.liveness] == [
        "TL-1"
    ]
    assert list(system.heal_actions((0, False))) == [("flip",)]  # the fault is not offered
    assert bfs(system).violation is None


def test_an_action_the_spec_does_not_declare_is_a_violation() -> None:
    report = bfs(Toggle(extra="teleport"))
    assert report.violation is not None
    assert report.violation.property_id == "undeclared-action"
    assert report.violation.actions == (("teleport",),)


def test_a_system_spec_renders_its_members_actions_and_properties() -> None:
    page = render_system(TOGGLE_SPEC, "`tests.test_system_sim`")
    for text in ("system `toggle`", "| `server` | `sync_server`", "| `jam` |", "| T-1 |", "TL-1"):
        assert text in page


# --- the campaign base for systems ---------------------------------------------------------------


class CountersTest(SystemTest):
    SYSTEM = Counters
    BOUND = 20


class StuckCountersTest(SystemTest):
    SYSTEM = functools.partial(Counters, heal_unjams=False)
    BOUND = 20


class CappedCountersTest(SystemTest):
    SYSTEM = functools.partial(Counters, cap=2)


def _run(test: type[SystemTest]) -> None:
    run_state_machine_as_test(
        test,
        settings=settings(max_examples=30, stateful_step_count=10, database=None, derandomize=True),
    )


def test_a_system_campaign_passes_when_safety_and_liveness_hold() -> None:
    _run(CountersTest)


def test_a_system_campaign_shrinks_a_safety_violation_to_its_actions() -> None:
    with pytest.raises(SystemViolation) as raised:
        _run(CappedCountersTest)
    assert raised.value.property_id == "C-1"
    assert len(raised.value.actions) == 3  # three increments of one counter


def test_a_system_campaign_fails_liveness_that_heal_cannot_restore() -> None:
    with pytest.raises(SystemViolation) as raised:
        _run(StuckCountersTest)
    assert raised.value.property_id == "CL-1"
