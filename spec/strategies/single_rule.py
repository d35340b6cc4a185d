"""Inputs that break exactly one validation rule: the sync client's and the sync server's.

Each strategy here draws a ``Case``: a machine's config, a state and a chain view, a *valid* input
that the machine accepts, and a *broken* input made from it by breaking one rule (``Case.rule``)
while every other check still passes. Where a Byzantine peer could re-hash or re-sign, the broken
input is re-hashed and re-signed: a block whose height is relabelled carries the hash of its new
contents; an advertisement with another chain id, server or timestamp carries its sender's real
signature over the new fields; a certificate on another chain is a real quorum's. Where it could
not (a quorum of validators is honest), it cannot: a fork of several blocks carries, on every
block after its first, a certificate that is forged, short of quorum, signed by a non-validator,
padded by repeating one signer, or signed over another message type's payload.

Rules are named ``<input>.<rule>`` (``RULES`` lists them, with the spec classification that must
decide each one). The strategies only *build* inputs; the spec rows and the machine decide. A
rule whose decision depends on the state rather than on the message (a blacklisted sender, a rate
limit, a response when no request is outstanding) breaks the state instead: ``broken_state``.

The world is fixed: validators are the keys of ``make_signers(6)`` with equal power (quorum 5), key
0 is the client's, key 100 an outsider; ``CANONICAL`` is one chain certified by keys 1 to 5.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st

from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import (
    MIN_RESPONSE_BYTES,
    AdvertiseBlock,
    AdvertiseBlockReceived,
    AdvertiseCertificate,
    AdvertiseCertificateReceived,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    SyncResponseReceived,
    response_size,
)
from blockfsm.machine.sync_client import (
    Outstanding,
    Registration,
    SyncClientConfig,
    SyncClientState,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.types import (
    ADVERTISE_BLOCK_DOMAIN,
    BLOCK_DOMAIN,
    CERTIFICATE_DOMAIN,
    MAX_U64,
    Block,
    Certificate,
    ValidatorSet,
    advertise_block_payload,
    certificate_payload,
)
from blockfsm.machine.view import InMemoryChain, InMemoryChainView
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers
from blockfsm.spec.sync_client import AWAITING, PASSIVE

CHAIN_ID = DEFAULT_CHAIN_ID
OTHER_CHAIN = CHAIN_ID + 1
SIGNERS: tuple[StandInSigner, ...] = tuple(make_signers(6))
KEYS = tuple(s.public_key for s in SIGNERS)
CLIENT = SIGNERS[0]
OUTSIDER = make_signers(1, offset=100)[0]
VALIDATORS = ValidatorSet.equal(KEYS)
VERIFIER = StandInVerifier.of([*SIGNERS, OUTSIDER])
QUORUM = VALIDATORS.quorum
CANONICAL_LENGTH = 24
CANONICAL = chain_of(CANONICAL_LENGTH, SIGNERS[1:6], CHAIN_ID).snapshot()
"""Blocks 0..23, each certified (view = height + 1) by keys 1 to 5."""
MAX_CLIENT_LENGTH = 10


@attrs.frozen(kw_only=True)
class Case:
    """One rule broken: ``valid`` in ``state`` is accepted, ``broken`` in ``broken_state`` (the
    same state unless the rule is about the state) is decided by the rule's classification."""

    rule: str
    config: Any
    state: Any
    view: Any
    valid: Any
    broken: Any
    broken_state: Any = None

    @property
    def state_for_broken(self) -> Any:
        return self.state if self.broken_state is None else self.broken_state


@attrs.frozen(kw_only=True)
class Rule:
    name: str
    machine: str
    decided_by: frozenset[str]
    """The spec classification (row guard name) that must decide the broken input."""
    text: str
    baseline: frozenset[str] = frozenset()
    """Where no input can be accepted (a response while no request is outstanding), the
    classification that decides the valid input instead; empty means ``ACCEPTED``."""


def _r(name: str, machine: str, decided_by: str, text: str, baseline: str = "") -> Rule:
    return Rule(
        name=name,
        machine=machine,
        decided_by=frozenset(decided_by.split()),
        text=text,
        baseline=frozenset(baseline.split()),
    )


_INVALID = "invalid_next invalid_end"
_CERT_KINDS = ("forged", "short", "non_validator", "repeated_signer", "cross_type", "wrong_chain")
_CERT_TEXT = {
    "forged": "a quorum of entries, one signature forged",
    "short": "genuine signatures of quorum - 1 validators",
    "non_validator": "a non-validator's genuine signature beside a quorum",
    "repeated_signer": "quorum reached only by repeating one validator's signature",
    "cross_type": "a quorum signed the same fields under another message type's domain tag",
    "wrong_chain": "a real quorum certificate of another chain",
}

RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        _r("tick.regressed", "sync_client", "regressed", "a Tick one millisecond before the clock"),
        _r("ad.malformed", "sync_client", "malformed", "one field of the wrong type or range"),
        _r("ad.wrong_chain", "sync_client", "wrong_chain", "another chain id, re-signed"),
        _r("ad.from_self", "sync_client", "from_self", "the client's own advertisement"),
        _r("ad.server_mismatch", "sync_client", "server_mismatch", "names another server"),
        _r("ad.not_validator", "sync_client", "not_validator", "an outsider's, self-signed"),
        _r("ad.blacklisted", "sync_client", "blacklisted", "the sender is blacklisted"),
        _r("ad.stale_past", "sync_client", "stale", "timestamp now - freshness - 1"),
        _r("ad.stale_future", "sync_client", "stale", "timestamp now + freshness + 1"),
        _r("ad.replay", "sync_client", "stale", "timestamp not newer than the registered one"),
        _r("ad.signature", "sync_client", "bad_signature", "another key's, another payload's"),
        _r("cert.malformed", "sync_client", "malformed", "a field of the wrong type"),
        _r("cert.chain", "sync_client", "wrong_chain", "a real certificate of another chain"),
        _r("cert.not_ahead", "sync_client", "not_ahead", "view one below the trigger threshold"),
        _r("cert.rate_limited", "sync_client", "rate_limited", "one millisecond inside the limit"),
        *(
            _r(f"cert.{k}", "sync_client", "invalid", _CERT_TEXT[k])
            for k in _CERT_KINDS
            if k != "wrong_chain"
        ),
        _r("response.malformed", "sync_client", "malformed", "one field of the wrong type"),
        _r(
            "response.malformed_passive",
            "sync_client",
            "malformed",
            "one field of the wrong type, no request outstanding",
            baseline="unexpected",
        ),
        _r("response.request_id", "sync_client", "unexpected", "another request id"),
        _r("response.peer", "sync_client", "unexpected", "sent by another server"),
        _r("response.no_request", "sync_client", "unexpected", "no request outstanding"),
        _r("response.chain", "sync_client", _INVALID, "the response names another chain"),
        _r("response.count", "sync_client", _INVALID, "limit + 1 blocks"),
        _r("response.bytes", "sync_client", _INVALID, "one byte over max_response_bytes"),
        _r("block.height", "sync_client", _INVALID, "a height relabelled, hash recomputed"),
        _r("block.chain", "sync_client", _INVALID, "a block of another chain, hash recomputed"),
        _r("block.hash", "sync_client", _INVALID, "contents changed, hash kept"),
        _r("block.parent", "sync_client", _INVALID, "parent link broken, hash recomputed"),
        _r(
            "block.justify_hash",
            "sync_client",
            _INVALID,
            "justify: a real quorum certificate of a sibling of the parent (same height)",
        ),
        _r(
            "block.justify_height",
            "sync_client",
            _INVALID,
            "justify: a quorum certificate naming the parent's hash at another height",
        ),
        _r("block.committed_conflict", "sync_client", _INVALID, "differs from a committed one"),
        *(
            _r(f"fork.{k}", "sync_client", _INVALID, "fork, later blocks: " + _CERT_TEXT[k])
            for k in _CERT_KINDS
        ),
        *(
            _r(f"highest.{k}", "sync_client", _INVALID, "highest certificate: " + _CERT_TEXT[k])
            for k in _CERT_KINDS
        ),
        _r("request.malformed", "sync_server", "malformed", "one field of the wrong type"),
        _r("request.zero_limit", "sync_server", "zero_limit", "limit 0"),
        _r("request.wrong_chain", "sync_server", "wrong_chain", "another chain id"),
        _r("request.rate_limited", "sync_server", "rate_limited", "one request over the limit"),
        _r("request.too_large", "sync_server", "too_large", "max_bytes one below the least"),
    )
}
"""Every single-rule strategy, by name."""

ACCEPTED: dict[str, frozenset[str]] = {
    "Tick": frozenset({"not_due", "trigger", "no_server", "time_cap", "waiting"}),
    "AdvertiseBlockReceived": frozenset({"register"}),
    "AdvertiseCertificateReceived": frozenset({"trigger", "no_server"}),
    "SyncResponseReceived": frozenset({"accepted_more", "accepted_end"}),
    "SyncRequestReceived": frozenset({"serve"}),
}
"""The classifications that accept an input, by event type: a case's valid input takes one."""

CLIENT_RULES = tuple(name for name, r in RULES.items() if r.machine == "sync_client")
SERVER_RULES = tuple(name for name, r in RULES.items() if r.machine == "sync_server")


# --- building blocks ---------------------------------------------------------------------------


