"""The node: the block producer, the sync server, the sync client and the attester over one
chain view.

Its rules are stated in ``blockfsm.spec.node``. The public API, for every runtime (the simulator,
an asyncio runtime, an embedding):

- ``NodeConfig.make(chain_id=, signer=, validators=, verifier=, ...)`` builds the node's config and
  the configs of its parts from one set of parameters (the keeper set is the validator set).
- ``initial(config, guard=None)``: a node; after a crash pass the last persisted ``Guard``.
- ``step(config, state, event, view) -> Step(state, effects)``, total and pure.
- Events: ``Tick(now)``; the sync messages' ``SyncRequestReceived``, ``SyncResponseReceived``,
  ``AdvertiseBlockReceived``, ``AdvertiseCertificateReceived``; the attester's
  ``ProposalReceived`` and ``VoteReceived``. The transport fills in the authenticated ``peer``.
- Effects, executed in order: ``Persist(block)`` (store at its height, replacing an uncommitted
  block there), ``Commit(height)`` (mark final up to height), ``UpdateHighestCertificate``,
  ``PersistGuard(guard)`` and ``PersistSigningGuard(guard)`` (the attester's and the producer's
  guards: store durably before anything that follows is sent), ``Send(peer,
  message)``, ``Broadcast(message)`` (every other keeper), ``Rejected``, ``Blacklisted`` and
  ``Observe`` (counters and traces only).
- The view: ``ChainView`` over the store after the previous step's effects. Final blocks are the
  committed ones; the highest certificate certifies the final tip.

Routing: a ``Tick`` goes to the attester, the sync server and the sync client in that order; each
message goes to the one part that owns it. After the sync client applied a response, the node
commits the highest block the response certified (the sync client's own commit rule stops one
below: it waits for a child's certificate, while here a block's certificate alone makes it final);
after the attester finalizes a block, the sync client is told (``ChainAdvanced``).

The producer (``machine/producer/``) makes the node's new blocks. After every attester step the
node looks at the attester's (height, round): when the selector names this node producer of that
slot and the attester has no valid block to re-propose, the node starts the producer on the final
tip, answers its ``BuildBlock`` at once (the node is its executor, inside the same pure step),
gives it the ``Tick`` that releases the candidate, and turns the released ``BroadcastCandidate``
into the attester's signed ``Proposal``: broadcast, and handed to its own attester to attest. The
producer's ``PersistSigningGuard`` is one of the node's durable writes. ``Stop`` when the round
moves on or the height becomes final (``FinalizationAdvanced`` first). The producer sees each
slot through ``SlotView``: the final tip as its only block; docs/node.md says what maps to what.

``config.steppers`` lets a checker run every part's step through its own spec (``Conformant``);
by default the parts' plain ``step`` functions are used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from blockfsm.machine import attester as att
from blockfsm.machine import producer as prod
from blockfsm.machine import sync_client as sc
from blockfsm.machine import sync_server as ss
from blockfsm.machine.attester import (
    AttesterConfig,
    AttesterState,
    Guard,
    PersistGuard,
    ProposalReceived,
    VoteReceived,
    producer_for,
    view_of,
)
from blockfsm.machine.core import Broadcast, Rejected, Step, Tick
from blockfsm.machine.crypto import Signer, Verifier
from blockfsm.machine.messages import (
    AdvertiseBlockReceived,
    AdvertiseCertificateReceived,
    SyncRequestReceived,
    SyncResponseReceived,
)
from blockfsm.machine.producer import (
    ARMED,
    HOLDING,
    PRODUCING,
    BlockBuilt,
    BroadcastCandidate,
    BuildBlock,
    FinalizationAdvanced,
    PersistSigningGuard,
    ProducerConfig,
    ProducerState,
    Start,
    StartParams,
    Stop,
)
from blockfsm.machine.producer_selection import ProducerSelector
from blockfsm.machine.producer_view import (
    BlockInfo,
    BlockRef,
    KeeperSet,
    ProducedBlock,
    SigningGuard,
    produced_block_id,
)
from blockfsm.machine.sync_client import (
    ChainAdvanced,
    Commit,
    Persist,
    SyncClientConfig,
    SyncClientState,
    UpdateHighestCertificate,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.types import ZERO_HASH, Block, ChainId, Height, ValidatorSet
from blockfsm.machine.view import ChainView

RUNNING = "Running"
"""The node's one control state (``NodeState.control``)."""

