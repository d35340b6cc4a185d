"""Tests that kill mutants mutation testing found alive in machine/sync_client.py (see
docs/mutation-testing.md): the config's exact bounds and messages, and the steps the unit and
single-rule tests did not reach."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from blockfsm.machine.core import MAX_PERIOD_MS, ConfigError, Observe, Rejected, Send, Tick
from blockfsm.machine.messages import (
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncResponse,
    SyncResponseReceived,
    response_size,
)
from blockfsm.machine.sync_client import (
    MAX_REQUEST_LIMIT,
    Blacklisted,
    Commit,
    Outstanding,
    Persist,
    Registration,
    Registry,
    SyncClientConfig,
    SyncClientState,
    UpdateHighestCertificate,
    initial,
    step,
)
from blockfsm.machine.sync_client.choice import _resume
from blockfsm.machine.types import (
    MAX_U64,
    Block,
    Certificate,
    ValidatorSet,
    advertise_block_payload,
    certify,
)
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec import sync_client as spec
from blockfsm.spec.campaigns import sync_client as campaign
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
    message = "max_sync_time must exceed response_timeout, or no response could ever be awaited"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
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


# --- steps ------------------------------------------------------------------------------------

CANONICAL = campaign.CANONICAL
SERVER = campaign.KEYS[1]


def client_config(**fields: Any) -> SyncClientConfig:
    return SyncClientConfig(
        chain_id=campaign.CHAIN_ID,
        own_key=campaign.CLIENT_KEY,
        validators=campaign.VALIDATORS,
        verifier=campaign.VERIFIER,
        **fields,
    )


def canonical(height: int) -> Block:
    block = CANONICAL.block_at(height)
    assert block is not None
    return block


def chain_holding(top: int, committed: int, certified: int) -> InMemoryChain:
    """A client chain holding canonical blocks 0..top, ``committed`` committed, its highest
    certificate the canonical one of ``certified``."""
    chain = InMemoryChain(campaign.CHAIN_ID)
    for h in range(top + 1):
        chain.persist(canonical(h))
    chain.set_highest_certificate(campaign.certificate_of(certified))
    chain.commit(committed)
    return chain


def fork_of(height: int) -> Block:
    """A block at ``height`` off the canonical chain: the canonical parent and justify, another
    payload (a valid block no honest server holds)."""
    block = canonical(height)
    return Block.make(
        chain_id=campaign.CHAIN_ID,
        height=height,
        parent_hash=block.parent_hash,
        justify=block.justify,
        payload=b"fork",
    )


def answer(
    chain: InMemoryChain, start: int, blocks: tuple[Block, ...], highest: Certificate
) -> tuple[Any, ...]:
    """The effects of a response to the one request in flight, asked of SERVER from ``start``."""
    request = Outstanding(
        server=SERVER, request_id=1, start_height=start, limit=10, target=40, deadline=3_000
    )
    state = SyncClientState(
        control=spec.AWAITING, sync_started=0, request=request, next_request_id=2
    )
    response = SyncResponse(
        chain_id=campaign.CHAIN_ID, request_id=1, blocks=blocks, highest_certificate=highest
    )
    event = SyncResponseReceived(peer=SERVER, response=response)
    return step(client_config(), state, event, chain.snapshot()).effects


def test_the_initial_state_draws_from_the_configured_seed() -> None:
    assert initial(client_config(seed=5)).seed == 5
    assert initial(client_config()).seed == 0


def test_a_first_block_and_its_certificate_become_the_highest_certificate() -> None:
    # The certificate certifies the response's first block, at height 0.
    cert = campaign.certificate_of(0)
    effects = answer(InMemoryChain(campaign.CHAIN_ID), 0, (canonical(0),), cert)
    assert Persist(block=canonical(0)) in effects
    assert UpdateHighestCertificate(certificate=cert) in effects
    assert not any(type(e) is Commit for e in effects)


def test_a_certificate_of_a_held_block_above_a_short_answer_commits_below_it() -> None:
    # The server answers with no block, and a certificate of a block the client holds already.
    chain = chain_holding(top=5, committed=2, certified=3)
    cert = campaign.certificate_of(5)
    effects = answer(chain, 4, (), cert)
    assert Commit(height=4) in effects
    assert UpdateHighestCertificate(certificate=cert) in effects
    # The same with the held block below it in the answer.
    effects = answer(chain, 4, (canonical(4),), cert)
    assert Commit(height=4) in effects


def test_a_certificate_of_a_block_a_diverging_answer_drops_commits_nothing() -> None:
    # The answer's block 3 replaces the client's, dropping the client's block 4 above it; the
    # certificate of that block 4 certifies no block the chain holds once the answer is applied,
    # so the answer's own block 3 (certified by nobody) must not be committed.
    chain = chain_holding(top=6, committed=2, certified=3)
    cert = campaign.certificate_of(4)
    effects = answer(chain, 3, (fork_of(3),), cert)
    assert Persist(block=fork_of(3)) in effects
    assert not any(type(e) is Commit for e in effects)
    assert not any(type(e) is UpdateHighestCertificate for e in effects)


def test_a_higher_certificate_of_a_block_below_a_diverging_answer_is_recorded() -> None:
    # The answer diverges from block 4 up; its highest certificate certifies block 3, below the
    # answer and kept by it, at a later view than any certificate the client has.
    chain = chain_holding(top=6, committed=2, certified=3)
    later = certify(
        chain_id=campaign.CHAIN_ID, view=20, block=canonical(3), signers=campaign.SIGNERS[:5]
    )
    effects = answer(chain, 4, (fork_of(4),), later)
    assert Persist(block=fork_of(4)) in effects
    assert UpdateHighestCertificate(certificate=later) in effects


def test_a_passive_tick_that_starts_nothing_drops_the_expired_registrations() -> None:
    # S1's advertisement expires at 30 s; the timeout trigger (60 s without progress) is not due.
    old = Registration(peer=SERVER, height=40, timestamp=1, received=0)
    fresh = Registration(peer=campaign.KEYS[2], height=40, timestamp=1, received=10_000)
    state = SyncClientState(control=spec.PASSIVE, registry=(old, fresh))
    chain = chain_holding(top=5, committed=4, certified=5)
    after, effects = step(client_config(), state, Tick(now=30_000), chain.snapshot())
    assert effects == ()
    assert after.now == 30_000
    assert tuple(after.registry) == (fresh,)


def awaiting_state(**fields: Any) -> SyncClientState:
    """A sync started at 0, its request to SERVER due at 3 s."""
    request = Outstanding(
        server=SERVER, request_id=1, start_height=5, limit=10, target=40, deadline=3_000
    )
    return SyncClientState(
        control=spec.AWAITING, sync_started=0, request=request, next_request_id=2, **fields
    )


def test_a_sync_at_its_time_cap_ends_with_its_observation() -> None:
    chain = chain_holding(top=5, committed=4, certified=5)
    after, effects = step(client_config(), awaiting_state(), Tick(now=30_000), chain.snapshot())
    assert after.control == spec.PASSIVE
    assert effects == (Observe(name="sync_ended", detail="time_cap"),)


def test_an_awaiting_tick_before_the_deadline_moves_the_clock_and_drops_expired_entries() -> None:
    old = Registration(peer=campaign.KEYS[2], height=40, timestamp=1, received=0)
    live = Registration(peer=SERVER, height=40, timestamp=1, received=1_000)
    blacklist = ((campaign.KEYS[3], 2_000), (campaign.KEYS[4], 5_000))
    state = awaiting_state(now=1_000, registry=(old, live), blacklist=blacklist)
    cfg = client_config(advertise_expiry=1_500)
    chain = chain_holding(top=5, committed=4, certified=5)
    after, effects = step(cfg, state, Tick(now=2_000), chain.snapshot())
    assert effects == ()
    assert after.now == 2_000
    assert after.request == state.request
    assert tuple(after.registry) == (live,)
    assert after.blacklist == ((campaign.KEYS[4], 5_000),)


def test_the_expired_registrations_are_those_received_at_or_before_the_cutoff() -> None:
    # advertise_expiry 30 s: at 30,001 the entries received at 0 and at 1 have expired.
    first = Registration(peer=campaign.KEYS[2], height=40, timestamp=1, received=0)
    second = Registration(peer=campaign.KEYS[3], height=40, timestamp=1, received=1)
    kept = Registration(peer=SERVER, height=40, timestamp=1, received=2)
    state = SyncClientState(control=spec.PASSIVE, registry=(first, second, kept))
    chain = chain_holding(top=5, committed=4, certified=5)
    after, _ = step(client_config(), state, Tick(now=30_001), chain.snapshot())
    assert tuple(after.registry) == (kept,)
    # Only the one received exactly at the cutoff.
    state = SyncClientState(control=spec.PASSIVE, registry=(second, kept))
    after, _ = step(client_config(), state, Tick(now=30_001), chain.snapshot())
    assert tuple(after.registry) == (kept,)


def test_a_sync_started_by_the_timeout_trigger_keeps_the_rest_of_the_state() -> None:
    server = Registration(peer=SERVER, height=40, timestamp=1, received=50_000)
    banned = ((campaign.KEYS[2], 70_000),)
    state = SyncClientState(
        control=spec.PASSIVE,
        seed=7,
        draws=3,
        next_request_id=9,
        registry=(server,),
        blacklist=banned,
        last_progress=1,
        last_event_trigger=5,
    )
    chain = chain_holding(top=5, committed=4, certified=5)
    after, effects = step(client_config(), state, Tick(now=60_001), chain.snapshot())
    request = Outstanding(
        server=SERVER, request_id=9, start_height=6, limit=10, target=40, deadline=63_001
    )
    assert after == SyncClientState(
        control=spec.AWAITING,
        now=60_001,
        seed=7,
        draws=4,
        next_request_id=10,
        registry=(server,),
        blacklist=banned,
        last_progress=1,
        last_event_trigger=5,
        sync_started=60_001,
        tried=(),
        request=request,
    )
    assert effects[0] == Observe(name="sync_started", detail=SERVER.hex()[:8])
    assert type(effects[1]) is Send and effects[1].peer == SERVER
    assert len(effects) == 2


def test_a_certificate_s_sender_is_asked_first_whatever_the_seed() -> None:
    other = campaign.KEYS[2]
    registry = tuple(
        Registration(peer=p, height=40, timestamp=1, received=1_000) for p in (SERVER, other)
    )
    chain = chain_holding(top=5, committed=4, certified=5)
    ad = AdvertiseCertificate(certificate=campaign.certificate_of(10))
    for seed in range(4):
        for sender in (SERVER, other):
            state = SyncClientState(control=spec.PASSIVE, now=1_000, seed=seed, registry=registry)
            event = AdvertiseCertificateReceived(peer=sender, advertisement=ad)
            after, effects = step(client_config(), state, event, chain.snapshot())
            assert after.request is not None and after.request.server == sender
            assert type(effects[-1]) is Send and effects[-1].peer == sender


def test_a_request_past_its_deadline_moves_on_and_keeps_the_last_progress() -> None:
    other = campaign.KEYS[2]
    registry = tuple(
        Registration(peer=p, height=40, timestamp=1, received=1_000) for p in (SERVER, other)
    )
    chain = chain_holding(top=5, committed=4, certified=5)
    state = awaiting_state(now=1_000, seed=7, registry=registry, last_progress=500)
    after, effects = step(client_config(), state, Tick(now=3_000), chain.snapshot())
    request = Outstanding(
        server=other, request_id=2, start_height=6, limit=10, target=40, deadline=6_000
    )
    assert after == attrs.evolve(
        state, now=3_000, draws=1, next_request_id=3, tried=(SERVER,), request=request
    )
    assert len(effects) == 1 and type(effects[0]) is Send and effects[0].peer == other
    # With no other server, the sync ends, and says why; the timeout trigger restarts then.
    banned = ((campaign.KEYS[3], 9_000),)
    state = awaiting_state(
        now=1_000,
        seed=7,
        draws=3,
        registry=registry[:1],
        blacklist=banned,
        last_progress=500,
        last_event_trigger=400,
    )
    after, effects = step(client_config(), state, Tick(now=3_000), chain.snapshot())
    assert after == SyncClientState(
        control=spec.PASSIVE,
        now=3_000,
        seed=7,
        draws=3,
        next_request_id=2,
        registry=registry[:1],
        blacklist=banned,
        last_progress=3_000,
        last_event_trigger=400,
    )
    assert effects == (Observe(name="sync_ended", detail="timeout"),)


def advertisement(**fields: Any) -> AdvertiseBlockReceived:
    values: dict[str, Any] = {
        "chain_id": campaign.CHAIN_ID,
        "server": SERVER,
        "committed_height": 10,
        "timestamp": 1_000,
    }
    values.update(fields)
    payload = advertise_block_payload(
        campaign.CHAIN_ID, SERVER, min(values["committed_height"], 10), values["timestamp"]
    )
    ad = AdvertiseBlock(signature=campaign.SIGNERS[1].sign(payload), **values)
    return AdvertiseBlockReceived(peer=SERVER, advertisement=ad)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"chain_id": MAX_U64}, "wrong_chain"),
        ({"committed_height": 2**63}, "malformed_advertisement"),
        ({"committed_height": 2**64 - 1}, "malformed_advertisement"),
        ({"timestamp": MAX_U64}, "stale_advertisement"),
    ],
)
def test_an_advertisement_s_bounds_and_its_refusal_name_the_sender(
    fields: dict[str, Any], reason: str | None
) -> None:
    state = SyncClientState(control=spec.PASSIVE, now=1_000)
    view = InMemoryChain(campaign.CHAIN_ID).snapshot()
    after, effects = step(client_config(), state, advertisement(**fields), view)
    if reason is None:
        assert effects == ()
        assert after.registry.get(SERVER) is not None
    else:
        assert effects == (Rejected(reason=reason, peer=SERVER),)
        assert after == state


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        (None, "malformed_certificate"),
        (attrs.evolve(campaign.certificate_of(10), chain_id=MAX_U64), "wrong_chain"),
        (attrs.evolve(campaign.certificate_of(10), signatures=()), "invalid_certificate"),
        # _certificate_well_formed's bounds, each side (mutants 22, 23, 27, 29 to 36): a field
        # at its bound is well formed and fails a later check; one past it is malformed.
        (attrs.evolve(campaign.certificate_of(10), chain_id=0), "wrong_chain"),
        (attrs.evolve(campaign.certificate_of(10), view=MAX_U64), "invalid_certificate"),
        (attrs.evolve(campaign.certificate_of(10), height=-(2**63)), "invalid_certificate"),
        (attrs.evolve(campaign.certificate_of(10), height=2**63 - 1), "invalid_certificate"),
        (attrs.evolve(campaign.certificate_of(10), height=-(2**63) - 1), "malformed_certificate"),
        (attrs.evolve(campaign.certificate_of(10), height=2**63), "malformed_certificate"),
        # its signature pairs (mutants 44, 46, 51): a pair of the wrong shape or types.
        (attrs.evolve(campaign.certificate_of(10), signatures=((b"k",),)), "malformed_certificate"),
        (
            attrs.evolve(campaign.certificate_of(10), signatures=((b"k", 5),)),
            "malformed_certificate",
        ),
        (
            attrs.evolve(campaign.certificate_of(10), signatures=((5, b"s"),)),
            "malformed_certificate",
        ),
    ],
)
def test_a_refused_certificate_names_its_sender(certificate: Any, reason: str) -> None:
    chain = chain_holding(top=5, committed=4, certified=5)
    state = SyncClientState(control=spec.PASSIVE, now=1_000)
    event = AdvertiseCertificateReceived(
        peer=SERVER, advertisement=AdvertiseCertificate(certificate=certificate)
    )
    _, effects = step(client_config(), state, event, chain.snapshot())
    assert effects == (Rejected(reason=reason, peer=SERVER),)


def invalid_answer(state: SyncClientState) -> tuple[SyncClientState, tuple[Any, ...]]:
    """``state``'s request answered by SERVER on another chain: an invalid response."""
    response = SyncResponse(
        chain_id=campaign.CHAIN_ID + 1,
        request_id=1,
        blocks=(),
        highest_certificate=campaign.certificate_of(5),
    )
    event = SyncResponseReceived(peer=SERVER, response=response)
    chain = chain_holding(top=5, committed=4, certified=5)
    return step(client_config(), state, event, chain.snapshot())