def _chain(length: int) -> InMemoryChainView:
    """The client's chain holding canonical blocks 0..length-1 (committing length - 2)."""
    chain = InMemoryChain(CHAIN_ID)
    for h in range(length):
        block = CANONICAL.block_at(h)
        assert block is not None
        chain.persist(block)
    if length:
        chain.set_highest_certificate(certificate_of(length - 1))
        chain.commit(length - 2)
    return chain.snapshot()


def certificate_of(height: int) -> Certificate:
    """The canonical certificate of block ``height`` (genesis for -1)."""
    if height < 0:
        return Certificate.genesis(CHAIN_ID)
    child = CANONICAL.block_at(height + 1)
    return child.justify if child is not None else CANONICAL.highest_certificate()


VIEWS = tuple(_chain(n) for n in range(CANONICAL_LENGTH + 1))


def signed_certificate(
    *,
    chain_id: int,
    view: int,
    height: int,
    block_hash: bytes,
    signers: tuple[StandInSigner, ...],
    domain: bytes = CERTIFICATE_DOMAIN,
) -> Certificate:
    """A certificate whose signers really signed ``domain`` + the certificate's fields."""
    body = certificate_payload(chain_id, view, height, block_hash)[len(CERTIFICATE_DOMAIN) :]
    payload = domain + body
    return Certificate(
        chain_id=chain_id,
        view=view,
        height=height,
        block_hash=block_hash,
        signatures=tuple((s.public_key, s.sign(payload)) for s in signers),
    )


_validator_indices = st.permutations(range(6))


@st.composite
def quorum_signers(draw: st.DrawFn, size: int = QUORUM) -> tuple[StandInSigner, ...]:
    """``size`` distinct validators, in any order."""
    order = draw(_validator_indices)
    return tuple(SIGNERS[i] for i in order[:size])


@st.composite
def good_certificate(
    draw: st.DrawFn, height: int, block_hash: bytes, view: int, chain_id: int = CHAIN_ID
) -> Certificate:
    """A valid quorum certificate (any quorum of validators, in any order)."""
    return signed_certificate(
        chain_id=chain_id,
        view=view,
        height=height,
        block_hash=block_hash,
        signers=draw(quorum_signers()),
    )


@st.composite
def bad_certificate(
    draw: st.DrawFn, kind: str, height: int, block_hash: bytes, view: int
) -> Certificate:
    """A certificate for (height, block_hash, view) that breaks exactly rule ``kind``; every
    other property of a valid certificate holds (ours chain unless ``wrong_chain``, distinct
    validators unless ``repeated_signer`` or ``non_validator``, domain-tagged payload unless
    ``cross_type``, every signature genuine unless ``forged``)."""
    fields: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "view": view,
        "height": height,
        "block_hash": block_hash,
    }
    if kind == "wrong_chain":
        return signed_certificate(
            **{**fields, "chain_id": OTHER_CHAIN}, signers=draw(quorum_signers())
        )
    if kind == "cross_type":
        domain = draw(st.sampled_from((ADVERTISE_BLOCK_DOMAIN, BLOCK_DOMAIN)))
        return signed_certificate(**fields, signers=draw(quorum_signers()), domain=domain)
    if kind == "short":
        return signed_certificate(**fields, signers=draw(quorum_signers(QUORUM - 1)))
    if kind == "forged":
        cert = signed_certificate(**fields, signers=draw(quorum_signers()))
        sigs = list(cert.signatures)
        i = draw(st.integers(min_value=0, max_value=len(sigs) - 1))
        signer, signature = sigs[i]
        how = draw(st.sampled_from(("zero", "random", "other_signer", "other_block", "flip")))
        if how == "zero":
            forged = bytes(len(signature))
        elif how == "random":
            forged = draw(st.binary(min_size=64, max_size=64).filter(lambda b: b != signature))
        elif how == "other_signer":
            forged = sigs[(i + 1) % len(sigs)][1]
        elif how == "other_block":
            other = certificate_payload(CHAIN_ID, view, height + 1, block_hash)
            forged = next(s for s in SIGNERS if s.public_key == signer).sign(other)
        else:
            forged = bytes([signature[0] ^ 1]) + signature[1:]
        sigs[i] = (signer, forged)
        return attrs.evolve(cert, signatures=tuple(sigs))
    # A non-validator's genuine signature beside a full quorum (it adds no power, so only the
    # members-only rule refuses it); a repeated signer beside quorum - 1 distinct ones (counted
    # once each it is short, counted twice it would reach quorum).
    size = QUORUM if kind == "non_validator" else QUORUM - 1
    base = signed_certificate(**fields, signers=draw(quorum_signers(size)))
    sigs = list(base.signatures)
    at = draw(st.integers(min_value=0, max_value=len(sigs)))
    if kind == "non_validator":
        extra = signed_certificate(**fields, signers=(OUTSIDER,)).signatures[0]
    elif kind == "repeated_signer":
        extra = sigs[draw(st.integers(min_value=0, max_value=len(sigs) - 1))]
    else:
        raise ValueError(f"unknown certificate rule {kind!r}")
    sigs.insert(at, extra)
    return attrs.evolve(base, signatures=tuple(sigs))


