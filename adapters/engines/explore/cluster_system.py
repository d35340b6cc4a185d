"""The cluster system: nodes (attester, sync server, sync client) and an equivocating keeper."""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.encoding import StateEncoder
from blockfsm.adapters.engines.explore.search import StateInvariant, StepViolation
from blockfsm.adapters.engines.explore.traces import checked_step, register

itf.register_module(__name__)


@attrs.frozen(kw_only=True)
class ClusterWorld:
    now: int
    nodes: tuple[Any, ...]
    chains: tuple[tuple[tuple[Any, ...], int, Any], ...]
    flight: tuple[tuple[int, int, Any], ...]
    """Messages in flight as (destination, source, message): kept sorted (a multiset) when
    delays are unbounded, in the order they were sent when they are bounded."""
    faults: int
    delays: int = 0
    """Delays spent so far: messages overtaken by deliveries, and timers fired while messages
    were in flight (``ClusterSystem.delays``)."""
    signed: frozenset[tuple[int, int, int, int, bytes]]
    """Ghost history: every vote an honest node signed, as (node, height, round, phase, hash)."""
    durable: tuple[tuple[Any, Any], ...] = ()
    """Per node, what a crash leaves besides its chain: the last ``PersistGuard`` and the last
    ``PersistSigningGuard`` it wrote (None before the first)."""
    crashed: int = 0
    """Crash-restarts spent (``ClusterSystem.crashes``)."""
    forged: int = 0
    """Messages the Byzantine keeper sent of its own choosing (``ClusterSystem.forgeries``)."""
    lost: int = 0
    """Proposals the network lost (``ClusterSystem.lost_proposals``)."""
    ghost: tuple[Any, ...] = ()
    """The memory of each cluster invariant's monitor (``spec/cluster_rules.py``), frozen: what
    the spec remembers of the run's history is part of the state."""


