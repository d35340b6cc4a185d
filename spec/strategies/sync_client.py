"""Byzantine sync servers as data, and Hypothesis strategies over them, reusable by users.

A ``Byzantine`` is one misbehaviour with a parameter. A harness asks it what to advertise
(``advertised_height``) and how to answer a request (``answer``): given the request and the
response an honest server holding the same chain would send, it returns the replies to put on the
wire, each with a delay in milliseconds (possibly none at all). Behaviours never sign with keys
they do not own: they can replay, truncate, reorder, duplicate and corrupt, and sign their own
advertisements, which is exactly what a Byzantine validator can do when a quorum is honest.

Kinds (``KINDS``):

- ``invalid_block``: one block's payload altered, its hash left as it was;
- ``bad_certificate``: the highest certificate's signatures replaced by garbage;
- ``wrong_height``: the range starts one height late;
- ``duplicate_block``: one block listed twice;
- ``stale_reply``: the answer to an earlier request (request id of the past) is sent again;
- ``someone_elses``: the answer carries a request id that is not the one asked;
- ``sniffer``: answers requests sent to *other* servers with their request id, from itself;
- ``inflated``: advertises ``param`` more blocks than it holds, then answers honestly;
- ``withholding``: never answers;
- ``slow``: answers honestly, ``param`` ms after the client's response timeout;
- ``truncated``: answers only the first ``param`` blocks (fewer than it holds);
- ``limit_abuse``: answers ``param`` blocks more than the limit;
- ``wrong_chain``: answers with another chain id;
- ``forked_tip``: answers one well-formed block with a valid justify but a payload of its own,
  which a client cannot tell from a real uncertified block, and stops there;
- ``throttling``: answers valid blocks, but only ``1 + param % 3`` of them, with the certificate
  of the last one (so every answer commits something), and advertises its valid certificate on
  every tick to win the event trigger (``eager_certificate``): it sets the catch-up pace of a
  client that keeps a server "while it makes progress".
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from blockfsm.machine.core import PeerId, Tick
from blockfsm.machine.crypto import StandInSigner
from blockfsm.machine.messages import (
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncResponse,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client import (
    ChainAdvanced,
    Outstanding,
    Registration,
    Registry,
    SyncClientState,
)
from blockfsm.machine.types import (
    MAX_U64,
    Block,
    Certificate,
    advertise_block_payload,
    is_u64,
)
from blockfsm.machine.view import ChainView
from blockfsm.spec.strategies.chains import (
    DEFAULT_CHAIN_ID,
    chain_ids,
    make_signers,
    u64_or_garbage,
)
from blockfsm.spec.sync_client import AWAITING, PASSIVE

KINDS = (
    "invalid_block",
    "bad_certificate",
    "wrong_height",
    "duplicate_block",
    "stale_reply",
    "someone_elses",
    "sniffer",
    "inflated",
    "withholding",
    "slow",
    "truncated",
    "limit_abuse",
    "wrong_chain",
    "forked_tip",
    "throttling",
)

Reply = tuple[int, SyncResponse]
"""A reply to put on the wire: (delay in ms, response)."""


@attrs.frozen(kw_only=True)
class Byzantine:
    kind: str
    param: int = 1

    @property
    def eager_certificate(self) -> bool:
        """Whether it advertises its certificate on every tick, not once per advertise period."""
        return self.kind == "throttling"

    def advertised_height(self, committed: int) -> int:
        if self.kind == "inflated":
            return committed + max(1, self.param)
        return committed

    def answer(
        self,
        request: SyncRequest,
        honest: SyncResponse,
        chain: ChainView,
        history: tuple[SyncResponse, ...] = (),
        response_timeout: int = 0,
    ) -> list[Reply]:
        """The replies to ``request`` (sent to this server), given the honest ``response``."""
        kind = self.kind
        blocks = honest.blocks
        if kind in ("withholding", "sniffer"):
            return []
        if kind == "slow":
            return [(response_timeout + max(1, self.param), honest)]
        if kind in ("inflated",):
            return [(0, honest)]
        if kind == "stale_reply":
            if history:
                return [(0, history[-1])]
            return [(0, attrs.evolve(honest, request_id=max(0, request.request_id - 1)))]
        if kind == "someone_elses":
            return [(0, attrs.evolve(honest, request_id=request.request_id + 1 + self.param))]
        if kind == "wrong_chain":
            return [(0, attrs.evolve(honest, chain_id=honest.chain_id + 1))]
        if kind == "bad_certificate":
            return [
                (0, attrs.evolve(honest, highest_certificate=forge(honest.highest_certificate)))
            ]
        if kind == "truncated":
            keep = min(len(blocks) - 1, self.param) if blocks else 0
            return [(0, attrs.evolve(honest, blocks=blocks[: max(0, keep)]))]
        if kind == "throttling":
            kept = blocks[: 1 + self.param % 3]
            if not kept:
                return [(0, honest)]
            above = chain.block_at(kept[-1].height + 1)
            cert = above.justify if above is not None else honest.highest_certificate
            return [(0, attrs.evolve(honest, blocks=kept, highest_certificate=cert))]
        if kind == "limit_abuse":
            more = chain.blocks_from(request.start_height, request.limit + max(1, self.param))
            return [(0, attrs.evolve(honest, blocks=more))]
        if not blocks:
            # Nothing to corrupt in the range: corrupt the certificate instead.
            return [
                (0, attrs.evolve(honest, highest_certificate=forge(honest.highest_certificate)))
            ]
        i = self.param % len(blocks)
        if kind == "invalid_block":
            bad = attrs.evolve(blocks[i], payload=blocks[i].payload + b"!")
            return [(0, attrs.evolve(honest, blocks=(*blocks[:i], bad, *blocks[i + 1 :])))]
        if kind == "wrong_height":
            return [(0, attrs.evolve(honest, blocks=blocks[1:] or (blocks[0],) * 2))]
        if kind == "duplicate_block":
            return [(0, attrs.evolve(honest, blocks=(*blocks[: i + 1], *blocks[i:])))]
        if kind == "forked_tip":
            first = blocks[0]
            fork = Block.make(
                chain_id=first.chain_id,
                height=first.height,
                parent_hash=first.parent_hash,
                justify=first.justify,
                payload=b"fork" + self.param.to_bytes(4, "big"),
            )
            return [(0, attrs.evolve(honest, blocks=(fork,)))]
        raise ValueError(f"unknown Byzantine kind {kind!r}")

    def sniff(self, request: SyncRequest, honest: SyncResponse) -> list[Reply]:
        """Replies to a request the client sent to *another* server (only ``sniffer`` sends)."""
        if self.kind != "sniffer":
            return []
        return [(0, attrs.evolve(honest, request_id=request.request_id))]


def forge(cert: Certificate) -> Certificate:
    """The same certificate with signatures no key made (the genesis one gains a signature)."""
    if not cert.signatures:
        return attrs.evolve(cert, signatures=((bytes(32), bytes(64)),))
    return attrs.evolve(
        cert, signatures=tuple((signer, bytes(len(sig))) for signer, sig in cert.signatures)
    )


def byzantine(kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[Byzantine]:
    """One Byzantine behaviour, with a parameter suited to its kind."""
    return st.builds(
        Byzantine,
        kind=st.sampled_from(kinds),
        param=st.integers(min_value=1, max_value=40),
    )


def byzantine_servers(count: int = 3) -> st.SearchStrategy[list[Byzantine]]:
    return st.lists(byzantine(), min_size=count, max_size=count)


# --- arbitrary client states and events ----------------------------------------------------------
#
# For checking the spec's guards and the machine's totality beyond what a campaign reaches: any
# well-typed ``SyncClientState`` (reachable or not) and any input, garbage included. Keys are those
# of ``make_signers(6)`` (key 0 being the client's in the campaign) and one outsider, so a state
# can hold the client itself, validators and a non-validator alike. Strategies are built once and
# reused: building them inside every draw costs more than the step under test.

_six = make_signers(6)
CLIENT_SIGNERS: tuple[StandInSigner, ...] = (*_six[1:], _six[0], make_signers(1, offset=100)[0])
"""Validators 1 to 5, the client (key 0), then an outsider: simplest draws are other validators."""
CLIENT_PEERS: tuple[PeerId, ...] = tuple(s.public_key for s in CLIENT_SIGNERS)
MAX_TIME = 5_000
"""States' clocks stay below this (ms), so ticks, deadlines and config periods overlap."""
MAX_HEIGHT = 20