def test_an_invalid_response_blames_its_sender_once_and_says_why() -> None:
    other = campaign.KEYS[2]
    registry = tuple(
        Registration(peer=p, height=40, timestamp=1, received=1_000) for p in (SERVER, other)
    )
    # Another server is asked; the progress clock is the sync's.
    after, effects = invalid_answer(awaiting_state(now=1_000, registry=registry, last_progress=5))
    assert after.request is not None and after.request.server == other
    assert after.last_progress == 5
    assert after.blacklist == ((SERVER, 11_000),)
    assert effects[0] == Blacklisted(peer=SERVER, until=11_000, reason="invalid_response")
    # No other server: the sync ends, saying why. A stale entry of the sender's is replaced.
    stale = ((SERVER, 500), (other, 20_000))
    state = awaiting_state(now=1_000, registry=registry[:1], blacklist=stale)
    after, effects = invalid_answer(state)
    assert after.control == spec.PASSIVE
    assert after.blacklist == ((other, 20_000), (SERVER, 11_000))
    assert effects == (
        Blacklisted(peer=SERVER, until=11_000, reason="invalid_response"),
        Observe(name="sync_ended", detail="invalid_response"),
    )


def test_a_response_s_ids_are_well_formed_up_to_the_largest_u64() -> None:
    registry = (Registration(peer=SERVER, height=40, timestamp=1, received=1_000),)
    state = awaiting_state(now=1_000, registry=registry)
    chain = chain_holding(top=4, committed=3, certified=4)
    for chain_id, request_id, reason in (
        (MAX_U64, 1, None),  # checked, found invalid, blamed
        (campaign.CHAIN_ID, MAX_U64, "unexpected_response"),
    ):
        response = SyncResponse(
            chain_id=chain_id,
            request_id=request_id,
            blocks=(),
            highest_certificate=campaign.certificate_of(4),
        )
        event = SyncResponseReceived(peer=SERVER, response=response)
        _, effects = step(client_config(), state, event, chain.snapshot())
        if reason is None:
            assert Blacklisted(peer=SERVER, until=11_000, reason="invalid_response") in effects
        else:
            assert effects == (Rejected(reason=reason, peer=SERVER),)