def garbled(obj: Any, **changes: Any) -> Any:
    """``obj`` with fields of the wrong type or range, as a broken codec might deliver it."""
    return attrs.evolve(obj, **changes)


def rehashed(block: Block, **changes: Any) -> Block:
    """``block`` with ``changes`` and the hash of its new contents (what a forger can do)."""
    fields = {
        "chain_id": block.chain_id,
        "height": block.height,
        "parent_hash": block.parent_hash,
        "justify": block.justify,
        "payload": block.payload,
        **changes,
    }
    return Block.make(**fields)


# --- the client's config and state -------------------------------------------------------------


@st.composite
def client_configs(draw: st.DrawFn, /, **fixed: Any) -> SyncClientConfig:
    fields: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "own_key": CLIENT.public_key,
        "validators": VALIDATORS,
        "verifier": VERIFIER,
        "seed": draw(st.integers(min_value=0, max_value=MAX_U64)),
        "request_limit": draw(st.integers(min_value=3, max_value=8)),
        "trigger_min_view_difference": draw(st.integers(min_value=1, max_value=3)),
        "trigger_rate_limit": draw(st.integers(min_value=1, max_value=2_000)),
        "advertise_freshness": draw(st.integers(min_value=1, max_value=5_000)),
        "advertise_expiry": draw(st.integers(min_value=1_000, max_value=30_000)),
    }
    fields.update(fixed)
    return SyncClientConfig(**fields)


_servers = st.integers(min_value=1, max_value=5)


@st.composite
def _registry(
    draw: st.DrawFn, now: int, config: SyncClientConfig, without: int | None
) -> tuple[Registration, ...]:
    """Live entries for some validators other than the client (and other than ``without``)."""
    chosen = draw(st.sets(_servers, max_size=3))
    entries = [
        Registration(
            peer=KEYS[i],
            height=draw(st.integers(min_value=-1, max_value=CANONICAL_LENGTH)),
            timestamp=max(0, now - draw(st.integers(min_value=1, max_value=100))),
            received=max(
                0, now - draw(st.integers(min_value=0, max_value=config.advertise_expiry - 1))
            ),
        )
        for i in sorted(chosen)
        if i != without
    ]
    return tuple(sorted(entries, key=lambda e: e.peer))


def _awaiting_request(
    server: int, request_id: int, start: int, limit: int, now: int
) -> Outstanding:
    return Outstanding(
        server=KEYS[server],
        request_id=request_id,
        start_height=start,
        limit=limit,
        target=start + limit,
        deadline=now + 1_000,
    )


# --- advertisements ----------------------------------------------------------------------------


def signed_ad(
    signer: StandInSigner, chain_id: int, server: bytes, height: int, ts: int
) -> AdvertiseBlock:
    return AdvertiseBlock(
        chain_id=chain_id,
        server=server,
        committed_height=height,
        timestamp=ts,
        signature=signer.sign(advertise_block_payload(chain_id, server, height, ts)),
    )


