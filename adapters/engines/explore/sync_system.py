"""The sync system: one sync client, an honest server and a Byzantine server."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import StateInvariant
from blockfsm.adapters.engines.explore.traces import checked_step, register

# --- the sync system: a client, an honest server, a Byzantine server ---------------------------

SECOND = 1_000


@attrs.frozen(kw_only=True)
class InFlight:
    """A message on the network, to ``to`` (``client``, ``honest`` or ``byzantine``)."""

    to: str
    message: Any


@attrs.frozen(kw_only=True)
class SyncWorld:
    now: int
    client: Any
    blocks: tuple[Any, ...]
    committed: int
    certificate: Any
    server: Any
    flight: tuple[InFlight, ...]
    faults: int
    byzantine_advertised: int


itf.register_module(__name__)


class SyncSystem:
    """A sync client catching up from nothing, an honest server holding the canonical chain
    (``heights`` blocks) and a Byzantine server, on a network that holds at most ``in_flight``
    messages (a message sent to a full network is lost). Time advances in one-second ticks, at
    most ``ticks`` of them. The adversary spends at most ``faults`` on dropping a message or
    answering a request with a forged or an empty response; the Byzantine server may also stay
    silent, and advertises a height above the honest one once per second.

    State invariants: the client's committed blocks are the canonical chain's, the honest server
    is never blacklisted, and the network bound holds. Every machine step is also checked against
    its spec (``checked_step``).
    """

    name = "sync"

    def __init__(self, heights: int = 3, ticks: int = 3, in_flight: int = 2, faults: int = 1):
        from blockfsm.machine.crypto import StandInVerifier
        from blockfsm.machine.sync_client import SyncClientConfig
        from blockfsm.machine.sync_server import SyncServerConfig
        from blockfsm.machine.types import ValidatorSet
        from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
        from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers

        self.heights, self.ticks, self.in_flight, self.max_faults = (
            heights,
            ticks,
            in_flight,
            faults,
        )
        signers = make_signers(4)
        client, honest, byzantine, _ = signers
        self.client_key = client.public_key
        self.honest_key = honest.public_key
        self.byzantine = byzantine
        self.chain_id = DEFAULT_CHAIN_ID
        self.canonical = chain_of(heights, signers)
        self.canonical_blocks = tuple(self.canonical.snapshot().blocks_from(0, heights))
        self.client_machine = SYNC_CLIENT
        self.server_machine = SYNC_SERVER
        self.client_config = SyncClientConfig(
            chain_id=self.chain_id,
            own_key=client.public_key,
            validators=ValidatorSet.equal(s.public_key for s in signers),
            verifier=StandInVerifier.of(signers),
            request_limit=3,
            response_timeout=SECOND,
            blacklist_expiry_time=3 * SECOND,
            trigger_timeout=2 * SECOND,
            trigger_rate_limit=SECOND,
            advertise_expiry=10 * SECOND,
            max_sync_time=3 * SECOND,
        )
        self.server_config = SyncServerConfig(
            chain_id=self.chain_id, signer=honest, request_limit=3, advertise_time=2 * SECOND
        )
        self.invariants = (
            StateInvariant(
                "committed-is-canonical",
                "the client's committed blocks are the canonical chain's blocks",
                self._committed_is_canonical,
            ),
            StateInvariant(
                "honest-never-blamed",
                "the honest server is never on the client's blacklist",
                lambda w: all(peer != self.honest_key for peer, _ in w.client.blacklist),
            ),
            StateInvariant(
                "network-bound",
                "at most in_flight messages are in flight",
                lambda w: len(w.flight) <= self.in_flight,
            ),
        )

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "heights": self.heights,
            "ticks": self.ticks,
            "in_flight": self.in_flight,
            "faults": self.max_faults,
        }

    def _committed_is_canonical(self, world: SyncWorld) -> bool:
        return world.committed < len(world.blocks) and all(
            world.blocks[h] == self.canonical_blocks[h] if h < self.heights else False
            for h in range(world.committed + 1)
        )

    def initial(self) -> SyncWorld:
        from blockfsm.machine.types import Certificate

        return SyncWorld(
            now=0,
            client=self.client_machine.initial(self.client_config),
            blocks=(),
            committed=-1,
            certificate=Certificate.genesis(self.chain_id),
            server=self.server_machine.initial(self.server_config),
            flight=(),
            faults=0,
            byzantine_advertised=-1,
        )

    def key(self, world: SyncWorld) -> bytes:
        return itf.canonical(world)

    # actions: ("tick",), ("deliver", i, what), ("drop", i, what), ("forge", i, what),
    # ("empty", i, what), ("byzantine_advertise",); i indexes the (sorted) messages in flight and
    # ``what`` only describes the message for a reader.
    def actions(self, world: SyncWorld) -> list[Any]:
        out: list[Any] = []
        if world.now < self.ticks * SECOND:
            out.append(("tick",))
        faults_left = world.faults < self.max_faults
        for i, m in enumerate(world.flight):
            if i > 0 and m == world.flight[i - 1]:
                continue  # the same message twice: one choice
            what = f"{type(m.message).__name__} to {m.to}"
            out.append(("deliver", i, what))
            if faults_left:
                out.append(("drop", i, what))
                if m.to == "byzantine":
                    out.append(("forge", i, what))
                    out.append(("empty", i, what))
        if world.byzantine_advertised < world.now:
            out.append(("byzantine_advertise",))
        return out

    def _view(self, world: SyncWorld) -> Any:
        from blockfsm.machine.view import InMemoryChainView

        return InMemoryChainView(
            list(world.blocks), len(world.blocks), world.committed, world.certificate
        )

    def _send(self, flight: list[InFlight], to: str, message: Any) -> None:
        if len(flight) < self.in_flight:
            flight.append(InFlight(to=to, message=message))

    def _client_step(self, world: SyncWorld, event: Any, flight: list[InFlight]) -> SyncWorld:
        from blockfsm.machine.core import Send
        from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

        after, effects = checked_step(
            self.client_machine, self.client_config, world.client, event, self._view(world)
        )
        blocks, committed, certificate = list(world.blocks), world.committed, world.certificate
        for effect in effects:
            kind = type(effect)
            if kind is Persist:
                h = effect.block.height
                if h < len(blocks) and blocks[h] != effect.block:
                    del blocks[h:]
                if h == len(blocks):
                    blocks.append(effect.block)
            elif kind is Commit:
                committed = max(committed, effect.height)
            elif kind is UpdateHighestCertificate:
                if effect.certificate.view >= certificate.view:
                    certificate = effect.certificate
            elif kind is Send:
                to = "honest" if effect.peer == self.honest_key else "byzantine"
                self._send(flight, to, effect.message)
        return attrs.evolve(
            world, client=after, blocks=tuple(blocks), committed=committed, certificate=certificate
        )

    def _server_step(self, world: SyncWorld, event: Any, flight: list[InFlight]) -> SyncWorld:
        after, effects = checked_step(
            self.server_machine,
            self.server_config,
            world.server,
            event,
            self.canonical.snapshot(),
        )
        for effect in effects:
            self._send(flight, "client", effect.message)
        return attrs.evolve(world, server=after)

    def _deliver_to_client(
        self, world: SyncWorld, m: Any, peer: bytes, flight: list[InFlight]
    ) -> SyncWorld:
        from blockfsm.machine import messages

        if type(m) is messages.AdvertiseBlock:
            event: Any = messages.AdvertiseBlockReceived(peer=peer, advertisement=m)
        elif type(m) is messages.AdvertiseCertificate:
            event = messages.AdvertiseCertificateReceived(peer=peer, advertisement=m)
        else:
            event = messages.SyncResponseReceived(peer=peer, response=m)
        return self._client_step(world, event, flight)

    def step(self, world: SyncWorld, action: Any) -> SyncWorld:
        from blockfsm.machine.core import Tick
        from blockfsm.machine.messages import SyncRequestReceived

        kind = action[0]
        flight = list(world.flight)
        if kind == "tick":
            world = attrs.evolve(world, now=world.now + SECOND)
            world = self._client_step(world, Tick(now=world.now), flight)
            world = self._server_step(world, Tick(now=world.now), flight)
        elif kind == "byzantine_advertise":
            world = attrs.evolve(world, byzantine_advertised=world.now)
            world = self._deliver_to_client(
                world, self._byzantine_advertisement(world.now), self.byzantine.public_key, flight
            )
        else:
            index = action[1]
            m = flight.pop(index)
            if kind == "drop":
                world = attrs.evolve(world, faults=world.faults + 1)
            elif kind in ("forge", "empty"):
                world = attrs.evolve(world, faults=world.faults + 1)
                reply = self._byzantine_reply(m.message, forged=kind == "forge")
                world = self._deliver_to_client(world, reply, self.byzantine.public_key, flight)
            elif m.to == "client":
                world = self._deliver_to_client(world, m.message, self.honest_key, flight)
            elif m.to == "honest":
                event = SyncRequestReceived(peer=self.client_key, request=m.message)
                world = self._server_step(world, event, flight)
            # delivered to the Byzantine server: it stays silent
        return attrs.evolve(world, flight=tuple(sorted(flight, key=itf.canonical)))

    def _byzantine_advertisement(self, now: int) -> Any:
        from blockfsm.machine.messages import AdvertiseBlock
        from blockfsm.machine.types import advertise_block_payload

        key = self.byzantine.public_key
        height = self.heights  # above the honest server's committed height (heights - 2)
        return AdvertiseBlock(
            chain_id=self.chain_id,
            server=key,
            committed_height=height,
            timestamp=now,
            signature=self.byzantine.sign(advertise_block_payload(self.chain_id, key, height, now)),
        )

    def _byzantine_reply(self, request: Any, *, forged: bool) -> Any:
        """A forged reply is a fork of its own from the requested height: well-linked blocks whose
        justifies carry no signatures (so only the certificate check can refuse them)."""
        from blockfsm.machine.messages import SyncResponse
        from blockfsm.machine.types import ZERO_HASH, Block, Certificate

        genesis = Certificate.genesis(self.chain_id)
        if not forged:
            return SyncResponse(
                chain_id=self.chain_id,
                request_id=request.request_id,
                blocks=(),
                highest_certificate=genesis,
            )
        start = request.start_height
        parent = self.canonical_blocks[start - 1].hash if 0 < start <= self.heights else ZERO_HASH
        blocks = []
        for height in range(start, start + 3):
            justify = (
                genesis
                if height == 0
                else Certificate(
                    chain_id=self.chain_id, view=height, height=height - 1, block_hash=parent
                )
            )
            block = Block.make(
                chain_id=self.chain_id,
                height=height,
                parent_hash=parent,
                justify=justify,
                payload=b"forged",
            )
            blocks.append(block)
            parent = block.hash
        last = blocks[-1]
        return SyncResponse(
            chain_id=self.chain_id,
            request_id=request.request_id,
            blocks=tuple(blocks),
            highest_certificate=Certificate(
                chain_id=self.chain_id, view=1_000, height=last.height, block_hash=last.hash
            ),
        )


register("sync")(SyncSystem)