def test_a_response_of_exactly_the_byte_bound_is_valid() -> None:
    chain = chain_holding(top=4, committed=3, certified=4)
    response = SyncResponse(
        chain_id=campaign.CHAIN_ID,
        request_id=1,
        blocks=(canonical(5),),
        highest_certificate=campaign.certificate_of(5),
    )
    event = SyncResponseReceived(peer=SERVER, response=response)
    size = response_size(response)
    for bound, valid in ((size, True), (size - 1, False)):
        cfg = client_config(max_response_bytes=bound)
        _, effects = step(cfg, awaiting_state(now=1_000), event, chain.snapshot())
        assert (Persist(block=canonical(5)) in effects) is valid
        assert any(type(e) is Blacklisted for e in effects) is not valid


def test_a_malformed_response_and_a_well_formed_block_at_the_largest_u64() -> None:
    state = awaiting_state(now=1_000)
    chain = chain_holding(top=4, committed=3, certified=4)
    event = SyncResponseReceived(peer=SERVER, response=None)  # type: ignore[arg-type]
    _, effects = step(client_config(), state, event, chain.snapshot())
    assert effects == (Rejected(reason="malformed_response", peer=SERVER),)
    for field in ("chain_id", "height"):
        block = attrs.evolve(canonical(5), **{field: MAX_U64})
        response = SyncResponse(
            chain_id=campaign.CHAIN_ID,
            request_id=1,
            blocks=(block,),
            highest_certificate=campaign.certificate_of(5),
        )
        event = SyncResponseReceived(peer=SERVER, response=response)
        _, effects = step(client_config(), state, event, chain.snapshot())
        assert Blacklisted(peer=SERVER, until=11_000, reason="invalid_response") in effects


