"""Focused tests of the sync client: config validation, server choice, and one scenario per
upstream bug of PROTOCOLS.md section 1 (items 2 to 6), each judged by the invariant that names it.

The scenarios run the machine's ``step`` directly (not through the conformance wrapper), so a
reintroduced bug is reported by its own invariant rather than by a row mismatch.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockfsm.machine.core import ConfigError, Rejected, Send, Tick
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncResponse,
    SyncResponseReceived,
    response_size,
)
from blockfsm.machine.sync_client import (
    AWAITING,
    PASSIVE,
    Blacklisted,
    ChainAdvanced,
    Commit,
    Outstanding,
    Persist,
    Registration,
    SyncClientConfig,
    SyncClientState,
    UpdateHighestCertificate,
    initial,
    mix,
    step,
)
from blockfsm.machine.types import Block
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec import sync_client as spec
from blockfsm.spec.campaigns.sync_client import (
    CANONICAL,
    CHAIN_ID,
    CLIENT_KEY,
    KEYS,
    SIGNERS,
    VALIDATORS,
    VERIFIER,
    OneHonestThreeByzantine,
    certificate_of,
    extend_to,
)
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.language import Transition
from blockfsm.spec.machines import SYNC_CLIENT
from blockfsm.spec.strategies.chains import chain_of
from blockfsm.spec.strategies.sync_client import (
    KINDS,
    Byzantine,
    client_events,
    client_states,
    forge,
)

S1, S2 = KEYS[1], KEYS[2]


def config(**overrides: Any) -> SyncClientConfig:
    fields: dict[str, Any] = dict(
        chain_id=CHAIN_ID, own_key=CLIENT_KEY, validators=VALIDATORS, verifier=VERIFIER
    )
    fields.update(overrides)
    return SyncClientConfig(**fields)


class World:
    """A client and its chain; ``feed`` steps, applies effects and returns the transition."""

    def __init__(self, cfg: SyncClientConfig, state: SyncClientState, length: int) -> None:
        self.cfg = cfg
        self.state = state
        self.chain = InMemoryChain(CHAIN_ID)
        extend_to(self.chain, length)

    def feed(self, event: Any) -> Transition:
        view = self.chain.snapshot()
        after, effects = step(self.cfg, self.state, event, view)
        t = Transition(
            config=self.cfg,
            before=self.state,
            event=event,
            after=after,
            effects=effects,
            view=view,
        )
        self.state = after
        for e in effects:
            if type(e) is Persist:
                self.chain.persist(e.block)
            elif type(e) is Commit:
                self.chain.commit(e.height)
            elif type(e) is UpdateHighestCertificate:
                self.chain.set_highest_certificate(e.certificate)
        return t


def registered(*peers_heights: tuple[bytes, int]) -> tuple[Registration, ...]:
    return tuple(
        Registration(peer=p, height=h, timestamp=1, received=0) for p, h in sorted(peers_heights)
    )


def awaiting(request: Outstanding, registry: tuple[Registration, ...]) -> SyncClientState:
    return SyncClientState(
        control=AWAITING,
        now=0,
        registry=registry,
        sync_started=0,
        request=request,
        next_request_id=request.request_id + 1,
    )


def honest_reply(request_id: int, start: int, limit: int, length: int) -> SyncResponse:
    server = InMemoryChain(CHAIN_ID)
    extend_to(server, length)
    view = server.snapshot()
    return SyncResponse(
        chain_id=CHAIN_ID,
        request_id=request_id,
        blocks=view.blocks_from(start, limit),
        highest_certificate=view.highest_certificate(),
    )


# --- config and choice ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("request_limit", 2),
        ("request_limit", 0),
        ("response_timeout", 0),
        ("blacklist_expiry_time", -5),
        ("trigger_min_view_difference", 0),
        ("trigger_timeout", "60s"),
        ("max_sync_time", 3_000),
        ("chain_id", -1),
        ("own_key", b"short"),
        ("seed", 2**64),
        ("max_response_bytes", 1_023),
        ("max_response_bytes", 2**32 + 1),
        ("max_response_bytes", None),
    ],
)
def test_absurd_config_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigError):
        config(**{field: value})


def test_defaults_follow_upstream() -> None:
    c = config()
    assert (c.request_limit, c.response_timeout, c.blacklist_expiry_time) == (10, 3_000, 10_000)
    assert (c.trigger_min_view_difference, c.trigger_timeout) == (2, 60_000)


def test_choice_is_seeded_and_spreads() -> None:
    assert mix(7, 3) == mix(7, 3) == spec.mix(7, 3)
    assert len({mix(1, d) % 4 for d in range(64)}) == 4


def test_never_chooses_itself_and_prefers_servers_ahead() -> None:
    cfg = config(trigger_timeout=10)
    state = attrs.evolve(initial(cfg), registry=registered((S1, 3), (S2, 9), (KEYS[3], 1)))
    w = World(cfg, state, 4)  # committed 2
    for seed in range(20):
        w.state = attrs.evolve(state, seed=seed)
        t = w.feed(Tick(now=20))
        sends = [e for e in t.effects if type(e) is Send]
        assert [s.peer for s in sends] in ([S1], [S2])


def test_timeout_trigger_without_server_does_not_reset_the_timer() -> None:
    cfg = config(trigger_timeout=100)
    w = World(cfg, initial(cfg), 0)
    w.feed(Tick(now=150))
    assert w.state.control == PASSIVE and w.state.last_progress == 0
    w.state = attrs.evolve(w.state, registry=registered((S1, 5)))
    w.state = attrs.evolve(
        w.state, registry=(attrs.evolve(w.state.registry.entries[0], received=150),)
    )
    t = w.feed(Tick(now=151))
    assert t.after.control == AWAITING


def test_chain_advanced_restarts_the_timeout_trigger() -> None:
    cfg = config()
    w = World(cfg, attrs.evolve(initial(cfg), now=500), 0)
    w.feed(ChainAdvanced())
    assert w.state.last_progress == 500


# --- upstream bug 2: blacklist expiry (SC-7) ----------------------------------------------


def test_bug2_blacklist_entries_expire_at_blacklist_expiry_time() -> None:
    cfg = config(blacklist_expiry_time=1_000)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=5, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 5))), 0)
    monitor = spec.BlacklistExpires()
    bad = attrs.evolve(honest_reply(1, 0, 10, 8), chain_id=CHAIN_ID + 1)
    assert monitor.observe(w.feed(SyncResponseReceived(peer=S1, response=bad)))
    assert w.state.blacklist == ((S1, 1_000),)
    assert monitor.observe(w.feed(Tick(now=999)))
    assert w.state.blacklist == ((S1, 1_000),), "a live entry was dropped"
    assert monitor.observe(w.feed(Tick(now=1_000)))
    assert w.state.blacklist == (), "an expired entry was kept"


# --- upstream bug 3: blame by result, certificate always processed (SC-5, SC-6) -----------


def test_bug3_server_not_blamed_for_blocks_the_client_already_had() -> None:
    cfg = config()
    w = World(cfg, initial(cfg), 6)  # blocks 0..5, committed 4
    # The client lags in commits: it holds block 5 but only a certificate for block 4.
    w.chain = _lagging(w.chain)
    request = Outstanding(
        server=S1, request_id=1, start_height=4, limit=10, target=4, deadline=3_000
    )
    w.state = awaiting(request, registered((S1, 4)))
    reply = honest_reply(1, 4, 10, 6)  # blocks 4, 5 (both held) and the certificate of 5
    t = w.feed(SyncResponseReceived(peer=S1, response=reply))
    assert not [e for e in t.effects if type(e) is Blacklisted]
    assert spec.blame_justified(t)
    assert spec.certificate_processed(t)
    assert Commit(height=4) in t.effects
    assert UpdateHighestCertificate(certificate=reply.highest_certificate) in t.effects


def _lagging(chain: InMemoryChain) -> InMemoryChain:
    """The same blocks 0..5 with only 0..3 committed and the certificate of block 4."""
    lag = InMemoryChain(CHAIN_ID)
    for h in range(6):
        block = chain.block_at(h)
        assert block is not None
        lag.persist(block)
    child = chain.block_at(5)
    assert child is not None
    lag.set_highest_certificate(child.justify)
    lag.commit(3)
    return lag


def test_short_valid_answer_is_not_blamed_and_the_sync_moves_on() -> None:
    """A response of two blocks to a request for ten, from a server that advertised 8: an honest
    server with request_limit 2 sends exactly this, so it is no ground for blame (it commits
    nothing new, so the sync moves on to the next server without blacklisting anyone)."""
    cfg = config()
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=8, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 8), (S2, 8))), 0)
    short = honest_reply(1, 0, 2, 10)
    t = w.feed(SyncResponseReceived(peer=S1, response=short))
    assert not [e for e in t.effects if type(e) is Blacklisted]
    assert [e.peer for e in t.effects if type(e) is Send] == [S2]
    assert spec.blame_justified(t)


# --- issue 7 item 1: an honest server with a smaller request_limit is never blamed (SC-5) ----


def test_issue7_honest_server_with_a_smaller_cap_is_not_blacklisted() -> None:
    """The reproduction: client request_limit 10, server request_limit 5. The real sync server
    machine answers five blocks; upstream's rule (and this client before) judged that against the
    client's own limit and blacklisted the server as ``under_delivered``."""
    from blockfsm.machine.messages import SyncRequestReceived
    from blockfsm.machine.sync_server import SyncServerConfig
    from blockfsm.spec.machines import SYNC_SERVER

    cfg = config(request_limit=10)
    server_chain = InMemoryChain(CHAIN_ID)
    extend_to(server_chain, 30)  # commits 28
    server_cfg = SyncServerConfig(chain_id=CHAIN_ID, signer=SIGNERS[1], request_limit=5)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=28, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 28))), 0)
    sent = SyncRequest(chain_id=CHAIN_ID, request_id=1, start_height=0, limit=10)
    _, out = SYNC_SERVER.step(
        server_cfg,
        SYNC_SERVER.initial(server_cfg),
        SyncRequestReceived(peer=CLIENT_KEY, request=sent),
        server_chain.snapshot(),
    )
    (reply,) = [e.message for e in out if type(e) is Send]
    assert len(reply.blocks) == 5
    t = w.feed(SyncResponseReceived(peer=S1, response=reply))
    assert not [e for e in t.effects if type(e) is Blacklisted]
    assert spec.blame_justified(t)
    # It made progress (blocks 0..4 commit 2; block 4's justify certifies 3), so the same server
    # is asked for the rest, from past the certified block 3 (rule 4).
    assert [(e.peer, e.message.start_height) for e in t.effects if type(e) is Send] == [(S1, 4)]


