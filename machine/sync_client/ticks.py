"""Ticks: expiry of the registry and the blacklist, the timeout trigger, and the deadlines of a
sync and of its request."""

from __future__ import annotations

import attrs

from blockfsm.machine.core import Step, Tick
from blockfsm.machine.sync_client.choice import _next_or_end, _resume, _start
from blockfsm.machine.sync_client.config import PASSIVE, SyncClientConfig
from blockfsm.machine.sync_client.effects import Observe, Rejected
from blockfsm.machine.sync_client.state import SyncClientState, _ended
from blockfsm.machine.types import MAX_U64
from blockfsm.machine.view import ChainView


def _on_tick(
    config: SyncClientConfig, state: SyncClientState, event: Tick, view: ChainView
) -> Step:
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return Step(state, (Rejected(reason="clock_regressed"),))
    registry = state.registry.expire(now - config.advertise_expiry)
    blacklist = state.blacklist
    if any(until <= now for _, until in blacklist):
        blacklist = tuple(entry for entry in blacklist if entry[1] > now)

    if state.control == PASSIVE:
        if now - state.last_progress >= config.trigger_timeout:
            started = _start(
                config, state, now, view, registry, blacklist, None, state.last_event_trigger
            )
            if started is not None:
                return started
        return Step(attrs.evolve(state, now=now, registry=registry, blacklist=blacklist), ())

    req = state.request
    assert req is not None
    if now - state.sync_started >= config.max_sync_time:
        new = _ended(state, now, registry, blacklist)
        return Step(new, (Observe(name="sync_ended", detail="time_cap"),))
    if now < req.deadline:
        return Step(attrs.evolve(state, now=now, registry=registry, blacklist=blacklist), ())
    committed = view.committed_height()
    return _next_or_end(
        config,
        state,
        now,
        committed,
        _resume(view, committed, view.highest_certificate()),
        registry,
        blacklist,
        (*state.tried, req.server),
        state.last_progress,
        (),
        "timeout",
    )
