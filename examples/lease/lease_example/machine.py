"""The lease's pure step. It restates the rules in code of its own and imports nothing of the
spec: the two statements are checked against each other on every step.

``LEASE_EXAMPLE_BUG=never-expires`` plants a bug on purpose (a lease that never expires), to watch
``blockfsm check`` find it and ``blockfsm replay`` reproduce its trace."""

from __future__ import annotations

import os
from typing import Any

import attrs

from blockfsm.machine.core import Rejected, Step, Tick

FREE, HELD = "Free", "Held"
PLANTED_BUG = os.environ.get("LEASE_EXAMPLE_BUG", "")


@attrs.frozen(kw_only=True)
class LeaseConfig:
    lease_time: int = 1_000


@attrs.frozen(kw_only=True)
class LeaseState:
    control: str
    now: int = 0
    owner: bytes = b""
    since: int = 0


@attrs.frozen(kw_only=True)
class Acquire:
    owner: bytes


@attrs.frozen(kw_only=True)
class Release:
    owner: bytes


@attrs.frozen(kw_only=True)
class Granted:
    owner: bytes


@attrs.frozen(kw_only=True)
class Expired:
    owner: bytes


def initial(config: LeaseConfig) -> LeaseState:
    return LeaseState(control=FREE)


def step(config: LeaseConfig, state: LeaseState, event: Any, view: Any) -> Step:
    if type(event) is Tick:
        if type(event.now) is not int or event.now < state.now:
            return Step(state, (Rejected(reason="clock_regressed"),))
        expired = state.control == HELD and event.now - state.since >= config.lease_time
        if expired and PLANTED_BUG != "never-expires":
            return Step(LeaseState(control=FREE, now=event.now), (Expired(owner=state.owner),))
        return Step(attrs.evolve(state, now=event.now), ())
    if type(event) is Acquire:
        if type(event.owner) is not bytes or not event.owner:
            return Step(state, (Rejected(reason="malformed"),))
        if state.control == HELD and state.owner != event.owner:
            return Step(state, (Rejected(reason="taken"),))
        granted = LeaseState(control=HELD, now=state.now, owner=event.owner, since=state.now)
        return Step(granted, (Granted(owner=event.owner),))
    if type(event) is Release:
        if state.control == HELD and state.owner == event.owner:
            return Step(LeaseState(control=FREE, now=state.now), ())
        return Step(state, ())
    raise TypeError(f"lease does not take {type(event).__name__}")