__all__ = [
    "Guard",
    "NodeConfig",
    "NodeState",
    "PersistGuard",
    "PersistSigningGuard",
    "ProposalReceived",
    "SigningGuard",
    "SlotView",
    "VoteReceived",
    "initial",
    "step",
]

SubStep = Callable[[Any, Any, Any], Step]
"""A part's step with its config bound: ``(state, event, view) -> Step``."""


@attrs.frozen(kw_only=True)
class Steppers:
    """How the node steps its parts; ``Conformant(...).step`` objects under a checker."""

    server: SubStep = attrs.field(eq=False, hash=False)
    client: SubStep = attrs.field(eq=False, hash=False)
    attester: SubStep = attrs.field(eq=False, hash=False)
    producer: SubStep | None = attrs.field(default=None, eq=False, hash=False)


@attrs.frozen(kw_only=True)
class NodeConfig:
    server: SyncServerConfig
    client: SyncClientConfig
    attester: AttesterConfig
    producer: ProducerConfig
    steppers: Steppers | None = attrs.field(default=None, eq=False, hash=False)
    parts: tuple[SubStep, SubStep, SubStep, SubStep] = attrs.field(
        init=False, eq=False, hash=False, repr=False
    )
    """The four parts' steps (server, client, attester, producer) with their configs bound, made
    once here rather than on every step: ``steppers`` where given, else the plain steps."""

    def __attrs_post_init__(self) -> None:
        s = self.steppers
        plain: tuple[SubStep, SubStep, SubStep, SubStep] = (
            functools.partial(ss.step, self.server),
            functools.partial(sc.step, self.client),
            functools.partial(att.step, self.attester),
            functools.partial(prod.step, self.producer),
        )
        parts = plain
        if s is not None:
            producer = s.producer if s.producer is not None else plain[3]
            parts = (s.server, s.client, s.attester, producer)
        object.__setattr__(self, "parts", parts)

    @classmethod
    def make(
        cls,
        *,
        chain_id: ChainId,
        signer: Signer,
        validators: ValidatorSet,
        verifier: Verifier,
        seed: int = 0,
        round_timeout: int = 1_000,
        round_timeout_increment: int = 500,
        max_round_timeout: int = 60_000,
        advertise_time: int = 1_000,
        request_limit: int = 10,
        trigger_timeout: int = 5_000,
        steppers: Steppers | None = None,
    ) -> NodeConfig:
        return cls(
            server=SyncServerConfig(
                chain_id=chain_id,
                signer=signer,
                request_limit=request_limit,
                advertise_time=advertise_time,
            ),
            client=SyncClientConfig(
                chain_id=chain_id,
                own_key=signer.public_key,
                validators=validators,
                verifier=verifier,
                seed=seed,
                request_limit=request_limit,
                trigger_timeout=trigger_timeout,
                trigger_rate_limit=advertise_time,
                advertise_expiry=3 * advertise_time,
                advertise_freshness=2 * advertise_time + 1_000,
                response_timeout=advertise_time,
                max_sync_time=4 * advertise_time,
                blacklist_expiry_time=4 * advertise_time,
            ),
            attester=AttesterConfig(
                chain_id=chain_id,
                signer=signer,
                validators=validators,
                verifier=verifier,
                round_timeout=round_timeout,
                round_timeout_increment=round_timeout_increment,
                max_round_timeout=max_round_timeout,
                new_blocks=False,
            ),
            # One block per slot: the node builds only on the final tip, so nothing is buffered.
            producer=ProducerConfig(signer=signer, verifier=verifier, buffer_cap=1),
            steppers=steppers,
        )