_peers = st.sampled_from(CLIENT_PEERS)
_garbage_peers = st.one_of(
    st.none(), st.text(max_size=3), st.binary(max_size=33), st.integers(), st.just([b"\x01"])
)
_times = st.integers(min_value=0, max_value=MAX_TIME)
_later = st.integers(min_value=0, max_value=2 * MAX_TIME)
_since = st.integers(min_value=-1, max_value=MAX_TIME)
_heights = st.integers(min_value=-1, max_value=MAX_HEIGHT + 10)
_limits = st.integers(min_value=0, max_value=12)
_ids = st.one_of(st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=MAX_U64))
_u64 = st.integers(min_value=0, max_value=MAX_U64)
_garbage_u64 = u64_or_garbage()

outstanding_requests: st.SearchStrategy[Outstanding] = st.builds(
    Outstanding,
    server=_peers,
    request_id=_ids,
    start_height=st.integers(min_value=-1, max_value=MAX_HEIGHT),
    limit=_limits,
    target=_heights,
    deadline=_later,
)
"""A request in flight, to any peer, from any height, with any limit, target and deadline."""

_maybe_outstanding = st.one_of(st.none(), outstanding_requests)
_registries = st.lists(
    st.builds(Registration, peer=_peers, height=_heights, timestamp=_times, received=_times),
    unique_by=lambda e: e.peer,
    max_size=len(CLIENT_PEERS),
).map(lambda entries: Registry(tuple(entries)))
_blacklists = st.lists(st.tuples(_peers, _later), unique_by=lambda e: e[0], max_size=3).map(tuple)
_tried = st.lists(_peers, unique=True, max_size=3).map(tuple)
_delivered = st.lists(
    st.tuples(_peers, st.integers(min_value=0, max_value=12)), unique_by=lambda e: e[0], max_size=3
).map(lambda entries: tuple(sorted(entries)))
_state_nows = st.one_of(_times, st.sampled_from([MAX_U64 - 1, MAX_U64]))


