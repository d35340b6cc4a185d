"""Step every built-in machine with nothing installed but blockfsm and attrs.

Run by tests/test_lean_core.py in a fresh virtualenv holding ``pip install .`` alone; it fails
if any module it needs imports a package other than attrs and the standard library.
"""

from __future__ import annotations

import importlib.metadata
import sys

from blockfsm.machine import attester, node, producer, sync_client, sync_server
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import SyncRequest, SyncRequestReceived
from blockfsm.machine.producer_view import InMemoryBlockTree, KeeperSet
from blockfsm.machine.types import ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec import language, structure
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import BUILT_IN

CHAIN = 7
signers = [StandInSigner.from_seed(i) for i in range(4)]
keys = tuple(s.public_key for s in signers)
validators = ValidatorSet.equal(keys)
verifier = StandInVerifier.of(signers)
view = InMemoryChain(chain_id=CHAIN).snapshot()

server = sync_server.SyncServerConfig(chain_id=CHAIN, signer=signers[0])
client = sync_client.SyncClientConfig(
    chain_id=CHAIN, own_key=keys[0], validators=validators, verifier=verifier
)
keeper = attester.AttesterConfig(
    chain_id=CHAIN, signer=signers[0], validators=validators, verifier=verifier
)
maker = producer.ProducerConfig(signer=signers[0])
whole = node.NodeConfig.make(
    chain_id=CHAIN, signer=signers[0], validators=validators, verifier=verifier
)

steps = 0
for module, config, machine_view in (
    (sync_server, server, view),
    (sync_client, client, view),
    (attester, keeper, view),
    (
        producer,
        maker,
        InMemoryBlockTree(KeeperSet(epoch=0, seed=b"\0" * 32, members=keys)).snapshot(),
    ),
    (node, whole, view),
):
    state = module.initial(config)
    for now in (0, 1_000, 2_000):
        state, effects = module.step(config, state, Tick(now=now), machine_view)
        steps += 1
request = SyncRequest(chain_id=CHAIN, request_id=1, start_height=0, limit=10)
state, effects = sync_server.step(
    server, sync_server.initial(server), SyncRequestReceived(peer=keys[1], request=request), view
)
assert effects, "the server answers a request"

# every built-in machine under its spec, and every spec's structure
for machine in BUILT_IN:
    assert structure.problems(machine.spec) == [], machine.name
checked = Conformant(BUILT_IN[0], server)
checked.step(sync_server.initial(server), Tick(now=0), view)
assert isinstance(BUILT_IN[0].spec, language.MachineSpec)

third_party = sorted(
    name
    for d in importlib.metadata.distributions()
    if (name := d.metadata["Name"].lower()) not in {"blockfsm", "pip", "setuptools", "wheel"}
)
loaded = sorted(
    m
    for m in ("hypothesis", "click", "rich", "nacl", "lmdb", "msgpack", "transitions")
    if m in sys.modules
)
print(f"stepped {steps + 2} times; installed: {', '.join(third_party)}; loaded: {loaded or 'none'}")
assert third_party == ["attrs"], third_party
assert not loaded, loaded