@attrs.frozen(kw_only=True)
class NodeState:
    control: str
    server: SyncServerState
    client: SyncClientState
    attester: AttesterState
    producer: ProducerState
    slot: tuple[int, int] = (-1, -1)
    """The (height, round) the node last settled who produces: it started its producer there, or
    the selector names another keeper. Nothing more is asked of the producer in that slot."""


def initial(
    config: NodeConfig, guard: Guard | None = None, signing_guard: SigningGuard | None = None
) -> NodeState:
    """A node; after a crash, ``guard`` is the last ``PersistGuard`` and ``signing_guard`` the
    last ``PersistSigningGuard`` the runtime stored."""
    return NodeState(
        control=RUNNING,
        server=ss.initial(config.server),
        client=sc.initial(config.client),
        attester=att.initial(config.attester, guard),
        producer=prod.initial(config.producer, signing_guard),
    )


_RANK = {
    "Persist": 0,
    "Commit": 1,
    "UpdateHighestCertificate": 2,
    "PersistGuard": 3,
    "PersistSigningGuard": 4,
    "Send": 5,
    "Broadcast": 6,
    "Rejected": 7,
    "Blacklisted": 8,
    "Observe": 9,
}


def step(config: NodeConfig, state: NodeState, event: Any, view: ChainView) -> Step:
    server_step, client_step, attester_step, _ = config.parts
    kind = type(event)
    if kind is ProposalReceived or kind is VoteReceived:
        a, effects = attester_step(state.attester, event, view)
        client = state.client
        if _finalized(effects):
            client, more = client_step(client, ChainAdvanced(), view)
            effects = (*effects, *more)
        p, slot = state.producer, state.slot
        if a is not state.attester and (a.height != slot[0] or a.round != slot[1]):
            a, p, slot, made = _produce(config, state, a, effects, view, attester_step)
            effects = (*effects, *made)
        after = NodeState(
            control=RUNNING,
            server=state.server,
            client=client,
            attester=a,
            producer=p,
            slot=slot,
        )
        return Step(after, _ordered(effects))
    if kind is SyncRequestReceived:
        s, effects = server_step(state.server, event, view)
        return Step(_with(state, server=s), _ordered(effects))
    if (
        kind is SyncResponseReceived
        or kind is AdvertiseBlockReceived
        or kind is AdvertiseCertificateReceived
    ):
        c, effects = client_step(state.client, event, view)
        if kind is SyncResponseReceived:
            effects = _commit_certified(effects, view)
        return Step(_with(state, client=c), _ordered(effects))
    if kind is Tick:
        a, e1 = attester_step(state.attester, event, view)
        p, slot, made = state.producer, state.slot, ()
        if a is not state.attester and (a.height != slot[0] or a.round != slot[1]):
            a, p, slot, made = _produce(config, state, a, e1, view, attester_step)
        s, e2 = server_step(state.server, event, view)
        c, e3 = client_step(state.client, event, view)
        if _finalized(e1):
            c, more = client_step(c, ChainAdvanced(), view)
            e3 = (*e3, *more)
        effects = _ordered((*e1, *made, *e2, *e3))
        after = NodeState(control=RUNNING, server=s, client=c, attester=a, producer=p, slot=slot)
        return Step(after, effects)
    raise TypeError(f"node does not take {kind.__name__}")


# --- the producer, composed ------------------------------------------------------------------

_ACTIVE = (ARMED, PRODUCING, HOLDING)
_SURFACED = (PersistSigningGuard, Rejected)
"""The producer's effects the node passes on; the others are the node's own business as the
producer's executor (``StartExecutor``, ``BuildBlock``, ...) or have no counterpart here."""


