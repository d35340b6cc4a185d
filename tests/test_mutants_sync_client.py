"""Tests that kill mutants mutation testing found alive in machine/sync_client.py (see
docs/mutation-testing.md): the config's exact bounds and messages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from blockfsm.machine.core import MAX_PERIOD_MS, ConfigError
from blockfsm.machine.messages import MAX_RESPONSE_BYTES, MIN_RESPONSE_BYTES
from blockfsm.machine.sync_client import MAX_REQUEST_LIMIT, SyncClientConfig
from blockfsm.machine.types import MAX_U64, ValidatorSet
from blockfsm.spec.strategies.chains import validator_setup

SIGNERS, VALIDATORS, VERIFIER = validator_setup(4)

BOUNDS = [
    ("chain_id", "chain_id", 0, MAX_U64),
    ("seed", "seed", 0, MAX_U64),
    ("request_limit", "request_limit", 3, MAX_REQUEST_LIMIT),
    ("response_timeout", "response_timeout (ms)", 1, MAX_PERIOD_MS - 1),
    ("blacklist_expiry_time", "blacklist_expiry_time (ms)", 1, MAX_PERIOD_MS),
    ("trigger_min_view_difference", "trigger_min_view_difference", 1, 2**32),
    ("trigger_timeout", "trigger_timeout (ms)", 1, MAX_PERIOD_MS),
    ("trigger_rate_limit", "trigger_rate_limit (ms)", 1, MAX_PERIOD_MS),
    ("advertise_expiry", "advertise_expiry (ms)", 1, MAX_PERIOD_MS),
    ("advertise_freshness", "advertise_freshness (ms)", 1, MAX_PERIOD_MS),
    ("max_sync_time", "max_sync_time (ms)", 1, MAX_PERIOD_MS),
    ("max_response_bytes", "max_response_bytes", MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES),
]


def make(**fields: Any) -> SyncClientConfig:
    base: dict[str, Any] = {
        "chain_id": 7,
        "own_key": SIGNERS[0].public_key,
        "validators": VALIDATORS,
        "verifier": VERIFIER,
    }
    if "response_timeout" in fields:
        base["max_sync_time"] = MAX_PERIOD_MS
    base.update(fields)
    return SyncClientConfig(**base)


@pytest.mark.parametrize(("field", "label", "low", "high"), BOUNDS)
def test_config_bounds_are_exact_and_name_the_field(
    field: str, label: str, low: int, high: int
) -> None:
    if field != "max_sync_time":  # its least is response_timeout + 1
        make(**{field: low})
    make(**{field: high})
    checked_high = MAX_PERIOD_MS if field == "response_timeout" else high
    for bad in (low - 1, checked_high + 1):
        message = f"{label} must be an integer in [{low}, {checked_high}], got {bad!r}"
        with pytest.raises(ConfigError, match=re.escape(message)):
            make(**{field: bad})


def test_max_sync_time_must_exceed_the_response_timeout() -> None:
    make(response_timeout=999, max_sync_time=1_000)
    with pytest.raises(ConfigError, match="max_sync_time must exceed response_timeout"):
        make(response_timeout=1_000, max_sync_time=1_000)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"own_key": b"\x01" * 31}, "own_key must be a 32-byte public key"),
        ({"own_key": "k" * 32}, "own_key must be a 32-byte public key"),
        ({"validators": None}, "validators must be a non-empty ValidatorSet"),
        ({"verifier": object()}, "verifier needs verify()"),
    ],
)
def test_config_refuses_bad_keys_and_sets_with_a_clear_error(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make(**fields)


def test_a_single_validator_is_enough_and_an_empty_set_is_not() -> None:
    make(validators=ValidatorSet.equal([SIGNERS[1].public_key]))
    with pytest.raises(ConfigError, match=r"^validators must be a non-empty ValidatorSet$"):
        make(validators=ValidatorSet.equal([]))