@settings(max_examples=max(60, settings.default.max_examples // 2))
@given(
    client_limit=st.integers(min_value=3, max_value=16),
    server_limit=st.integers(min_value=1, max_value=16),
    client_length=st.integers(min_value=0, max_value=10),
    server_length=st.integers(min_value=0, max_value=40),
    server_bytes=st.integers(min_value=1_024, max_value=12_000),
)
def test_issue7_no_honest_server_is_ever_blamed_whatever_its_cap(
    client_limit: int,
    server_limit: int,
    client_length: int,
    server_length: int,
    server_bytes: int,
) -> None:
    """SC-5 from the honest server's strategy alone: drive the real sync server machine, with a
    cap drawn independently of the client's, until the sync ends; its sender is never blamed."""
    from blockfsm.machine.messages import SyncRequestReceived
    from blockfsm.machine.sync_server import SyncServerConfig
    from blockfsm.spec.machines import SYNC_SERVER

    server_chain = InMemoryChain(CHAIN_ID)
    extend_to(server_chain, server_length)
    advertised = server_chain.committed_height
    cfg = config(request_limit=client_limit)
    server_cfg = SyncServerConfig(
        chain_id=CHAIN_ID,
        signer=SIGNERS[1],
        request_limit=server_limit,
        max_response_bytes=server_bytes,
    )
    server_state = SYNC_SERVER.initial(server_cfg)
    w = World(cfg, initial(cfg), client_length)
    start = w.chain.committed_height + 1
    request = Outstanding(
        server=S1,
        request_id=1,
        start_height=start,
        limit=client_limit,
        target=advertised,
        deadline=3_000,
    )
    w.state = awaiting(request, registered((S1, advertised)))
    for _ in range(60):
        if w.state.control != AWAITING:
            break
        out = w.state.request
        sent = SyncRequest(
            chain_id=CHAIN_ID,
            request_id=out.request_id,
            start_height=out.start_height,
            limit=out.limit,
            max_bytes=cfg.max_response_bytes,
        )
        server_state, effects = SYNC_SERVER.step(
            server_cfg,
            server_state,
            SyncRequestReceived(peer=CLIENT_KEY, request=sent),
            server_chain.snapshot(),
        )
        replies = [e.message for e in effects if type(e) is Send]
        if not replies:  # the server's byte bound cannot hold its certificate: no answer
            break
        t = w.feed(SyncResponseReceived(peer=S1, response=replies[0]))
        assert not [e for e in t.effects if type(e) is Blacklisted], "an honest server was blamed"
        assert spec.blame_justified(t)
    if server_limit >= 3 and server_bytes >= 3_500:  # room for three blocks and a certificate
        assert w.chain.committed_height >= advertised


# --- upstream bug 4: request ids (SC-3) -----------------------------------------------------


def test_bug4_late_reply_to_an_old_request_is_dropped() -> None:
    cfg = config(request_limit=4)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=4, target=10, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 10))), 0)
    monitor = spec.AnswersOnlyOutstanding()
    monitor.outstanding = (S1, 1)
    first = SyncResponseReceived(peer=S1, response=honest_reply(1, 0, 4, 12))
    t = w.feed(first)
    assert monitor.observe(t)
    assert [type(e) for e in t.effects][-1] is Send  # asks S1 again, with request id 2
    t = w.feed(first)  # the network duplicates the first reply
    assert monitor.observe(t), "a reply to request 1 was taken for the reply to request 2"
    assert t.effects == (Rejected(reason="unexpected_response", peer=S1),)


