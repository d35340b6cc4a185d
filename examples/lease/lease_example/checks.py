"""What blockfsm's engines read (declared under the ``blockfsm.machines`` entry point group in
this package's pyproject.toml): the machine with its spec, a campaign with a liveness property, and
an explorer system of two owners contending for the lease."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.adapters.engines.explore import StateInvariant, checked_step
from blockfsm.machine.core import Tick
from blockfsm.spec.campaigns import Campaign, MachineTest
from blockfsm.spec.conformance import Stats
from blockfsm.spec.language import MachineDef
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

# --- the explorer: every reachable state of two owners and a clock --------------------------------


@attrs.frozen(kw_only=True)
class LeaseWorld:
    lease: LeaseState
    ticks: int = 0


def _one_holder(world: LeaseWorld) -> bool:
    lease = world.lease
    return lease.control == machine.FREE or lease.owner in OWNERS


def _free(world: LeaseWorld) -> bool:
    return world.lease.control == machine.FREE


class LeaseSystem:
    """Two owners acquire and release the lease; the clock advances in steps of ``step_ms`` up to
    ``ticks`` times. Every step runs the real machine under its spec (rows and L-1).

    For the simulator (``blockfsm simulate --system lease``): after heal the owners stop asking
    and only the clock moves (``heal_actions``), and LSL-1 must then hold."""

    name = "lease"

    def __init__(self, ticks: int = 6, step_ms: int = 400, lease_time: int = 1_000) -> None:
        self.ticks, self.step_ms = ticks, step_ms
        self.config = LeaseConfig(lease_time=lease_time)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "step_ms": self.step_ms, "lease_time": self.config.lease_time}

    @property
    def invariants(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("LS-1", "the lease is free or held by a known owner", _one_holder),)

    @property
    def liveness(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("LSL-1", "once the owners stop asking, the lease is free", _free),)

    def heal_actions(self, world: LeaseWorld) -> Iterable[Any]:
        yield ("tick",)  # past ``ticks``: the fair schedule is bounded by the simulator

    def initial(self) -> LeaseWorld:
        return LeaseWorld(lease=MACHINE.initial(self.config))

    def actions(self, world: LeaseWorld) -> Iterable[Any]:
        if world.ticks < self.ticks:
            yield ("tick",)
        for owner in OWNERS:
            yield ("acquire", owner)
            yield ("release", owner)

    def step(self, world: LeaseWorld, action: Any) -> LeaseWorld:
        if action[0] == "tick":
            event: Any = Tick(now=(world.ticks + 1) * self.step_ms)
            world = attrs.evolve(world, ticks=world.ticks + 1)
        elif action[0] == "acquire":
            event = Acquire(owner=action[1])
        else:
            event = Release(owner=action[1])
        after, _ = checked_step(MACHINE, self.config, world.lease, event, None)
        return attrs.evolve(world, lease=after)

    def key(self, world: LeaseWorld) -> bytes:
        from blockfsm.adapters.engines import itf

        return itf.canonical(world)


SYSTEMS = {"lease": LeaseSystem}
EXPLORATIONS = (("lease", {}, ("lease",)),)
