"""The adversary: a library of Byzantine behaviours a simulated keeper runs.

A Byzantine keeper is a signing oracle. It runs the honest node machine (so it follows the chain
and knows the current height and round), and on top of it may send anything its *own* key can
sign, to any subset of nodes, at any time: conflicting proposals and votes in any height and
round, new-block proposals whose proof holds forged or replayed votes, proposals for rounds ahead,
floods of valid signed proposals, certificates with a repeated signer or a real minority in sync
answers and certificate advertisements. It cannot sign with an honest key: a vote "from" an
honest keeper is either one that keeper signed (replayed) or carries a forged signature.

Each behaviour is a class with four hooks the simulator calls (the defaults do nothing):

- ``tick(adv)``: at every tick of the Byzantine node, act spontaneously;
- ``broadcast(adv, message) -> bool``: the node broadcasts; True when the behaviour handled it;
- ``send(adv, dest, message) -> message | None``: one message to one node (None drops it);
- ``received(adv, message)``: a message delivered to the node.

Each time a behaviour acts it counts ``adversary:<name>`` in the simulator's counters (reported
by ``Simulation.summary()["adversary"]``, ``blockfsm simulate --json`` and the cluster campaign).

``FILTERS`` are the behaviours that only filter what the honest machine sends (equivocate, lie,
withhold, replay); ``ORACLE`` are the signing-oracle ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from blockfsm.machine.attester import (
    ATTEST,
    CONFIRM,
    ROUND_WINDOW,
    Proposal,
    Vote,
    producer_for,
    proposal_payload,
    vote_payload,
)
from blockfsm.machine.messages import AdvertiseBlock, AdvertiseCertificate, SyncResponse
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, advertise_block_payload

if TYPE_CHECKING:
    from blockfsm.adapters.engines.sim import SimNode, Simulation

FILTERS = ("equivocate", "lie", "withhold", "replay")
ORACLE = (
    "forge_proof",
    "replay_proof",
    "future_round",
    "flood",
    "conflicting_votes",
    "bad_certificate",
)
ALL = FILTERS + ORACLE
FORGED = bytes(64)
"""The signature on a vote the adversary forges in an honest keeper's name."""


def twin_of(b: Block) -> Block:
    """Another block for the same slot as ``b``: same parent and justify, another payload (what
    an equivocating producer signs beside ``b``)."""
    return Block.make(
        chain_id=b.chain_id,
        height=b.height,
        parent_hash=b.parent_hash,
        justify=b.justify,
        payload=b.payload + b"/twin",
    )


@attrs.define
class Adversary:
    """What a behaviour acts through: the simulator and the Byzantine node."""

    sim: Simulation
    node: SimNode
    name: str
    done: set[Any] = attrs.field(factory=set)

    def acted(self) -> None:
        self.sim.counters[f"adversary:{self.name}"] += 1

    def others(self) -> list[int]:
        return [n.index for n in self.sim.nodes if n is not self.node]

    def send(self, dest: int, message: Any) -> None:
        self.sim._send(self.node, dest, message)

    def to_all(self, message: Any) -> None:
        for i in self.others():
            self.send(i, message)

    # --- what its own key signs ---------------------------------------------------------------

    def slot(self) -> tuple[int, int, bytes, Certificate] | None:
        """(height, round, parent hash, justify) the node's attester is at, when it runs."""
        a = self.node.state.attester
        chain = self.node.chain
        height = chain.committed_height + 1
        if a.control == "Waiting" or a.height != height:
            return None
        tip = chain.block_at(height - 1) if height > 0 else None
        parent = tip.hash if tip is not None else ZERO_HASH
        return height, a.round, parent, chain.highest_certificate

    def producer_of(self, parent: bytes, round_: int) -> bool:
        return producer_for(self.node.config.attester.keepers, parent, round_) == self.node.key

    def block(self, height: int, parent: bytes, justify: Certificate, tag: bytes) -> Block:
        return Block.make(
            chain_id=self.sim.chain_id,
            height=height,
            parent_hash=parent,
            justify=justify,
            payload=self.node.key + b"/byz/" + tag,
        )

    def proposal(
        self, block: Block, round_: int, valid_round: int = -1, proof: tuple[Vote, ...] = ()
    ) -> Proposal:
        payload = proposal_payload(self.sim.chain_id, block.height, round_, block.hash, valid_round)
        return Proposal(
            round=round_,
            block=block,
            valid_round=valid_round,
            proof=proof,
            producer=self.node.key,
            signature=self.node.signer.sign(payload),
        )

    def vote(
        self, phase: int, height: int, round_: int, block_hash: bytes, voter: bytes | None = None
    ) -> Vote:
        """Our own vote, signed; or, with ``voter`` another keeper, a forged one in its name."""
        payload = vote_payload(phase, self.sim.chain_id, height, round_, block_hash)
        me = voter is None or voter == self.node.key
        return Vote(
            phase=phase,
            chain_id=self.sim.chain_id,
            height=height,
            round=round_,
            block_hash=block_hash,
            voter=self.node.key if voter is None else voter,
            signature=self.node.signer.sign(payload) if me else FORGED,
        )