# --- upstream bug 5: duplicates and heights (SC-2) ------------------------------------------


@pytest.mark.parametrize("kind", ["duplicate_block", "wrong_height"])
def test_bug5_duplicate_or_shifted_blocks_are_never_persisted(kind: str) -> None:
    cfg = config()
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=6, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 6))), 0)
    honest = honest_reply(1, 0, 5, 8)
    ((_, reply),) = Byzantine(kind=kind, param=2).answer(
        SyncRequest(chain_id=CHAIN_ID, request_id=1, start_height=0, limit=5),
        honest,
        CANONICAL.snapshot(),
    )
    t = w.feed(SyncResponseReceived(peer=S1, response=reply))
    assert spec.persisted_blocks_validated(t)
    assert not [e for e in t.effects if type(e) is Persist]
    assert [e.reason for e in t.effects if type(e) is Blacklisted] == ["invalid_response"]


# --- upstream bug 6: move on, and terminate (SC-9, SC-10) ---------------------------------


def test_bug6_after_a_failure_the_next_server_is_asked_in_the_same_step() -> None:
    cfg = config()
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=6, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 6), (S2, 6))), 0)
    bad = attrs.evolve(honest_reply(1, 0, 10, 8), chain_id=CHAIN_ID + 1)
    t = w.feed(SyncResponseReceived(peer=S1, response=bad))
    assert spec.moves_on(t)
    sends = [e for e in t.effects if type(e) is Send]
    assert [s.peer for s in sends] == [S2] and t.after.control == AWAITING


