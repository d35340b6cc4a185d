"""The world of the single-rule strategies (``blockfsm.spec.strategies.single_rule``): the fixed
validators and canonical chain, ``Case``, the building blocks (views, certificates good and bad,
re-hashed blocks) and the client's config and state."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.sync_client import (
    Outstanding,
    Registration,
    SyncClientConfig,
)
from blockfsm.machine.types import (
    ADVERTISE_BLOCK_DOMAIN,
    BLOCK_DOMAIN,
    CERTIFICATE_DOMAIN,
    MAX_U64,
    Block,
    Certificate,
    ValidatorSet,
    certificate_payload,
)
from blockfsm.machine.view import InMemoryChain, InMemoryChainView
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers

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