def test_the_last_block_s_certificate_is_recorded_when_the_highest_is_not_held() -> None:
    chain = chain_holding(top=4, committed=3, certified=4)
    blocks = (canonical(5), canonical(6))
    effects = answer(chain, 5, blocks, campaign.certificate_of(10))
    assert UpdateHighestCertificate(certificate=campaign.certificate_of(5)) in effects


def test_a_certificate_of_the_client_s_own_view_is_not_recorded_again() -> None:
    chain = chain_holding(top=5, committed=4, certified=5)
    effects = answer(chain, 6, (), campaign.certificate_of(5))
    assert not any(type(e) is UpdateHighestCertificate for e in effects)


def progressing_answer(received: int, now: int) -> tuple[SyncClientState, Any]:
    """SERVER, asked from 5 for a target of 6 and registered at 40, answers blocks 5 to 7 and
    the certificate of 7: the client commits 6."""
    chain = chain_holding(top=4, committed=3, certified=4)
    request = Outstanding(
        server=SERVER, request_id=1, start_height=5, limit=10, target=6, deadline=now + 3_000
    )
    state = SyncClientState(
        control=spec.AWAITING,
        now=now,
        seed=7,
        draws=2,
        next_request_id=2,
        registry=(Registration(peer=SERVER, height=40, timestamp=1, received=received),),
        blacklist=((campaign.KEYS[3], now + 9_000),),
        last_progress=5,
        last_event_trigger=4,
        sync_started=now - 100,
        tried=(campaign.KEYS[2],),
        request=request,
    )
    response = SyncResponse(
        chain_id=campaign.CHAIN_ID,
        request_id=1,
        blocks=(canonical(5), canonical(6), canonical(7)),
        highest_certificate=campaign.certificate_of(7),
    )
    event = SyncResponseReceived(peer=SERVER, response=response)
    return state, step(client_config(), state, event, chain.snapshot())