@st.composite
def client_states(draw: st.DrawFn) -> SyncClientState:
    """Any well-typed sync client state, reachable or not. The one coupling kept is the one the
    type needs: ``AwaitingResponse`` has a request outstanding. ``Passive`` may hold a leftover
    request, the registry and blacklist may overlap or hold the client itself or an outsider,
    and the times need not be ordered. Registry peers are distinct (the registry is a map)."""
    control = draw(st.sampled_from((AWAITING, PASSIVE)))
    return SyncClientState(
        control=control,
        now=draw(_state_nows),
        seed=draw(_u64),
        draws=draw(_u64),
        next_request_id=draw(_ids),
        registry=draw(_registries),
        blacklist=draw(_blacklists),
        last_progress=draw(_since),
        last_event_trigger=draw(_since),
        sync_started=draw(_since),
        tried=draw(_tried),
        request=draw(outstanding_requests if control == AWAITING else _maybe_outstanding),
        delivered=draw(_delivered),
    )


client_ticks: st.SearchStrategy[Tick] = st.builds(
    Tick,
    now=st.one_of(
        st.integers(min_value=-5, max_value=2 * MAX_TIME),
        st.sampled_from([MAX_U64, 2**64]),
        _garbage_u64,
    ),
)
"""Ticks at any time, before or after a state's clock, and with a ``now`` no clock can read."""


def certificate_at(canonical: ChainView, height: int) -> Certificate:
    """The certificate ``canonical`` holds for its block at ``height`` (from -1, genesis, up to
    its tip)."""
    child = canonical.block_at(height + 1)
    if child is not None:
        return child.justify
    cert = canonical.highest_certificate()
    if cert.height != height:
        raise ValueError(f"no certificate for height {height}")
    return cert


_CERT_FIELDS = ("chain_id", "view", "height", "block_hash", "signatures")
_bad_signatures = st.sampled_from([((b"x",),), ((b"x", "sig"),), (None,), "sigs", [()]])
_bad_hashes = st.one_of(st.none(), st.text(max_size=2), st.binary(max_size=40))
_bad_heights = st.one_of(_garbage_u64, st.sampled_from([-(2**63) - 1, 2**63]))