@attrs.frozen
class SlotView:
    """The producer's view of one slot (height h, round r): the final tip as its only block and
    last finalized block, its selector already moved to round r, the validator set as the keeper
    set (epoch 0, seeded by the tip's hash). Producer seq_no = attester height + 1 (the tip sits
    at h); producer height = the slot's certificate view ``view_of(h, r)`` (the tip sits one
    below), so the signing guard's highest height per round is the highest slot signed."""

    final: BlockRef
    tip: BlockInfo
    keepers: KeeperSet

    def last_finalized(self) -> BlockRef:
        return self.final

    def keeper_set(self) -> KeeperSet:
        return self.keepers

    def block(self, block_id: bytes) -> BlockInfo | None:
        return self.tip if block_id == self.tip.block_id else None


def slot_view(keepers: tuple[bytes, ...], parent: bytes, height: Height, round_: int) -> SlotView:
    below = view_of(height, round_) - 1
    tip = BlockInfo(
        block_id=parent,
        parent_id=parent,
        seq_no=height,
        height=below,
        attestations=len(keepers),
        selector=ProducerSelector(seed=parent, index=round_ % len(keepers)),
    )
    return SlotView(
        final=BlockRef(block_id=parent, seq_no=height, height=below),
        tip=tip,
        keepers=KeeperSet(epoch=0, seed=parent, members=keepers),
    )


def produced(block: Block, slot_parent: BlockRef, producer: bytes) -> ProducedBlock:
    """The executor's answer for a slot: the attester's block, as the producer's block. Its
    resulting state is the block's hash, so the id the producer signs commits to the block."""
    seq_no, height = slot_parent.seq_no + 1, slot_parent.height + 1
    return ProducedBlock(
        block_id=produced_block_id(slot_parent.block_id, seq_no, height, block.hash, (), producer),
        parent_id=slot_parent.block_id,
        seq_no=seq_no,
        height=height,
        state=block.hash,
        inputs=(),
        producer=producer,
    )


def _produce(
    config: NodeConfig,
    state: NodeState,
    a: AttesterState,
    attester_effects: tuple[Any, ...],
    view: ChainView,
    attester_step: SubStep,
) -> tuple[AttesterState, ProducerState, tuple[int, int], tuple[Any, ...]]:
    """After an attester step that settled in another slot than the last one (the caller checks
    that much): stop the producer when its slot is over, start it when this node is producer of
    the attester's (height, round), and release its block as a proposal. An attester step that
    changed nothing changes nothing here: a slot can only end by the attester moving."""
    p = state.producer
    slot = state.slot
    height = view.committed_height() + 1
    here = att.running(a) and a.height == height
    current = (a.height, a.round)
    active = p.control in _ACTIVE
    if not active and not here:
        return a, p, slot, ()
    producer_step = config.parts[3]
    keepers = config.attester.keepers
    tip = view.block_at(height - 1) if height > 0 else None
    parent = tip.hash if tip is not None else ZERO_HASH
    effects: list[Any] = []
    sv: SlotView | None = None
    if active and (slot != current or not here):
        sv = slot_view(keepers, parent, height, a.round)
        for e in attester_effects:
            if type(e) is Persist:  # the attester finalized this block: the slot is over
                event = FinalizationAdvanced(block_id=e.block.hash, seq_no=e.block.height + 1)
                p, out = producer_step(p, event, sv)
                effects.extend(x for x in out if type(x) in _SURFACED)
        if p.control in _ACTIVE:
            p, out = producer_step(p, Stop(), sv)
            effects.extend(x for x in out if type(x) in _SURFACED)
    if not here:
        return a, p, slot, tuple(effects)
    h, r = current
    me = config.attester.signer.public_key
    if (
        producer_for(keepers, parent, r) != me
        or a.valid_block is not None
        or r in a.proposed_in
        or not att.may_sign(a.guard, h, r, att.PROPOSE)
    ):
        # Another keeper's turn, the attester re-proposes its valid block, or the attester's
        # guard already holds a signature at or after this slot (a restart): settled.
        return a, p, current, tuple(effects)
    justify = view.highest_certificate()
    if not att.justifies_tip(config.attester, justify, h, parent):
        return a, p, slot, tuple(effects)  # the tip's certificate is not in hand yet
    if sv is None:
        sv = slot_view(keepers, parent, h, r)
    start = StartParams(
        parent_id=parent, parent_seq_no=sv.final.seq_no, parent_height=sv.final.height, round=0
    )
    p, out = producer_step(p, Start(params=start), sv)
    block: Block | None = None
    pending = list(out)
    while pending:
        e = pending.pop(0)
        kind = type(e)
        if kind in _SURFACED:
            effects.append(e)
        elif kind is BuildBlock and block is None and e.parent == sv.final:
            # The node is the executor: the block on the final tip, built at once.
            block = att.new_block(config.attester, h, r, parent, justify)
            built = BlockBuilt(
                session=e.session, build_id=e.build_id, block=produced(block, sv.final, me)
            )
            p, out = producer_step(p, built, sv)
            pending.extend(out)
            if p.buffer:
                p, out = producer_step(p, Tick(now=a.now), sv)  # due at once: release it
                pending.extend(out)
        elif (
            kind is BroadcastCandidate
            and block is not None
            and e.candidate.block.state == block.hash
        ):
            proposal = att.signed_proposal(config.attester, block, r)
            effects.append(Broadcast(message=proposal))
            a, out = attester_step(a, ProposalReceived(peer=me, proposal=proposal), view)
            effects.extend(out)
    return a, p, current, tuple(effects)


