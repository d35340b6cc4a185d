"""The sync client's ``step``: each event to its handler (``ticks``, ``advertisements``,
``responses``)."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.machine.core import Step, Tick
from blockfsm.machine.messages import (
    AdvertiseBlockReceived,
    AdvertiseCertificateReceived,
    SyncResponseReceived,
)
from blockfsm.machine.sync_client.advertisements import (
    _on_advertise_block,
    _on_advertise_certificate,
)
from blockfsm.machine.sync_client.config import SyncClientConfig
from blockfsm.machine.sync_client.responses import _on_response
from blockfsm.machine.sync_client.state import ChainAdvanced, SyncClientState
from blockfsm.machine.sync_client.ticks import _on_tick
from blockfsm.machine.view import ChainView


def step(config: SyncClientConfig, state: SyncClientState, event: Any, view: ChainView) -> Step:
    kind = type(event)
    if kind is Tick:
        return _on_tick(config, state, event, view)
    if kind is SyncResponseReceived:
        return _on_response(config, state, event, view)
    if kind is AdvertiseBlockReceived:
        return _on_advertise_block(config, state, event)
    if kind is AdvertiseCertificateReceived:
        return _on_advertise_certificate(config, state, event, view)
    if kind is ChainAdvanced:
        return Step(attrs.evolve(state, last_progress=state.now), ())
    raise TypeError(f"sync client does not take {kind.__name__}")
