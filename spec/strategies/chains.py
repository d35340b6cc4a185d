"""Deterministic builders of keys, validator sets and certified chains; strategies over them."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.types import Block, ChainId, ValidatorSet, certify
from blockfsm.machine.view import InMemoryChain

DEFAULT_CHAIN_ID: ChainId = 7


def make_signers(count: int, offset: int = 0) -> list[StandInSigner]:
    return [StandInSigner.from_seed(offset + i) for i in range(count)]


def validator_setup(count: int) -> tuple[list[StandInSigner], ValidatorSet, StandInVerifier]:
    signers = make_signers(count)
    return signers, ValidatorSet.equal(s.public_key for s in signers), StandInVerifier.of(signers)


def next_block(chain: InMemoryChain, payload: bytes = b"") -> Block:
    """The block that extends ``chain``'s tip, justified by the chain's highest certificate
    (which must certify the tip)."""
    cert = chain.highest_certificate
    assert cert.height == chain.highest_height, "highest certificate must certify the tip"
    return Block.make(
        chain_id=chain.chain_id,
        height=chain.highest_height + 1,
        parent_hash=cert.block_hash,
        justify=cert,
        payload=payload,
    )


def grow(
    chain: InMemoryChain,
    signers: Sequence[StandInSigner],
    count: int,
    *,
    payload: bytes = b"",
) -> None:
    """Append ``count`` blocks, certify each with a quorum of ``signers``, and commit by the
    two-chain rule (a block is committed once its child is certified)."""
    for _ in range(count):
        block = next_block(chain, payload)
        chain.persist(block)
        chain.set_highest_certificate(
            certify(chain_id=chain.chain_id, view=block.height + 1, block=block, signers=signers)
        )
        chain.commit(block.height - 1)


def chain_of(
    length: int, signers: Sequence[StandInSigner], chain_id: ChainId = DEFAULT_CHAIN_ID
) -> InMemoryChain:
    chain = InMemoryChain(chain_id)
    grow(chain, signers, length)
    return chain


def chain_ids(own: ChainId = DEFAULT_CHAIN_ID) -> st.SearchStrategy[int]:
    """Mostly our chain, sometimes a neighbour, sometimes anything a u64 can hold."""
    return st.one_of(
        st.just(own),
        st.just(own + 1),
        st.integers(min_value=0, max_value=2**64 - 1),
    )


def u64_or_garbage() -> st.SearchStrategy[object]:
    """Values a malformed frame could carry into a field that must be a u64."""
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=-1),
        st.integers(min_value=2**64, max_value=2**70),
        st.none(),
        st.text(max_size=3),
        st.booleans(),
        st.floats(allow_nan=True),
    )
