"""Ed25519 through PyNaCl meets the core's Signer/Verifier contract; the machines run on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.machine.core import Tick
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import ValidatorSet, certificate_is_valid, certify
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import next_block

SIGNERS = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in range(4)]
VERIFIER = Ed25519Verifier()


@given(message=st.binary(max_size=200))
def test_sign_then_verify(message: bytes) -> None:
    signature = SIGNERS[0].sign(message)
    assert VERIFIER.verify(SIGNERS[0].public_key, message, signature)
    assert not VERIFIER.verify(SIGNERS[1].public_key, message, signature)
    assert not VERIFIER.verify(SIGNERS[0].public_key, message + b"x", signature)


@given(key=st.binary(max_size=40), signature=st.binary(max_size=80))
def test_garbage_never_verifies_and_never_raises(key: bytes, signature: bytes) -> None:
    assert not VERIFIER.verify(key, b"payload", signature)


def test_certificates_with_real_signatures() -> None:
    chain = InMemoryChain(chain_id=3)
    block = next_block(chain)
    validators = ValidatorSet.equal(s.public_key for s in SIGNERS)
    quorum = certify(chain_id=3, view=1, block=block, signers=SIGNERS[:3])
    short = certify(chain_id=3, view=1, block=block, signers=SIGNERS[:2])
    assert certificate_is_valid(quorum, 3, validators, VERIFIER)
    assert not certificate_is_valid(short, 3, validators, VERIFIER)
    assert not certificate_is_valid(quorum, 4, validators, VERIFIER)


def test_sync_server_advertises_with_ed25519_under_its_spec() -> None:
    config = SyncServerConfig(chain_id=3, signer=SIGNERS[0])
    runner = Conformant(SYNC_SERVER, config)
    _, effects = runner.step(SYNC_SERVER.initial(config), Tick(now=5), InMemoryChain(3).snapshot())
    assert len(effects) == 2