@st.composite
def certificates(draw: st.DrawFn, canonical: ChainView) -> object:
    """Valid certificates of ``canonical`` (genesis included), forged or re-chained ones, ones
    with a garbage field, and things that are no certificate at all."""
    top = canonical.highest_height()
    cert = certificate_at(canonical, draw(st.integers(min_value=-1, max_value=top)))
    kind = draw(st.sampled_from(("valid", "forged", "wrong_chain", "field", "valid", "none")))
    if kind == "forged":
        return forge(cert)
    if kind == "wrong_chain":
        return attrs.evolve(cert, chain_id=draw(_u64))
    if kind == "field":
        name = draw(st.sampled_from(_CERT_FIELDS))
        bad = {"signatures": _bad_signatures, "block_hash": _bad_hashes, "height": _bad_heights}
        value: Any = draw(bad.get(name, _garbage_u64))
        return attrs.evolve(cert, **{name: value})
    if kind == "none":
        return draw(st.one_of(st.none(), st.text(max_size=3), st.just(cert.signatures)))
    return cert


_AD_FIELDS = ("chain_id", "server", "committed_height", "timestamp")


_AD_FAULTS = (
    "none",
    "wrong_chain",
    "none",
    "other_server",
    "garbage_field",
    "none",
    "random_signature",
    "garbage_peer",
    "far_timestamp",
    "garbage_signature",
)


@st.composite
def advertise_block_events(
    draw: st.DrawFn, state: SyncClientState | None = None, chain_id: int = DEFAULT_CHAIN_ID
) -> AdvertiseBlockReceived:
    """Signed advertisements (from validators, the client, an outsider) with a timestamp near
    ``state``'s clock, and ones with one fault: a wrong chain, server, timestamp or signature, or
    a field a u64, i64 or key cannot hold."""
    fault = draw(st.sampled_from(_AD_FAULTS))
    signer = draw(st.sampled_from(CLIENT_SIGNERS))
    peer: object = draw(_garbage_peers) if fault == "garbage_peer" else signer.public_key
    near = state.now if state is not None else 0
    timestamp = draw(
        _later
        if fault == "far_timestamp"
        else st.integers(min_value=max(0, near - 50), max_value=min(MAX_U64, near + 50))
    )
    fields: dict[str, object] = {
        "chain_id": draw(chain_ids(chain_id)) if fault == "wrong_chain" else chain_id,
        "server": draw(_peers) if fault == "other_server" else peer,
        "committed_height": draw(_heights),
        "timestamp": timestamp,
    }
    if fault == "garbage_field":
        name = draw(st.sampled_from(_AD_FIELDS))
        bad = {"server": _garbage_peers, "committed_height": _bad_heights}
        fields[name] = draw(bad.get(name, _garbage_u64))
    signature: object = draw(st.binary(min_size=64, max_size=64))
    if fault == "garbage_signature":
        signature = draw(st.one_of(st.none(), st.text(max_size=3), st.binary(max_size=8)))
    elif fault != "random_signature" and _ad_well_formed(fields):
        signature = signer.sign(advertise_block_payload(**fields))  # type: ignore[arg-type]
    return AdvertiseBlockReceived(
        peer=peer,  # type: ignore[arg-type]
        advertisement=AdvertiseBlock(signature=signature, **fields),  # type: ignore[arg-type]
    )


def _ad_well_formed(fields: dict[str, Any]) -> bool:
    height = fields["committed_height"]
    return (
        is_u64(fields["chain_id"])
        and type(fields["server"]) is bytes
        and type(height) is int
        and -(2**63) <= height < 2**63
        and is_u64(fields["timestamp"])
    )


def advertise_certificate_events(
    canonical: ChainView,
) -> st.SearchStrategy[AdvertiseCertificateReceived]:
    return st.builds(
        AdvertiseCertificateReceived,
        peer=st.one_of(_peers, _garbage_peers),
        advertisement=st.builds(AdvertiseCertificate, certificate=certificates(canonical)),
    )


_BLOCK_FIELDS = ("chain_id", "height", "parent_hash", "payload", "hash", "justify")


