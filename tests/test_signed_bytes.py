"""The spec's restatement of signed bytes and certificate validity (``blockfsm.spec.signed_bytes``)
agrees with the machine's functions on arbitrary inputs, and because it is independent, the
conformance check now catches the slips that used to pass every test: a certificate check that
counts one signer twice, and an advertisement signed over another purpose's domain tag."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockfsm.machine import sync_server as server_module
from blockfsm.machine import types as machine_types
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import AdvertiseCertificate, AdvertiseCertificateReceived
from blockfsm.machine.sync_client import SyncClientConfig
from blockfsm.machine.sync_client import advertisements as client_advertisements
from blockfsm.machine.sync_client import responses as client_responses
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import (
    Block,
    Certificate,
    ValidatorSet,
    advertise_block_payload,
    block_hash,
    certificate_is_valid,
    certificate_payload,
    certify,
)
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec import signed_bytes as spec_bytes
from blockfsm.spec.conformance import ConformanceError, Conformant, InvariantViolation
from blockfsm.spec.machines import SYNC_CLIENT, SYNC_SERVER
from blockfsm.spec.strategies.chains import chain_of

u64 = st.integers(min_value=0, max_value=2**64 - 1)
i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
key = st.binary(min_size=32, max_size=32)

SIGNERS = [StandInSigner.from_seed(i) for i in range(6)]
VERIFIER = StandInVerifier.of(SIGNERS)


@given(u64, u64, i64, key)
def test_vote_bytes_agree(chain_id: int, view: int, height: int, h: bytes) -> None:
    assert spec_bytes.vote_bytes(chain_id, view, height, h) == certificate_payload(
        chain_id, view, height, h
    )


@given(u64, key, i64, u64)
def test_advertisement_bytes_agree(chain_id: int, server: bytes, height: int, ts: int) -> None:
    assert spec_bytes.advertisement_bytes(chain_id, server, height, ts) == advertise_block_payload(
        chain_id, server, height, ts
    )


@given(u64, u64, key, u64, key, st.binary(max_size=64))
def test_block_hash_agrees(
    chain_id: int, height: int, parent: bytes, view: int, justified: bytes, payload: bytes
) -> None:
    justify = Certificate(chain_id=chain_id, view=view, height=0, block_hash=justified)
    block = Block.make(
        chain_id=chain_id, height=height, parent_hash=parent, justify=justify, payload=payload
    )
    assert (
        spec_bytes.header_hash(block)
        == block.hash
        == block_hash(chain_id, height, parent, justify, payload)
    )
    assert spec_bytes.block_hash_holds(block)
    assert not spec_bytes.block_hash_holds(attrs.evolve(block, payload=payload + b"x"))


def _signature_lists() -> st.SearchStrategy[list[tuple[int, str]]]:
    """Who signs and how: a valid signature, a forged one, or a signature over other bytes."""
    return st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["good", "forged", "other_tag"])),
        max_size=8,
    )


@settings(max_examples=300)
@given(
    members=st.lists(st.integers(0, 5), min_size=1, max_size=5, unique=True),
    weights=st.lists(st.integers(1, 5), min_size=5, max_size=5),
    signing=_signature_lists(),
    chain_id=st.sampled_from([7, 8]),
    view=st.integers(0, 3),
    height=st.integers(-1, 3),
)
def test_certificate_validity_agrees(
    members: list[int],
    weights: list[int],
    signing: list[tuple[int, str]],
    chain_id: int,
    view: int,
    height: int,
) -> None:
    validators = ValidatorSet(
        tuple((SIGNERS[m].public_key, weights[i]) for i, m in enumerate(members))
    )
    block_hash_ = bytes(32) if height == -1 and view == 0 else bytes([height % 256]) * 32
    vote = certificate_payload(7, view, height, block_hash_)
    signatures = []
    for who, how in signing:
        signer = SIGNERS[who]
        if how == "good":
            signatures.append((signer.public_key, signer.sign(vote)))
        elif how == "forged":
            signatures.append((signer.public_key, bytes(len(signer.sign(vote)))))
        else:
            signatures.append((signer.public_key, signer.sign(b"blockfsm/other/v1\x00" + vote)))
    cert = Certificate(
        chain_id=7, view=view, height=height, block_hash=block_hash_, signatures=tuple(signatures)
    )
    assert spec_bytes.certificate_holds(
        cert, chain_id, validators, VERIFIER
    ) == certificate_is_valid(cert, chain_id, validators, VERIFIER)


def test_quorum_counts_power_once_per_validator() -> None:
    validators = ValidatorSet(tuple((s.public_key, 1) for s in SIGNERS[:4]))
    assert spec_bytes.quorum_power(validators) == 3 == validators.quorum


# --- the two slips ---------------------------------------------------------------------------


def _counts_repeated_signers(
    cert: Certificate, chain_id: int, validators: ValidatorSet, verifier: object
) -> bool:
    """The slip: certificate_is_valid without the 'each signer once' rule."""
    if cert.chain_id != chain_id:
        return False
    if cert.is_genesis:
        return not cert.signatures
    payload = cert.payload()
    power = 0
    for signer, signature in cert.signatures:
        if signer not in validators or not verifier.verify(signer, payload, signature):  # type: ignore[attr-defined]
            return False
        power += validators.power_of(signer)
    return power >= validators.quorum


def _client_setup() -> tuple[SyncClientConfig, InMemoryChain]:
    validators = ValidatorSet.equal(s.public_key for s in SIGNERS[:4])
    config = SyncClientConfig(
        chain_id=7,
        own_key=StandInSigner.from_seed(99).public_key,
        validators=validators,
        verifier=StandInVerifier.of(SIGNERS[:4]),
    )
    return config, InMemoryChain(7)


def _one_signer_three_times() -> Certificate:
    chain = chain_of(3, SIGNERS[:4])
    block = chain.block_at(2)
    assert block is not None
    honest = certify(chain_id=7, view=20, block=block, signers=SIGNERS[:1])
    (signature,) = honest.signatures
    return attrs.evolve(honest, signatures=(signature, signature, signature))


def test_a_certificate_repeating_one_signer_is_refused_by_spec_and_machine() -> None:
    config, chain = _client_setup()
    cert = _one_signer_three_times()
    assert not spec_bytes.certificate_holds(cert, 7, config.validators, config.verifier)
    assert not certificate_is_valid(cert, 7, config.validators, config.verifier)
    runner = Conformant(SYNC_CLIENT, config)
    state = SYNC_CLIENT.initial(config)
    state, _ = runner.step(state, Tick(now=5_000), chain.snapshot())
    event = AdvertiseCertificateReceived(
        peer=SIGNERS[1].public_key, advertisement=AdvertiseCertificate(certificate=cert)
    )
    runner.step(state, event, chain.snapshot())  # conforms: both call it invalid


def test_the_repeated_signer_slip_is_caught_by_conformance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set where the client looks it up: advertisements and responses each check certificates.
    for module in (client_advertisements, client_responses):
        monkeypatch.setattr(module, "certificate_is_valid", _counts_repeated_signers)
    config, chain = _client_setup()
    runner = Conformant(SYNC_CLIENT, config)
    state = SYNC_CLIENT.initial(config)
    state, _ = runner.step(state, Tick(now=5_000), chain.snapshot())
    event = AdvertiseCertificateReceived(
        peer=SIGNERS[1].public_key,
        advertisement=AdvertiseCertificate(certificate=_one_signer_three_times()),
    )
    with pytest.raises((ConformanceError, InvariantViolation)):
        runner.step(state, event, chain.snapshot())


def test_an_advertisement_under_another_tag_is_caught_by_conformance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def wrong_tag(chain_id: int, server: bytes, height: int, timestamp: int) -> bytes:
        right = machine_types.advertise_block_payload(chain_id, server, height, timestamp)
        return machine_types.CERTIFICATE_DOMAIN + right[len(machine_types.ADVERTISE_BLOCK_DOMAIN) :]

    monkeypatch.setattr(server_module, "advertise_block_payload", wrong_tag)
    config = SyncServerConfig(chain_id=7, signer=SIGNERS[0])
    runner = Conformant(SYNC_SERVER, config)
    state = SYNC_SERVER.initial(config)
    with pytest.raises(InvariantViolation, match="SS-8"):
        runner.step(state, Tick(now=0), InMemoryChain(7).snapshot())