class ClusterSystem:
    """``nodes`` keepers running the real node machine (attester, sync server, sync client); the
    producer of height 0, round 0 is Byzantine (``byzantine=1``). By default it runs the node
    machine but sends every proposal it makes together with a twin, another block for the same
    (height, round); ``silent`` makes it send nothing of the honest machine's. Time advances in
    ticks of half a round timeout, at most ``ticks``; the network holds at most ``in_flight``
    messages; the adversary may drop ``faults`` messages. Heights above ``heights - 1`` are not
    proposed on (their messages are not delivered).

    The adversary's other budgets, each 0 by default:

    - ``crashes``: an honest node crashes between any two steps and restarts at once from what
      it persisted (its chain, its last ``PersistGuard`` and ``PersistSigningGuard``): the
      action ``("crash", i)``;
    - ``forgeries``: the Byzantine keeper, a signing oracle, sends one honest node a message of
      its choosing that its own key signs: an attestation or a confirmation of the node's
      (height, round) for nil or a block the node holds, an attestation nil of the next round,
      and, where it produces the round, a new block whose proof is a quorum forged in every
      keeper's name. It does so when the network is quiet (no message in flight), so the choice
      is of what and when between exchanges, not also of where in a queue;
    - ``lost_proposals``: the network loses a proposal in flight (``("lose", i)``), apart from
      ``faults``.

    Safety is the spec's: every cluster invariant of ``spec/cluster_rules.py`` (C-1 to C-8), fed
    every honest step and restart as the simulator feeds them, with each monitor's memory kept in
    the state (``ClusterWorld.ghost``). Sync advertisements are not put on the network (see
    ``_put``).
    """

    name = "cluster"

    def __init__(
        self,
        nodes: int = 4,
        heights: int = 3,
        ticks: int = 6,
        in_flight: int = 64,
        faults: int = 0,
        byzantine: int = 1,
        delays: int | None = 2,
        crashes: int = 0,
        forgeries: int = 0,
        lost_proposals: int = 0,
        silent: bool = False,
    ) -> None:
        from blockfsm.machine.attester import producer_for
        from blockfsm.machine.crypto import StandInSigner, StandInVerifier
        from blockfsm.machine.node import NodeConfig
        from blockfsm.machine.types import ZERO_HASH, ValidatorSet
        from blockfsm.spec.cluster import SPEC as CLUSTER_SPEC
        from blockfsm.spec.machines import NODE

        self.size, self.heights, self.ticks = nodes, heights, ticks
        self.in_flight, self.max_faults, self.byzantine_count = in_flight, faults, byzantine
        self.delays = delays
        """None: any message in flight may be delivered next (an asynchronous network). An
        integer: messages are delivered in the order they were sent, except that a run may
        overtake at most this many messages in all (delay-bounded scheduling, docs/traces.md)."""
        if delays is not None and delays < 0:
            raise ValueError(f"delays must be None or >= 0, not {delays}")
        for label, value in (
            ("crashes", crashes),
            ("forgeries", forgeries),
            ("lost_proposals", lost_proposals),
        ):
            if value < 0:
                raise ValueError(f"{label} must be >= 0, not {value}")
        self.crashes, self.forgeries, self.lost_proposals = crashes, forgeries, lost_proposals
        self.silent = silent
        self._lost = 0
        """Messages the last ``step`` lost to a full network (read by ``footprint``)."""
        self._encoded = StateEncoder()
        self._digests: dict[int, tuple[Any, bytes]] = {}
        self._older_digests: dict[int, tuple[Any, bytes]] = {}
        self._runners: dict[int, Any] = {}
        """The conformance runner of each node's config, made once (``checked_step``)."""
        self.signers = [StandInSigner.from_seed(i) for i in range(nodes)]
        validators = ValidatorSet.equal(s.public_key for s in self.signers)
        verifier = StandInVerifier.of(self.signers)
        self.machine = NODE
        self.chain_id = 7
        self.configs = [
            NodeConfig.make(
                chain_id=self.chain_id,
                signer=s,
                validators=validators,
                verifier=verifier,
                seed=i,
                advertise_time=60_000,
                trigger_timeout=60_000,
            )
            for i, s in enumerate(self.signers)
        ]
        self.tick_ms = self.configs[0].attester.round_timeout // 2
        self.keys = [s.public_key for s in self.signers]
        self.index = {k: i for i, k in enumerate(self.keys)}
        first = producer_for(self.configs[0].attester.keepers, ZERO_HASH, 0)
        self.byzantine = {self.index[first]} if byzantine and first in self.index else set()
        self.rules = tuple(inv for inv in CLUSTER_SPEC.invariants if inv.monitor is not None)
        self.invariants: tuple[StateInvariant, ...] = ()
        """None over states alone: the spec's cluster invariants are checked on each step."""
        self.top_round = 0
        """The highest round an honest attester was in at a height below ``heights``, over
        every state stepped into."""

    @property
    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nodes": self.size,
            "heights": self.heights,
            "ticks": self.ticks,
            "in_flight": self.in_flight,
            "faults": self.max_faults,
            "byzantine": self.byzantine_count,
            "delays": self.delays,
        }
        # The adversary's newer budgets are named only when used: traces written before they
        # existed carry the same parameters as the same system today.
        for label, value, default in (
            ("crashes", self.crashes, 0),
            ("forgeries", self.forgeries, 0),
            ("lost_proposals", self.lost_proposals, 0),
            ("silent", self.silent, False),
        ):
            if value != default:
                out[label] = value
        return out

    @property
    def figures(self) -> dict[str, Any]:
        """What the search reached, beside its counts."""
        return {"top_round": self.top_round}

    # --- the spec's monitors, their memory frozen into the state --------------------------------

    def _freeze(self, monitor: Any, old: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """A monitor's memory as a canonical value: its fields but ``detail`` and those it names
        ``memo`` (caches of verdicts), each dict and set sorted. ``old`` is returned when equal,
        so a state shares the unchanged parts of the one it came from (and their encodings)."""
        skip = ("detail", *getattr(monitor, "memo", ()))
        out: list[Any] = []
        before = iter(old or ())
        for name, value in sorted(vars(monitor).items()):
            if name in skip:
                continue
            was = next(before, None)
            kind = type(value)
            if kind is dict:
                # Unchanged (the common case: most steps leave most memories alone): keep the
                # frozen field without sorting again. Comparing is a pass in C; sorting by a
                # key function is not.
                if was is not None and was[0] == name and was[1] == "map":
                    items = was[2]
                    if len(items) == len(value) and dict(items) == value:
                        out.append(was)
                        continue
                field = (name, "map", tuple(self._sorted(value.items(), pairs=True)))
            elif kind is set:
                if was is not None and was[0] == name and was[1] == "set":
                    members = was[2]
                    if len(members) == len(value) and value.issuperset(members):
                        out.append(was)
                        continue
                field = (name, "set", tuple(self._sorted(value)))
            else:
                field = (name, "value", value)
            out.append(was if was == field else field)
        frozen = tuple(out)
        return old if old == frozen and old is not None else frozen

    def _sorted(self, items: Iterable[Any], pairs: bool = False) -> list[Any]:
        """Sorted by value (a dict's items by key), or, when the values do not compare, by
        their canonical encoding: the same order in every process either way."""
        try:
            return sorted(items, key=(lambda kv: kv[0]) if pairs else None)
        except TypeError:
            order = self._encoded
            return sorted(items, key=(lambda kv: order(kv[0])) if pairs else order)

    def _thaw(self, world: ClusterWorld) -> list[Any]:
        monitors = []
        for inv, frozen in zip(self.rules, world.ghost, strict=True):
            assert inv.monitor is not None
            monitor: Any = inv.monitor()
            for name, kind, value in frozen:
                if kind == "map":
                    setattr(monitor, name, dict(value))
                elif kind == "set":
                    setattr(monitor, name, set(value))
                else:
                    setattr(monitor, name, value)
            monitors.append(monitor)
        return monitors

    def _observe(
        self,
        monitors: list[Any],
        i: int,
        before: int,
        event: Any,
        after: Any,
        effects: tuple[Any, ...],
        view: Any,
    ) -> None:
        from blockfsm.spec.language import Transition

        t = Transition(
            config=self.configs[i],
            before=before,
            event=event,
            after=after,
            effects=effects,
            view=view,
        )
        for inv, monitor in zip(self.rules, monitors, strict=True):
            if not monitor.observe(t):
                detail = getattr(monitor, "detail", "")
                raise StepViolation(
                    inv.id, f"{inv.id} violated: {inv.statement}: node {i}: {detail}"
                )

    def initial(self) -> ClusterWorld:
        from blockfsm.machine.types import Certificate

        genesis = Certificate.genesis(self.chain_id)
        ghost = tuple(self._freeze(inv.monitor()) for inv in self.rules if inv.monitor)
        return ClusterWorld(
            now=0,
            nodes=tuple(self.machine.initial(c) for c in self.configs),
            chains=tuple(((), -1, genesis) for _ in self.configs),
            flight=(),
            faults=0,
            signed=frozenset(),
            durable=tuple((None, None) for _ in self.configs),
            ghost=ghost,
        )

    def key(self, world: ClusterWorld) -> bytes:
        """The world's canonical key: its counters, then a 16-byte BLAKE2b digest of each part's
        canonical bytes (``StateEncoder``: equal parts, equal bytes, each encoding
        self-delimiting, so unequal parts have unequal bytes): each node, each chain, each
        message in flight, the signed votes, what is durable, the monitors' memory. Two worlds
        share a key exactly when every part is equal, up to a collision of 128-bit digests (the
        search keys states by such a digest anyway). A delivery changes one node and one chain
        and shares every other part with the world it came from; each part's digest is kept by
        object, so it is computed once, and the key is a few hundred bytes instead of the whole
        encoding."""
        part = self._part
        parts = [
            b"%d;%d;%d;%d;%d;%d;%d;"
            % (
                world.now,
                world.faults,
                world.delays,
                world.crashed,
                world.forged,
                world.lost,
                len(world.flight),
            )
        ]
        parts.extend([part(n) for n in world.nodes])
        parts.extend([part(c) for c in world.chains])
        parts.extend([part(m) for m in world.flight])
        parts.append(part(world.signed))
        parts.append(part(world.durable))
        parts.append(part(world.ghost))
        return b"".join(parts)

    def _part(self, value: Any) -> bytes:
        """The digest of one part's canonical bytes, kept by object (two generations, like the
        encoder's cache)."""
        ident = id(value)
        hit = self._digests.get(ident)
        if hit is not None and hit[0] is value:
            return hit[1]
        hit = self._older_digests.get(ident)
        if hit is None or hit[0] is not value:
            hit = (value, blake2b(self._encoded(value), digest_size=16).digest())
        if len(self._digests) >= 50_000:
            self._older_digests = self._digests
            self._digests = {}
        self._digests[ident] = hit
        return hit[1]

    def actions(self, world: ClusterWorld) -> list[Any]:
        """A tick, while time is left; the delivery of each message in flight (once per run of
        equal messages), and its drop while the fault budget lasts. With bounded delays, a
        delivery overtakes every deliverable message sent before it, a tick overtakes every
        deliverable message in flight (time passes as if it were the next message), and either
        is enabled only while the delays it spends fit in the budget. Then the adversary's
        budgets: a crash-restart of each honest node, the loss of each proposal in flight, and,
        on a quiet network, each message the Byzantine keeper may forge."""
        from blockfsm.machine.attester import Proposal

        out: list[Any] = []
        left = None if self.delays is None else self.delays - world.delays
        overtaken = 0
        lose = world.lost < self.lost_proposals
        for i, (dest, source, message) in enumerate(world.flight):
            if getattr(getattr(message, "block", None), "height", 0) >= self.heights:
                continue
            if i > 0 and world.flight[i - 1] == (dest, source, message):
                overtaken += 1
                continue
            what = f"{type(message).__name__} {source}->{dest}"
            if left is None or overtaken <= left:
                out.append(("deliver", i, what))
            if world.faults < self.max_faults:
                out.append(("drop", i, what))
            if lose and type(message) is Proposal:
                out.append(("lose", i, what))
            overtaken += 1
        if world.now < self.ticks * self.tick_ms and (left is None or min(overtaken, 1) <= left):
            out.insert(0, ("tick",))
        if world.crashed < self.crashes:
            out.extend(
                ("crash", i, f"node {i}") for i in range(self.size) if i not in self.byzantine
            )
        if world.forged < self.forgeries and not world.flight:
            out.extend(self._forgeries(world))
        return out

    def _forgeries(self, world: ClusterWorld) -> list[Any]:
        """What the Byzantine keeper may send one honest node now, each signed with its key
        (the forged proof's votes "from" the other keepers carry the adversary's forged
        signature)."""
        from blockfsm.adapters.engines.adversary import FORGED
        from blockfsm.machine.attester import ATTEST, CONFIRM, producer_for
        from blockfsm.machine.types import ZERO_HASH, Block
        from blockfsm.spec.strategies.attester import (
            signed_nil_vote,
            signed_proposal,
            signed_vote,
        )

        out: list[Any] = []
        for b in sorted(self.byzantine):
            signer, key = self.signers[b], self.keys[b]
            keepers = self.configs[b].attester.keepers
            for d in range(self.size):
                a = world.nodes[d].attester
                if d in self.byzantine or a.control == "Waiting":
                    continue
                h, r = a.height, a.round
                held = {p.block.hash: p.block for p in a.proposals if p.block.height == h}
                for phase, label in ((ATTEST, "attest"), (CONFIRM, "confirm")):
                    nil = signed_nil_vote(signer, phase, self.chain_id, h, r)
                    out.append(("forge", d, nil, f"{label} nil ({h},{r}) {b}->{d}"))
                    for x, block in held.items():
                        what = f"{label} {x[:4].hex()} ({h},{r}) {b}->{d}"
                        vote = signed_vote(signer, phase, self.chain_id, block, r)
                        out.append(("forge", d, vote, what))
                ahead = signed_nil_vote(signer, ATTEST, self.chain_id, h, r + 1)
                out.append(("forge", d, ahead, f"attest nil ({h},{r + 1}) {b}->{d}"))
                blocks, _, certificate = world.chains[d]
                parent = blocks[h - 1].hash if 0 < h <= len(blocks) else ZERO_HASH
                if h > len(blocks) or producer_for(keepers, parent, r) != key:
                    continue
                block = Block.make(
                    chain_id=self.chain_id,
                    height=h,
                    parent_hash=parent,
                    justify=certificate,
                    payload=key + b"/byz/forged-proof",
                )
                own = {
                    p: signed_vote(signer, p, self.chain_id, block, r) for p in (ATTEST, CONFIRM)
                }
                proof = tuple(
                    own[p] if k == key else attrs.evolve(own[p], voter=k, signature=FORGED)
                    for p in (ATTEST, CONFIRM)
                    for k in keepers
                )
                proposal = signed_proposal(signer, self.chain_id, block, r, -1, proof)
                what = f"new block, forged proof ({h},{r}) {b}->{d}"
                out.append(("forge", d, proposal, what))
        return out

    def _overtaken(self, world: ClusterWorld, index: int) -> int:
        """How many deliverable messages sent before ``flight[index]`` its delivery overtakes."""
        return sum(
            1
            for _, _, m in world.flight[:index]
            if getattr(getattr(m, "block", None), "height", 0) < self.heights
        )

    def _view(self, chain: tuple[tuple[Any, ...], int, Any]) -> Any:
        from blockfsm.machine.view import InMemoryChainView

        blocks, committed, certificate = chain
        return InMemoryChainView(list(blocks), len(blocks), committed, certificate)

    def _node_step(
        self,
        world: ClusterWorld,
        i: int,
        event: Any,
        flight: list[Any],
        monitors: list[Any] | None,
    ) -> ClusterWorld:
        from blockfsm.machine.attester import PersistGuard, Proposal, Vote
        from blockfsm.machine.core import Broadcast, Send
        from blockfsm.machine.producer import PersistSigningGuard
        from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

        if self.silent and i in self.byzantine:
            return world  # it speaks only through forgeries
        after, effects = checked_step(
            self.machine,
            self.configs[i],
            world.nodes[i],
            event,
            self._view(world.chains[i]),
            self._runners,
        )
        blocks, committed, certificate = world.chains[i]
        before = committed
        blocks_list = list(blocks)
        signed = world.signed
        durable = world.durable
        for effect in effects:
            kind = type(effect)
            if kind is Persist:
                h = effect.block.height
                if h < len(blocks_list) and blocks_list[h] != effect.block:
                    del blocks_list[h:]
                if h == len(blocks_list):
                    blocks_list.append(effect.block)
            elif kind is Commit:
                committed = max(committed, min(effect.height, len(blocks_list) - 1))
            elif kind is UpdateHighestCertificate:
                if effect.certificate.view >= certificate.view:
                    certificate = effect.certificate
            elif kind is PersistGuard:
                durable = (*durable[:i], (effect.guard, durable[i][1]), *durable[i + 1 :])
            elif kind is PersistSigningGuard:
                durable = (*durable[:i], (durable[i][0], effect.guard), *durable[i + 1 :])
            elif kind is Send:
                dest = self.index.get(effect.peer, -1)
                if dest >= 0 and dest != i:
                    self._put(flight, dest, i, effect.message)
            elif kind is Broadcast:
                m = effect.message
                if type(m) is Vote and i not in self.byzantine and m.voter == self.keys[i]:
                    signed = signed | {(i, m.height, m.round, m.phase, m.block_hash)}
                for dest in range(self.size):
                    if dest != i:
                        self._put(flight, dest, i, m)
                        if type(m) is Proposal and i in self.byzantine:
                            self._put(flight, dest, i, self._twin(i, m))
        chain = world.chains[i]
        if (
            len(blocks_list) != len(blocks)
            or committed != chain[1]
            or certificate is not chain[2]
            or any(a is not b for a, b in zip(blocks_list, blocks, strict=True))
        ):
            chain = (tuple(blocks_list), committed, certificate)
        # else: the same chain object, so the state key finds its encoding kept
        if monitors is not None and i not in self.byzantine:
            self._observe(monitors, i, before, event, after, effects, self._view(chain))
            if after.attester.height < self.heights:
                self.top_round = max(self.top_round, after.attester.round)
        nodes = (*world.nodes[:i], after, *world.nodes[i + 1 :])
        chains = (*world.chains[:i], chain, *world.chains[i + 1 :])
        return attrs.evolve(world, nodes=nodes, chains=chains, signed=signed, durable=durable)

    def _put(self, flight: list[Any], dest: int, source: int, message: Any) -> None:
        # Sync advertisements are left out: the nodes start together, so within these bounds no
        # node needs to sync, and advertisements would only fill the bounded network (the sync
        # protocol is explored by the sync system). A silent Byzantine keeper hears nothing.
        if type(message).__name__ in ("AdvertiseBlock", "AdvertiseCertificate"):
            return
        if self.silent and dest in self.byzantine:
            return
        if len(flight) < self.in_flight:
            flight.append((dest, source, message))
        else:
            self._lost += 1

    def _twin(self, i: int, p: Any) -> Any:
        from blockfsm.adapters.engines.adversary import twin_of
        from blockfsm.machine.attester import Proposal, proposal_payload

        block = twin_of(p.block)
        signature = self.signers[i].sign(
            proposal_payload(self.chain_id, block.height, p.round, block.hash, p.valid_round)
        )
        return Proposal(
            round=p.round,
            block=block,
            valid_round=p.valid_round,
            proof=p.proof,
            producer=p.producer,
            signature=signature,
        )

    def _restart(self, world: ClusterWorld, i: int, monitors: list[Any]) -> ClusterWorld:
        """Node ``i`` loses its memory and comes back from its store: its chain, its last
        persisted guards."""
        from blockfsm.machine.node import initial
        from blockfsm.spec.cluster_rules import Restart

        guard, signing_guard = world.durable[i]
        node = initial(self.configs[i], guard, signing_guard)
        chain = world.chains[i]
        self._observe(monitors, i, chain[1], Restart(), node, (), self._view(chain))
        nodes = (*world.nodes[:i], node, *world.nodes[i + 1 :])
        return attrs.evolve(world, nodes=nodes, crashed=world.crashed + 1)

    def step(self, world: ClusterWorld, action: Any) -> ClusterWorld:
        from blockfsm.adapters.node.inbound import message_event
        from blockfsm.machine.core import Tick

        flight = list(world.flight)
        self._lost = 0
        monitors = self._thaw(world)
        kind = action[0]
        if kind == "tick":
            spent = world.delays
            if self.delays is not None and self._overtaken(world, len(world.flight)):
                spent += 1  # a timer that fires while messages are in flight: one early event
            world = attrs.evolve(world, now=world.now + self.tick_ms, delays=spent)
            for i in range(self.size):
                world = self._node_step(world, i, Tick(now=world.now), flight, monitors)
        elif kind == "crash":
            world = self._restart(world, action[1], monitors)
        elif kind == "forge":
            (b,) = sorted(self.byzantine)
            world = attrs.evolve(world, forged=world.forged + 1)
            event = message_event(self.keys[b], action[2])
            world = self._node_step(world, action[1], event, flight, monitors)
        else:
            dest, source, m = flight.pop(action[1])
            if kind == "drop":
                world = attrs.evolve(world, faults=world.faults + 1)
            elif kind == "lose":
                world = attrs.evolve(world, lost=world.lost + 1)
            else:
                if self.delays is not None and action[1] > 0:
                    spent = world.delays + self._overtaken(world, action[1])
                    world = attrs.evolve(world, delays=spent)
                peer = self.keys[source]
                event = message_event(peer, m)
                world = self._node_step(world, dest, event, flight, monitors)
        if self.delays is None:
            flight.sort(key=self._encoded)
        ghost = tuple(self._freeze(m, old) for m, old in zip(monitors, world.ghost, strict=True))
        return attrs.evolve(world, flight=tuple(flight), ghost=ghost)

    # --- which actions commute (the partial-order reduction, see docs/traces.md) ---------------

    @property
    def commutes(self) -> bool:
        """Deliveries commute only on an asynchronous network: with bounded delays, the delays
        a delivery spends depend on which messages were delivered before it."""
        return self.delays is None

    def action_id(self, world: ClusterWorld, action: Any) -> Any:
        """A delivery or a drop is named by its message, (destination, source, message), which
        is the same in every state it is enabled in; the index into ``flight`` is not."""
        if action[0] in ("tick", "crash"):
            return action[:2]
        if action[0] == "forge":
            return action[:3]
        return (action[0], world.flight[action[1]])

    def footprint(self, world: ClusterWorld, action: Any, after: ClusterWorld) -> Any:
        """(kind, message, node stepped, messages sent), or None for an action that commutes
        with nothing: a tick (every node steps), and a step that lost a message to a full network
        (what it sends then depends on what else is in flight)."""
        if action[0] in ("tick", "crash", "forge") or self._lost or self.delays is not None:
            return None
        dest, source, message = world.flight[action[1]]
        if action[0] in ("drop", "lose"):
            return (action[0], (dest, source, message), -1, 0)
        sent = len(after.flight) - len(world.flight) + 1
        return ("deliver", (dest, source, message), dest, sent)

    def independent(self, world: ClusterWorld, a: Any, b: Any) -> bool:
        """Two deliveries or drops commute when they take different messages, step different
        nodes (a drop steps none), do not both spend the fault budget, and the network has room
        for what both send in either order: each reads and writes only its own node's state and
        chain, removes its own message, adds to the multiset of messages in flight and to the
        ghost set of signed votes (both unions, which commute)."""
        if a is None or b is None:
            return False
        kind_a, message_a, node_a, sent_a = a
        kind_b, message_b, node_b, sent_b = b
        if message_a == message_b or (kind_a == kind_b and kind_a in ("drop", "lose")):
            return False
        if node_a >= 0 and node_a == node_b:
            return False
        return len(world.flight) - 2 + sent_a + sent_b <= self.in_flight


register("cluster")(ClusterSystem)
