"""Advertisements: registering a server from its ``AdvertiseBlock``, and starting a sync on an
``AdvertiseCertificate`` far enough ahead."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.core import Step
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
)
from blockfsm.machine.sync_client.choice import _is_banned, _start
from blockfsm.machine.sync_client.config import PASSIVE, SyncClientConfig
from blockfsm.machine.sync_client.effects import Rejected
from blockfsm.machine.sync_client.responses import _certificate_well_formed
from blockfsm.machine.sync_client.state import Registration, SyncClientState
from blockfsm.machine.types import MAX_U64, advertise_block_payload, certificate_is_valid
from blockfsm.machine.view import ChainView


def _advertisement_refusal(
    config: SyncClientConfig, state: SyncClientState, event: AdvertiseBlockReceived
) -> str | None:
    ad = event.advertisement
    peer = event.peer
    if type(ad) is not AdvertiseBlock:
        return "malformed_advertisement"
    height = ad.committed_height
    ts = ad.timestamp
    if not (
        type(peer) is bytes
        and type(ad.chain_id) is int
        and 0 <= ad.chain_id <= MAX_U64
        and type(ad.server) is bytes
        and type(height) is int
        and -1 <= height < 2**63
        and type(ts) is int
        and 0 <= ts <= MAX_U64
        and type(ad.signature) is bytes
    ):
        return "malformed_advertisement"
    if ad.chain_id != config.chain_id:
        return "wrong_chain"
    if peer == config.own_key:
        return "from_self"
    if ad.server != peer:
        return "server_mismatch"
    if peer not in config.validators:
        return "not_validator"
    if _is_banned(state.blacklist, peer, state.now):
        return "blacklisted"
    if ts > state.now + config.advertise_freshness or ts < state.now - config.advertise_freshness:
        return "stale_advertisement"
    known = state.registry.get(peer)
    if known is not None and ts <= known.timestamp:
        return "stale_advertisement"
    payload = advertise_block_payload(ad.chain_id, peer, height, ts)
    if not config.verifier.verify(peer, payload, ad.signature):
        return "bad_signature"
    return None


def _on_advertise_block(
    config: SyncClientConfig, state: SyncClientState, event: AdvertiseBlockReceived
) -> Step:
    refusal = _advertisement_refusal(config, state, event)
    if refusal is not None:
        return Step(state, (Rejected(reason=refusal, peer=event.peer),))
    ad = event.advertisement
    entry = Registration(
        peer=event.peer, height=ad.committed_height, timestamp=ad.timestamp, received=state.now
    )
    return Step(attrs.evolve(state, registry=state.registry.put(entry)), ())


def _on_advertise_certificate(
    config: SyncClientConfig,
    state: SyncClientState,
    event: AdvertiseCertificateReceived,
    view: ChainView,
) -> Step:
    if state.control != PASSIVE:
        return Step(state, ())
    ad = event.advertisement
    cert: Any = ad.certificate if type(ad) is AdvertiseCertificate else None
    if not _certificate_well_formed(cert):
        return Step(state, (Rejected(reason="malformed_certificate", peer=event.peer),))
    if cert.chain_id != config.chain_id:
        return Step(state, (Rejected(reason="wrong_chain", peer=event.peer),))
    if cert.view < view.highest_certificate().view + config.trigger_min_view_difference:
        return Step(state, ())
    now = state.now
    last = state.last_event_trigger
    if last >= 0 and now - last < config.trigger_rate_limit:
        return Step(state, ())
    # The attempt spends the rate limit before any signature is verified, valid or not: a flood
    # of invalid certificates costs one verification round per trigger_rate_limit.
    if not certificate_is_valid(cert, config.chain_id, config.validators, config.verifier):
        return Step(
            attrs.evolve(state, last_event_trigger=now),
            (Rejected(reason="invalid_certificate", peer=event.peer),),
        )
    started = _start(config, state, now, view, state.registry, state.blacklist, event.peer, now)
    if started is not None:
        return started
    return Step(attrs.evolve(state, last_event_trigger=now), ())
