"""The deterministic cluster simulator: N nodes on a simulated clock, a faulty network,
crash-restart and Byzantine keepers, with the cluster safety invariants (``blockfsm.spec.cluster``)
checked after every step.

Determinism: every choice draws from one ``random.Random(seed)``; events are ordered by (time,
sequence number); nothing reads a clock. The same ``SimConfig`` reproduces a run bit for bit.

Faults (``SimConfig.faults``): ``loss``, ``delay``, ``duplicate``, ``reorder`` (delays wide enough
to reorder), ``partition``, ``crash``, and when named ``oneway`` (one direction of one link cut;
``Simulation.oneway`` for scripted cuts). Byzantine behaviours, one per Byzantine node in turn,
from the library in ``blockfsm.adapters.engines.adversary``: the filters of the honest machine's
output (``equivocate``, ``lie``, ``withhold``, ``replay``) and the signing-oracle behaviours
(``forge_proof``, ``replay_proof``, ``future_round``, ``flood``, ``conflicting_votes``,
``bad_certificate``); each action counts ``adversary:<name>`` (``summary()["adversary"]``).

The cluster safety invariants are the spec's (``blockfsm.spec.cluster.SPEC``, stated in
``blockfsm.spec.cluster_rules``): every honest step (and restart) is handed to each as a
``Transition`` and a violation raises ``SafetyViolation``.

Crash-restart: a crashed node loses its memory; its store (chain, the last ``PersistGuard`` and
the last ``PersistSigningGuard``) is kept, and it restarts from ``initial(config, guard,
signing_guard)`` over that store.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from blockfsm.adapters.engines import adversary
from blockfsm.adapters.node.inbound import message_event
from blockfsm.machine import node as node_machine
from blockfsm.machine.core import Broadcast, Send, Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.node import NodeConfig, NodeState, Steppers
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.cluster import SPEC as CLUSTER_SPEC
from blockfsm.spec.cluster_rules import Restart, liveness_bound_ms
from blockfsm.spec.language import Transition

FAULTS = ("loss", "delay", "duplicate", "reorder", "partition", "crash")
EXTRA_FAULTS = ("oneway",)
"""Faults only drawn when named: ``oneway`` cuts one direction of one link (a -> b dropped,
b -> a delivered) now and then."""
BEHAVIOURS = adversary.FILTERS
"""The behaviours a Byzantine node takes in turn by default: the honest machine, its output
bent. ``adversary.ORACLE`` adds the signing-oracle ones (``SimConfig.behaviours``)."""
ALL_BEHAVIOURS = adversary.ALL
CHAIN_ID = 7


class SafetyViolation(AssertionError):
    def __init__(self, invariant_id: str, detail: str) -> None:
        super().__init__(f"cluster {invariant_id} violated: {detail}")
        self.invariant_id = invariant_id


@attrs.frozen(kw_only=True)
class SimConfig:
    nodes: int = 4
    byzantine: int = 0
    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    tick_ms: int = 50
    max_delay: int = 100
    loss: float = 0.05
    duplicate: float = 0.02
    ed25519: bool = False
    conformant: bool = False
    behaviours: tuple[str, ...] = BEHAVIOURS
    random_faults: bool = True
    """Partitions and crashes drawn from the seed; a campaign turns this off and drives them."""


class SimNode:
    def __init__(self, index: int, signer: Any, config: NodeConfig, behaviour: str | None) -> None:
        self.index = index
        self.signer = signer
        self.key: bytes = signer.public_key
        self.config = config
        self.behaviour = behaviour
        self.chain = InMemoryChain(CHAIN_ID)
        self.guard: Any = None
        self.signing_guard: Any = None
        self.state: NodeState = node_machine.initial(config)
        self.alive = True
        self.step: Callable[[Any, Any, Any], Any] = lambda s, e, v: node_machine.step(
            config, s, e, v
        )
        self.received: list[Any] = []
        self.adversary: adversary.Adversary | None = None
        self.tactic: adversary.Behaviour | None = None
        self.permanent = False
        """Crashed for good: not restarted at heal."""

    @property
    def honest(self) -> bool:
        return self.behaviour is None


class Simulation:
    def __init__(self, config: SimConfig, *, stats: dict[str, Any] | None = None) -> None:
        """``stats``: per machine name (node, attester, sync_server, sync_client), the ``Stats``
        the conformance checkers count into when ``config.conformant``."""
        self.config = config
        self.rng = random.Random(config.seed)
        self.now = 0
        self.queue: list[tuple[int, int, int, int, Any]] = []
        self.seq = 0
        self.counters: Counter[str] = Counter()
        self.checks: Counter[str] = Counter()
        self.partition: tuple[frozenset[int], ...] | None = None
        self.faulty = True
        self.checking = True
        """Check the cluster safety invariants after every step; off only for a run with a third
        or more Byzantine nodes, where no safety claim holds (``simulate
        --allow-unsafe-byzantine``)."""
        signers: list[Any]
        if config.ed25519:
            from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier

            signers = [
                Ed25519Signer.from_seed((config.seed * 1000 + i).to_bytes(32, "big"))
                for i in range(config.nodes)
            ]
            verifier: Any = Ed25519Verifier()
        else:
            signers = [StandInSigner.from_seed(config.seed * 1000 + i) for i in range(config.nodes)]
            verifier = StandInVerifier.of(signers)
        self.validators = ValidatorSet.equal(s.public_key for s in signers)
        self.nodes: list[SimNode] = []
        self.stats: dict[str, Any] = stats if stats is not None else {}
        self.runners: list[Any] = []
        self.chain_id = CHAIN_ID
        self.oneway: set[tuple[int, int]] = set()
        """Directed links cut: ``(a, b)`` drops what a sends b, not what b sends a."""
        self.drop: Callable[[int, int, Any], bool] | None = None
        """A scripted loss for tests: ``drop(source, destination, message)`` drops when true."""
        for i, signer in enumerate(signers):
            behaviour = None
            if i >= config.nodes - config.byzantine:
                turn = i - config.nodes + config.byzantine
                behaviour = config.behaviours[turn % len(config.behaviours)]
            cfg = NodeConfig.make(
                chain_id=CHAIN_ID,
                signer=signer,
                validators=self.validators,
                verifier=verifier,
                seed=config.seed * 1000 + i,
            )
            node = SimNode(i, signer, cfg, behaviour)
            if behaviour is not None:
                node.adversary = adversary.Adversary(sim=self, node=node, name=behaviour)
                node.tactic = adversary.BEHAVIOURS[behaviour]()
            if config.conformant and behaviour is None:
                self._conform(node)
            self.nodes.append(node)
        self.by_key = {n.key: n.index for n in self.nodes}
        self.known: dict[str, str] = {}
        """Invariants a known, open finding violates (id -> finding): a violation of one is
        counted (``known:<id>``), not raised, so a run can look past it; empty by default."""
        self.monitors = [(inv, inv.monitor()) for inv in CLUSTER_SPEC.invariants if inv.monitor]
        """The cluster invariants of ``blockfsm.spec.cluster``, each fed every honest step."""

    def _conform(self, node: SimNode) -> None:
        from blockfsm.spec.conformance import Conformant
        from blockfsm.spec.machines import ATTESTER, NODE, PRODUCER, SYNC_CLIENT, SYNC_SERVER

        cfg = node.config
        # The attester's and the producer's checkers live across restarts (their guards are
        # persisted, so A-1 and PB-7 hold across them); the sync machines keep nothing durable
        # and start a new run on restart.
        kept = node.config.steppers
        server = Conformant(SYNC_SERVER, cfg.server, stats=self.stats.get("sync_server"))
        client = Conformant(SYNC_CLIENT, cfg.client, stats=self.stats.get("sync_client"))
        runners = [server, client]
        attester_step: Callable[[Any, Any, Any], Any]
        producer_step: Callable[[Any, Any, Any], Any] | None
        if kept is None:
            attester = Conformant(ATTESTER, cfg.attester, stats=self.stats.get("attester"))
            producer = Conformant(PRODUCER, cfg.producer, stats=self.stats.get("producer"))
            runners.extend((attester, producer))
            attester_step, producer_step = attester.step, producer.step
        else:
            attester_step, producer_step = kept.attester, kept.producer
        steppers = Steppers(
            server=server.step, client=client.step, attester=attester_step, producer=producer_step
        )
        cfg = attrs.evolve(cfg, steppers=steppers)
        node.config = cfg
        whole = Conformant(NODE, cfg, stats=self.stats.get("node"))
        runners.append(whole)
        node.step = whole.step
        self.runners.extend(runners)

    def finish(self) -> None:
        """Close every conformance run (counts one example per property checked)."""
        for runner in self.runners:
            runner.finish()

    # --- the event loop ----------------------------------------------------------------------

    def _push(self, at: int, dest: int, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, dest, kind, payload))

    def run(self, duration: int) -> None:
        """Run ``duration`` ms of simulated time: ticks, deliveries and (if faulty) faults."""
        end = self.now + duration
        tick = self.config.tick_ms
        next_tick = (self.now // tick + 1) * tick
        while True:
            at = self.queue[0][0] if self.queue else end + 1
            if next_tick <= at and next_tick <= end:
                self.now = next_tick
                for node in self.nodes:
                    if node.alive:
                        self._tick_node(node)
                if self.faulty and self.config.random_faults:
                    self._maybe_fault()
                next_tick += tick
                continue
            if at > end:
                break
            at, _, dest, src, message = heapq.heappop(self.queue)
            self.now = at
            node = self.nodes[dest]
            if not node.alive or not self._connected(src, dest):
                self.counters["dropped"] += 1
                continue
            self._deliver(src, node, message)
        self.now = end

    def _tick_node(self, node: SimNode) -> None:
        """One node's tick at ``self.now`` (and its behaviour's, for a Byzantine node)."""
        self._step(node, Tick(now=self.now))
        if node.tactic is not None and node.adversary is not None:
            node.tactic.tick(node.adversary)

    def _deliver(self, src: int, node: SimNode, message: Any) -> None:
        """``message`` from node ``src`` reaches ``node`` (alive, and connected to ``src``)."""
        self.counters["delivered"] += 1
        if node.tactic is not None and node.adversary is not None:
            node.tactic.received(node.adversary, message)
        self._step(node, message_event(self.nodes[src].key, message))

    def _connected(self, a: int, b: int) -> bool:
        if (a, b) in self.oneway:
            return False
        if self.partition is None:
            return True
        return any(a in side and b in side for side in self.partition)

    def _step(self, node: SimNode, event: Any) -> None:
        before = node.chain.committed_height
        state, effects = node.step(node.state, event, node.chain.snapshot())
        node.state = state
        self.counters["events"] += 1
        for e in effects:
            kind = type(e)
            if kind is Persist:
                node.chain.persist(e.block)
            elif kind is Commit:
                node.chain.commit(e.height)
            elif kind is UpdateHighestCertificate:
                node.chain.set_highest_certificate(e.certificate)
            elif kind is node_machine.PersistGuard:
                node.guard = e.guard
            elif kind is node_machine.PersistSigningGuard:
                node.signing_guard = e.guard
            elif kind is Send:
                self._send(node, self.by_key.get(e.peer, -1), e.message)
            elif kind is Broadcast:
                self._broadcast(node, e.message)
            else:
                self.counters[kind.__name__] += 1
        if node.honest and self.checking:
            self._check(node, before, event, effects)

    # --- network -----------------------------------------------------------------------------

    def _send(self, node: SimNode, dest: int, message: Any) -> None:
        if dest < 0 or dest == node.index:
            return
        if node.tactic is not None and node.adversary is not None:
            message = node.tactic.send(node.adversary, dest, message)
            if message is None:
                return
        self.counters["sent"] += 1
        if self.drop is not None and self.drop(node.index, dest, message):
            self.counters["dropped"] += 1
            return
        faults = self.config.faults if self.faulty else ()
        if "loss" in faults and self.rng.random() < self.config.loss:
            self.counters["dropped"] += 1
            return
        copies = 1
        if "duplicate" in faults and self.rng.random() < self.config.duplicate:
            copies = 2
            self.counters["duplicated"] += 1
        for _ in range(copies):
            if "reorder" in faults:
                delay = self.rng.randint(1, 4 * self.config.max_delay)
            elif "delay" in faults or not self.faulty:
                delay = self.rng.randint(1, self.config.max_delay)
            else:
                delay = 1
            self._push(self.now + delay, dest, node.index, message)

    def _broadcast(self, node: SimNode, message: Any) -> None:
        if node.tactic is not None and node.adversary is not None:
            if node.tactic.broadcast(node.adversary, message):
                return
        for other in self.nodes:
            if other is not node:
                self._send(node, other.index, message)

    # --- faults ------------------------------------------------------------------------------

    def _maybe_fault(self) -> None:
        faults = self.config.faults
        rng = self.rng
        if "partition" in faults and rng.random() < 0.01:
            if self.partition is None:
                ids = list(range(self.config.nodes))
                rng.shuffle(ids)
                cut = rng.randint(1, len(ids) - 1)
                self.partition = (frozenset(ids[:cut]), frozenset(ids[cut:]))
            else:
                self.partition = None
            self.counters["faults:partition"] += 1
        if "oneway" in faults and rng.random() < 0.01:
            if self.oneway:
                self.oneway.clear()
            else:
                a, b = rng.sample(range(self.config.nodes), 2)
                self.oneway.add((a, b))
            self.counters["faults:oneway"] += 1
        if "crash" in faults and rng.random() < 0.01:
            node = self.nodes[rng.randrange(self.config.nodes)]
            if node.alive:
                self.crash(node)
            else:
                self.restart(node)

    def crash(self, node: SimNode) -> None:
        node.alive = False
        self.counters["faults:crash"] += 1

    def restart(self, node: SimNode) -> None:
        before = node.chain.committed_height
        node.state = node_machine.initial(node.config, node.guard, node.signing_guard)
        node.alive = True
        if self.config.conformant and node.honest:
            self._conform(node)
        self.counters["faults:restart"] += 1
        if node.honest and self.checking:
            self._check(node, before, Restart(), ())

    def heal(self) -> None:
        """Stop faults, reconnect everyone, restart every crashed honest node."""
        self.faulty = False
        self.partition = None
        self.oneway.clear()
        for node in self.nodes:
            if not node.alive and node.honest and not node.permanent:
                self.restart(node)

    # --- cluster safety, after every step ----------------------------------------------------

    def _check(self, node: SimNode, before: int, event: Any, effects: tuple[Any, ...]) -> None:
        """Feed the step to every cluster invariant the spec states
        (``blockfsm.spec.cluster.SPEC``)."""
        t = Transition(
            config=node.config,
            before=before,
            event=event,
            after=node.state,
            effects=effects,
            view=node.chain.snapshot(),
        )
        restart = type(event) is Restart
        for inv, monitor in self.monitors:
            if (inv.id == "C-5") == restart:  # C-5 is a property of restarts, the rest of steps
                self.checks[inv.id] += 1
            if not monitor.observe(t):
                if inv.id in self.known:
                    self.counters[f"known:{inv.id}"] += 1
                    continue
                detail = getattr(monitor, "detail", "")
                raise SafetyViolation(inv.id, f"node {node.index}: {detail}")

    # --- summaries -----------------------------------------------------------------------------

    def honest_nodes(self) -> list[SimNode]:
        """The honest nodes that are (or will be, at heal) running."""
        return [n for n in self.nodes if n.honest and not n.permanent]

    def recoverable(self) -> bool:
        """Whether an honest quorum can run after heal; if not, no protocol could progress."""
        power = sum(self.validators.power_of(n.key) for n in self.honest_nodes())
        return power >= self.validators.quorum

    def summary(self) -> dict[str, Any]:
        return {
            "nodes": self.config.nodes,
            "byzantine": [n.behaviour for n in self.nodes if not n.honest],
            "seed": self.config.seed,
            "simulated_ms": self.now,
            "final_height": [n.chain.committed_height for n in self.nodes],
            "messages": {
                k: self.counters[k] for k in ("sent", "delivered", "dropped", "duplicated")
            },
            "events": self.counters["events"],
            "faults": {
                k[7:]: v for k, v in sorted(self.counters.items()) if k.startswith("faults:")
            },
            "invariants_checked": dict(sorted(self.checks.items())),
            "adversary": {
                k[10:]: v for k, v in sorted(self.counters.items()) if k.startswith("adversary:")
            },
        }


def liveness(sim: Simulation, bound: int | None = None, catch_up: int = 40_000) -> dict[str, Any]:
    """VOPR-style: heal, then a fair schedule; C-L1 (the honest final height grows) within
    ``bound`` ms, by default the spec's bound for the round the honest keepers are in at heal
    (``spec.cluster_rules.liveness_bound_ms``), and C-L2 (every honest node reaches the height
    C-L1 ended at) within ``catch_up`` ms."""
    if not sim.recoverable():
        sim.heal()
        return {"verdict": "unrecoverable"}
    sim.heal()
    top_round = max(n.state.attester.round for n in sim.honest_nodes())
    if bound is None:
        keepers = len(sim.nodes[0].config.attester.keepers)
        bound = liveness_bound_ms(sim.nodes[0].config.attester, keepers, top_round)
    start = max(n.chain.committed_height for n in sim.nodes if n.honest)
    grew_at = None
    t = 0
    while t < bound:
        sim.run(500)
        t += 500
        if max(n.chain.committed_height for n in sim.honest_nodes()) > start:
            grew_at = t
            break
    result: dict[str, Any] = {"C-L1": grew_at is not None, "C-L1_ms": grew_at}
    target = max(n.chain.committed_height for n in sim.honest_nodes())
    result["C-L1_bound_ms"] = bound
    result["top_round_at_heal"] = top_round
    caught = None
    t = 0
    while t < catch_up:
        if min(n.chain.committed_height for n in sim.honest_nodes()) >= target:
            caught = t
            break
        sim.run(500)
        t += 500
    result["C-L2"] = caught is not None
    result["C-L2_ms"] = caught
    result["verdict"] = "held" if result["C-L1"] and result["C-L2"] else "failed"
    return result
