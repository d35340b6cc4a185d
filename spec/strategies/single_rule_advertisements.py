"""Single-rule cases (``blockfsm.spec.strategies.single_rule``): block and certificate
advertisements (``ad.*``, ``cert.*``)."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st

from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
)
from blockfsm.machine.sync_client import (
    Registration,
    SyncClientState,
)
from blockfsm.machine.types import (
    ADVERTISE_BLOCK_DOMAIN,
    BLOCK_DOMAIN,
    CERTIFICATE_DOMAIN,
    MAX_U64,
    advertise_block_payload,
)
from blockfsm.spec.strategies.single_rule_world import (
    CANONICAL,
    CANONICAL_LENGTH,
    CHAIN_ID,
    CLIENT,
    KEYS,
    MAX_CLIENT_LENGTH,
    OUTSIDER,
    SIGNERS,
    VIEWS,
    Case,
    _awaiting_request,
    _registry,
    _servers,
    bad_certificate,
    client_configs,
    garbled,
    good_certificate,
)
from blockfsm.spec.sync_client import AWAITING, PASSIVE

# --- advertisements ----------------------------------------------------------------------------


def signed_ad(
    signer: StandInSigner, chain_id: int, server: bytes, height: int, ts: int
) -> AdvertiseBlock:
    return AdvertiseBlock(
        chain_id=chain_id,
        server=server,
        committed_height=height,
        timestamp=ts,
        signature=signer.sign(advertise_block_payload(chain_id, server, height, ts)),
    )


@st.composite
def advertisement_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    fresh = config.advertise_freshness
    now = draw(st.integers(min_value=fresh + 2, max_value=fresh + 20_000))
    p = draw(_servers)
    signer = SIGNERS[p]
    peer = signer.public_key
    registered = None
    if rule == "ad.replay" or draw(st.booleans()):
        low = now - fresh if rule != "ad.stale_past" else 0
        high = now + fresh - 1 if rule != "ad.stale_past" else now - fresh - 2
        registered = draw(st.integers(min_value=low, max_value=high))
    window_low = now - fresh if registered is None else max(now - fresh, registered + 1)
    ts = draw(st.integers(min_value=window_low, max_value=now + fresh))
    if rule == "ad.stale_past":
        ts = now - fresh
    elif rule == "ad.stale_future":
        ts = now + fresh
    elif rule == "ad.replay":
        assert registered is not None
        ts = registered + 1
    height = draw(st.integers(min_value=-1, max_value=CANONICAL_LENGTH))
    registry = list(draw(_registry(now, config, without=p)))
    if registered is not None:
        registry.append(Registration(peer=peer, height=height, timestamp=registered, received=now))
    control = draw(st.sampled_from((PASSIVE, AWAITING)))
    request = None
    if control == AWAITING:
        request = _awaiting_request(draw(_servers), 1, 0, config.request_limit, now)
    state = SyncClientState(
        control=control,
        now=now,
        seed=config.seed,
        registry=tuple(sorted(registry, key=lambda e: e.peer)),
        last_progress=now,
        sync_started=now if control == AWAITING else -1,
        next_request_id=2,
        request=request,
    )
    valid_ad = signed_ad(signer, CHAIN_ID, peer, height, ts)
    valid = AdvertiseBlockReceived(peer=peer, advertisement=valid_ad)
    broken_state = None
    bad_peer = peer
    bad: Any = valid_ad
    if rule == "ad.malformed":
        field = draw(
            st.sampled_from(("chain_id", "server", "committed_height", "timestamp", "signature"))
        )
        value = draw(st.sampled_from((None, -1, "7", 2**64, 1.0)))
        if field == "committed_height" and value == -1:
            value = -2
        if field in ("server", "signature"):
            value = draw(st.sampled_from((None, "key", 7)))
        bad = garbled(valid_ad, **{field: value})
    elif rule == "ad.wrong_chain":
        other = draw(st.integers(min_value=0, max_value=MAX_U64).filter(lambda c: c != CHAIN_ID))
        bad = signed_ad(signer, other, peer, height, ts)
    elif rule == "ad.from_self":
        bad_peer = CLIENT.public_key
        bad = signed_ad(CLIENT, CHAIN_ID, bad_peer, height, ts)
    elif rule == "ad.server_mismatch":
        q = draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != p))
        bad = signed_ad(signer, CHAIN_ID, KEYS[q], height, ts)
    elif rule == "ad.not_validator":
        bad_peer = OUTSIDER.public_key
        bad = signed_ad(OUTSIDER, CHAIN_ID, bad_peer, height, ts)
    elif rule == "ad.blacklisted":
        until = now + draw(st.integers(min_value=1, max_value=10_000))
        # Registry and blacklist never overlap: the sender is not registered in either state.
        state = attrs.evolve(state, registry=tuple(e for e in state.registry if e.peer != peer))
        broken_state = attrs.evolve(state, blacklist=((peer, until),))
    elif rule == "ad.stale_past":
        bad = signed_ad(signer, CHAIN_ID, peer, height, now - fresh - 1)
    elif rule == "ad.stale_future":
        bad = signed_ad(signer, CHAIN_ID, peer, height, now + fresh + 1)
    elif rule == "ad.replay":
        assert registered is not None
        older = draw(st.integers(min_value=max(now - fresh, registered - 50), max_value=registered))
        bad = signed_ad(signer, CHAIN_ID, peer, height, older)
    elif rule == "ad.signature":
        how = draw(st.sampled_from(("other_key", "random", "cross_type", "other_fields", "empty")))
        payload = advertise_block_payload(CHAIN_ID, peer, height, ts)
        if how == "other_key":
            someone = SIGNERS[draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != p))]
            sig = someone.sign(payload)
        elif how == "random":
            sig = draw(st.binary(min_size=64, max_size=64))
        elif how == "cross_type":
            tag = draw(st.sampled_from((CERTIFICATE_DOMAIN, BLOCK_DOMAIN)))
            sig = signer.sign(tag + payload[len(ADVERTISE_BLOCK_DOMAIN) :])
        elif how == "other_fields":
            sig = signer.sign(advertise_block_payload(CHAIN_ID, peer, height + 1, ts))
        else:
            sig = b""
        bad = attrs.evolve(valid_ad, signature=sig)
    else:
        raise ValueError(rule)
    broken = AdvertiseBlockReceived(peer=bad_peer, advertisement=bad)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=VIEWS[draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))],
        valid=valid,
        broken=broken,
        broken_state=broken_state,
    )


# --- advertised certificates -------------------------------------------------------------------


@st.composite
def certificate_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    length = draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))
    view = VIEWS[length]
    ahead = view.highest_certificate().view + config.trigger_min_view_difference
    # Canonical certificates have view = height + 1.
    height = draw(st.integers(min_value=max(0, ahead - 1), max_value=CANONICAL_LENGTH - 1))
    if rule == "cert.not_ahead":
        height = ahead - 2  # its view is one below the threshold; the valid one is at it
    assume(height >= 0)
    block = CANONICAL.block_at(height)
    assert block is not None
    now = draw(st.integers(min_value=config.trigger_rate_limit, max_value=100_000))
    last = draw(
        st.one_of(st.just(-1), st.integers(min_value=0, max_value=now - config.trigger_rate_limit))
    )
    if rule == "cert.rate_limited":
        last = now - config.trigger_rate_limit
    state = SyncClientState(
        control=PASSIVE,
        now=now,
        seed=config.seed,
        registry=draw(_registry(now, config, without=None)),
        last_progress=now,
        last_event_trigger=last,
    )
    good = draw(good_certificate(height, block.hash, height + 1))
    peer = KEYS[draw(_servers)]
    broken_state = None
    bad: Any = good
    if rule == "cert.malformed":
        how = draw(st.sampled_from(("none", "view", "signatures", "pair")))
        if how == "none":
            bad = None
        elif how == "view":
            bad = garbled(good, view=draw(st.sampled_from((None, -1, 2**64, "1"))))
        elif how == "signatures":
            bad = garbled(good, signatures=list(good.signatures))
        else:
            bad = garbled(good, signatures=((good.signatures[0][0],), *good.signatures[1:]))
    elif rule == "cert.chain":
        bad = draw(bad_certificate("wrong_chain", height, block.hash, height + 1))
    elif rule == "cert.not_ahead":
        good = draw(good_certificate(height + 1, _hash_at(height + 1), height + 2))
        bad = draw(good_certificate(height, block.hash, height + 1))
    elif rule == "cert.rate_limited":
        broken_state = attrs.evolve(state, last_event_trigger=now - config.trigger_rate_limit + 1)
    else:
        bad = draw(bad_certificate(rule.removeprefix("cert."), height, block.hash, height + 1))

    def event(cert: Any) -> AdvertiseCertificateReceived:
        return AdvertiseCertificateReceived(
            peer=peer, advertisement=AdvertiseCertificate(certificate=cert)
        )

    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=event(good),
        broken=event(bad),
        broken_state=broken_state,
    )


def _hash_at(height: int) -> bytes:
    block = CANONICAL.block_at(height)
    assert block is not None
    return block.hash