class Behaviour:
    name = ""

    def tick(self, adv: Adversary) -> None:
        return None

    def broadcast(self, adv: Adversary, message: Any) -> bool:
        return False

    def send(self, adv: Adversary, dest: int, message: Any) -> Any:
        return message

    def received(self, adv: Adversary, message: Any) -> None:
        return None


# --- the filters: the honest machine, its output bent --------------------------------------------


class Equivocate(Behaviour):
    """A producer that sends different blocks to different nodes and attests both."""

    name = "equivocate"

    def broadcast(self, adv: Adversary, message: Any) -> bool:
        if type(message) is not Proposal:
            return False
        adv.acted()
        twin = self._twin(adv, message)
        # Odd nodes get the block, even nodes its twin, every third node both (twin first).
        for i in adv.others():
            if i % 3 == 0:
                adv.send(i, twin)
                adv.send(i, message)
            else:
                adv.send(i, message if i % 2 else twin)
        return True

    def _twin(self, adv: Adversary, p: Proposal) -> Proposal:
        block = twin_of(p.block)
        twin = adv.proposal(block, p.round)
        vote = adv.vote(ATTEST, block.height, p.round, block.hash)
        for i in adv.others():
            if i % 2 == 0:
                adv.send(i, vote)
        return twin


class Lie(Behaviour):
    """A sync server that serves a forged fork and advertises a height it does not have."""

    name = "lie"

    def send(self, adv: Adversary, dest: int, message: Any) -> Any:
        sim, node = adv.sim, adv.node
        if type(message) is SyncResponse and message.blocks:
            adv.acted()
            first = message.blocks[0]
            parent = node.chain.block_at(first.height - 1)
            prev = parent.hash if parent is not None else bytes(32)
            justify = first.justify
            forged = []
            for h in range(first.height, first.height + len(message.blocks) + 2):
                b = Block.make(
                    chain_id=sim.chain_id,
                    height=h,
                    parent_hash=prev,
                    justify=justify,
                    payload=b"lie",
                )
                forged.append(b)
                justify = Certificate(
                    chain_id=sim.chain_id,
                    view=justify.view + 65536,
                    height=h,
                    block_hash=b.hash,
                    signatures=tuple((k, bytes(64)) for k in sim.by_key),
                )
                prev = b.hash
            return attrs.evolve(message, blocks=tuple(forged[:-1]), highest_certificate=justify)
        if type(message) is AdvertiseBlock:
            adv.acted()
            height = message.committed_height + 5
            payload = advertise_block_payload(sim.chain_id, node.key, height, message.timestamp)
            return attrs.evolve(
                message, committed_height=height, signature=node.signer.sign(payload)
            )
        return message


class Withhold(Behaviour):
    """Sends nothing."""

    name = "withhold"

    def send(self, adv: Adversary, dest: int, message: Any) -> Any:
        adv.acted()
        return None


class Replay(Behaviour):
    """Re-sends old messages it received."""

    name = "replay"

    def received(self, adv: Adversary, message: Any) -> None:
        if len(adv.node.received) < 200:
            adv.node.received.append(message)

    def broadcast(self, adv: Adversary, message: Any) -> bool:
        sim, node = adv.sim, adv.node
        adv.to_all(message)
        if node.received and sim.rng.random() < 0.3:
            adv.acted()
            old = node.received[sim.rng.randrange(len(node.received))]
            adv.to_all(old)
        return True


# --- the signing oracle ------------------------------------------------------------------------


