"""The pure core: shared protocol types and one module per machine.

Nothing here performs I/O, reads a clock, draws unseeded randomness or logs; see ``core`` for the
rules every machine follows.

The public API, importable from here:

- one module per machine, each with ``initial(config)``, ``step(config, state, event, view)``,
  its config, state, events and effects (``effects`` in each machine's package lists them all):
  ``sync_server``, ``sync_client``, ``producer``, ``attester`` and ``node`` (their composition);
- what every machine shares: ``Step``, ``Tick`` and the common effects (``Send``, ``Broadcast``,
  ``Rejected``, ``Observe``), ``ConfigError``; the chain (``Block``, ``Certificate``,
  ``ValidatorSet``, ``certify``); the chain view (``ChainView``, ``InMemoryChain``); the crypto
  interfaces (``Signer``, ``Verifier``) and their deterministic stand-ins.

A machine named with its spec, for the engines (``Conformant``, campaigns, replay), is a
``MachineDef`` of ``blockfsm.spec.machines``.
"""

from blockfsm.machine import (
    attester,
    core,
    crypto,
    messages,
    node,
    producer,
    sync_client,
    sync_server,
    types,
    view,
)
from blockfsm.machine.core import Broadcast, ConfigError, Observe, Rejected, Send, Step, Tick
from blockfsm.machine.crypto import Signer, StandInSigner, StandInVerifier, Verifier
from blockfsm.machine.types import Block, Certificate, ValidatorSet, certify
from blockfsm.machine.view import ChainView, InMemoryChain

__all__ = [
    "Block",
    "Broadcast",
    "Certificate",
    "ChainView",
    "ConfigError",
    "InMemoryChain",
    "Observe",
    "Rejected",
    "Send",
    "Signer",
    "StandInSigner",
    "StandInVerifier",
    "Step",
    "Tick",
    "ValidatorSet",
    "Verifier",
    "attester",
    "certify",
    "core",
    "crypto",
    "messages",
    "node",
    "producer",
    "sync_client",
    "sync_server",
    "types",
    "view",
]