def test_bug6_a_sync_ends_at_max_sync_time() -> None:
    cfg = config(max_sync_time=5_000)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=6, deadline=10_000
    )
    w = World(cfg, awaiting(request, registered((S1, 6))), 0)
    monitor = spec.SyncTerminates()
    monitor.started = 0
    assert monitor.observe(w.feed(Tick(now=4_999)))
    assert monitor.observe(w.feed(Tick(now=5_000)))
    assert w.state.control == PASSIVE


# --- the 'done when' scenario, one Byzantine kind at a time --------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_one_honest_and_three_byzantine_servers_catch_the_client_up(kind: str) -> None:
    run = OneHonestThreeByzantine()
    run.setup(
        honest=1,
        behaviours=[Byzantine(kind=kind, param=p) for p in (1, 7, 30)],
        lengths=[40, 20, 44, 46, 0],
        client_length=2,
        request_limit=3,
        server_limits=[3, 3, 3, 3, 3],
        response_timeout=400,
        blacklist_expiry_time=5_000,
        trigger_timeout=2_000,
        trigger_rate_limit=100,
        trigger_min_view_difference=2,
        advertise_time=500,
        slack=0,
        seed=len(kind),
    )
    run.tick(fraction=0, jump=0)
    run.deliver_all()
    run.check_liveness()
    assert run.chain.committed_height >= 38


# --- a throttling server does not set the pace (SCL-3) -----------------------------------------


def test_a_throttling_server_that_wins_the_trigger_does_not_set_the_catch_up_pace() -> None:
    """The finding: three Byzantine servers ahead of the honest one answer valid blocks one at a
    time with the certificate of each (every answer commits one block), and advertise their
    valid certificate on every tick so theirs triggers the sync. The client used to ask the
    trigger's sender first and keep it while it made progress: 38 requests for a gap of 38,
    where SCL-3 allows ceil(38 / 6) + 1 + 3 * 3 = 17 at request_limit 8."""
    run = OneHonestThreeByzantine()
    run.setup(
        honest=1,
        behaviours=[Byzantine(kind="throttling", param=p) for p in (3, 6, 9)],
        lengths=[40, 46, 46, 46, 0],
        client_length=2,
        request_limit=8,
        server_limits=[8, 8, 8, 8, 8],
        response_timeout=400,
        blacklist_expiry_time=5_000,
        trigger_timeout=2_000,
        trigger_rate_limit=100,
        trigger_min_view_difference=2,
        advertise_time=500,
        slack=0,
        seed=0,
    )
    run.tick(fraction=0, jump=0)
    run.deliver_all()
    run.check_liveness()
    assert run.chain.committed_height >= 38


