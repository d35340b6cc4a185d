"""Tests that kill the mutants mutmut left alive in machine/types.py and machine/crypto.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). They pin the shared protocol functions directly, below the
machines: a certificate that is structurally not one but carries a quorum of genuine signatures,
quorums of set sizes where floor(2n/3) + 1 differs from nearby formulas, the power of a
non-member, and the stand-in key derivation that recorded runs depend on.
"""

from __future__ import annotations

import pytest

from blockfsm.machine.core import ConfigError
from blockfsm.machine.crypto import StandInSigner, StandInVerifier, require_signer
from blockfsm.machine.types import (
    Block,
    Certificate,
    ValidatorSet,
    certificate_is_valid,
    certificate_payload,
)

CHAIN = 3
SIGNERS = [StandInSigner.from_seed(i) for i in range(7)]
VERIFIER = StandInVerifier.of(SIGNERS)


def _signed(view: int, height: int, block_hash: bytes, signers: list[StandInSigner]) -> Certificate:
    """A certificate with genuine signatures over exactly its own fields, whatever they are."""
    payload = certificate_payload(CHAIN, view, height, block_hash)
    return Certificate(
        chain_id=CHAIN,
        view=view,
        height=height,
        block_hash=block_hash,
        signatures=tuple((s.public_key, s.sign(payload)) for s in signers),
    )


@pytest.mark.parametrize(
    ("view", "height", "block_hash", "mutants"),
    [
        (0, 0, b"\x05" * 32, "view 0 above genesis: _4, _11"),
        (1, -1, b"\x05" * 32, "height -1 with a view: _5, _11"),
        (1, 0, b"\x05" * 31, "a 31-byte hash: _11"),
    ],
)
def test_a_malformed_certificate_is_refused_even_with_a_quorum_of_genuine_signatures(
    view: int, height: int, block_hash: bytes, mutants: str
) -> None:
    """certificate_is_valid mutants 4, 5 and 11: the well-formedness line weakened or inverted."""
    validators = ValidatorSet.equal(s.public_key for s in SIGNERS[:4])
    cert = _signed(view, height, block_hash, SIGNERS[:4])
    assert not certificate_is_valid(cert, CHAIN, validators, VERIFIER), mutants
    well_formed = _signed(1, 0, b"\x05" * 32, SIGNERS[:4])
    assert certificate_is_valid(well_formed, CHAIN, validators, VERIFIER)


@pytest.mark.parametrize("n", range(1, 11))
def test_quorum_and_total_are_exact_for_every_small_set(n: int) -> None:
    """ValidatorSet mutants 15 (total lost) and 33 (quorum over 4, which agrees at n = 4)."""
    validators = ValidatorSet.equal(StandInSigner.from_seed(i).public_key for i in range(n))
    assert validators.total_power == n
    assert validators.quorum == (2 * n) // 3 + 1


def test_a_certificate_one_short_of_quorum_is_refused_at_three_validators() -> None:
    """At n = 3 a quorum is 3; the mutated quorum (2n // 4 + 1 = 2) would accept two signers."""
    validators = ValidatorSet.equal(s.public_key for s in SIGNERS[:3])
    assert not certificate_is_valid(
        _signed(1, 0, b"\x05" * 32, SIGNERS[:2]), CHAIN, validators, VERIFIER
    )
    assert certificate_is_valid(
        _signed(1, 0, b"\x05" * 32, SIGNERS[:3]), CHAIN, validators, VERIFIER
    )


def test_equal_weights_are_one_and_a_non_member_has_no_power() -> None:
    """ValidatorSet.equal mutant 3 (weight 2) and power_of mutants 2, 4, 5 (default not 0)."""
    validators = ValidatorSet.equal(s.public_key for s in SIGNERS[:4])
    assert validators.members == tuple((s.public_key, 1) for s in SIGNERS[:4])
    assert validators.power_of(SIGNERS[0].public_key) == 1
    assert validators.power_of(SIGNERS[6].public_key) == 0


def test_block_make_defaults_to_an_empty_payload() -> None:
    """Block.make mutant 1 (default payload b"XXXX")."""
    genesis = Certificate.genesis(CHAIN)
    block = Block.make(chain_id=CHAIN, height=0, parent_hash=bytes(32), justify=genesis)
    assert block.payload == b""


class _NoSign:
    public_key = bytes(32)


class _ShortKey:
    public_key = bytes(31)

    def sign(self, message: bytes) -> bytes:
        return bytes(64)


@pytest.mark.parametrize("signer", [_NoSign(), _ShortKey(), object(), None])
def test_require_signer_refuses_with_its_whole_message(signer: object) -> None:
    """require_signer mutants 13 (and/or), 21 (getattr without default: AttributeError, not a
    config error) and 24 (the message)."""
    with pytest.raises(ConfigError) as raised:
        require_signer(signer)
    assert str(raised.value) == "signer must have a 32-byte public_key and a sign(bytes) method"


def test_stand_in_keys_and_signatures_are_stable() -> None:
    """StandInSigner.from_seed mutants 4, 5, 9, 10, 19, 20 (domain strings, byte order, width).

    Seeds name stand-in keys everywhere (campaign configs, simulator runs, ITF traces written
    by earlier versions): the derivation is part of the format and must not drift."""
    signer = StandInSigner.from_seed(0)
    assert signer.public_key.hex() == (
        "2466174f456b1c0b8d16b0c4c8917af7083b0b3a407aca07ef4cd5c5b5de8224"
    )
    assert signer.sign(b"blockfsm").hex() == (
        "6f336a84cf6302d278fda37a296da38a441577b7a4ab697f281fbe7110c4b2c0"
        "8f440898484691d1faf74a639f3705ab8814d2bd05573a9fd6c2bc1d248b09cb"
    )
    assert StandInSigner.from_seed(2**40).public_key.hex() == (
        "ac313714dda696be373edc3f7c482e4c06675696223595e24afbb43c0e19d6eb"
    )


def test_verifiers_of_different_key_sets_differ() -> None:
    """StandInVerifier.of mutant 3: the compared key set dropped, so any two verifiers equal."""
    assert StandInVerifier.of(SIGNERS[:2]) != StandInVerifier.of(SIGNERS[:3])
    assert StandInVerifier.of(SIGNERS[:2]) == StandInVerifier.of(SIGNERS[:2])


def test_an_unknown_key_never_verifies_and_never_raises() -> None:
    """StandInVerifier.verify mutant 3 (or became and: an unknown key with a 64-byte signature
    reached BLAKE2b with no key and raised)."""
    outsider = StandInSigner.from_seed(99)
    signature = outsider.sign(b"m")
    assert len(signature) == 64
    assert VERIFIER.verify(outsider.public_key, b"m", signature) is False
    assert VERIFIER.verify(SIGNERS[0].public_key, b"m", signature[:63]) is False