def test_a_server_that_makes_progress_is_asked_again_up_to_its_registered_height() -> None:
    """... and the servers this sync already tried stay tried (``_on_response`` mutant 209)."""
    state, (after, effects) = progressing_answer(received=1_000, now=1_000)
    request = Outstanding(
        server=SERVER, request_id=2, start_height=8, limit=10, target=40, deadline=4_000
    )
    assert after == attrs.evolve(state, next_request_id=3, last_progress=1_000, request=request)
    assert Commit(height=6) in effects
    assert type(effects[-1]) is Send and effects[-1].peer == SERVER
    # Its registration expired exactly now: the request's own target (6) is reached.
    state, (after, effects) = progressing_answer(received=1_000, now=31_000)
    assert after.control == spec.PASSIVE
    assert after.last_progress == 31_000
    assert effects[-1] == Observe(name="sync_ended", detail="caught_up")


def test_a_valid_response_without_progress_moves_on_with_the_sync_s_progress_clock() -> None:
    other = campaign.KEYS[2]
    registry = tuple(
        Registration(peer=p, height=40, timestamp=1, received=1_000) for p in (SERVER, other)
    )
    chain = chain_holding(top=5, committed=4, certified=5)
    state = awaiting_state(now=1_000, registry=registry, last_progress=5)
    response = SyncResponse(
        chain_id=campaign.CHAIN_ID,
        request_id=1,
        blocks=(),
        highest_certificate=campaign.certificate_of(5),
    )
    event = SyncResponseReceived(peer=SERVER, response=response)
    after, _ = step(client_config(), state, event, chain.snapshot())
    assert after.request is not None and after.request.server == other
    assert after.last_progress == 5