def _certified_answer(request_id: int, start: int, count: int) -> SyncResponse:
    """Canonical blocks ``start`` .. ``start + count - 1`` and the certificate of the last."""
    view = CANONICAL.snapshot()
    blocks = view.blocks_from(start, count)
    return SyncResponse(
        chain_id=CHAIN_ID,
        request_id=request_id,
        blocks=blocks,
        highest_certificate=certificate_of(blocks[-1].height),
    )


@pytest.mark.parametrize("short", [S1, S2])
def test_the_trigger_s_sender_is_not_preferred_to_a_server_that_delivered_more(
    short: bytes,
) -> None:
    cfg = config()
    state = attrs.evolve(
        initial(cfg), now=1_000, registry=registered((S1, 40), (S2, 40)), delivered=((short, 1),)
    )
    ad = AdvertiseCertificate(certificate=certificate_of(20))
    for seed in range(4):
        w = World(cfg, attrs.evolve(state, seed=seed), 6)  # committed 4
        t = w.feed(AdvertiseCertificateReceived(peer=S1, advertisement=ad))
        assert spec.ranked_by_delivery(t)
        assert [e.peer for e in t.effects if type(e) is Send] == [S2 if short == S1 else S1]


def test_a_short_answer_hands_the_sync_to_a_server_that_delivered_more_and_stays_a_fallback() -> (
    None
):
    cfg = config()
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=40, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 40), (S2, 40))), 0)
    # Two valid blocks and the certificate of the second: progress (commits 0), but short.
    t = w.feed(SyncResponseReceived(peer=S1, response=_certified_answer(1, 0, 2)))
    assert spec.ranked_by_delivery(t) and spec.blame_justified(t)
    assert Commit(height=0) in t.effects
    assert [e.peer for e in t.effects if type(e) is Send] == [S2]
    assert w.state.delivered == ((S1, 2),) and w.state.tried == ()
    # S2 never answers: the short server is asked again rather than the sync ending.
    t = w.feed(Tick(now=3_000))
    assert spec.ranked_by_delivery(t)
    assert [e.peer for e in t.effects if type(e) is Send] == [S1]
    assert w.state.tried == (S2,)


def test_an_answer_of_everything_the_server_advertised_is_in_full() -> None:
    """Asked from 5 with the server at 6, blocks 5 and 6 are all it must hold: in full, so it is
    asked again (it is not below a server that delivered more) and keeps a full record."""
    cfg = config()
    request = Outstanding(
        server=S1, request_id=1, start_height=5, limit=10, target=6, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 6), (S2, 40))), 5)  # committed 3
    t = w.feed(SyncResponseReceived(peer=S1, response=_certified_answer(1, 5, 2)))
    assert spec.ranked_by_delivery(t)
    assert Commit(height=5) in t.effects
    assert [e.peer for e in t.effects if type(e) is Send] == [S1]
    assert w.state.delivered == ()


# --- any state, any input ------------------------------------------------------------------


CONFIGS = st.builds(
    config,
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    request_limit=st.integers(min_value=3, max_value=12),
    response_timeout=st.integers(min_value=1, max_value=2_000),
    max_sync_time=st.integers(min_value=2_001, max_value=4_000),
    blacklist_expiry_time=st.integers(min_value=1, max_value=4_000),
    trigger_min_view_difference=st.integers(min_value=1, max_value=4),
    trigger_timeout=st.integers(min_value=1, max_value=4_000),
    trigger_rate_limit=st.integers(min_value=1, max_value=4_000),
    advertise_expiry=st.integers(min_value=1, max_value=4_000),
    advertise_freshness=st.integers(min_value=1, max_value=4_000),
    max_response_bytes=st.one_of(
        st.integers(min_value=1_024, max_value=8_000), st.just(4 * 1024 * 1024)
    ),
)
VIEWS = tuple(chain_of(n, SIGNERS[:5], CHAIN_ID).snapshot() for n in range(13))
"""Small certified prefixes of the canonical chain, committing up to height 10."""
CANONICAL_VIEW = CANONICAL.snapshot()


# The deeper rows (a triggered sync, a valid accepted reply) need more draws than the profile's
# default to be reached from arbitrary states; never fewer than the profile asks for.
@settings(max_examples=max(800, settings.default.max_examples))
@given(
    cfg=CONFIGS,
    state=client_states(),
    length=st.integers(min_value=0, max_value=len(VIEWS) - 1),
    data=st.data(),
)
def test_any_state_and_any_input_match_exactly_one_row_and_conform(
    cfg: SyncClientConfig, state: SyncClientState, length: int, data: st.DataObject
) -> None:
    """Guards are mutually exclusive and exhaustive over arbitrary well-typed states, reachable or
    not, and any input, garbage included, is handled without raising, as its row says."""
    events = st.one_of(client_events(CANONICAL_VIEW, state), st.sampled_from(_none_field_events()))
    event = data.draw(events, label="event")
    runner = Conformant(SYNC_CLIENT, cfg, check_invariants=False)
    runner.step(state, event, VIEWS[length])