def _ordered(effects: tuple[Any, ...]) -> tuple[Any, ...]:
    """Effects in one canonical order (stable): store writes, then the guard, then messages."""
    if len(effects) > 1:
        return tuple(sorted(effects, key=lambda e: _RANK.get(type(e).__name__, 10)))
    return effects


def _with(
    state: NodeState,
    *,
    server: SyncServerState | None = None,
    client: SyncClientState | None = None,
) -> NodeState:
    return NodeState(
        control=RUNNING,
        server=state.server if server is None else server,
        client=state.client if client is None else client,
        attester=state.attester,
        producer=state.producer,
        slot=state.slot,
    )


def _finalized(effects: tuple[Any, ...]) -> bool:
    return any(type(e) is Commit for e in effects)


def _commit_certified(effects: tuple[Any, ...], view: ChainView) -> tuple[Any, ...]:
    """Add ``Commit`` for the highest block a verified certificate certifies once the sync
    client's effects are applied: every persisted block's ``justify`` certifies its parent, and
    the highest certificate certifies the block it names."""
    persisted: dict[Height, Block] = {}
    committed = view.committed_height()
    cert = None
    for e in effects:
        kind = type(e)
        if kind is Persist:
            b = e.block
            persisted = {h: x for h, x in persisted.items() if h < b.height}
            persisted[b.height] = b
        elif kind is Commit:
            committed = max(committed, e.height)
        elif kind is UpdateHighestCertificate:
            cert = e.certificate
    if not persisted and cert is None:
        return effects
    first = min(persisted) if persisted else view.highest_height() + 1

    def block_at(h: Height) -> Block | None:
        if h in persisted:
            return persisted[h]
        return view.block_at(h) if h < first else None

    top = max(persisted) if persisted else view.highest_height()
    certified = top - 1 if block_at(top) is not None else -1
    if cert is None:
        cert = view.highest_certificate()
    held = block_at(cert.height)
    if held is not None and held.hash == cert.block_hash and cert.height > certified:
        certified = cert.height
    if certified > committed:
        return (*effects, Commit(height=certified))
    return effects
