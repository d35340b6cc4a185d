"""Campaign for the block sync server: random requests, floods, clock faults and chain growth,
then a fair phase that checks the liveness properties SL-1 and SL-2."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from blockfsm.machine.core import Broadcast, Send, Tick
from blockfsm.machine.messages import (
    AdvertiseBlock,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.campaigns import Campaign, MachineTest
from blockfsm.spec.conformance import Stats
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, grow, make_signers
from blockfsm.spec.strategies.sync_server import PEERS, malformed_requests, sync_requests
from blockfsm.spec.sync_server import SPEC

CHAIN_ID = DEFAULT_CHAIN_ID
FRESH_PEER = b"\xfe" * 32
_FLOOD_REQUEST = SyncRequest(chain_id=CHAIN_ID, request_id=3, start_height=0, limit=2)


class SyncServerTest(MachineTest):
    STATS = Stats()

    def __init__(self) -> None:
        super().__init__()
        self.signers = make_signers(4)
        self.chain = InMemoryChain(CHAIN_ID)
        self.now = 0
        self.config: SyncServerConfig | None = None

    @initialize(
        request_limit=st.integers(min_value=1, max_value=12),
        advertise_time=st.integers(min_value=1, max_value=5_000),
        rate_limit_requests=st.integers(min_value=1, max_value=6),
        rate_limit_window=st.integers(min_value=1, max_value=3_000),
        rate_limit_peers=st.integers(min_value=1, max_value=6),
        max_response_bytes=st.one_of(
            st.integers(min_value=1_024, max_value=6_000), st.just(4 * 1024 * 1024)
        ),
        length=st.integers(min_value=0, max_value=24),
    )
    def setup(
        self,
        request_limit: int,
        advertise_time: int,
        rate_limit_requests: int,
        rate_limit_window: int,
        rate_limit_peers: int,
        max_response_bytes: int,
        length: int,
    ) -> None:
        self.config = SyncServerConfig(
            chain_id=CHAIN_ID,
            signer=self.signers[0],
            request_limit=request_limit,
            advertise_time=advertise_time,
            rate_limit_requests=rate_limit_requests,
            rate_limit_window=rate_limit_window,
            rate_limit_peers=rate_limit_peers,
            max_response_bytes=max_response_bytes,
        )
        grow(self.chain, self.signers, length)
        self.start(SYNC_SERVER, self.config, SYNC_SERVER.initial(self.config))

    def feed(self, event: Any) -> tuple[Any, ...]:
        return self.apply(event, self.chain.snapshot())

    @rule(fraction=st.integers(min_value=0, max_value=250))
    def tick(self, fraction: int) -> None:
        assert self.config is not None
        self.now += self.config.advertise_time * fraction // 100
        self.feed(Tick(now=self.now))

    @rule(back=st.integers(min_value=1, max_value=1_000))
    def tick_backwards(self, back: int) -> None:
        self.feed(Tick(now=self.now - back))

    @rule(peer=st.sampled_from(PEERS), request=sync_requests(CHAIN_ID))
    def request(self, peer: bytes, request: SyncRequest) -> None:
        self.feed(SyncRequestReceived(peer=peer, request=request))

    @rule(peer=st.sampled_from(PEERS), bound=st.integers(min_value=0, max_value=64))
    def request_with_a_tiny_byte_bound(self, peer: bytes, bound: int) -> None:
        """A right-chain request whose byte bound cannot hold even the highest certificate: the
        too_large rows, which a random bound reaches only now and then."""
        request = SyncRequest(
            chain_id=CHAIN_ID, request_id=1, start_height=0, limit=1, max_bytes=bound
        )
        self.feed(SyncRequestReceived(peer=peer, request=request))

    @rule(peer=st.sampled_from(PEERS), request=malformed_requests(CHAIN_ID))
    def malformed_request(self, peer: bytes, request: SyncRequest) -> None:
        self.feed(SyncRequestReceived(peer=peer, request=request))

    @rule(peer=st.sampled_from(PEERS), count=st.integers(min_value=1, max_value=40))
    def flood_wrong_chain(self, peer: bytes, count: int) -> None:
        request = SyncRequest(chain_id=CHAIN_ID + 1, request_id=0, start_height=0, limit=10)
        for _ in range(count):
            self.feed(SyncRequestReceived(peer=peer, request=request))

    @rule(peer=st.sampled_from(PEERS), start=st.integers(min_value=0, max_value=30))
    def burst(self, peer: bytes, start: int) -> None:
        """One peer spends its whole window budget and one more request."""
        assert self.config is not None
        request = SyncRequest(chain_id=CHAIN_ID, request_id=1, start_height=start, limit=4)
        for _ in range(self.config.rate_limit_requests + 1):
            self.feed(SyncRequestReceived(peer=peer, request=request))

    @rule(count=st.integers(min_value=1, max_value=12), start=st.integers(min_value=0, max_value=9))
    def identity_flood(self, count: int, start: int) -> None:
        """Fresh identities, one request each, then a request from a known peer: the table fills
        and turns over, and nobody is refused for what the others did."""
        for i in range(count):
            peer = bytes([0x10 + (start * 12 + i) % 200]) * 32
            self.feed(SyncRequestReceived(peer=peer, request=_FLOOD_REQUEST))
        self.feed(SyncRequestReceived(peer=PEERS[start % len(PEERS)], request=_FLOOD_REQUEST))

    @rule(count=st.integers(min_value=1, max_value=4))
    def grow_chain(self, count: int) -> None:
        grow(self.chain, self.signers, count)

    def check_liveness(self) -> None:
        assert self.config is not None and self.runner is not None
        c = self.config
        interval = max(1, c.advertise_time // 3)
        bound = c.advertise_time + interval
        flood = SyncRequest(chain_id=CHAIN_ID + 1, request_id=0, start_height=0, limit=10)
        last_ad = self.now
        for _ in range(8):
            self.now += interval
            for _ in range(5):
                self.feed(SyncRequestReceived(peer=PEERS[0], request=flood))
            effects = self.feed(Tick(now=self.now))
            if any(type(e) is Broadcast and type(e.message) is AdvertiseBlock for e in effects):
                last_ad = self.now
            self.runner.count("SL-1")
            if self.now - last_ad > bound:
                raise self.runner.fail("SL-1", SPEC.liveness[0].statement)

        self.now += c.rate_limit_window
        self.feed(Tick(now=self.now))
        request = SyncRequest(
            chain_id=CHAIN_ID, request_id=99, start_height=0, limit=c.request_limit
        )
        effects = self.feed(SyncRequestReceived(peer=FRESH_PEER, request=request))
        self.runner.count("SL-2")
        answered = [
            e
            for e in effects
            if type(e) is Send and type(e.message) is SyncResponse and e.message.request_id == 99
        ]
        if len(answered) != 1:
            raise self.runner.fail("SL-2", SPEC.liveness[1].statement)


MACHINE = SYNC_SERVER
"""The machine this campaign checks (``blockfsm replay`` finds it here)."""

CAMPAIGN = Campaign(spec=SPEC, test_class=SyncServerTest, stats=SyncServerTest.STATS)

__all__ = ["CAMPAIGN", "SyncServerState", "SyncServerTest"]