def test_passive_state_with_a_leftover_request_rejects_a_matching_response() -> None:
    """Found by the arbitrary-state property: a Passive state still holding a request (the type
    allows it) acted on a response matching that request, blacklisting its sender, where the spec
    says Passive has nothing outstanding and rejects every well-formed response as unexpected."""
    request = Outstanding(server=S1, request_id=0, start_height=0, limit=0, target=0, deadline=0)
    state = SyncClientState(control=PASSIVE, request=request)
    event = SyncResponseReceived(
        peer=S1,
        response=SyncResponse(
            chain_id=CHAIN_ID,
            request_id=0,
            blocks=(),
            highest_certificate=CANONICAL.snapshot().highest_certificate(),
        ),
    )
    runner = Conformant(SYNC_CLIENT, config(), check_invariants=False)
    after, effects = runner.step(state, event, VIEWS[0])
    assert effects == (Rejected(reason="unexpected_response", peer=S1),) and after == state


# --- issue 7 item 6: cheaper attacks ----------------------------------------------------------


class CountingVerifier:
    """The campaign's verifier, counting signature checks."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        self.calls += 1
        return bool(VERIFIER.verify(public_key, message, signature))


def test_issue7_invalid_certificate_flood_costs_one_verification_round() -> None:
    """The reproduction: 1,000 invalid far-ahead certificates in one millisecond, each from a
    different validator in turn, cost 1,000 verification rounds (4,000 signature checks with a
    quorum of four); the rate limit now counts the attempt before any signature is checked."""
    counting = CountingVerifier()
    cfg = config(verifier=counting, trigger_rate_limit=1_000)
    forged = forge(certificate_of(40))
    w = World(cfg, attrs.evolve(initial(cfg), now=5), 0)
    monitor = spec.CertificateChecksRateLimited()
    for i in range(1_000):
        event = AdvertiseCertificateReceived(
            peer=KEYS[1 + i % 5], advertisement=AdvertiseCertificate(certificate=forged)
        )
        assert monitor.observe(w.feed(event)), f"certificate {i} was checked inside the window"
    assert counting.calls <= len(forged.signatures)
    # The window over, the next certificate is checked again (and a valid one starts a sync).
    w.state = attrs.evolve(w.state, now=1_005, registry=registered((S1, 40)))
    valid = AdvertiseCertificateReceived(
        peer=S1, advertisement=AdvertiseCertificate(certificate=certificate_of(40))
    )
    t = w.feed(valid)
    assert monitor.observe(t) and t.after.control == AWAITING


def _none_field_events() -> list[Any]:
    cert = certificate_of(5)
    reply = honest_reply(1, 0, 4, 10)
    ad = AdvertiseBlock(
        chain_id=CHAIN_ID, server=S1, committed_height=3, timestamp=1, signature=b"s" * 64
    )
    block = reply.blocks[0]
    return [
        AdvertiseBlockReceived(peer=S1, advertisement=None),  # type: ignore[arg-type]
        AdvertiseBlockReceived(peer=S1, advertisement=AdvertiseCertificate(certificate=cert)),  # type: ignore[arg-type]
        AdvertiseBlockReceived(peer=S1, advertisement=attrs.evolve(ad, server=None)),
        AdvertiseBlockReceived(peer=None, advertisement=ad),  # type: ignore[arg-type]
        AdvertiseCertificateReceived(peer=S1, advertisement=None),  # type: ignore[arg-type]
        AdvertiseCertificateReceived(peer=S1, advertisement=ad),  # type: ignore[arg-type]
        AdvertiseCertificateReceived(
            peer=S1,
            advertisement=AdvertiseCertificate(certificate=None),  # type: ignore[arg-type]
        ),
        AdvertiseCertificateReceived(
            peer=S1,
            advertisement=AdvertiseCertificate(certificate=attrs.evolve(cert, signatures=None)),
        ),
        SyncResponseReceived(peer=S1, response=None),  # type: ignore[arg-type]
        SyncResponseReceived(peer=S1, response=attrs.evolve(reply, blocks=None)),
        SyncResponseReceived(peer=S1, response=attrs.evolve(reply, blocks=(None,))),
        SyncResponseReceived(
            peer=S1, response=attrs.evolve(reply, blocks=(attrs.evolve(block, justify=None),))
        ),
        SyncResponseReceived(peer=S1, response=attrs.evolve(reply, highest_certificate=None)),
        SyncResponseReceived(peer=None, response=reply),  # type: ignore[arg-type]
        Tick(now=None),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("control", [PASSIVE, AWAITING])
@pytest.mark.parametrize("index", range(len(_none_field_events())))
def test_issue7_none_or_wrongly_typed_fields_never_raise(control: str, index: int) -> None:
    """The reproduction: ``advertisement=None`` raised AttributeError out of ``step``. Every
    such event is handled as its row says (through the conformance wrapper), never raised."""
    event = _none_field_events()[index]
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=8, deadline=3_000
    )
    state = awaiting(request, registered((S1, 8)))
    if control == PASSIVE:
        state = SyncClientState(control=PASSIVE, registry=state.registry)
    runner = Conformant(SYNC_CLIENT, config(), check_invariants=False)
    after, effects = runner.step(state, event, VIEWS[0])
    assert after == state and all(type(e) is Rejected for e in effects)


# --- issue 7 item 7: responses are bounded in bytes; the uncertified tip is decided -----------


def test_issue7_requests_carry_the_byte_bound() -> None:
    cfg = config(trigger_timeout=10, max_response_bytes=5_000)
    w = World(cfg, attrs.evolve(initial(cfg), registry=registered((S1, 9))), 0)
    t = w.feed(Tick(now=20))
    (send,) = [e for e in t.effects if type(e) is Send]
    assert send.message.max_bytes == 5_000


def test_issue7_response_over_the_byte_bound_is_invalid_and_blamed() -> None:
    """The reproduction: responses had no byte bound, so a server could send a client any
    amount. Ten valid blocks are about 7 KB; with a 4 KB bound that is more than was asked for,
    which no honest server sends: invalid, and blamed (SC-5 still holds, from the honest
    server's side: an honest server keeps within the bound the request carried)."""
    cfg = config(max_response_bytes=4_096)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=10, target=20, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 20))), 0)
    big = honest_reply(1, 0, 10, 22)
    assert response_size(big) > 4_096
    t = w.feed(SyncResponseReceived(peer=S1, response=big))
    assert [e.reason for e in t.effects if type(e) is Blacklisted] == ["invalid_response"]
    assert not [e for e in t.effects if type(e) is Persist]
    assert spec.blame_justified(t)


