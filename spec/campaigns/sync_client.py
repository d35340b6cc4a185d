"""Campaign for the block sync client: one client, honest sync server machines and Byzantine
servers on a faulty network, then a fair phase that checks SCL-1 (catch-up within the stated
bound) and SCL-2 (every sync attempt terminates).

The world: six validators (key 0 is the client; 1 and 2 may be honest servers; 3 to 5 are
Byzantine) and one canonical chain certified by a quorum of them, built once. Every server holds a
prefix of that chain in its own ``InMemoryChain``; honest servers are the real ``sync_server``
machine, each under its own ``Conformant`` wrapper, and Byzantine ones are driven by the behaviours
of ``blockfsm.spec.strategies.sync_client``. The harness routes ``Send``/``Broadcast`` effects as
events through a message queue that the chaos rules delay, drop, duplicate and reorder, and
applies the client's effects to its chain between steps.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from blockfsm.machine.core import Broadcast, Observe, Send, Tick
from blockfsm.machine.crypto import StandInVerifier
from blockfsm.machine.messages import (
    RESPONSE_OVERHEAD,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    SyncResponseReceived,
    block_size,
    certificate_size,
)
from blockfsm.machine.sync_client import (
    Blacklisted,
    ChainAdvanced,
    Commit,
    Persist,
    SyncClientConfig,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import Certificate, ValidatorSet, advertise_block_payload
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.campaigns import Campaign, MachineTest, single_rule_rows
from blockfsm.spec.conformance import Conformant, Stats
from blockfsm.spec.language import Row
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers
from blockfsm.spec.strategies.single_rule import (
    ACCEPTED,
    CLIENT_RULES,
    RULES,
    Case,
    single_rule_cases,
)
from blockfsm.spec.strategies.sync_client import Byzantine, byzantine_servers, forge
from blockfsm.spec.sync_client import AWAITING, SPEC, mix

CHAIN_ID = DEFAULT_CHAIN_ID
SIGNERS = make_signers(6)
KEYS = tuple(s.public_key for s in SIGNERS)
CLIENT_KEY = KEYS[0]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of(SIGNERS)
OUTSIDER = make_signers(1, offset=100)[0]
CANONICAL_LENGTH = 48
CANONICAL = chain_of(CANONICAL_LENGTH, SIGNERS[:5], CHAIN_ID)
"""The one honest chain, certified by a quorum (5 of 6); every server holds a prefix of it."""
GARBAGE_HEIGHT: Any = "5"
"""A committed height of the wrong type, as a broken codec might deliver."""

BAD_ADVERTISEMENTS = (
    "malformed",
    "wrong_chain",
    "from_self",
    "server_mismatch",
    "not_validator",
    "stale",
    "bad_signature",
)


def certificate_of(height: int) -> Certificate:
    """The canonical certificate of block ``height`` (genesis for -1)."""
    if height < 0:
        return Certificate.genesis(CHAIN_ID)
    child = CANONICAL.block_at(height + 1)
    return child.justify if child is not None else CANONICAL.highest_certificate


def extend_to(chain: InMemoryChain, length: int) -> None:
    """Make ``chain`` hold canonical blocks 0..length-1 with the certificate of the last, so it
    commits length - 2 (replacing any uncommitted blocks off the canonical chain)."""
    length = min(length, CANONICAL_LENGTH)
    if length <= chain.committed_height + 2:
        return
    for h in range(chain.committed_height + 1, length):
        block = CANONICAL.block_at(h)
        assert block is not None
        chain.persist(block)
    chain.set_highest_certificate(certificate_of(length - 1))
    chain.commit(length - 2)


class Server:
    """One server of the campaign: honest (a sync server machine) or Byzantine (a behaviour)."""

    def __init__(self, index: int, length: int, behaviour: Byzantine | None, limit: int) -> None:
        self.key = KEYS[index]
        self.limit = limit
        """This server's own request_limit, drawn independently of the client's."""
        self.signer = SIGNERS[index]
        self.chain = InMemoryChain(CHAIN_ID)
        extend_to(self.chain, length)
        self.behaviour = behaviour
        self.history: tuple[SyncResponse, ...] = ()
        self.last_ad = -1
        self.runner: Conformant | None = None
        self.state: Any = None

    @property
    def honest(self) -> bool:
        return self.behaviour is None


class SyncClientTest(MachineTest):
    STATS = Stats()
    SERVER_STATS = Stats()
    HONEST: ClassVar[tuple[int, int]] = (1, 2)
    """How many honest servers a run has (min, max); three Byzantine servers follow them."""
    FIRST_CAP_AT_LEAST: ClassVar[int] = 1
    """The least request_limit of the first honest server (3 makes SCL-1 checkable every run)."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = InMemoryChain(CHAIN_ID)
        self.now = 0
        self.config: SyncClientConfig | None = None
        self.servers: list[Server] = []
        self.queue: list[tuple[int, bytes | None, Any]] = []
        self.advertise_time = 1_000
        self.tick_interval = 100
        self.rule_turn = 0
        """The next single-rule strategy ``single_rule_input`` takes (modulo their number)."""
        self.rounds: dict[tuple[int, bytes], list[int]] | None = None
        """During the fair phase: (sync start, server) -> [committed height at the first request
        of that sync to that server, requests sent to it]."""
        self.pace_target = -1
        self.pace: dict[int, list[int]] = {}
        """During the fair phase: sync start -> [committed height at its first request, requests
        it sent while the client was below ``pace_target``] (SCL-3)."""

    # --- setup ----------------------------------------------------------------------------

    @initialize(
        honest=st.integers(min_value=1, max_value=2),
        behaviours=byzantine_servers(3),
        lengths=st.lists(
            st.integers(min_value=0, max_value=CANONICAL_LENGTH), min_size=5, max_size=5
        ),
        client_length=st.integers(min_value=0, max_value=12),
        request_limit=st.integers(min_value=3, max_value=8),
        server_limits=st.lists(st.integers(min_value=1, max_value=12), min_size=5, max_size=5),
        response_timeout=st.integers(min_value=100, max_value=1_500),
        blacklist_expiry_time=st.integers(min_value=100, max_value=6_000),
        trigger_timeout=st.integers(min_value=500, max_value=6_000),
        trigger_rate_limit=st.integers(min_value=1, max_value=2_000),
        trigger_min_view_difference=st.integers(min_value=1, max_value=3),
        advertise_time=st.integers(min_value=200, max_value=2_000),
        slack=st.integers(min_value=0, max_value=3_000),
        seed=st.integers(min_value=0, max_value=2**64 - 1),
        max_response_bytes=st.one_of(
            st.integers(min_value=3_500, max_value=12_000), st.just(4 * 1024 * 1024)
        ),
    )
    def setup(
        self,
        honest: int,
        behaviours: list[Byzantine],
        lengths: list[int],
        client_length: int,
        request_limit: int,
        server_limits: list[int],
        response_timeout: int,
        blacklist_expiry_time: int,
        trigger_timeout: int,
        trigger_rate_limit: int,
        trigger_min_view_difference: int,
        advertise_time: int,
        slack: int,
        seed: int,
        max_response_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        # Drawn seeds cluster on small and boundary values: mixed, they spread the runs' first
        # rules evenly.
        self.rule_turn = mix(seed, 0) % len(CLIENT_RULES)
        low, high = self.HONEST
        honest = max(low, min(high, honest))
        self.advertise_time = advertise_time
        self.tick_interval = max(1, min(response_timeout, advertise_time) // 2)
        t = self.tick_interval
        byzantine_count = len(behaviours)
        self.config = SyncClientConfig(
            chain_id=CHAIN_ID,
            own_key=CLIENT_KEY,
            validators=VALIDATORS,
            verifier=VERIFIER,
            seed=seed,
            request_limit=request_limit,
            response_timeout=response_timeout,
            blacklist_expiry_time=blacklist_expiry_time,
            trigger_min_view_difference=trigger_min_view_difference,
            trigger_timeout=trigger_timeout,
            trigger_rate_limit=trigger_rate_limit,
            advertise_expiry=3 * advertise_time,
            advertise_freshness=2 * advertise_time,
            max_sync_time=byzantine_count * (response_timeout + t) + 2 * t + slack,
            max_response_bytes=max_response_bytes,
        )
        extend_to(self.chain, client_length)
        for i in range(1, honest + byzantine_count + 1):
            behaviour = None if i <= honest else behaviours[i - 1 - honest]
            limit = server_limits[i - 1]
            if i == 1:
                limit = max(limit, self.FIRST_CAP_AT_LEAST)
            server = Server(i, lengths[i - 1], behaviour, limit)
            if behaviour is None:
                cfg = SyncServerConfig(
                    chain_id=CHAIN_ID,
                    signer=server.signer,
                    request_limit=server.limit,
                    advertise_time=advertise_time,
                    rate_limit_requests=100_000,
                    rate_limit_window=1_000,
                )
                server.runner = Conformant(SYNC_SERVER, cfg, stats=self.SERVER_STATS)
                server.state = SYNC_SERVER.initial(cfg)
            self.servers.append(server)
        self.start(SYNC_CLIENT, self.config, SYNC_CLIENT.initial(self.config))

    # --- plumbing -------------------------------------------------------------------------

    def client(self, event: Any) -> tuple[Any, ...]:
        effects = self.apply(event, self.chain.snapshot())
        for e in effects:
            kind = type(e)
            if kind is Persist:
                self.chain.persist(e.block)
            elif kind is Commit:
                self.chain.commit(e.height)
            elif kind is UpdateHighestCertificate:
                self.chain.set_highest_certificate(e.certificate)
            elif kind is Send:
                self.route_request(e.peer, e.message)
            elif kind is Blacklisted:
                self.on_blacklisted(e)
            elif kind is Observe:
                self.on_observe(e)
        return tuple(effects)

    def on_blacklisted(self, e: Blacklisted) -> None:
        assert self.runner is not None
        if any(s.honest and s.key == e.peer for s in self.servers):
            raise self.runner.fail("SC-5", "an honest server was blacklisted: " + e.reason)

    def on_observe(self, e: Observe) -> None:
        """Hook for the fair phase."""

    def enqueue(self, delay: int, dest: bytes | None, event: Any) -> None:
        self.queue.append((self.now + delay, dest, event))

    def route_request(self, peer: bytes, request: SyncRequest) -> None:
        if self.rounds is not None:
            key = (self.state.sync_started, peer)
            if key not in self.rounds:
                self.rounds[key] = [self.chain.committed_height, 0]
            self.rounds[key][1] += 1
            if self.chain.committed_height < self.pace_target:
                pace = self.pace.setdefault(
                    self.state.sync_started, [self.chain.committed_height, 0]
                )
                pace[1] += 1
        self.enqueue(0, peer, SyncRequestReceived(peer=CLIENT_KEY, request=request))
        for s in self.servers:
            if s.behaviour is not None and s.key != peer:
                for delay, reply in s.behaviour.sniff(request, self.honest_response(s, request)):
                    self.enqueue(delay, None, SyncResponseReceived(peer=s.key, response=reply))

    def honest_response(self, s: Server, request: SyncRequest) -> SyncResponse:
        view = s.chain.snapshot()
        return SyncResponse(
            chain_id=CHAIN_ID,
            request_id=request.request_id,
            blocks=view.blocks_from(request.start_height, min(request.limit, s.limit)),
            highest_certificate=view.highest_certificate(),
        )

    def deliver(self, index: int) -> None:
        _, dest, event = self.queue.pop(index)
        if dest is None:
            self.client(event)
            return
        server = next(s for s in self.servers if s.key == dest)
        if server.runner is not None:
            server.state, effects = server.runner.step(server.state, event, server.chain.snapshot())
            self.server_effects(server, effects)
            return
        assert server.behaviour is not None and self.config is not None
        request = event.request
        honest = self.honest_response(server, request)
        replies = server.behaviour.answer(
            request, honest, server.chain.snapshot(), server.history, self.config.response_timeout
        )
        server.history = (*server.history[-3:], honest)
        for delay, reply in replies:
            self.enqueue(delay, None, SyncResponseReceived(peer=server.key, response=reply))

    def server_effects(self, server: Server, effects: tuple[Any, ...]) -> None:
        for e in effects:
            if type(e) is Send:
                self.enqueue(0, None, SyncResponseReceived(peer=server.key, response=e.message))
            elif type(e) is Broadcast:
                self.enqueue(0, None, self.advertisement_event(server.key, e.message))

    @staticmethod
    def advertisement_event(peer: bytes, message: Any) -> Any:
        if type(message) is AdvertiseCertificate:
            return AdvertiseCertificateReceived(peer=peer, advertisement=message)
        return AdvertiseBlockReceived(peer=peer, advertisement=message)

    def byzantine_advertise(self, s: Server) -> None:
        assert s.behaviour is not None
        s.last_ad = self.now
        height = s.behaviour.advertised_height(s.chain.committed_height)
        cert = AdvertiseCertificate(certificate=s.chain.highest_certificate)
        self.enqueue(0, None, AdvertiseCertificateReceived(peer=s.key, advertisement=cert))
        self.enqueue(
            0,
            None,
            AdvertiseBlockReceived(
                peer=s.key, advertisement=self.signed_ad(s.signer, height, self.now)
            ),
        )

    @staticmethod
    def signed_ad(signer: Any, height: int, timestamp: int) -> AdvertiseBlock:
        payload = advertise_block_payload(CHAIN_ID, signer.public_key, height, timestamp)
        return AdvertiseBlock(
            chain_id=CHAIN_ID,
            server=signer.public_key,
            committed_height=height,
            timestamp=timestamp,
            signature=signer.sign(payload),
        )

    def tick_all(self) -> None:
        for s in self.servers:
            if s.behaviour is not None and s.behaviour.eager_certificate:
                # First in the queue, so its certificate is the one that triggers a sync.
                cert = AdvertiseCertificate(certificate=s.chain.highest_certificate)
                self.enqueue(0, None, AdvertiseCertificateReceived(peer=s.key, advertisement=cert))
        for s in self.servers:
            if s.runner is not None:
                s.state, effects = s.runner.step(s.state, Tick(now=self.now), s.chain.snapshot())
                self.server_effects(s, effects)
            elif s.last_ad < 0 or self.now - s.last_ad >= self.advertise_time:
                self.byzantine_advertise(s)
        self.client(Tick(now=self.now))

    def deliver_due(self, limit: int = 5_000) -> None:
        for _ in range(limit):
            due = next((i for i, m in enumerate(self.queue) if m[0] <= self.now), None)
            if due is None:
                return
            self.deliver(due)
        raise AssertionError("message storm: the queue never drained")

    # --- chaos ----------------------------------------------------------------------------

    @rule(fraction=st.integers(min_value=0, max_value=300), jump=st.sampled_from([0, 0, 0, 1, 2]))
    def tick(self, fraction: int, jump: int) -> None:
        assert self.config is not None
        c = self.config
        self.now += (c.response_timeout * fraction // 100, c.max_sync_time, c.trigger_timeout)[jump]
        self.tick_all()

    @rule(back=st.integers(min_value=1, max_value=500))
    def tick_backwards(self, back: int) -> None:
        self.client(Tick(now=self.now - back))

    @precondition(lambda self: bool(self.queue))
    @rule(index=st.integers(min_value=0, max_value=30))
    def deliver_one(self, index: int) -> None:
        self.deliver(index % len(self.queue))

    @rule()
    def deliver_all(self) -> None:
        self.deliver_due()

    @precondition(lambda self: bool(self.queue))
    @rule(index=st.integers(min_value=0, max_value=30))
    def drop(self, index: int) -> None:
        self.queue.pop(index % len(self.queue))

    @precondition(lambda self: bool(self.queue))
    @rule(index=st.integers(min_value=0, max_value=30))
    def duplicate(self, index: int) -> None:
        self.queue.append(self.queue[index % len(self.queue)])

    @rule(which=st.integers(min_value=0, max_value=4), count=st.integers(min_value=1, max_value=8))
    def grow_server(self, which: int, count: int) -> None:
        s = self.servers[which % len(self.servers)]
        extend_to(s.chain, s.chain.highest_height + 1 + count)

    @rule(count=st.integers(min_value=1, max_value=4))
    def client_progresses(self, count: int) -> None:
        extend_to(self.chain, self.chain.committed_height + 2 + count)
        self.client(ChainAdvanced())

    @rule(which=st.integers(min_value=0, max_value=4))
    def byzantine_advertises_now(self, which: int) -> None:
        s = self.servers[which % len(self.servers)]
        if s.behaviour is not None:
            self.byzantine_advertise(s)

    @rule(which=st.integers(min_value=1, max_value=5))
    def junk_advertisements(self, which: int) -> None:
        """One advertisement failing each registration check in turn (none changes the state)."""
        for kind in BAD_ADVERTISEMENTS:
            self.bad_advertisement(kind, which)

    def bad_advertisement(self, kind: str, which: int) -> None:
        signer = SIGNERS[which]
        ad = self.signed_ad(signer, 5, self.now)
        peer = signer.public_key
        if kind == "malformed":
            ad = AdvertiseBlock(
                chain_id=CHAIN_ID,
                server=peer,
                committed_height=GARBAGE_HEIGHT,
                timestamp=self.now,
                signature=b"",
            )
        elif kind == "wrong_chain":
            ad = AdvertiseBlock(
                chain_id=CHAIN_ID + 1,
                server=peer,
                committed_height=5,
                timestamp=self.now,
                signature=ad.signature,
            )
        elif kind == "from_self":
            peer = CLIENT_KEY
            ad = self.signed_ad(SIGNERS[0], 5, self.now)
        elif kind == "server_mismatch":
            peer = KEYS[which % 5 + 1]
        elif kind == "not_validator":
            peer = OUTSIDER.public_key
            ad = self.signed_ad(OUTSIDER, 5, self.now)
        elif kind == "stale":
            assert self.config is not None
            ad = self.signed_ad(signer, 5, max(0, self.now - 3 * self.config.advertise_freshness))
            if ad.timestamp == 0:
                ad = self.signed_ad(signer, 5, self.now + 3 * self.config.advertise_freshness)
        elif kind == "bad_signature":
            assert self.config is not None
            banned = {p for p, _ in self.state.blacklist}
            peer = next((k for k in (*KEYS[which:], *KEYS[1:which]) if k not in banned), peer)
            ad = AdvertiseBlock(
                chain_id=CHAIN_ID,
                server=peer,
                committed_height=999,
                timestamp=self.now + self.config.advertise_freshness,
                signature=ad.signature,
            )
        self.client(AdvertiseBlockReceived(peer=peer, advertisement=ad))

    @rule(
        kind=st.sampled_from(["malformed", "wrong_chain", "forged", "valid"]),
        height=st.integers(min_value=0, max_value=CANONICAL_LENGTH - 1),
        which=st.integers(min_value=1, max_value=5),
    )
    def certificate_from_network(self, kind: str, height: int, which: int) -> None:
        cert: Any = certificate_of(height)
        if kind == "malformed":
            cert = "certificate"
        elif kind == "wrong_chain":
            cert = Certificate(
                chain_id=CHAIN_ID + 1,
                view=cert.view,
                height=cert.height,
                block_hash=cert.block_hash,
                signatures=cert.signatures,
            )
        elif kind == "forged":
            cert = forge(cert)
        self.client(
            AdvertiseCertificateReceived(
                peer=KEYS[which], advertisement=AdvertiseCertificate(certificate=cert)
            )
        )

    @rule(
        kind=st.sampled_from(["malformed", "old_id", "someone"]),
        which=st.integers(min_value=1, max_value=5),
    )
    def response_from_network(self, kind: str, which: int) -> None:
        request_id: Any = 0 if kind == "old_id" else 2**40
        if kind == "malformed":
            request_id = -1
        response = SyncResponse(
            chain_id=CHAIN_ID,
            request_id=request_id,
            blocks=(),
            highest_certificate=Certificate.genesis(CHAIN_ID),
        )
        self.client(SyncResponseReceived(peer=KEYS[which], response=response))

    @rule(
        which=st.integers(min_value=1, max_value=5),
        progress=st.booleans(),
        time_cap=st.booleans(),
        short_reply=st.booleans(),
    )
    def during_sync(self, which: int, progress: bool, time_cap: bool, short_reply: bool) -> None:
        """Get into a sync if need be, then junk that is otherwise rare while a request is
        outstanding (none of it changes the state), then optionally the node's own progress and
        the sync's time cap."""
        assert self.config is not None
        if self.state.control != AWAITING:
            self.start_sync(which)
        if self.state.control != AWAITING:
            return
        for kind in BAD_ADVERTISEMENTS:
            self.bad_advertisement(kind, which)
        self.response_from_network("malformed", which)
        self.client(Tick(now=self.now - 1))
        request = self.state.request
        byzantine = {s.key for s in self.servers if not s.honest}
        if short_reply and self.state.control == AWAITING and request.server in byzantine:
            # A Byzantine outstanding server answers with nothing at all: valid, and short
            # whenever it advertised more than the client has.
            empty = SyncResponse(
                chain_id=CHAIN_ID,
                request_id=request.request_id,
                blocks=(),
                highest_certificate=Certificate.genesis(CHAIN_ID),
            )
            self.client(SyncResponseReceived(peer=request.server, response=empty))
        if progress:
            self.client_progresses(1)
        if time_cap and self.state.control == AWAITING:
            self.now = max(self.now, self.state.sync_started + self.config.max_sync_time)
            self.tick_all()

    @rule(which=st.integers(min_value=1, max_value=4))
    def start_sync(self, which: int) -> None:
        """The shortest way into a sync: let advertisements arrive, show a certificate far
        ahead, and failing that let the timeout trigger fire."""
        assert self.config is not None
        self.tick_all()
        for i in reversed(range(len(self.queue))):
            if type(self.queue[i][2]) is AdvertiseBlockReceived:
                self.deliver(i)
        if self.state.control == AWAITING:
            return
        cert = certificate_of(CANONICAL_LENGTH - 1)
        self.client(
            AdvertiseCertificateReceived(
                peer=KEYS[which], advertisement=AdvertiseCertificate(certificate=cert)
            )
        )
        if self.state.control != AWAITING:
            self.now = max(self.now, self.state.last_progress + self.config.trigger_timeout)
            self.tick_all()

    @rule(data=st.data())
    def single_rule_inputs(self, data: st.DataObject) -> None:
        """Inputs that each break one validation rule alone (and the valid inputs they were made
        from), in states of their own: counted per rule in ``RULE_COUNTS``. Each call takes the
        next ``RULES_PER_CALL`` rules in turn from a start drawn with the run, so one batch of
        examples reaches every rule (a drawn rule would favour the first ones)."""
        self.rule_turn = self.single_rule_batch(
            data,
            CLIENT_RULES,
            self.rule_turn,
            single_rule_cases,
            run_single_rule,
            RULE_COUNTS,
            RULES_PER_CALL,
        )

    # --- heal, fair schedule, liveness ----------------------------------------------------

    def bound_ms(self) -> int:
        """SCL-1's bound: P + T + max_sync_time + T + trigger_timeout + T + B(rt + T) + T."""
        assert self.config is not None
        c = self.config
        t = self.tick_interval
        b = sum(1 for s in self.servers if not s.honest)
        return int(
            self.advertise_time
            + t
            + c.max_sync_time
            + t
            + c.trigger_timeout
            + t
            + b * (c.response_timeout + t)
            + t
        )

    def fair_round(self) -> None:
        assert self.config is not None and self.runner is not None
        self.now += self.tick_interval
        self.tick_all()
        self.deliver_due()
        self.runner.count("SCL-2")
        state = self.state
        if state.control == AWAITING and (
            self.now - state.sync_started > self.config.max_sync_time + self.tick_interval
        ):
            raise self.runner.fail("SCL-2", SPEC.liveness[1].statement)

    def blocks_that_fit(self) -> int:
        """The fewest canonical blocks a response within the client's byte bound can hold."""
        assert self.config is not None
        largest_certificate = max(
            certificate_size(b.justify) for b in CANONICAL.snapshot().blocks_from(0, 10**6)
        )
        largest_block = max(block_size(b) for b in CANONICAL.snapshot().blocks_from(0, 10**6))
        room = self.config.max_response_bytes - RESPONSE_OVERHEAD - largest_certificate
        return room // largest_block

    def check_rounds(self, target: int) -> None:
        """SCL-1's bound in rounds: in the sync that reached the target, each honest server
        whose own cap is at least 3 was asked at most ceil(gap / (min(request_limit, its cap,
        blocks the byte bound holds) - 2)) + 1 times. A server with a smaller cap commits
        nothing per answer and is not bound (it may also be ahead of the target, asked after the
        target was reached)."""
        assert self.config is not None and self.runner is not None and self.rounds is not None
        caps = {s.key: s.limit for s in self.servers if s.honest and s.limit >= 3}
        last_sync = max(started for started, _ in self.rounds)
        for (started, peer), (committed_at_start, asked) in self.rounds.items():
            if started != last_sync or peer not in caps:
                continue
            gap = target - committed_at_start
            step = min(self.config.request_limit, caps[peer], self.blocks_that_fit()) - 2
            allowed = -(-gap // step) + 1
            if asked > allowed:
                raise self.runner.fail(
                    "SCL-1",
                    f"{SPEC.liveness[0].statement} (asked the honest server {asked} times for a "
                    f"gap of {gap}; the bound is {allowed})",
                )

    def check_pace(self, target: int) -> None:
        """SCL-3: the sync that reached the target sent at most ceil(gap / (m - 2)) + 1 + 3S
        requests in all, m = min(request_limit, blocks the byte bound holds), S the other
        servers, gap measured from the committed height at that sync's first request. Stated
        only when an honest server with a cap of at least the client's holds the target."""
        assert self.config is not None and self.runner is not None and self.rounds is not None
        limit = self.config.request_limit
        full = [s for s in self.servers if s.honest and s.limit >= limit]
        if not any(s.chain.committed_height >= target for s in full):
            return
        m = min(limit, self.blocks_that_fit())
        if m < 3:
            return
        if not self.pace:
            return
        committed_at_start, asked = self.pace[max(self.pace)]
        gap = target - committed_at_start
        allowed = -(-gap // (m - 2)) + 1 + 3 * (len(self.servers) - 1)
        self.runner.count("SCL-3")
        if asked > allowed:
            raise self.runner.fail(
                "SCL-3",
                f"{SPEC.liveness[2].statement} (sent {asked} requests for a gap of {gap}; the "
                f"bound is {allowed})",
            )

    def check_liveness(self) -> None:
        assert self.config is not None and self.runner is not None
        self.queue.clear()
        # SCL-1's fairness: an honest server whose own cap is at least 3 (below that no answer
        # commits anything new); without one the scenario is not recoverable and is only counted.
        useful = [s.chain.committed_height for s in self.servers if s.honest and s.limit >= 3]
        target = max(useful, default=-1)
        deadline = self.now + self.bound_ms()
        if self.chain.committed_height < target:
            self.rounds = {}
            self.pace = {}
            self.pace_target = target
            while self.chain.committed_height < target and self.now < deadline:
                self.fair_round()
            self.runner.count("SCL-1")
            if self.chain.committed_height < target:
                raise self.runner.fail(
                    "SCL-1",
                    f"{SPEC.liveness[0].statement} (committed {self.chain.committed_height}, "
                    f"honest {target}, bound {self.bound_ms()} ms)",
                )
            self.check_rounds(target)
            self.check_pace(target)
            self.rounds = None
            self.pace_target = -1
        tail = self.now + self.config.max_sync_time + 2 * self.tick_interval
        while self.now < tail:
            self.fair_round()


# --- one rule at a time --------------------------------------------------------------------------

RULES_PER_CALL = 6
"""Single-rule cases per call of the campaign's ``single_rule_inputs`` rule."""
RULE_COUNTS: Counter[str] = Counter()
"""Per single-rule strategy (``blockfsm.spec.strategies.single_rule.RULES``): how many broken
inputs were decided by that rule's own classification while the valid input they were made from
was accepted in the same state. ``blockfsm check`` reports it."""


@attrs.frozen(kw_only=True)
class RuleOutcome:
    rule: str
    valid_row: Row
    broken_row: Row

    @property
    def alone(self) -> bool:
        """The valid input was accepted (or, where nothing can be, took the rule's baseline
        class) and the broken one was decided by the rule's own class."""
        rule = RULES[self.rule]
        accepted = rule.baseline or ACCEPTED[self.valid_row.event]
        expected = rule.decided_by
        return _class(self.valid_row) in accepted and _class(self.broken_row) in expected


def _class(row: Row) -> str:
    return row.guard.name if row.guard is not None else ""


def run_single_rule(case: Case, stats: Stats) -> RuleOutcome:
    """Step the case's valid and broken inputs from its state, each under its own
    ``Conformant`` (``blockfsm.spec.campaigns.single_rule_rows``). Raises what the conformance
    check raises."""
    machine: Any = SYNC_CLIENT if RULES[case.rule].machine == "sync_client" else SYNC_SERVER
    valid_row, broken_row = single_rule_rows(machine, case, stats)
    return RuleOutcome(rule=case.rule, valid_row=valid_row, broken_row=broken_row)


class OneHonestThreeByzantine(SyncClientTest):
    """The 'done when' scenario: exactly one honest server against Byzantine ones."""

    HONEST = (1, 1)
    FIRST_CAP_AT_LEAST = 3


MACHINE = SYNC_CLIENT
"""The machine this campaign checks (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(
    spec=SPEC,
    test_class=SyncClientTest,
    stats=SyncClientTest.STATS,
    rules=RULE_COUNTS,
    rule_names=CLIENT_RULES,
)

__all__ = ["CAMPAIGN", "OneHonestThreeByzantine", "SyncClientTest"]
