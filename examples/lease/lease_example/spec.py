"""The lease's spec: control states, rows, a safety invariant and a liveness property.

Each rule is stated once, as a classification of a step's inputs; ``classified`` turns each class
into the guard of one row, so the guards of one (state, event) pair are exclusive."""

from __future__ import annotations

from typing import Any

from blockfsm.spec.language import (
    Invariant,
    Liveness,
    Transition,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)

FREE, HELD = "Free", "Held"


def acquire_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """The acquire rule: a free lease goes to the asker; a held one only back to its holder."""
    if type(event.owner) is not bytes or not event.owner:
        return "malformed"
    if state.control == HELD and state.owner != event.owner:
        return "taken"
    return "grant"


def tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """The expiry rule: a lease held for lease_time or more is released on the next Tick."""
    if type(event.now) is not int or event.now < state.now:
        return "regressed"
    if state.control == HELD and event.now - state.since >= config.lease_time:
        return "expired"
    return "running"


def release_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    return "release" if state.control == HELD and state.owner == event.owner else "stray"


def at_most_lease_time(t: Transition) -> bool:
    """Stated from the clock alone: a lease is never held past lease_time at a Tick."""
    after = t.after
    return bool(after.control != HELD or after.now - after.since < t.config.lease_time)


SPEC = define_machine(
    name="lease",
    title="Lease",
    summary="One owner at a time, for at most lease_time milliseconds.",
    states=(FREE, HELD),
    initial=FREE,
    events=("Tick", "Acquire", "Release"),
    effects=("Granted", "Expired", "Rejected"),
    rows=[
        reject(
            FREE,
            "Tick",
            "clock_regressed",
            guard=classified(tick_kind, "regressed", "now went back"),
        ),
        row(FREE, "Tick", FREE, guard=classified(tick_kind, "running", "time passes")),
        reject(
            HELD,
            "Tick",
            "clock_regressed",
            guard=classified(tick_kind, "regressed", "now went back"),
        ),
        row(
            HELD,
            "Tick",
            FREE,
            guard=classified(tick_kind, "expired", "held for lease_time"),
            effects=("Expired",),
        ),
        row(HELD, "Tick", HELD, guard=classified(tick_kind, "running", "still within lease_time")),
        reject(
            FREE, "Acquire", "malformed", guard=classified(acquire_kind, "malformed", "no owner")
        ),
        row(
            FREE,
            "Acquire",
            HELD,
            guard=classified(acquire_kind, "grant", "lease is free"),
            effects=("Granted",),
        ),
        reject(
            HELD, "Acquire", "malformed", guard=classified(acquire_kind, "malformed", "no owner")
        ),
        reject(
            HELD, "Acquire", "taken", guard=classified(acquire_kind, "taken", "held by another")
        ),
        row(
            HELD,
            "Acquire",
            HELD,
            guard=classified(acquire_kind, "grant", "the holder renews"),
            effects=("Granted",),
        ),
        ignore(FREE, "Release"),
        row(
            HELD, "Release", FREE, guard=classified(release_kind, "release", "the holder releases")
        ),
        ignore(HELD, "Release", guard=classified(release_kind, "stray", "not the holder")),
    ],
    invariants=[
        Invariant(
            id="L-1",
            statement="a lease is never held for lease_time or more at a Tick",
            check=at_most_lease_time,
            catches="a lease that never expires",
        ),
    ],
    liveness=[
        Liveness(
            id="LL-1",
            statement="an owner that keeps asking gets the lease once the holder stops renewing",
            fairness="after heal the holder neither renews nor releases; the waiting owner asks "
            "at every tick of 100 ms",
            bound="lease_time + 100 ms of ticks",
            bound_ticks=11,
            catches="a lease that never expires, or is never granted again",
        ),
    ],
)
