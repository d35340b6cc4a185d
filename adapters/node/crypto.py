"""Ed25519 signing and verification through PyNaCl, behind the core's ``Signer``/``Verifier``.

Ed25519 signatures are deterministic, so a machine that signs stays a pure function of its inputs.
Verification never raises: a malformed key or signature is simply not valid.
"""

from __future__ import annotations

import attrs
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

from blockfsm.machine.core import PeerId


@attrs.frozen
class Ed25519Signer:
    _key: SigningKey = attrs.field(eq=False, repr=False)
    public_key: PeerId = attrs.field()

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Signer:
        """A key pair from a 32-byte seed (keep the seed secret: it is the private key)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        key = SigningKey(seed)
        return cls(key, bytes(key.verify_key))

    @classmethod
    def generate(cls) -> Ed25519Signer:
        key = SigningKey.generate()
        return cls(key, bytes(key.verify_key))

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed (secret)."""
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message).signature)


@attrs.frozen
class Ed25519Verifier:
    def verify(self, public_key: PeerId, message: bytes, signature: bytes) -> bool:
        if len(public_key) != 32 or len(signature) != 64:
            return False
        try:
            VerifyKey(public_key).verify(message, signature)
        except (BadSignatureError, CryptoError, ValueError, TypeError):
            return False
        return True
