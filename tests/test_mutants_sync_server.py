"""Tests that kill the mutants mutation testing found alive in machine/sync_server.py (see
docs/mutation-testing.md): exact config bounds and messages, the last ms of the clock, a rate limit
that a Tick cannot reset, a byte bound filled exactly, the message of a wrong event type."""

from __future__ import annotations

import re
from typing import Any

import pytest

from blockfsm.machine.core import MAX_PERIOD_MS, ConfigError, Rejected, Send, Tick
from blockfsm.machine.messages import (
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    response_size,
)
from blockfsm.machine.sync_server import MAX_REQUEST_LIMIT, SyncServerConfig
from blockfsm.machine.types import MAX_U64
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of, make_signers

CHAIN = 7
SIGNERS = make_signers(4)
VIEW = chain_of(30, SIGNERS, CHAIN).snapshot()
PEER_A = b"\x0a" * 32
PEER_B = b"\x0b" * 32

BOUNDS = [
    ("chain_id", "chain_id", 0, MAX_U64),
    ("request_limit", "request_limit", 1, MAX_REQUEST_LIMIT),
    ("advertise_time", "advertise_time (ms)", 1, MAX_PERIOD_MS),
    ("rate_limit_requests", "rate_limit_requests", 1, 1_000_000),
    ("rate_limit_window", "rate_limit_window (ms)", 1, MAX_PERIOD_MS),
    ("rate_limit_peers", "rate_limit_peers", 1, 1_000_000),
    ("max_response_bytes", "max_response_bytes", MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES),
]


def make(**fields: Any) -> SyncServerConfig:
    return SyncServerConfig(**{"chain_id": CHAIN, "signer": SIGNERS[0], **fields})


@pytest.mark.parametrize(("field", "label", "low", "high"), BOUNDS)
def test_config_bounds_are_exact_and_name_the_field(
    field: str, label: str, low: int, high: int
) -> None:
    make(**{field: low})
    make(**{field: high})
    for bad in (low - 1, high + 1):
        message = f"{label} must be an integer in [{low}, {high}], got {bad!r}"
        with pytest.raises(ConfigError, match=re.escape(message)):
            make(**{field: bad})


def run(config: SyncServerConfig) -> tuple[Conformant, Any]:
    return Conformant(SYNC_SERVER, config), SYNC_SERVER.initial(config)


def ask(peer: bytes, max_bytes: int = 4 * 1024 * 1024, limit: int = 10) -> SyncRequestReceived:
    return SyncRequestReceived(
        peer=peer,
        request=SyncRequest(
            chain_id=CHAIN, request_id=1, start_height=0, limit=limit, max_bytes=max_bytes
        ),
    )


def test_the_last_millisecond_of_the_clock_is_a_valid_tick() -> None:
    runner, state = run(make())
    state, effects = runner.step(state, Tick(now=MAX_U64), VIEW)
    assert state.now == MAX_U64 and not any(type(e) is Rejected for e in effects)


def test_a_tick_moves_the_clock_even_when_no_advertisement_is_due() -> None:
    runner, state = run(make(advertise_time=1_000))
    state, _ = runner.step(state, Tick(now=10), VIEW)
    state, effects = runner.step(state, Tick(now=20), VIEW)
    assert effects == () and state.now == 20
    _, effects = runner.step(state, Tick(now=19), VIEW)
    assert effects == (Rejected(reason="clock_regressed"),)


@pytest.mark.parametrize("advertise_time", [5_000, 50])
def test_a_tick_inside_the_window_does_not_reset_the_rate_limit(advertise_time: int) -> None:
    """Whether the Tick advertises (50) or not (5,000)."""
    runner, state = run(
        make(rate_limit_requests=2, rate_limit_window=1_000, advertise_time=advertise_time)
    )
    state, _ = runner.step(state, Tick(now=100), VIEW)
    for _ in range(2):
        state, effects = runner.step(state, ask(PEER_A), VIEW)
        assert type(effects[0]) is Send
    state, _ = runner.step(state, Tick(now=200), VIEW)
    _, effects = runner.step(state, ask(PEER_A), VIEW)
    assert effects == (Rejected(reason="rate_limited", peer=PEER_A),)


def test_serving_one_peer_spends_only_its_own_budget() -> None:
    runner, state = run(make(rate_limit_requests=2, rate_limit_window=1_000))
    state, _ = runner.step(state, Tick(now=0), VIEW)
    state, _ = runner.step(state, ask(PEER_A), VIEW)
    state, _ = runner.step(state, ask(PEER_B), VIEW)
    state, _ = runner.step(state, ask(PEER_B), VIEW)
    assert dict(state.window_counts) == {PEER_A: 1, PEER_B: 2}
    _, effects = runner.step(state, ask(PEER_A), VIEW)
    assert type(effects[0]) is Send


@pytest.mark.parametrize("count", [1, 3, 6])
def test_a_byte_bound_filled_exactly_is_used_in_full(count: int) -> None:
    runner, state = run(make())
    state, _ = runner.step(state, Tick(now=0), VIEW)
    exact = response_size(
        SyncResponse(
            chain_id=CHAIN,
            request_id=1,
            blocks=VIEW.blocks_from(0, count),
            highest_certificate=VIEW.highest_certificate(),
        )
    )
    _, effects = runner.step(state, ask(PEER_A, max_bytes=exact), VIEW)
    assert len(effects[0].message.blocks) == count
    _, effects = runner.step(state, ask(PEER_A, max_bytes=exact - 1), VIEW)
    assert len(effects[0].message.blocks) == count - 1


def test_a_wrong_event_type_is_named_in_the_error() -> None:
    config = make()

    class Unknown:
        pass

    with pytest.raises(TypeError, match=r"^sync server does not take Unknown$"):
        SYNC_SERVER.step(config, SYNC_SERVER.initial(config), Unknown(), VIEW)