@st.composite
def sync_response_events(
    draw: st.DrawFn,
    canonical: ChainView,
    state: SyncClientState | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
) -> SyncResponseReceived:
    """Responses cut from ``canonical``: mostly to the state's outstanding request (same peer and
    id and range), honest or corrupted by a Byzantine behaviour, sometimes with garbage fields."""
    req = state.request if state is not None else None
    if req is not None and draw(st.integers(min_value=0, max_value=3)):
        peer: object = req.server
        request_id: Any = req.request_id
        start = req.start_height
        limit = req.limit
    else:
        peer = draw(_peers)
        request_id = draw(_ids)
        start = draw(st.integers(min_value=-1, max_value=MAX_HEIGHT))
        limit = draw(_limits)
    if not draw(st.integers(min_value=0, max_value=5)):
        start += draw(st.integers(min_value=-2, max_value=2))
    blocks = canonical.blocks_from(start, draw(st.integers(min_value=0, max_value=limit + 2)))
    honest = SyncResponse(
        chain_id=chain_id,
        request_id=request_id,
        blocks=blocks,
        highest_certificate=certificate_at(
            canonical, draw(st.integers(min_value=-1, max_value=canonical.highest_height()))
        ),
    )
    response: object = honest
    how = draw(st.sampled_from(("honest", "byzantine", "honest", "field", "garbage")))
    if how == "byzantine":
        request = SyncRequest(
            chain_id=chain_id, request_id=request_id, start_height=max(0, start), limit=limit
        )
        replies = draw(byzantine()).answer(request, honest, canonical)
        response = replies[0][1] if replies else honest
    elif how == "field":
        name = draw(st.sampled_from(("chain_id", "request_id", "blocks", "block", "certificate")))
        if name == "blocks":
            response = attrs.evolve(honest, blocks=draw(st.sampled_from((list(blocks), None))))
        elif name == "certificate" or (name == "block" and not blocks):
            certificate: Any = draw(certificates(canonical))
            response = attrs.evolve(honest, highest_certificate=certificate)
        elif name == "block":
            i = draw(st.integers(min_value=0, max_value=len(blocks) - 1))
            field = draw(st.sampled_from(_BLOCK_FIELDS))
            bad = {"chain_id": _garbage_u64, "height": _garbage_u64}
            wrong: Any = draw(
                certificates(canonical) if field == "justify" else bad.get(field, _garbage_peers)
            )
            broken = attrs.evolve(blocks[i], **{field: wrong})
            response = attrs.evolve(honest, blocks=(*blocks[:i], broken, *blocks[i + 1 :]))
        else:
            garbage_value: Any = draw(_garbage_u64)
            response = attrs.evolve(honest, **{name: garbage_value})
    elif how == "garbage":
        response = draw(st.one_of(st.none(), st.text(max_size=3), st.just(blocks)))
    if not draw(st.integers(min_value=0, max_value=19)):
        peer = draw(_garbage_peers)
    return SyncResponseReceived(peer=peer, response=response)  # type: ignore[arg-type]


_EVENT_KINDS = (
    "advertise_block",
    "advertise_certificate",
    "response",
    "tick",
    "advertise_block",
    "response",
    "advertise_certificate",
    "tick",
    "chain_advanced",
)


@st.composite
def client_events(
    draw: st.DrawFn,
    canonical: ChainView,
    state: SyncClientState | None = None,
    chain_id: int = DEFAULT_CHAIN_ID,
) -> Any:
    """Any input the sync client takes, valid, invalid or garbage, aimed at ``state`` when given
    (ticks and timestamps near its clock and its request's deadline, responses to its request).
    ``canonical`` is the chain blocks and certificates are cut from."""
    kind = draw(st.sampled_from(_EVENT_KINDS))
    if kind == "tick":
        if state is not None and state.now <= MAX_U64 and draw(st.booleans()):
            near = [state.now, state.now + 1]
            if state.request is not None:
                near += [state.request.deadline - 1, state.request.deadline]
            return Tick(now=draw(st.sampled_from(near)))
        return draw(client_ticks)
    if kind == "advertise_block":
        return draw(advertise_block_events(state, chain_id))
    if kind == "advertise_certificate":
        return draw(advertise_certificate_events(canonical))
    if kind == "response":
        return draw(sync_response_events(canonical, state, chain_id))
    return ChainAdvanced()
