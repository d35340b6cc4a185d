"""What blockfsm's engines read (declared under the ``blockfsm.machines`` entry point group in
this package's pyproject.toml): the machine with its spec, a campaign with a liveness property, and
a system of two owners contending for the lease (its spec, and the system the explorer and the
simulator run)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.adapters.engines.explore import SpecSystem
from blockfsm.adapters.engines.system_campaign import SystemTest
from blockfsm.machine.core import Tick
from blockfsm.spec.campaigns import Campaign, MachineTest
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import MachineDef
from blockfsm.spec.system import Action, Member, SystemInvariant, SystemLiveness, define_system
from lease_example import machine
from lease_example.machine import Acquire, Granted, LeaseConfig, LeaseState, Release
from lease_example.spec import SPEC

MACHINE = MachineDef(name="lease", spec=SPEC, initial=machine.initial, step=machine.step)
OWNERS = (b"a", b"b")

# --- the campaign: random steps under the spec, then heal and check liveness ----------------------


class LeaseTest(MachineTest):
    STATS = Stats()

    @initialize(lease_time=st.sampled_from([300, 1_000]))
    def begin(self, lease_time: int) -> None:
        self.config = LeaseConfig(lease_time=lease_time)
        self.now = 0
        self.start(MACHINE, self.config, MACHINE.initial(self.config))

    @rule(elapsed=st.integers(min_value=0, max_value=700))
    def tick(self, elapsed: int) -> None:
        self.now += elapsed
        self.apply(Tick(now=self.now), None)

    @rule(owner=st.sampled_from([*OWNERS, b""]))
    def acquire(self, owner: bytes) -> None:
        self.apply(Acquire(owner=owner), None)

    @rule(owner=st.sampled_from(OWNERS))
    def release(self, owner: bytes) -> None:
        self.apply(Release(owner=owner), None)

    @rule(back=st.integers(min_value=1, max_value=50))
    def clock_goes_back(self, back: int) -> None:
        self.apply(Tick(now=max(0, self.now - back)), None)

    def check_liveness(self) -> None:
        """Heal: the holder stops renewing; an owner asks at every tick of 100 ms (LL-1)."""
        assert self.runner is not None
        waiting = b"b" if self.state.owner == b"a" else b"a"
        for _ in range(SPEC.liveness[0].bound_ticks):
            self.now += 100
            self.apply(Tick(now=self.now), None)
            effects = self.apply(Acquire(owner=waiting), None)
            if any(type(e) is Granted for e in effects):
                self.runner.count("LL-1")
                return
        raise self.runner.fail("LL-1", SPEC.liveness[0].statement)


CAMPAIGN = Campaign(spec=SPEC, test_class=LeaseTest, stats=LeaseTest.STATS)

# --- the system: two owners and a clock, for the explorer and the simulator ---------------------


@attrs.frozen(kw_only=True)
class LeaseWorld:
    lease: LeaseState
    ticks: int = 0


def _known_holder(world: LeaseWorld) -> bool:
    return world.lease.control == machine.FREE or world.lease.owner in OWNERS


def _free(world: LeaseWorld) -> bool:
    return world.lease.control == machine.FREE


SYSTEM_SPEC = define_system(
    name="lease_system",
    title="Two owners and a lease",
    summary="Two owners contend for one lease while a clock advances.",
    machines=[Member(name="lease", spec=SPEC, role="grants the lease and expires it")],
    world="The lease's state and the ticks taken so far (the clock moves in steps of step_ms).",
    actions=[
        Action(name="tick", statement="the clock advances by step_ms"),
        Action(name="acquire", statement="an owner asks for the lease"),
        Action(name="release", statement="an owner gives the lease back"),
    ],
    invariants=[
        SystemInvariant(
            id="LS-1",
            statement="the lease is free or held by a known owner",
            check=_known_holder,
            catches="a lease granted to no one (an empty owner)",
        ),
    ],
    liveness=[
        SystemLiveness(
            id="LSL-1",
            statement="once the owners stop asking, the lease is free",
            fairness="after heal only the clock moves",
            bound="lease_time / step_ms + 1 ticks",
            holds=_free,
            catches="a lease that never expires",
        ),
    ],
)


class LeaseSystem(SpecSystem):
    """Two owners acquire and release the lease; the clock advances in steps of ``step_ms`` up to
    ``ticks`` times. Every step runs the real machine under its spec (rows and L-1)."""

    spec = SYSTEM_SPEC

    def __init__(self, ticks: int = 6, step_ms: int = 400, lease_time: int = 1_000) -> None:
        self.ticks, self.step_ms = ticks, step_ms
        self.config = LeaseConfig(lease_time=lease_time)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "step_ms": self.step_ms, "lease_time": self.config.lease_time}

    def initial(self) -> LeaseWorld:
        return LeaseWorld(lease=MACHINE.initial(self.config))

    def actions(self, world: LeaseWorld) -> Iterable[Any]:
        if world.ticks < self.ticks:
            yield ("tick",)
        for owner in OWNERS:
            yield ("acquire", owner)
            yield ("release", owner)

    def heal_actions(self, world: LeaseWorld) -> Iterable[Any]:
        """After heal the owners stop asking and only the clock moves (past ``ticks``: the
        simulator bounds the fair schedule)."""
        yield ("tick",)

    def apply(self, world: LeaseWorld, action: Any) -> LeaseWorld:
        if action[0] == "tick":
            event: Any = Tick(now=(world.ticks + 1) * self.step_ms)
            world = attrs.evolve(world, ticks=world.ticks + 1)
        elif action[0] == "acquire":
            event = Acquire(owner=action[1])
        else:
            event = Release(owner=action[1])
        after, _ = self.run("lease", MACHINE, self.config, world.lease, event, None)
        return attrs.evolve(world, lease=after)


class LeaseSystemTest(SystemTest):
    """The system under Hypothesis: random actions, then heal, the fair schedule and LSL-1
    (under pytest: ``LeaseSystemTest.TestCase``)."""

    SYSTEM = LeaseSystem
    BOUND = 10


SYSTEMS = {"lease_system": LeaseSystem}
EXPLORATIONS = (("lease_system", {}, ("lease",)),)
