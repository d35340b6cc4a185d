"""The sync client's state (the registry of servers, the request in flight) and its one event of its
own, ``ChainAdvanced``; ``initial`` and ``_ended`` (back to Passive)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from blockfsm.machine._maps import SortedMap
from blockfsm.machine.core import PeerId
from blockfsm.machine.sync_client.config import PASSIVE, SyncClientConfig
from blockfsm.machine.types import Height


@attrs.frozen(kw_only=True)
class Registration:
    """A server as its last accepted AdvertiseBlock described it; ``received`` is our clock."""

    peer: PeerId
    height: Height
    timestamp: int
    received: int


@attrs.frozen(slots=False)
class Registry:
    """The registered servers, one ``Registration`` per peer.

    Its value is ``entries``, the registrations sorted by peer (what it equals, encodes and
    iterates as). A step reads and updates it through two sorted maps, so an advertisement costs
    the same with 10,000 servers registered as with 10, and a Tick finds expired entries without
    a scan: ``_by_peer`` (peer to registration) and ``_by_received`` (``(received, peer)``, one
    key per entry, oldest first)."""

    entries: tuple[Registration, ...]

    _by_peer: SortedMap[PeerId, Registration] = attrs.field(init=False, eq=False, repr=False)
    _by_received: SortedMap[tuple[int, PeerId], None] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        by_peer: SortedMap[PeerId, Registration] = SortedMap(
            (entry.peer, entry) for entry in self.entries
        )
        if len(by_peer) != len(self.entries):
            raise ValueError("a registry holds one registration per peer")
        by_received: SortedMap[tuple[int, PeerId], None] = SortedMap(
            ((entry.received, entry.peer), None) for entry in self.entries
        )
        self.__dict__.update(
            entries=tuple(by_peer.values()), _by_peer=by_peer, _by_received=by_received
        )

    @classmethod
    def _of(
        cls,
        by_peer: SortedMap[PeerId, Registration],
        by_received: SortedMap[tuple[int, PeerId], None],
    ) -> Registry:
        registry: Registry = object.__new__(cls)
        registry.__dict__.update(_by_peer=by_peer, _by_received=by_received)
        return registry

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # ``entries`` is built the first time it is read (to compare or encode).
            if name != "entries" or "_by_peer" not in self.__dict__:
                raise AttributeError(name)
            entries = tuple(self._by_peer.values())
            self.__dict__["entries"] = entries
            return entries

    def __iter__(self) -> Iterator[Registration]:
        return self._by_peer.values()

    def __len__(self) -> int:
        return len(self._by_peer)

    def get(self, peer: PeerId) -> Registration | None:
        return self._by_peer.get(peer)

    def put(self, entry: Registration) -> Registry:
        """This registry with ``entry`` in place of any registration of its peer."""
        peer = entry.peer
        by_received = self._by_received
        old = self._by_peer.get(peer)
        if old is not None:
            by_received = by_received.delete((old.received, peer))
        return self._of(
            self._by_peer.set(peer, entry), by_received.set((entry.received, peer), None)
        )

    def without(self, peer: PeerId) -> Registry:
        old = self._by_peer.get(peer)
        if old is None:
            return self
        return self._of(self._by_peer.delete(peer), self._by_received.delete((old.received, peer)))

    def expire(self, cutoff: int) -> Registry:
        """This registry without the entries received at or before ``cutoff``."""
        by_received = self._by_received
        if not by_received or by_received.first()[0][0] > cutoff:
            return self
        by_peer = self._by_peer
        while by_received:
            key = by_received.first()[0]
            if key[0] > cutoff:
                break
            by_received = by_received.delete(key)
            by_peer = by_peer.delete(key[1])
        return self._of(by_peer, by_received)


EMPTY_REGISTRY = Registry(())


def _registry(value: Any) -> Registry:
    return value if type(value) is Registry else Registry(tuple(value))


@attrs.frozen(kw_only=True)
class Outstanding:
    """The one request in flight; ``target`` is the server's advertised height when it was sent."""

    server: PeerId
    request_id: int
    start_height: Height
    limit: int
    target: Height
    deadline: int


@attrs.frozen(kw_only=True)
class SyncClientState:
    control: str
    now: int = 0
    seed: int = 0
    draws: int = 0
    next_request_id: int = 1
    registry: Registry = attrs.field(default=EMPTY_REGISTRY, converter=_registry)
    blacklist: tuple[tuple[PeerId, int], ...] = ()
    last_progress: int = 0
    last_event_trigger: int = -1
    sync_started: int = -1
    tried: tuple[PeerId, ...] = ()
    request: Outstanding | None = None
    delivered: tuple[tuple[PeerId, int], ...] = ()
    """Per server (sorted by peer), the blocks of its last valid answer when that answer was
    short; a server without an entry is presumed to answer in full. One entry per validator at
    most: requests only go to registered validators."""


@attrs.frozen(kw_only=True)
class ChainAdvanced:
    """The node progressed on its own (consensus committed a block): restarts the timeout
    trigger."""


def initial(config: SyncClientConfig) -> SyncClientState:
    return SyncClientState(control=PASSIVE, seed=config.seed)


def _ended(
    state: SyncClientState,
    now: int,
    registry: Registry,
    blacklist: tuple[tuple[PeerId, int], ...],
) -> SyncClientState:
    """Back to Passive when a sync ends, for any reason; the timeout trigger's clock restarts at
    the end of the sync."""
    return SyncClientState(
        control=PASSIVE,
        now=now,
        seed=state.seed,
        draws=state.draws,
        next_request_id=state.next_request_id,
        registry=registry,
        blacklist=blacklist,
        last_progress=now,
        last_event_trigger=state.last_event_trigger,
        delivered=state.delivered,
    )
