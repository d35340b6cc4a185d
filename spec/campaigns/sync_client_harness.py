"""The sync client campaign's world and harness: the canonical chain, the servers
(``Server``), and ``SyncClientHarness``, the plumbing that routes effects through the faulty
network (the base of ``blockfsm.spec.campaigns.sync_client.SyncClientTest``)."""

from __future__ import annotations

from typing import Any

from blockfsm.machine.core import Broadcast, Observe, Send, Tick
from blockfsm.machine.crypto import StandInVerifier
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client import (
    Blacklisted,
    Commit,
    Persist,
    SyncClientConfig,
    UpdateHighestCertificate,
)
from blockfsm.machine.types import Certificate, ValidatorSet, advertise_block_payload
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.campaigns import MachineTest
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers
from blockfsm.spec.strategies.sync_client import Byzantine

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


class SyncClientHarness(MachineTest):
    """The client's chain, the servers, the message queue and the clock, and the plumbing that
    steps them."""

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
