"""Protocol types shared by every machine: chains, blocks, certificates, validator sets.

The model, and where it abstracts HotStuff-rs:

- A chain is identified by a ``ChainId`` (an unsigned 64-bit integer).
- A ``Block`` at ``height`` h >= 0 links to its parent by ``parent_hash`` and carries ``justify``,
  a ``Certificate`` for that parent (for h = 0, the chain's genesis certificate, which certifies
  the all-zero hash at height -1 and carries no signatures). ``hash`` is the BLAKE2b-256 of the
  domain-tagged header, so a block whose fields were altered no longer matches its hash.
- A ``Certificate`` is a quorum of validator signatures over the domain-tagged payload
  ``(chain_id, view, height, block_hash)``. Upstream's certificates carry a phase; the sync and
  producer machines here do not depend on phases, so it is left out.
- **Commit rule**: a block is committed once its child is certified (two consecutive certified
  blocks). Holding blocks 0..n and a certificate for block n commits blocks 0..n-1.
- Height -1 means "nothing": the genesis certificate certifies height -1, and a node that has
  committed nothing advertises committed height -1.
- A ``ValidatorSet`` maps public keys to voting power; a quorum is power >= floor(2*total/3) + 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import attrs

from blockfsm.machine.core import PeerId
from blockfsm.machine.crypto import Signer, Verifier

ChainId = int
Height = int
View = int
BlockHash = bytes

HASH_SIZE = 32
ZERO_HASH: BlockHash = bytes(HASH_SIZE)
MAX_U64 = 2**64 - 1

# Domain tags: every signed or hashed payload starts with one, so bytes signed for one purpose
# never verify for another (upstream's AdvertiseBlock signed the same bytes as a timeout vote).
BLOCK_DOMAIN = b"blockfsm/block/v1\x00"
CERTIFICATE_DOMAIN = b"blockfsm/certificate/v1\x00"
ADVERTISE_BLOCK_DOMAIN = b"blockfsm/advertise-block/v1\x00"


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=False)


def i64(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


def is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_U64


@attrs.frozen(kw_only=True)
class Certificate:
    chain_id: ChainId
    view: View
    height: Height
    block_hash: BlockHash
    signatures: tuple[tuple[PeerId, bytes], ...] = ()

    @classmethod
    def genesis(cls, chain_id: ChainId) -> Certificate:
        return cls(chain_id=chain_id, view=0, height=-1, block_hash=ZERO_HASH, signatures=())

    @property
    def is_genesis(self) -> bool:
        return self.height == -1 and self.view == 0 and self.block_hash == ZERO_HASH

    def payload(self) -> bytes:
        return certificate_payload(self.chain_id, self.view, self.height, self.block_hash)


def certificate_payload(
    chain_id: ChainId, view: View, height: Height, block_hash: BlockHash
) -> bytes:
    return CERTIFICATE_DOMAIN + u64(chain_id) + u64(view) + i64(height) + block_hash


def block_hash(
    chain_id: ChainId, height: Height, parent_hash: BlockHash, justify: Certificate, payload: bytes
) -> BlockHash:
    h = hashlib.blake2b(digest_size=HASH_SIZE)
    h.update(BLOCK_DOMAIN)
    h.update(u64(chain_id))
    h.update(u64(height))
    h.update(parent_hash)
    h.update(u64(justify.view))
    h.update(justify.block_hash)
    h.update(u64(len(payload)))
    h.update(payload)
    return h.digest()


@attrs.frozen(kw_only=True)
class Block:
    chain_id: ChainId
    height: Height
    parent_hash: BlockHash
    justify: Certificate
    payload: bytes
    hash: BlockHash

    @classmethod
    def make(
        cls,
        *,
        chain_id: ChainId,
        height: Height,
        parent_hash: BlockHash,
        justify: Certificate,
        payload: bytes = b"",
    ) -> Block:
        return cls(
            chain_id=chain_id,
            height=height,
            parent_hash=parent_hash,
            justify=justify,
            payload=payload,
            hash=block_hash(chain_id, height, parent_hash, justify, payload),
        )

    def hash_is_valid(self) -> bool:
        return self.hash == block_hash(
            self.chain_id, self.height, self.parent_hash, self.justify, self.payload
        )


@attrs.frozen
class ValidatorSet:
    """Validators and their voting power; ``quorum`` is floor(2 * total / 3) + 1."""

    members: tuple[tuple[PeerId, int], ...]
    _power: dict[PeerId, int] = attrs.field(init=False, eq=False, hash=False, repr=False)
    _total: int = attrs.field(init=False, eq=False, hash=False, repr=False)
    _quorum: int = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Computed once: certificate checks ask for the quorum of every certificate they verify.
        power = dict(self.members)
        total = sum(power.values())
        object.__setattr__(self, "_power", power)
        object.__setattr__(self, "_total", total)
        object.__setattr__(self, "_quorum", (2 * total) // 3 + 1)

    @classmethod
    def equal(cls, keys: Iterable[PeerId]) -> ValidatorSet:
        return cls(tuple((k, 1) for k in keys))

    @property
    def total_power(self) -> int:
        return self._total

    @property
    def quorum(self) -> int:
        return self._quorum

    def __contains__(self, peer: object) -> bool:
        return peer in self._power

    def power_of(self, peer: PeerId) -> int:
        return self._power.get(peer, 0)

    def __len__(self) -> int:
        return len(self._power)


def certificate_is_valid(
    cert: Certificate, chain_id: ChainId, validators: ValidatorSet, verifier: Verifier
) -> bool:
    """A certificate is valid on ``chain_id`` when it is the genesis certificate, or when its
    signers are distinct validators, every signature verifies, and their power reaches a quorum."""
    if cert.chain_id != chain_id:
        return False
    if cert.is_genesis:
        return not cert.signatures
    if cert.height < 0 or cert.view < 1 or len(cert.block_hash) != HASH_SIZE:
        return False
    payload = cert.payload()
    power = 0
    seen: set[PeerId] = set()
    for signer, signature in cert.signatures:
        if signer in seen or signer not in validators:
            return False
        if not verifier.verify(signer, payload, signature):
            return False
        seen.add(signer)
        power += validators.power_of(signer)
    return power >= validators.quorum


def certify(
    *, chain_id: ChainId, view: View, block: Block, signers: Iterable[Signer]
) -> Certificate:
    """A certificate for ``block`` signed by ``signers`` (a convenience for tests and sims)."""
    payload = certificate_payload(chain_id, view, block.height, block.hash)
    return Certificate(
        chain_id=chain_id,
        view=view,
        height=block.height,
        block_hash=block.hash,
        signatures=tuple((s.public_key, s.sign(payload)) for s in signers),
    )


def advertise_block_payload(
    chain_id: ChainId, server: PeerId, committed_height: Height, timestamp: int
) -> bytes:
    return ADVERTISE_BLOCK_DOMAIN + u64(chain_id) + server + i64(committed_height) + u64(timestamp)