def test_issue7_uncertified_forked_tip_is_kept_without_blame_then_replaced() -> None:
    """Decided and stated in rule 6: a Byzantine server's own block at the tip, with a valid
    justify copied from the real chain, cannot be told from an honest uncertified tip. It is
    persisted without blame, never committed, and the next honest answer replaces it."""
    cfg = config(request_limit=4)
    request = Outstanding(server=S2, request_id=1, start_height=0, limit=4, target=8, deadline=9)
    w = World(cfg, awaiting(request, registered((S1, 8), (S2, 8))), 0)
    honest = honest_reply(1, 0, 4, 10)
    ((_, forked),) = Byzantine(kind="forked_tip", param=3).answer(
        SyncRequest(chain_id=CHAIN_ID, request_id=1, start_height=0, limit=4),
        honest,
        CANONICAL.snapshot(),
    )
    t = w.feed(SyncResponseReceived(peer=S2, response=forked))
    assert not [e for e in t.effects if type(e) is Blacklisted]
    assert w.chain.block_at(0) == forked.blocks[0] != CANONICAL.block_at(0)
    assert w.chain.committed_height == -1
    (ask,) = [e for e in t.effects if type(e) is Send]
    assert (ask.peer, ask.message.start_height) == (S1, 0), "the next request covers its height"
    reply = honest_reply(ask.message.request_id, 0, 4, 10)
    t = w.feed(SyncResponseReceived(peer=S1, response=reply))
    assert w.chain.block_at(0) == CANONICAL.block_at(0) and w.chain.committed_height == 1
    assert not [e for e in t.effects if type(e) is Blacklisted]


# --- rule 4: a request starts past what is held committed or certified (issue 12) ---------------


def _request_starts(t: Transition) -> list[int]:
    return [e.message.start_height for e in t.effects if type(e) is Send]


