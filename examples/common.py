"""What the three embedding examples share: two nodes running the same pure core (the sync server
and client composed as ``SYNC_NODE``), each over an in-memory chain, and how effects are applied.

A driver only has to: deliver events to ``Node.step`` one at a time, apply write effects to the
node's chain (``Node.step`` does that here) and carry ``Send``/``Broadcast`` messages to the peer.
"""

from __future__ import annotations

import time
from typing import Any

from blockfsm.adapters.node.crypto import Ed25519Signer, Ed25519Verifier
from blockfsm.adapters.node.runtime import SYNC_NODE, message_event, sync_node_config
from blockfsm.machine.core import Broadcast, Send
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate
from blockfsm.machine.types import ZERO_HASH, Block, Certificate, ValidatorSet, certify
from blockfsm.machine.view import InMemoryChain

CHAIN = 11
BLOCKS = 40
KEYS = [Ed25519Signer.from_seed(bytes([i + 7]) * 32) for i in range(3)]
VALIDATORS = ValidatorSet.equal(k.public_key for k in KEYS)


def now_ms() -> int:
    return int(time.time() * 1000)


class Node:
    """One node: config, state and chain; ``step`` runs the core and returns outgoing messages
    as ``(peer or None for everyone, message)`` pairs."""

    def __init__(self, index: int, blocks: int = 0) -> None:
        self.key = KEYS[index].public_key
        self.config = sync_node_config(
            chain_id=CHAIN,
            signer=KEYS[index],
            validators=VALIDATORS,
            verifier=Ed25519Verifier(),
            advertise_time=100,
            seed=index,
        )
        self.state = SYNC_NODE.initial(self.config)
        self.chain = InMemoryChain(CHAIN)
        justify = Certificate.genesis(CHAIN)
        parent = ZERO_HASH
        for h in range(blocks):
            b = Block.make(chain_id=CHAIN, height=h, parent_hash=parent, justify=justify)
            justify = certify(chain_id=CHAIN, view=h + 1, block=b, signers=KEYS)
            self.chain.persist(b)
            self.chain.set_highest_certificate(justify)
            self.chain.commit(h - 1)
            parent = b.hash

    def step(self, event: Any) -> list[tuple[bytes | None, Any]]:
        result = SYNC_NODE.step(self.config, self.state, event, self.chain.snapshot())
        self.state = result.state
        out: list[tuple[bytes | None, Any]] = []
        for e in result.effects:
            if type(e) is Persist:
                self.chain.persist(e.block)
            elif type(e) is Commit:
                self.chain.commit(e.height)
            elif type(e) is UpdateHighestCertificate:
                self.chain.set_highest_certificate(e.certificate)
            elif type(e) is Send:
                out.append((e.peer, e.message))
            elif type(e) is Broadcast:
                out.append((None, e.message))
        return out

    def receive(self, sender: bytes, message: Any) -> list[tuple[bytes | None, Any]]:
        event = message_event(sender, message)
        return self.step(event) if event is not None else []


def pair() -> tuple[Node, Node]:
    """A server holding ``BLOCKS`` blocks and a fresh node that must catch up."""
    return Node(0, BLOCKS), Node(1)


def caught_up(node: Node) -> bool:
    return node.chain.committed_height >= BLOCKS - 2
