"""Focused tests of the sync server machine: each upstream bug as a plain example, config
validation, and the server's behaviour at its edges. All go through the conformance wrapper."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockfsm.machine.core import Broadcast, ConfigError, Rejected, Send, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncRequestReceived,
    response_size,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.types import advertise_block_payload, certificate_payload
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of, make_signers, u64_or_garbage
from blockfsm.spec.strategies.sync_server import request_events, server_states

CHAIN = 7
PEER = b"\x01" * 32
SIGNERS = make_signers(4)


def server(**overrides: Any) -> tuple[Conformant, SyncServerState]:
    config = SyncServerConfig(chain_id=CHAIN, signer=SIGNERS[0], **overrides)
    return Conformant(SYNC_SERVER, config), SYNC_SERVER.initial(config)


def request(
    start: int = 0, limit: int = 10, chain: int = CHAIN, rid: int = 1
) -> SyncRequestReceived:
    return SyncRequestReceived(
        peer=PEER,
        request=SyncRequest(chain_id=chain, request_id=rid, start_height=start, limit=limit),
    )


VIEW = chain_of(40, SIGNERS, CHAIN).snapshot()


def test_absurd_limit_is_capped_at_request_limit() -> None:
    """Upstream bug 1: max(limit, request_limit) sent the whole chain for limit = 2**32 - 1."""
    runner, state = server(request_limit=10)
    _, effects = runner.step(state, request(limit=2**32 - 1), VIEW)
    (send,) = effects
    assert isinstance(send, Send) and len(send.message.blocks) == 10
    assert [b.height for b in send.message.blocks] == list(range(10))


def test_small_limit_is_respected() -> None:
    runner, state = server(request_limit=10)
    _, (send,) = runner.step(state, request(start=5, limit=3), VIEW)
    assert [b.height for b in send.message.blocks] == [5, 6, 7]
    assert send.message.request_id == 1 and send.message.chain_id == CHAIN


def test_zero_limit_is_rejected_not_unlimited() -> None:
    runner, state = server()
    after, effects = runner.step(state, request(limit=0), VIEW)
    assert effects == (Rejected(reason="zero_limit", peer=PEER),) and after == state


def test_wrong_chain_is_rejected_and_changes_nothing() -> None:
    runner, state = server()
    after, effects = runner.step(state, request(chain=CHAIN + 1), VIEW)
    assert effects == (Rejected(reason="wrong_chain", peer=PEER),) and after == state


def test_request_past_the_tip_gets_an_empty_response_with_the_certificate() -> None:
    runner, state = server()
    _, (send,) = runner.step(state, request(start=1000), VIEW)
    assert (
        send.message.blocks == () and send.message.highest_certificate == VIEW.highest_certificate()
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("limit", -1),
        ("start_height", 2**64),
        ("chain_id", None),
        ("request_id", True),
        ("limit", 1.5),
    ],
)
def test_malformed_requests_are_counted_rejections(field: str, value: object) -> None:
    runner, state = server()
    fields: dict[str, Any] = {"chain_id": CHAIN, "request_id": 1, "start_height": 0, "limit": 1}
    fields[field] = value
    event = SyncRequestReceived(peer=PEER, request=SyncRequest(**fields))
    after, effects = runner.step(state, event, VIEW)
    assert effects == (Rejected(reason="malformed_request", peer=PEER),) and after == state


def test_advertises_at_start_then_every_advertise_time() -> None:
    runner, state = server(advertise_time=10_000)
    state, effects = runner.step(state, Tick(now=0), VIEW)
    assert [type(e.message) for e in effects] == [AdvertiseCertificate, AdvertiseBlock]
    state, effects = runner.step(state, Tick(now=9_999), VIEW)
    assert effects == ()
    state, effects = runner.step(state, Tick(now=10_000), VIEW)
    assert len(effects) == 2
    state, effects = runner.step(state, Tick(now=15_000), VIEW)
    assert effects == ()


def test_wrong_chain_flood_cannot_delay_advertising() -> None:
    """Upstream bug 8: a stream of wrong-chain requests starved the advertisement timer."""
    runner, state = server(advertise_time=1_000)
    state, _ = runner.step(state, Tick(now=0), VIEW)
    for _ in range(500):
        state, _ = runner.step(state, request(chain=CHAIN + 1), VIEW)
    state, effects = runner.step(state, Tick(now=1_000), VIEW)
    assert [type(e) for e in effects] == [Broadcast, Broadcast]


def test_advertisement_is_domain_tagged_fresh_and_names_its_server() -> None:
    """Upstream bug 7: AdvertiseBlock signed the same bytes as a timeout vote, with no freshness."""
    runner, state = server()
    _, effects = runner.step(state, Tick(now=1234), VIEW)
    ad = effects[1].message
    assert ad.timestamp == 1234 and ad.server == SIGNERS[0].public_key
    assert ad.committed_height == VIEW.committed_height()
    verifier = StandInVerifier.of(SIGNERS)
    payload = advertise_block_payload(CHAIN, ad.server, ad.committed_height, ad.timestamp)
    assert verifier.verify(ad.server, payload, ad.signature)
    # The same signature does not verify as a certificate vote over the "same" numbers.
    vote = certificate_payload(CHAIN, ad.committed_height, ad.committed_height, bytes(32))
    assert not verifier.verify(ad.server, vote, ad.signature)


def test_clock_regression_is_rejected() -> None:
    runner, state = server()
    state, _ = runner.step(state, Tick(now=500), VIEW)
    after, effects = runner.step(state, Tick(now=499), VIEW)
    assert effects == (Rejected(reason="clock_regressed"),) and after == state


def test_rate_limit_per_peer_per_window() -> None:
    runner, state = server(rate_limit_requests=2, rate_limit_window=1_000)
    state, _ = runner.step(state, Tick(now=0), VIEW)
    outcomes = []
    for _ in range(3):
        state, effects = runner.step(state, request(), VIEW)
        outcomes.append(type(effects[0]).__name__)
    assert outcomes == ["Send", "Send", "Rejected"]
    other = SyncRequestReceived(peer=b"\x02" * 32, request=request().request)
    state, effects = runner.step(state, other, VIEW)
    assert isinstance(effects[0], Send), "another peer has its own budget"
    state, _ = runner.step(state, Tick(now=1_000), VIEW)
    state, effects = runner.step(state, request(), VIEW)
    assert isinstance(effects[0], Send), "a new window restores the budget"


def test_peer_table_is_bounded_and_drops_the_lightest_entry() -> None:
    runner, state = server(rate_limit_peers=2)
    state, _ = runner.step(state, Tick(now=0), VIEW)
    heavy, light, new = (bytes([i + 10]) * 32 for i in range(3))
    for peer in (heavy, heavy, light, new):
        event = SyncRequestReceived(peer=peer, request=request().request)
        state, effects = runner.step(state, event, VIEW)
        assert type(effects[0]) is Send
    assert state.window_counts.entries == ((heavy, 2), (new, 1))


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"request_limit": 0}, "request_limit"),
        ({"request_limit": 10**9}, "request_limit"),
        ({"advertise_time": -5}, "advertise_time"),
        ({"advertise_time": "10s"}, "advertise_time"),
        ({"rate_limit_window": 0}, "rate_limit_window"),
        ({"chain_id": -1}, "chain_id"),
        ({"signer": object()}, "signer"),
        ({"max_response_bytes": 1_023}, "max_response_bytes"),
        ({"max_response_bytes": 2**32 + 1}, "max_response_bytes"),
        ({"max_response_bytes": 4.0}, "max_response_bytes"),
    ],
)
def test_config_rejects_absurd_values_with_a_clear_error(
    overrides: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {"chain_id": CHAIN, "signer": SIGNERS[0]}
    fields.update(overrides)
    with pytest.raises(ConfigError, match=message):
        SyncServerConfig(**fields)


def test_defaults_follow_upstream() -> None:
    config = SyncServerConfig(chain_id=CHAIN, signer=StandInSigner.from_seed(1))
    assert config.request_limit == 10 and config.advertise_time == 10_000


def test_unknown_event_type_is_a_programming_error() -> None:
    config = SyncServerConfig(chain_id=CHAIN, signer=SIGNERS[0])
    with pytest.raises(TypeError):
        SYNC_SERVER.step(config, SYNC_SERVER.initial(config), object(), VIEW)


CONFIGS = st.builds(
    SyncServerConfig,
    chain_id=st.just(CHAIN),
    signer=st.just(SIGNERS[0]),
    request_limit=st.integers(min_value=1, max_value=20),
    advertise_time=st.integers(min_value=1, max_value=20_000),
    rate_limit_requests=st.integers(min_value=1, max_value=60),
    rate_limit_window=st.integers(min_value=1, max_value=5_000),
    rate_limit_peers=st.integers(min_value=1, max_value=8),
    max_response_bytes=st.integers(min_value=1_024, max_value=8_000),
)
TICKS = st.builds(Tick, now=st.one_of(st.integers(min_value=-5, max_value=10**7), u64_or_garbage()))


@given(
    config=CONFIGS,
    state=server_states(),
    event=st.one_of(TICKS, request_events(CHAIN)),
)
def test_any_state_and_any_input_match_exactly_one_row_and_conform(
    config: SyncServerConfig, state: SyncServerState, event: Any
) -> None:
    """Guards are mutually exclusive and exhaustive over arbitrary well-typed states, reachable or
    not, and any input, garbage included, is handled without raising, as its row says."""
    runner = Conformant(SYNC_SERVER, config, check_invariants=False)
    runner.step(state, event, VIEW)


def test_tick_beyond_u64_is_rejected_not_a_crash() -> None:
    """Found by the arbitrary-state property: a Tick at 2**64 ms passed the clock check and then
    overflowed the u64 timestamp of the advertisement payload."""
    runner, state = server()
    after, effects = runner.step(state, Tick(now=2**64), VIEW)
    assert effects == (Rejected(reason="clock_regressed"),) and after == state


# --- issue 7 item 6: a field that is None or of the wrong type is a counted rejection --------


@pytest.mark.parametrize("bad", [None, "request", 5, (), b"x"])
def test_issue7_request_that_is_not_a_request_is_rejected_not_a_crash(bad: object) -> None:
    """The reproduction: ``SyncRequestReceived(request=None)`` raised AttributeError out of
    ``step``, against rule 1 of machine/core.py."""
    runner, state = server()
    event = SyncRequestReceived(peer=PEER, request=bad)  # type: ignore[arg-type]
    after, effects = runner.step(state, event, VIEW)
    assert effects == (Rejected(reason="malformed_request", peer=PEER),) and after == state


def test_issue7_request_from_a_peer_that_is_no_key_is_rejected() -> None:
    runner, state = server()
    event = SyncRequestReceived(peer=None, request=request().request)  # type: ignore[arg-type]
    after, effects = runner.step(state, event, VIEW)
    assert effects == (Rejected(reason="malformed_request", peer=None),) and after == state


# --- issue 7 item 7: the peer table cannot be used to shut honest peers out ----------------


def test_issue7_a_table_full_of_fresh_identities_does_not_refuse_an_honest_peer() -> None:
    """The reproduction: 1,024 identities, one request each, filled the default table, and every
    new peer was refused as rate_limited for the rest of the window. The honest peer is served;
    the table stays at its bound; a peer at its budget is still refused (SS-14, SS-12, SS-10)."""
    runner, state = server(rate_limit_requests=3)
    state, _ = runner.step(state, Tick(now=0), VIEW)
    for _ in range(3):
        state, _ = runner.step(state, request(), VIEW)  # PEER spends its budget
    for i in range(1_100):
        sybil = SyncRequestReceived(peer=i.to_bytes(32, "big"), request=request().request)
        state, effects = runner.step(state, sybil, VIEW)
        assert type(effects[0]) is Send
    honest = SyncRequestReceived(peer=b"\x77" * 32, request=request().request)
    state, effects = runner.step(state, honest, VIEW)
    assert type(effects[0]) is Send, "an honest peer was refused because others filled the table"
    assert len(state.window_counts) == 1_024
    state, effects = runner.step(state, request(), VIEW)
    assert effects == (Rejected(reason="rate_limited", peer=PEER),), "the heavy peer was forgotten"


# --- issue 7 item 7: responses are bounded in bytes ------------------------------------------


def test_issue7_response_never_exceeds_the_byte_bound() -> None:
    """The reproduction: a response had no byte bound. Ten 572-byte blocks and a 480-byte
    certificate do not fit 3,000 bytes: the server sends the longest run that does (four)."""
    runner, state = server(max_response_bytes=3_000)
    state, effects = runner.step(state, request(start=1, limit=10), VIEW)
    (send,) = effects
    assert len(send.message.blocks) == 4 and response_size(send.message) <= 3_000
    smaller = SyncRequest(chain_id=CHAIN, request_id=2, start_height=1, limit=10, max_bytes=1_700)
    state, effects = runner.step(state, SyncRequestReceived(peer=PEER, request=smaller), VIEW)
    assert len(effects[0].message.blocks) == 2, "the request's own bound is honoured too"


def test_issue7_bound_too_small_for_the_certificate_is_refused() -> None:
    runner, state = server()
    tiny = SyncRequest(chain_id=CHAIN, request_id=2, start_height=1, limit=10, max_bytes=100)
    after, effects = runner.step(state, SyncRequestReceived(peer=PEER, request=tiny), VIEW)
    assert effects == (Rejected(reason="response_too_large", peer=PEER),) and after == state
