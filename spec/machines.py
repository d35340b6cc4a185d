"""The built-in machines: each machine module's ``initial`` and ``step`` named with its spec.

This module is where the two statements meet; it decides nothing. ``blockfsm.machine`` imports
nothing from ``blockfsm.spec``: a machine owns its code and its control-state names, and the spec
names the machine it specifies here. The engines (``Conformant``, campaigns, replay, the
explorer, the simulator) take these ``MachineDef`` values.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine import attester, node, producer, sync_client, sync_server
from blockfsm.machine.attester import AttesterConfig, AttesterState
from blockfsm.machine.node import NodeConfig, NodeState
from blockfsm.machine.producer import ProducerConfig, ProducerState
from blockfsm.machine.producer_view import ProducerView
from blockfsm.machine.sync_client import SyncClientConfig, SyncClientState
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.view import ChainView
from blockfsm.spec import attester as attester_spec
from blockfsm.spec import node as node_spec
from blockfsm.spec import producer as producer_spec
from blockfsm.spec import sync_client as sync_client_spec
from blockfsm.spec import sync_server as sync_server_spec
from blockfsm.spec.language import MachineDef

SYNC_SERVER: MachineDef[SyncServerConfig, SyncServerState, Any, ChainView] = MachineDef(
    name="sync_server",
    spec=sync_server_spec.SPEC,
    initial=sync_server.initial,
    step=sync_server.step,
)
SYNC_CLIENT: MachineDef[SyncClientConfig, SyncClientState, Any, ChainView] = MachineDef(
    name="sync_client",
    spec=sync_client_spec.SPEC,
    initial=sync_client.initial,
    step=sync_client.step,
)
PRODUCER: MachineDef[ProducerConfig, ProducerState, Any, ProducerView] = MachineDef(
    name="producer", spec=producer_spec.SPEC, initial=producer.initial, step=producer.step
)
ATTESTER: MachineDef[AttesterConfig, AttesterState, Any, ChainView] = MachineDef(
    name="attester", spec=attester_spec.SPEC, initial=attester.initial, step=attester.step
)
"""The attester as a machine of its own: what its campaign, the simulator's checkers and
``blockfsm replay`` run (the node runs it as one of its parts)."""
NODE: MachineDef[NodeConfig, NodeState, Any, ChainView] = MachineDef(
    name="node", spec=node_spec.SPEC, initial=node.initial, step=node.step
)

BUILT_IN = (SYNC_SERVER, SYNC_CLIENT, PRODUCER, ATTESTER, NODE)
"""Every built-in machine."""

__all__ = ["ATTESTER", "BUILT_IN", "NODE", "PRODUCER", "SYNC_CLIENT", "SYNC_SERVER"]
