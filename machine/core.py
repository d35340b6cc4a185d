"""The pure-machine convention shared by every machine in blockfsm.

Every protocol component is a pure function ``step(config, state, event, view) -> Step``. The rules
below hold for every machine module in this package, and tests enforce them:

1. A machine is **total**: every (control state, event type) pair has a declared outcome in its
   spec: a transition, an explicit ignore, or an explicit rejection with a reason. Nothing raises
   out of ``step`` for bad input; raising is for programmer error only (an event type the machine
   does not speak, a config of the wrong class).
2. **Time is an input.** ``Tick(now)`` and timestamps inside events; nothing reads a clock.
3. **Randomness is an input or seeded state.** Choices come from a seed carried in the state.
4. **Effects are data**: frozen classes the runtime executes in order and the simulator records.
5. **Large data is read through a view, written through effects.** The chain is never copied into
   the state: the machine reads a read-only ``ChainView`` snapshot and asks for writes with effects.
6. **Crypto is injected** through ``Signer``/``Verifier`` objects in the config; every signed
   payload carries a domain tag.
7. State, events and effects are ``attrs`` classes: frozen, slotted, keyword-only, hashable.

Every state has a ``control`` attribute: the name of its control state in the machine's spec.
Times are integers in milliseconds.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

import attrs

PeerId = bytes
"""A node's public key (32 bytes); the transport authenticates it."""


class Step(NamedTuple):
    """The result of one step: the new state and the effects, in execution order.

    A named tuple rather than an attrs class because it is built on every step of every run.
    """

    state: Any
    effects: tuple[Any, ...]


NO_EFFECTS: tuple[Any, ...] = ()


@attrs.frozen(kw_only=True)
class Tick:
    """Time has advanced to ``now`` (milliseconds, monotonic for this node)."""

    now: int


# --- effects shared by several machines --------------------------------------------------------


@attrs.frozen(kw_only=True)
class Send:
    """Send ``message`` to one peer."""

    peer: PeerId
    message: Any


@attrs.frozen(kw_only=True)
class Broadcast:
    """Send ``message`` to every peer."""

    message: Any


@attrs.frozen(kw_only=True)
class Rejected:
    """An input was refused; the runtime counts it by ``reason`` (and blames nobody by itself)."""

    reason: str
    peer: PeerId | None = None


@attrs.frozen(kw_only=True)
class Observe:
    """A structured observation for metrics and traces; carries no protocol meaning."""

    name: str
    detail: str = ""


C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")
V = TypeVar("V")


class ConfigError(ValueError):
    """A machine config is invalid; raised at construction, never from ``step``."""


MAX_PERIOD_MS = 24 * 3600 * 1000
"""The longest period any config accepts: a day, in milliseconds."""


def require(condition: bool, message: str) -> None:
    """Config validation helper: raise ``ConfigError(message)`` unless ``condition``."""
    if not condition:
        raise ConfigError(message)


def require_int(value: object, name: str, low: int, high: int) -> None:
    """Config validation: ``value`` is an int (not a bool) in ``[low, high]``."""
    require(
        type(value) is int and low <= value <= high,
        f"{name} must be an integer in [{low}, {high}], got {value!r}",
    )