def test_a_registry_refuses_two_registrations_of_one_peer_and_says_so() -> None:
    """``Registry.__attrs_post_init__`` mutant 4: the error's text."""
    twice = [Registration(peer=SERVER, height=h, timestamp=1, received=h) for h in (1, 2)]
    with pytest.raises(ValueError, match=r"^a registry holds one registration per peer$"):
        Registry(entries=tuple(twice))


def test_an_unknown_event_is_named_in_the_error() -> None:
    """``step`` mutant 46: the TypeError names the event's type."""
    chain = chain_holding(top=5, committed=4, certified=5)
    state = SyncClientState(control=spec.PASSIVE, now=1_000)
    with pytest.raises(TypeError, match=r"^sync client does not take int$"):
        step(client_config(), state, 7, chain.snapshot())


def test_the_next_request_starts_past_a_held_block_its_held_child_certifies() -> None:
    """``_resume`` mutants 18, 29, 30, 35 to 37: block 1 is held and block 2, held too, is its
    child and carries its certificate, so the next request starts at 2; with no child held and
    only block 0 certified, block 1 is asked for again."""
    view = chain_holding(top=3, committed=0, certified=0).snapshot()
    assert _resume(view, 0, view.highest_certificate()) == 2
    short = chain_holding(top=1, committed=0, certified=0).snapshot()
    assert _resume(short, 0, short.highest_certificate()) == 1


def test_a_certificate_of_another_block_at_the_next_height_certifies_nothing_held() -> None:
    """``_resume`` mutant 40: the highest certificate must name the held block, not only its
    height."""
    view = chain_holding(top=1, committed=0, certified=0).snapshot()
    other = attrs.evolve(campaign.certificate_of(1), block_hash=fork_of(1).hash)
    assert _resume(view, 0, other) == 1
    assert _resume(view, 0, campaign.certificate_of(1)) == 2
