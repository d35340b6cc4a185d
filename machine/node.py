"""The node: the sync server, the sync client and the attester over one chain view.

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
  ``PersistGuard(guard)`` (store durably before anything that follows is sent), ``Send(peer,
  message)``, ``Broadcast(message)`` (every other keeper), ``Rejected``, ``Blacklisted`` and
  ``Observe`` (counters and traces only).
- The view: ``ChainView`` over the store after the previous step's effects. Final blocks are the
  committed ones; the highest certificate certifies the final tip.

Routing: a ``Tick`` goes to the attester, the sync server and the sync client in that order; each
message goes to the one part that owns it. After the sync client applied a response, the node
commits the highest block the response certified (the sync client's own commit rule stops one
below: it waits for a child's certificate, while here a block's certificate alone makes it final);
after the attester finalizes a block, the sync client is told (``ChainAdvanced``).

``config.steppers`` lets a checker run every part's step through its own spec (``Conformant``);
by default the parts' plain ``step`` functions are used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from blockfsm.machine import attester as att
from blockfsm.machine import sync_client as sc
from blockfsm.machine import sync_server as ss
from blockfsm.machine.attester import (
    AttesterConfig,
    AttesterState,
    Guard,
    PersistGuard,
    ProposalReceived,
    VoteReceived,
)
from blockfsm.machine.core import MachineDef, Step, Tick
from blockfsm.machine.crypto import Signer, Verifier
from blockfsm.machine.messages import (
    AdvertiseBlockReceived,
    AdvertiseCertificateReceived,
    SyncRequestReceived,
    SyncResponseReceived,
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
from blockfsm.machine.types import Block, ChainId, Height, ValidatorSet
from blockfsm.machine.view import ChainView
from blockfsm.spec.node import NODE_SPEC, RUNNING

__all__ = [
    "NODE",
    "Guard",
    "NodeConfig",
    "NodeState",
    "PersistGuard",
    "ProposalReceived",
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


@attrs.frozen(kw_only=True)
class NodeConfig:
    server: SyncServerConfig
    client: SyncClientConfig
    attester: AttesterConfig
    steppers: Steppers | None = attrs.field(default=None, eq=False, hash=False)

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
            ),
            steppers=steppers,
        )


@attrs.frozen(kw_only=True)
class NodeState:
    control: str
    server: SyncServerState
    client: SyncClientState
    attester: AttesterState


def initial(config: NodeConfig, guard: Guard | None = None) -> NodeState:
    """A node; after a crash, ``guard`` is the last ``PersistGuard`` the runtime stored."""
    return NodeState(
        control=RUNNING,
        server=ss.initial(config.server),
        client=sc.initial(config.client),
        attester=att.initial(config.attester, guard),
    )


_RANK = {
    "Persist": 0,
    "Commit": 1,
    "UpdateHighestCertificate": 2,
    "PersistGuard": 3,
    "Send": 4,
    "Broadcast": 5,
    "Rejected": 6,
    "Blacklisted": 7,
    "Observe": 8,
}


def _steppers(config: NodeConfig) -> tuple[SubStep, SubStep, SubStep]:
    s = config.steppers
    if s is not None:
        return s.server, s.client, s.attester
    return (
        lambda st, ev, v: ss.step(config.server, st, ev, v),
        lambda st, ev, v: sc.step(config.client, st, ev, v),
        lambda st, ev, v: att.step(config.attester, st, ev, v),
    )


def step(config: NodeConfig, state: NodeState, event: Any, view: ChainView) -> Step:
    server_step, client_step, attester_step = _steppers(config)
    kind = type(event)
    if kind is ProposalReceived or kind is VoteReceived:
        a, effects = attester_step(state.attester, event, view)
        client = state.client
        if _finalized(effects):
            client, more = client_step(client, ChainAdvanced(), view)
            effects = (*effects, *more)
        return Step(_with(state, attester=a, client=client), _ordered(effects))
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
        s, e2 = server_step(state.server, event, view)
        c, e3 = client_step(state.client, event, view)
        if _finalized(e1):
            c, more = client_step(c, ChainAdvanced(), view)
            e3 = (*e3, *more)
        effects = _ordered((*e1, *e2, *e3))
        return Step(NodeState(control=RUNNING, server=s, client=c, attester=a), effects)
    raise TypeError(f"node does not take {kind.__name__}")


def _ordered(effects: tuple[Any, ...]) -> tuple[Any, ...]:
    """Effects in one canonical order (stable): store writes, then the guard, then messages."""
    if len(effects) > 1:
        return tuple(sorted(effects, key=lambda e: _RANK.get(type(e).__name__, 9)))
    return effects


def _with(
    state: NodeState,
    *,
    server: SyncServerState | None = None,
    client: SyncClientState | None = None,
    attester: AttesterState | None = None,
) -> NodeState:
    return NodeState(
        control=RUNNING,
        server=state.server if server is None else server,
        client=state.client if client is None else client,
        attester=state.attester if attester is None else attester,
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


NODE: MachineDef[NodeConfig, NodeState, Any, ChainView] = MachineDef(
    name="node", spec=NODE_SPEC, initial=initial, step=step
)