@st.composite
def advertisement_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    fresh = config.advertise_freshness
    now = draw(st.integers(min_value=fresh + 2, max_value=fresh + 20_000))
    p = draw(_servers)
    signer = SIGNERS[p]
    peer = signer.public_key
    registered = None
    if rule == "ad.replay" or draw(st.booleans()):
        low = now - fresh if rule != "ad.stale_past" else 0
        high = now + fresh - 1 if rule != "ad.stale_past" else now - fresh - 2
        registered = draw(st.integers(min_value=low, max_value=high))
    window_low = now - fresh if registered is None else max(now - fresh, registered + 1)
    ts = draw(st.integers(min_value=window_low, max_value=now + fresh))
    if rule == "ad.stale_past":
        ts = now - fresh
    elif rule == "ad.stale_future":
        ts = now + fresh
    elif rule == "ad.replay":
        assert registered is not None
        ts = registered + 1
    height = draw(st.integers(min_value=-1, max_value=CANONICAL_LENGTH))
    registry = list(draw(_registry(now, config, without=p)))
    if registered is not None:
        registry.append(Registration(peer=peer, height=height, timestamp=registered, received=now))
    control = draw(st.sampled_from((PASSIVE, AWAITING)))
    request = None
    if control == AWAITING:
        request = _awaiting_request(draw(_servers), 1, 0, config.request_limit, now)
    state = SyncClientState(
        control=control,
        now=now,
        seed=config.seed,
        registry=tuple(sorted(registry, key=lambda e: e.peer)),
        last_progress=now,
        sync_started=now if control == AWAITING else -1,
        next_request_id=2,
        request=request,
    )
    valid_ad = signed_ad(signer, CHAIN_ID, peer, height, ts)
    valid = AdvertiseBlockReceived(peer=peer, advertisement=valid_ad)
    broken_state = None
    bad_peer = peer
    bad: Any = valid_ad
    if rule == "ad.malformed":
        field = draw(
            st.sampled_from(("chain_id", "server", "committed_height", "timestamp", "signature"))
        )
        value = draw(st.sampled_from((None, -1, "7", 2**64, 1.0)))
        if field == "committed_height" and value == -1:
            value = -2
        if field in ("server", "signature"):
            value = draw(st.sampled_from((None, "key", 7)))
        bad = garbled(valid_ad, **{field: value})
    elif rule == "ad.wrong_chain":
        other = draw(st.integers(min_value=0, max_value=MAX_U64).filter(lambda c: c != CHAIN_ID))
        bad = signed_ad(signer, other, peer, height, ts)
    elif rule == "ad.from_self":
        bad_peer = CLIENT.public_key
        bad = signed_ad(CLIENT, CHAIN_ID, bad_peer, height, ts)
    elif rule == "ad.server_mismatch":
        q = draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != p))
        bad = signed_ad(signer, CHAIN_ID, KEYS[q], height, ts)
    elif rule == "ad.not_validator":
        bad_peer = OUTSIDER.public_key
        bad = signed_ad(OUTSIDER, CHAIN_ID, bad_peer, height, ts)
    elif rule == "ad.blacklisted":
        until = now + draw(st.integers(min_value=1, max_value=10_000))
        # Registry and blacklist never overlap: the sender is not registered in either state.
        state = attrs.evolve(state, registry=tuple(e for e in state.registry if e.peer != peer))
        broken_state = attrs.evolve(state, blacklist=((peer, until),))
    elif rule == "ad.stale_past":
        bad = signed_ad(signer, CHAIN_ID, peer, height, now - fresh - 1)
    elif rule == "ad.stale_future":
        bad = signed_ad(signer, CHAIN_ID, peer, height, now + fresh + 1)
    elif rule == "ad.replay":
        assert registered is not None
        older = draw(st.integers(min_value=max(now - fresh, registered - 50), max_value=registered))
        bad = signed_ad(signer, CHAIN_ID, peer, height, older)
    elif rule == "ad.signature":
        how = draw(st.sampled_from(("other_key", "random", "cross_type", "other_fields", "empty")))
        payload = advertise_block_payload(CHAIN_ID, peer, height, ts)
        if how == "other_key":
            someone = SIGNERS[draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != p))]
            sig = someone.sign(payload)
        elif how == "random":
            sig = draw(st.binary(min_size=64, max_size=64))
        elif how == "cross_type":
            tag = draw(st.sampled_from((CERTIFICATE_DOMAIN, BLOCK_DOMAIN)))
            sig = signer.sign(tag + payload[len(ADVERTISE_BLOCK_DOMAIN) :])
        elif how == "other_fields":
            sig = signer.sign(advertise_block_payload(CHAIN_ID, peer, height + 1, ts))
        else:
            sig = b""
        bad = attrs.evolve(valid_ad, signature=sig)
    else:
        raise ValueError(rule)
    broken = AdvertiseBlockReceived(peer=bad_peer, advertisement=bad)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=VIEWS[draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))],
        valid=valid,
        broken=broken,
        broken_state=broken_state,
    )


# --- advertised certificates -------------------------------------------------------------------


@st.composite
def certificate_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    length = draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))
    view = VIEWS[length]
    ahead = view.highest_certificate().view + config.trigger_min_view_difference
    # Canonical certificates have view = height + 1.
    height = draw(st.integers(min_value=max(0, ahead - 1), max_value=CANONICAL_LENGTH - 1))
    if rule == "cert.not_ahead":
        height = ahead - 2  # its view is one below the threshold; the valid one is at it
    assume(height >= 0)
    block = CANONICAL.block_at(height)
    assert block is not None
    now = draw(st.integers(min_value=config.trigger_rate_limit, max_value=100_000))
    last = draw(
        st.one_of(st.just(-1), st.integers(min_value=0, max_value=now - config.trigger_rate_limit))
    )
    if rule == "cert.rate_limited":
        last = now - config.trigger_rate_limit
    state = SyncClientState(
        control=PASSIVE,
        now=now,
        seed=config.seed,
        registry=draw(_registry(now, config, without=None)),
        last_progress=now,
        last_event_trigger=last,
    )
    good = draw(good_certificate(height, block.hash, height + 1))
    peer = KEYS[draw(_servers)]
    broken_state = None
    bad: Any = good
    if rule == "cert.malformed":
        how = draw(st.sampled_from(("none", "view", "signatures", "pair")))
        if how == "none":
            bad = None
        elif how == "view":
            bad = garbled(good, view=draw(st.sampled_from((None, -1, 2**64, "1"))))
        elif how == "signatures":
            bad = garbled(good, signatures=list(good.signatures))
        else:
            bad = garbled(good, signatures=((good.signatures[0][0],), *good.signatures[1:]))
    elif rule == "cert.chain":
        bad = draw(bad_certificate("wrong_chain", height, block.hash, height + 1))
    elif rule == "cert.not_ahead":
        good = draw(good_certificate(height + 1, _hash_at(height + 1), height + 2))
        bad = draw(good_certificate(height, block.hash, height + 1))
    elif rule == "cert.rate_limited":
        broken_state = attrs.evolve(state, last_event_trigger=now - config.trigger_rate_limit + 1)
    else:
        bad = draw(bad_certificate(rule.removeprefix("cert."), height, block.hash, height + 1))

    def event(cert: Any) -> AdvertiseCertificateReceived:
        return AdvertiseCertificateReceived(
            peer=peer, advertisement=AdvertiseCertificate(certificate=cert)
        )

    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=event(good),
        broken=event(bad),
        broken_state=broken_state,
    )