def test_a_request_starts_past_the_certified_block_above_the_committed_one() -> None:
    """The chain commits 4 and holds block 5 with a certificate for it: block 5 was validated when
    it was persisted and is on the certified chain, so asking for it again would only repeat its
    signature checks. Before issue 12 every request started at committed + 1 (here 5)."""
    cfg = config(trigger_timeout=100)
    w = World(cfg, attrs.evolve(initial(cfg), registry=registered((S1, 20))), 6)
    assert (w.chain.committed_height, w.chain.highest_certificate.height) == (4, 5)
    monitor = spec.RequestsWellFormed()
    t = w.feed(Tick(now=150))
    assert _request_starts(t) == [6]
    assert spec.request_start_after_step(t) == 6 and monitor.observe(t)


def test_a_catch_up_asks_for_each_uncertified_tip_again_and_nothing_else() -> None:
    """Each honest response of 5 blocks from s commits s + 2 and certifies s + 3 (by the last
    block's justify); the last block, s + 4, is not certified, so the next request starts there:
    one block asked for twice per response, not two."""
    cfg = config(request_limit=5)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=5, target=28, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 28))), 0)
    monitor = spec.RequestsWellFormed()
    starts = [0]
    for rid in range(1, 6):
        reply = honest_reply(rid, starts[-1], 5, 30)
        t = w.feed(SyncResponseReceived(peer=S1, response=reply))
        assert monitor.observe(t)
        starts += _request_starts(t)
        assert w.chain.committed_height == starts[-1] - 2
    assert starts == [0, 4, 8, 12, 16, 20]


def test_the_forked_tip_of_a_long_response_is_asked_for_again() -> None:
    """A Byzantine server answers with canonical blocks 0..3 and a block 4 of its own (valid
    justify, certifying 3). The client commits 2 and holds 3 certified, so it asks again from 4:
    the forked tip, which the next honest answer replaces. Starting past it would make the honest
    server's block 5 fail to link to the fork, and blame an honest server. (A one-block fork just
    above the committed height, the case where the block at committed + 1 is held and not
    certified, is `test_issue7_uncertified_forked_tip_is_kept_without_blame_then_replaced`.)"""
    cfg = config(request_limit=5)
    request = Outstanding(
        server=S1, request_id=1, start_height=0, limit=5, target=20, deadline=3_000
    )
    w = World(cfg, awaiting(request, registered((S1, 20), (S2, 20))), 0)
    honest = honest_reply(1, 0, 5, 30)
    tip = honest.blocks[4]
    fork = Block.make(
        chain_id=tip.chain_id,
        height=tip.height,
        parent_hash=tip.parent_hash,
        justify=tip.justify,
        payload=b"fork",
    )
    forked = attrs.evolve(honest, blocks=(*honest.blocks[:4], fork))
    t = w.feed(SyncResponseReceived(peer=S1, response=forked))
    assert w.chain.block_at(4) == fork and w.chain.committed_height == 2
    assert _request_starts(t) == [4]
    assert spec.RequestsWellFormed().observe(t)
    # The next answer (from the same server, or any honest one) covers height 4 and replaces it.
    t = w.feed(SyncResponseReceived(peer=S1, response=honest_reply(2, 4, 5, 30)))
    assert not [e for e in t.effects if type(e) is Blacklisted]
    assert w.chain.block_at(4) == tip and w.chain.committed_height == 6


def test_sc4_catches_a_start_on_either_side_of_rule_4() -> None:
    """SC-4 refuses a request that asks again for a certified block (the refetch issue 12
    removed) and one that skips an uncertified block (which would let a forked tip stand)."""
    cfg = config(trigger_timeout=100)
    w = World(cfg, attrs.evolve(initial(cfg), registry=registered((S1, 20))), 6)
    t = w.feed(Tick(now=150))
    (send,) = [e for e in t.effects if type(e) is Send]
    for wrong in (5, 7):
        moved = attrs.evolve(send, message=attrs.evolve(send.message, start_height=wrong))
        bad = attrs.evolve(t, effects=tuple(moved if e is send else e for e in t.effects))
        assert not spec.RequestsWellFormed().observe(bad), wrong
    # Block 5 without anything certifying it: the start is 5, and 6 is refused.
    chain = InMemoryChain(CHAIN_ID)
    extend_to(chain, 5)
    block = CANONICAL.block_at(5)
    assert block is not None
    chain.persist(block)
    w.chain = chain
    w.state = attrs.evolve(initial(cfg), registry=registered((S1, 20)))
    t = w.feed(Tick(now=150))
    assert _request_starts(t) == [5] and spec.RequestsWellFormed().observe(t)
    (send,) = [e for e in t.effects if type(e) is Send]
    moved = attrs.evolve(send, message=attrs.evolve(send.message, start_height=6))
    bad = attrs.evolve(t, effects=tuple(moved if e is send else e for e in t.effects))
    assert not spec.RequestsWellFormed().observe(bad)
