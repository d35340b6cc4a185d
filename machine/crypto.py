"""Injected crypto: the ``Signer``/``Verifier`` interfaces and a deterministic stand-in.

Machines never sign or verify through a global: the config carries a ``Signer`` (this node's key)
and a ``Verifier``. Ed25519 through PyNaCl lives in ``blockfsm.adapters.node.crypto``; the stand-in
here
is for fast simulation and property tests. It is keyed BLAKE2b: a signature cannot be made without
the secret, and a ``StandInVerifier`` checks it against a table of the key pairs it was given, the
way a simulator knows every node's key.

Every signed payload starts with a domain tag (see ``blockfsm.machine.types``), so a signature made
for one purpose never verifies for another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol

import attrs

from blockfsm.machine.core import PeerId, require

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32


def require_signer(signer: object) -> None:
    """Config validation: ``signer`` looks like a ``Signer`` with a 32-byte public key."""
    key = getattr(signer, "public_key", None)
    require(
        isinstance(key, bytes)
        and len(key) == PUBLIC_KEY_SIZE
        and callable(getattr(signer, "sign", None)),
        "signer must have a 32-byte public_key and a sign(bytes) method",
    )


class Signer(Protocol):
    """This node's key: its public key and signatures over messages (Ed25519 in a node, the
    keyed-BLAKE2b stand-in in simulation)."""

    @property
    def public_key(self) -> PeerId: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    """Checks a signature against a public key; a machine never verifies any other way."""

    def verify(self, public_key: PeerId, message: bytes, signature: bytes) -> bool: ...


@attrs.frozen(kw_only=True)
class StandInSigner:
    """A deterministic key pair derived from ``seed``; signatures are keyed BLAKE2b."""

    secret: bytes = attrs.field(repr=False)
    public_key: PeerId

    @classmethod
    def from_seed(cls, seed: int) -> StandInSigner:
        secret = hashlib.blake2b(b"blockfsm/stand-in-secret" + seed.to_bytes(8, "big")).digest()
        public = hashlib.blake2b(b"blockfsm/stand-in-public" + secret, digest_size=32).digest()
        return cls(secret=secret, public_key=public)

    def sign(self, message: bytes) -> bytes:
        return hashlib.blake2b(message, key=self.secret, digest_size=SIGNATURE_SIZE).digest()


@attrs.frozen
class StandInVerifier:
    """Verifies stand-in signatures of the key pairs it knows; unknown keys never verify."""

    _secrets: dict[PeerId, bytes] = attrs.field(eq=False, hash=False, repr=False)
    _keys: frozenset[PeerId] = attrs.field()

    @classmethod
    def of(cls, signers: Iterable[StandInSigner]) -> StandInVerifier:
        table = {s.public_key: s.secret for s in signers}
        return cls(table, frozenset(table))

    def verify(self, public_key: PeerId, message: bytes, signature: bytes) -> bool:
        secret = self._secrets.get(public_key)
        if secret is None or len(signature) != SIGNATURE_SIZE:
            return False
        expected = hashlib.blake2b(message, key=secret, digest_size=SIGNATURE_SIZE).digest()
        return expected == signature