def _hash_at(height: int) -> bytes:
    block = CANONICAL.block_at(height)
    assert block is not None
    return block.hash


# --- responses ---------------------------------------------------------------------------------


@st.composite
def response_cases(draw: st.DrawFn, rule: str) -> Case:
    """A client awaiting blocks from ``start`` (its committed height + 1 when it asked) and a
    canonical answer; then one rule broken."""
    limit = draw(st.integers(min_value=3, max_value=8))
    length = draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))
    start = max(0, length - 1)
    # Where the node's own consensus committed more since the request was sent.
    advanced = rule == "block.committed_conflict" or draw(st.integers(0, 4)) == 0
    view_length = length + draw(st.integers(min_value=2, max_value=4)) if advanced else length
    view = VIEWS[view_length]
    committed = view.committed_height()
    server = draw(_servers)
    rid = draw(st.integers(min_value=1, max_value=1_000))
    available = CANONICAL_LENGTH - start
    count = draw(st.integers(min_value=0, max_value=min(limit, available)))
    if rule in (
        "block.height",
        "block.chain",
        "block.hash",
        "block.parent",
        "block.justify_hash",
        "block.justify_height",
    ) or rule.startswith("fork."):
        count = max(count, 1)
    if rule == "block.justify_hash":
        # The last block's parent is a real block (height >= 0), so a sibling of it can be.
        assume(start + count - 1 >= 1)
    if rule.startswith("fork."):
        count = max(count, 2)
        # The fork's first block lies above the committed height and before the last block.
        assume(count <= min(limit, available) and max(0, committed + 1 - start) <= count - 2)
    if rule == "block.committed_conflict":
        count = max(count, 1)
        count = min(count, committed - start + 1)
        assume(count >= 1)
    if rule == "response.count":
        count = limit + 1
        assume(count <= available)
    blocks = CANONICAL.blocks_from(start, count)
    tip = start + count - 1
    highest_height = draw(st.integers(min_value=-1, max_value=max(-1, tip - 1)))
    if rule.startswith("highest."):
        highest_height = draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH - 1))
    highest = certificate_of(highest_height)
    config_fields: dict[str, Any] = {"request_limit": limit}
    if rule == "response.bytes":
        count = draw(st.integers(min_value=1, max_value=min(limit, available)))
        blocks = CANONICAL.blocks_from(start, count)
        over = SyncResponse(
            chain_id=CHAIN_ID, request_id=rid, blocks=blocks, highest_certificate=highest
        )
        size = response_size(over)
        assume(size - 1 >= MIN_RESPONSE_BYTES)
        config_fields["max_response_bytes"] = size - 1
    config = draw(client_configs(**config_fields))
    now = draw(st.integers(min_value=0, max_value=50_000))
    registry = draw(_registry(now, config, without=None))
    state = SyncClientState(
        control=AWAITING,
        now=now,
        seed=config.seed,
        next_request_id=rid + 1,
        registry=registry,
        last_progress=now,
        sync_started=now,
        request=_awaiting_request(server, rid, start, limit, now),
    )
    valid_r = SyncResponse(
        chain_id=CHAIN_ID, request_id=rid, blocks=blocks, highest_certificate=highest
    )
    peer = KEYS[server]
    bad_peer = peer
    bad: Any = valid_r
    broken_state = None
    last = len(blocks) - 1
    if rule == "response.malformed_passive":
        state = attrs.evolve(state, control=PASSIVE, request=None, sync_started=-1)
    if rule in ("response.malformed", "response.malformed_passive"):
        how = draw(st.sampled_from(("request_id", "blocks", "block", "certificate")))
        if how == "request_id":
            bad = garbled(valid_r, request_id=None)
        elif how == "blocks":
            bad = garbled(valid_r, blocks=list(blocks))
        elif how == "certificate":
            bad = garbled(valid_r, highest_certificate=None)
        elif blocks:
            bad = attrs.evolve(
                valid_r, blocks=(*blocks[:last], garbled(blocks[last], payload=None))
            )
        else:
            bad = garbled(valid_r, blocks=(None,))
    elif rule == "response.request_id":
        other = draw(st.integers(min_value=0, max_value=MAX_U64).filter(lambda i: i != rid))
        bad = attrs.evolve(valid_r, request_id=other)
    elif rule == "response.peer":
        bad_peer = KEYS[draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != server))]
    elif rule == "response.no_request":
        broken_state = attrs.evolve(
            state,
            control=PASSIVE,
            request=None,
            sync_started=-1,
        )
    elif rule == "response.chain":
        bad = attrs.evolve(
            valid_r, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
        )
    elif rule == "response.count":
        valid_r = attrs.evolve(valid_r, blocks=blocks[:limit])
    elif rule == "response.bytes":
        valid_r = attrs.evolve(valid_r, blocks=blocks[:-1])
        bad = attrs.evolve(valid_r, blocks=blocks)
    elif rule.startswith("block."):
        if rule == "block.committed_conflict":
            i = last
        else:
            i = draw(st.integers(min_value=0, max_value=last)) if rule == "block.hash" else last
        b = blocks[i]
        if rule == "block.height":
            how = draw(st.sampled_from(("skip", "repeat", "any")))
            new_h = {
                "skip": b.height + 1,
                "repeat": b.height - 1,
                "any": draw(st.integers(0, MAX_U64).filter(lambda h: h != b.height)),
            }[how]
            if new_h < 0:
                new_h = b.height + 2
            fake = rehashed(b, height=new_h)
        elif rule == "block.chain":
            fake = rehashed(
                b, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
            )
        elif rule == "block.hash":
            if draw(st.booleans()):
                fake = attrs.evolve(b, payload=b.payload + draw(st.binary(min_size=1, max_size=4)))
            else:
                fake = attrs.evolve(
                    b, hash=draw(st.binary(min_size=32, max_size=32).filter(lambda h: h != b.hash))
                )
                if i != last:
                    fake = attrs.evolve(b, payload=b.payload + b"x")
        elif rule == "block.parent":
            fake = rehashed(
                b,
                parent_hash=draw(
                    st.binary(min_size=32, max_size=32).filter(lambda h: h != b.parent_hash)
                ),
            )
        elif rule == "block.justify_hash":
            # A block at the parent's height that a quorum certified in some view but that is not
            # the parent: what a history with a failed view leaves behind.
            sibling_hash = draw(
                st.binary(min_size=32, max_size=32).filter(lambda h: h != b.parent_hash)
            )
            justify = draw(good_certificate(b.height - 1, sibling_hash, b.justify.view + 1))
            fake = rehashed(b, justify=justify)
        elif rule == "block.justify_height":
            # Only a dishonest quorum signs this; the link check refuses it before any signature.
            wrong = draw(
                st.integers(min_value=0, max_value=CANONICAL_LENGTH).filter(
                    lambda h: h != b.height - 1
                )
            )
            justify = draw(good_certificate(wrong, b.parent_hash, max(1, b.justify.view)))
            fake = rehashed(b, justify=justify)
        else:  # committed_conflict
            fake = rehashed(b, payload=b"fork" + draw(st.binary(min_size=1, max_size=4)))
        bad = attrs.evolve(valid_r, blocks=(*blocks[:i], fake, *blocks[i + 1 :]))
    elif rule.startswith("fork."):
        kind = rule.removeprefix("fork.")
        # The fork starts at a block above the client's committed height whose justify is the
        # real certificate of its parent; every later block is justified by a certificate of the
        # fork's previous block that only a quorum could make valid.
        first_fork = draw(st.integers(min_value=max(0, committed + 1 - start), max_value=last - 1))
        payload = b"fork" + draw(st.binary(min_size=1, max_size=4))
        good_fork = list(blocks[:first_fork])
        bad_fork = list(blocks[:first_fork])
        first = rehashed(blocks[first_fork], payload=payload)
        good_fork.append(first)
        bad_fork.append(first)
        for _ in range(first_fork + 1, len(blocks)):
            g_prev, b_prev = good_fork[-1], bad_fork[-1]
            v = g_prev.height + 1
            g_cert = draw(good_certificate(g_prev.height, g_prev.hash, v))
            b_cert = draw(bad_certificate(kind, b_prev.height, b_prev.hash, v))
            good_fork.append(
                Block.make(
                    chain_id=CHAIN_ID,
                    height=g_prev.height + 1,
                    parent_hash=g_prev.hash,
                    justify=g_cert,
                    payload=payload,
                )
            )
            bad_fork.append(
                Block.make(
                    chain_id=CHAIN_ID,
                    height=b_prev.height + 1,
                    parent_hash=b_prev.hash,
                    justify=b_cert,
                    payload=payload,
                )
            )
        valid_r = attrs.evolve(valid_r, blocks=tuple(good_fork))
        bad = attrs.evolve(valid_r, blocks=tuple(bad_fork))
    elif rule.startswith("highest."):
        kind = rule.removeprefix("highest.")
        target = CANONICAL.block_at(highest_height)
        assert target is not None
        bad = attrs.evolve(
            valid_r,
            highest_certificate=draw(
                bad_certificate(kind, highest_height, target.hash, highest_height + 1)
            ),
        )
    else:
        raise ValueError(rule)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=SyncResponseReceived(peer=peer, response=valid_r),
        broken=SyncResponseReceived(peer=bad_peer, response=bad),
        broken_state=broken_state,
    )


