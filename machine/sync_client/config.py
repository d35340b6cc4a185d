"""The sync client's configuration and control states."""

from __future__ import annotations

import attrs

from blockfsm.machine.core import MAX_PERIOD_MS, PeerId, require, require_int
from blockfsm.machine.crypto import PUBLIC_KEY_SIZE, Verifier
from blockfsm.machine.messages import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
)
from blockfsm.machine.types import MAX_U64, ChainId, ValidatorSet

PASSIVE, AWAITING = "Passive", "AwaitingResponse"
"""The client's control states (``SyncClientState.control``); ``blockfsm.spec.sync_client`` states
them again."""


MAX_REQUEST_LIMIT = 100_000


@attrs.frozen(kw_only=True)
class SyncClientConfig:
    """Defaults follow upstream: request_limit 10, response_timeout 3 s, blacklist 10 s,
    trigger_min_view_difference 2, trigger_timeout 60 s. The rest are ours: advertisements expire
    after three advertise periods of 10 s and must be within 20 s of our clock; one sync may run
    30 s; certificates may start a sync once a second; a response may hold 4 MiB."""

    chain_id: ChainId
    own_key: PeerId
    validators: ValidatorSet
    verifier: Verifier = attrs.field(eq=False, hash=False)
    seed: int = 0
    request_limit: int = 10
    response_timeout: int = 3_000
    blacklist_expiry_time: int = 10_000
    trigger_min_view_difference: int = 2
    trigger_timeout: int = 60_000
    trigger_rate_limit: int = 1_000
    advertise_expiry: int = 30_000
    advertise_freshness: int = 20_000
    max_sync_time: int = 30_000
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __attrs_post_init__(self) -> None:
        require_int(self.chain_id, "chain_id", 0, MAX_U64)
        require(
            type(self.own_key) is bytes and len(self.own_key) == PUBLIC_KEY_SIZE,
            f"own_key must be a {PUBLIC_KEY_SIZE}-byte public key",
        )
        require(
            isinstance(self.validators, ValidatorSet) and len(self.validators) > 0,
            "validators must be a non-empty ValidatorSet",
        )
        require(callable(getattr(self.verifier, "verify", None)), "verifier needs verify()")
        require_int(self.seed, "seed", 0, MAX_U64)
        # Below 3 a full response can commit nothing new (block h commits once h + 1 is certified,
        # and the last block's certificate is not in the response), so sync could never progress.
        require_int(self.request_limit, "request_limit", 3, MAX_REQUEST_LIMIT)
        require_int(self.response_timeout, "response_timeout (ms)", 1, MAX_PERIOD_MS)
        require_int(self.blacklist_expiry_time, "blacklist_expiry_time (ms)", 1, MAX_PERIOD_MS)
        require_int(self.trigger_min_view_difference, "trigger_min_view_difference", 1, 2**32)
        require_int(self.trigger_timeout, "trigger_timeout (ms)", 1, MAX_PERIOD_MS)
        require_int(self.trigger_rate_limit, "trigger_rate_limit (ms)", 1, MAX_PERIOD_MS)
        require_int(self.advertise_expiry, "advertise_expiry (ms)", 1, MAX_PERIOD_MS)
        require_int(self.advertise_freshness, "advertise_freshness (ms)", 1, MAX_PERIOD_MS)
        require_int(self.max_sync_time, "max_sync_time (ms)", 1, MAX_PERIOD_MS)
        require_int(
            self.max_response_bytes, "max_response_bytes", MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES
        )
        require(
            self.max_sync_time > self.response_timeout,
            "max_sync_time must exceed response_timeout, or no response could ever be awaited",
        )
