"""The producer's control states, configuration and state, and ``initial``."""

from __future__ import annotations

import attrs

from blockfsm.machine.core import require, require_int
from blockfsm.machine.crypto import Signer, Verifier, require_signer
from blockfsm.machine.producer.events import StartParams
from blockfsm.machine.producer_view import BlockRef, ProducedBlock, SigningGuard

IDLE, ARMED, PRODUCING, HOLDING, STOPPED = "Idle", "Armed", "Producing", "Holding", "Stopped"
"""The producer's control states (``ProducerState.control``); ``blockfsm.spec.producer`` states
them again."""


UPSTREAM_BUFFER_CAP = 30
_ACTIVE = (ARMED, PRODUCING, HOLDING)


@attrs.frozen(kw_only=True)
class ProducerConfig:
    """Defaults follow upstream: buffer of 30, a production tick at 0.9 x 330 ms, optimistic
    state saved every 200 blocks."""

    signer: Signer = attrs.field(eq=False, hash=False)
    verifier: Verifier | None = attrs.field(default=None, eq=False, hash=False)
    buffer_cap: int = UPSTREAM_BUFFER_CAP
    production_period: int = 297
    save_state_frequency: int = 200
    primary_deadline: int = 2
    fallback_deadline: int = 4

    def __attrs_post_init__(self) -> None:
        require_signer(self.signer)
        require_int(self.buffer_cap, "buffer_cap", 1, 10_000)
        require_int(self.production_period, "production_period (ms)", 1, 3_600_000)
        require_int(self.save_state_frequency, "save_state_frequency", 1, 1_000_000)
        require_int(self.primary_deadline, "primary_deadline (blocks)", 1, 10_000)
        require_int(self.fallback_deadline, "fallback_deadline (blocks)", 1, 10_000)
        require(
            self.fallback_deadline > self.primary_deadline,
            f"fallback_deadline ({self.fallback_deadline}) must be later than primary_deadline "
            f"({self.primary_deadline})",
        )


@attrs.frozen(kw_only=True)
class ProducerState:
    """``guard`` is the durable part (see ``SigningGuard``); the rest lives in memory only."""

    control: str
    now: int = -1
    next_due: int = 0
    session: int = 0
    params: StartParams | None = None
    base: BlockRef | None = None
    last_produced: BlockRef | None = None
    round: int = 0
    buffer: tuple[ProducedBlock, ...] = ()
    building: int = -1
    next_build: int = 0
    hold: str = ""
    assumed_epoch: int = -1
    epoch: int = -1
    in_keeper_set: bool = True
    state_sync_at: int = -1
    guard: SigningGuard = attrs.field(factory=SigningGuard)


def initial(config: ProducerConfig, guard: SigningGuard | None = None) -> ProducerState:
    """A fresh producer; after a crash pass the last guard a ``PersistSigningGuard`` stored."""
    if guard is None:
        return ProducerState(control=IDLE)
    require(type(guard) is SigningGuard, "guard must be a SigningGuard or None")
    return ProducerState(control=IDLE, guard=guard)