def _halves(adv: Adversary) -> tuple[list[int], list[int]]:
    others = adv.others()
    cut = max(1, len(others) // 2)
    return others[:cut], others[cut:]


class ForgeProof(Behaviour):
    """In a slot it produces, a new block to one half and another to the other half, each
    proposal's proof full of attestations and confirmations forged in every keeper's name."""

    name = "forge_proof"

    def tick(self, adv: Adversary) -> None:
        slot = adv.slot()
        if slot is None:
            return
        height, round_, parent, justify = slot
        if (height, round_) in adv.done or not adv.producer_of(parent, round_):
            return
        adv.done.add((height, round_))
        adv.acted()
        keepers = adv.node.config.attester.keepers
        for half, tag in zip(_halves(adv), (b"one", b"two"), strict=True):
            block = adv.block(height, parent, justify, tag + round_.to_bytes(4, "big"))
            proof = tuple(
                adv.vote(phase, height, round_, block.hash, voter=k)
                for phase in (ATTEST, CONFIRM)
                for k in keepers
            )
            proposal = adv.proposal(block, round_, -1, proof)
            for i in half:
                adv.send(i, proposal)


class ReplayProof(Behaviour):
    """A new block in a slot it produces, its proof the honest votes it received (any height,
    round or block): replayed signatures, valid for what they signed, not for this block."""

    name = "replay_proof"

    def received(self, adv: Adversary, message: Any) -> None:
        if type(message) is Vote and len(adv.node.received) < 200:
            adv.node.received.append(message)

    def tick(self, adv: Adversary) -> None:
        slot = adv.slot()
        if slot is None or not adv.node.received:
            return
        height, round_, parent, justify = slot
        if (height, round_) in adv.done or not adv.producer_of(parent, round_):
            return
        adv.done.add((height, round_))
        adv.acted()
        block = adv.block(height, parent, justify, b"replayed" + round_.to_bytes(4, "big"))
        proof = tuple(v for v in adv.node.received if type(v) is Vote)[-16:]
        adv.to_all(adv.proposal(block, round_, -1, proof))


class FutureRound(Behaviour):
    """Valid proposals for every round ahead (within the followed window) it produces, early."""

    name = "future_round"

    def tick(self, adv: Adversary) -> None:
        slot = adv.slot()
        if slot is None:
            return
        height, round_, parent, justify = slot
        for r in range(round_ + 1, round_ + ROUND_WINDOW + 1):
            if (height, r) in adv.done or not adv.producer_of(parent, r):
                continue
            adv.done.add((height, r))
            adv.acted()
            block = adv.block(height, parent, justify, b"ahead" + r.to_bytes(4, "big"))
            adv.to_all(adv.proposal(block, r))
            adv.to_all(adv.vote(ATTEST, height, r, block.hash))


class Flood(Behaviour):
    """In every round of the followed window it produces, many distinct valid proposals."""

    name = "flood"
    per_round = 2 * ROUND_WINDOW

    def tick(self, adv: Adversary) -> None:
        slot = adv.slot()
        if slot is None:
            return
        height, round_, parent, justify = slot
        for r in range(round_, round_ + ROUND_WINDOW + 1):
            if (height, r) in adv.done or not adv.producer_of(parent, r):
                continue
            adv.done.add((height, r))
            adv.acted()
            for k in range(self.per_round):
                tag = b"flood" + r.to_bytes(4, "big") + k.to_bytes(4, "big")
                adv.to_all(adv.proposal(adv.block(height, parent, justify, tag), r))


class ConflictingVotes(Behaviour):
    """For every proposal it receives: attestations and confirmations for that block to one
    half and for another block to the other half, in that round and the next."""

    name = "conflicting_votes"

    def received(self, adv: Adversary, message: Any) -> None:
        if type(message) is not Proposal:
            return
        b = message.block
        key = (b.height, message.round, b.hash)
        if key in adv.done:
            return
        adv.done.add(key)
        adv.acted()
        other = bytes(x ^ 0xFF for x in b.hash)
        for half, block_hash in zip(_halves(adv), (b.hash, other), strict=True):
            for r in (message.round, message.round + 1):
                for phase in (ATTEST, CONFIRM):
                    vote = adv.vote(phase, b.height, r, block_hash)
                    for i in half:
                        adv.send(i, vote)


class BadCertificate(Behaviour):
    """Certificates in its sync answers and advertisements with one real signature repeated to a
    quorum's count, or only a real minority of the signatures."""

    name = "bad_certificate"

    def _bend(self, adv: Adversary, cert: Certificate) -> Certificate:
        if not cert.signatures:
            return cert
        adv.acted()
        quorum = adv.sim.validators.quorum
        if cert.height % 2 == 0:
            signatures = (cert.signatures[0],) * quorum
        else:
            signatures = cert.signatures[: max(1, quorum - 1) // 2 or 1]
        return attrs.evolve(cert, signatures=signatures)

    def send(self, adv: Adversary, dest: int, message: Any) -> Any:
        if type(message) is SyncResponse:
            return attrs.evolve(
                message, highest_certificate=self._bend(adv, message.highest_certificate)
            )
        if type(message) is AdvertiseCertificate:
            return attrs.evolve(message, certificate=self._bend(adv, message.certificate))
        return message


BEHAVIOURS: dict[str, type[Behaviour]] = {
    b.name: b
    for b in (
        Equivocate,
        Lie,
        Withhold,
        Replay,
        ForgeProof,
        ReplayProof,
        FutureRound,
        Flood,
        ConflictingVotes,
        BadCertificate,
    )
}
