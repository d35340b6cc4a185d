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

The world and the harness's plumbing are in ``sync_client_harness`` (``SyncClientHarness``, the
base of ``SyncClientTest``), the single-rule inputs in ``sync_client_single_rule``; this module
keeps the setup, the chaos rules and the fair phase, and re-exports the moved names.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from blockfsm.machine.core import Tick
from blockfsm.machine.messages import (
    RESPONSE_OVERHEAD,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncResponse,
    SyncResponseReceived,
    block_size,
    certificate_size,
)
from blockfsm.machine.sync_client import (
    ChainAdvanced,
    SyncClientConfig,
)
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import Certificate
from blockfsm.spec.campaigns import Campaign
from blockfsm.spec.campaigns.sync_client_harness import (
    BAD_ADVERTISEMENTS,
    CANONICAL,
    CANONICAL_LENGTH,
    CHAIN_ID,
    CLIENT_KEY,
    GARBAGE_HEIGHT,
    KEYS,
    OUTSIDER,
    SIGNERS,
    VALIDATORS,
    VERIFIER,
    Server,
    SyncClientHarness,
    certificate_of,
    extend_to,
)
from blockfsm.spec.campaigns.sync_client_single_rule import (
    RULE_COUNTS,
    RULES_PER_CALL,
    RuleOutcome,
    run_single_rule,
)
from blockfsm.spec.conformance import Conformant, Stats
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.single_rule import (
    CLIENT_RULES,
    single_rule_cases,
)
from blockfsm.spec.strategies.sync_client import Byzantine, byzantine_servers, forge
from blockfsm.spec.sync_client import AWAITING, SPEC, mix


class SyncClientTest(SyncClientHarness):
    STATS = Stats()
    SERVER_STATS = Stats()
    HONEST: ClassVar[tuple[int, int]] = (1, 2)
    """How many honest servers a run has (min, max); three Byzantine servers follow them."""
    FIRST_CAP_AT_LEAST: ClassVar[int] = 1
    """The least request_limit of the first honest server (3 makes SCL-1 checkable every run)."""

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

__all__ = [
    "BAD_ADVERTISEMENTS",
    "CAMPAIGN",
    "CANONICAL",
    "CANONICAL_LENGTH",
    "CHAIN_ID",
    "CLIENT_KEY",
    "GARBAGE_HEIGHT",
    "KEYS",
    "MACHINE",
    "OUTSIDER",
    "RULES_PER_CALL",
    "RULE_COUNTS",
    "SIGNERS",
    "VALIDATORS",
    "VERIFIER",
    "OneHonestThreeByzantine",
    "RuleOutcome",
    "Server",
    "SyncClientHarness",
    "SyncClientTest",
    "certificate_of",
    "extend_to",
    "run_single_rule",
]