@st.composite
def tick_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    now = draw(st.integers(min_value=1, max_value=MAX_U64 - 2_000))
    state = SyncClientState(control=PASSIVE, now=now, seed=config.seed, last_progress=now)
    if draw(st.booleans()):
        # A sync running, its request's deadline ahead: a Tick at the clock is "waiting".
        state = attrs.evolve(
            state,
            control=AWAITING,
            sync_started=now,
            next_request_id=2,
            request=_awaiting_request(draw(_servers), 1, 0, config.request_limit, now),
        )
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=VIEWS[0],
        valid=Tick(now=now),
        broken=Tick(now=now - 1),
    )


# --- the sync server's request checks ----------------------------------------------------------


@st.composite
def request_cases(draw: st.DrawFn, rule: str) -> Case:
    from blockfsm.machine.messages import RESPONSE_OVERHEAD, certificate_size

    rate = draw(st.integers(min_value=1, max_value=20))
    window = draw(st.integers(min_value=1, max_value=5_000))
    signer = SIGNERS[draw(_servers)]
    config = SyncServerConfig(
        chain_id=CHAIN_ID,
        signer=signer,
        request_limit=draw(st.integers(min_value=1, max_value=12)),
        rate_limit_requests=rate,
        rate_limit_window=window,
    )
    view = VIEWS[draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH))]
    now = draw(st.integers(min_value=0, max_value=10**9))
    peer = KEYS[0]
    served = draw(st.integers(min_value=0, max_value=rate - 1))
    if rule == "request.rate_limited":
        served = rate - 1
    counts = ((peer, served),) if served else ()
    state = SyncServerState(
        control=draw(st.sampled_from(("Starting", "Serving"))),
        now=now,
        last_advertised=now,
        window=now // window,
        window_counts=counts,
    )
    least = RESPONSE_OVERHEAD + certificate_size(view.highest_certificate())
    max_bytes = draw(st.integers(min_value=least, max_value=least + 100_000))
    if rule == "request.too_large":
        max_bytes = least
    request = SyncRequest(
        chain_id=CHAIN_ID,
        request_id=draw(st.integers(min_value=0, max_value=MAX_U64)),
        start_height=draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH + 2)),
        limit=draw(st.integers(min_value=1, max_value=20)),
        max_bytes=max_bytes,
    )
    bad: Any = request
    broken_state = None
    if rule == "request.malformed":
        field = draw(
            st.sampled_from(("chain_id", "request_id", "start_height", "limit", "max_bytes"))
        )
        bad = garbled(request, **{field: draw(st.sampled_from((None, -1, 2**64, "1")))})
    elif rule == "request.zero_limit":
        bad = attrs.evolve(request, limit=0)
    elif rule == "request.wrong_chain":
        bad = attrs.evolve(
            request, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
        )
    elif rule == "request.rate_limited":
        broken_state = attrs.evolve(state, window_counts=((peer, rate),))
    elif rule == "request.too_large":
        bad = attrs.evolve(request, max_bytes=least - 1)
    else:
        raise ValueError(rule)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=SyncRequestReceived(peer=peer, request=request),
        broken=SyncRequestReceived(peer=peer, request=bad),
        broken_state=broken_state,
    )


# --- by name -----------------------------------------------------------------------------------


def single_rule_cases(rule: str) -> st.SearchStrategy[Case]:
    """Cases that break ``rule`` (a key of ``RULES``) alone."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    prefix = rule.split(".", 1)[0]
    builder = {
        "tick": tick_cases,
        "ad": advertisement_cases,
        "cert": certificate_cases,
        "response": response_cases,
        "block": response_cases,
        "fork": response_cases,
        "highest": response_cases,
        "request": request_cases,
    }[prefix]
    return builder(rule)


def any_single_rule_case(rules: tuple[str, ...] = CLIENT_RULES) -> st.SearchStrategy[Case]:
    """A case for any of ``rules`` (the sync client's by default)."""
    return st.sampled_from(rules).flatmap(single_rule_cases)
