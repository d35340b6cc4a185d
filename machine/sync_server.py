"""The block sync server as a pure machine. Its rules are stated in ``blockfsm.spec.sync_server``.

What it does, in order of precedence for a ``SyncRequestReceived``:

1. a request that is not a ``SyncRequest`` (``None``, say) or whose fields are not unsigned 64-bit
   integers is refused (``malformed_request``);
2. ``limit == 0`` is refused (``zero_limit``): upstream's loop treated it as unlimited;
3. a request for another chain is refused (``wrong_chain``);
4. a peer over its budget of ``rate_limit_requests`` per ``rate_limit_window`` is refused
   (``rate_limited``). The window's table tracks at most ``rate_limit_peers`` peers: a new peer
   arriving at a full table is served, and the entry with the fewest responses (the earliest of
   those) is dropped to make room. A table full of fresh identities can therefore never refuse
   an honest peer, and a heavy peer at its budget is the last to be forgotten;
5. a request whose byte bound ``min(request.max_bytes, max_response_bytes)`` cannot hold even a
   response without blocks is refused (``response_too_large``);
6. otherwise the server sends the highest certificate and, from ``start_height`` upward, the
   longest run of at most ``min(request.limit, request_limit)`` blocks whose response fits the
   byte bound, all from the one view snapshot of this step.

Refusals change no state, so they cannot disturb the advertisement schedule, which depends on
``Tick`` alone: the first valid Tick advertises, and so does every Tick at least ``advertise_time``
after the last advertisement (highest certificate first, then the signed committed height).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from blockfsm.machine._maps import SortedMap
from blockfsm.machine.core import (
    MAX_PERIOD_MS,
    Broadcast,
    PeerId,
    Rejected,
    Send,
    Step,
    Tick,
    require_int,
)
from blockfsm.machine.crypto import Signer, require_signer
from blockfsm.machine.messages import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_RESPONSE_BYTES,
    MIN_RESPONSE_BYTES,
    RESPONSE_OVERHEAD,
    AdvertiseBlock,
    AdvertiseCertificate,
    SyncRequest,
    SyncRequestReceived,
    SyncResponse,
    block_size,
    certificate_size,
)
from blockfsm.machine.types import MAX_U64, ChainId, advertise_block_payload
from blockfsm.machine.view import ChainView

STARTING, SERVING = "Starting", "Serving"
"""The server's control states (``SyncServerState.control``); ``blockfsm.spec.sync_server`` states
them again."""


MAX_REQUEST_LIMIT = 100_000


@attrs.frozen(kw_only=True)
class SyncServerConfig:
    """Defaults follow upstream's tests: request_limit 10, advertise_time 10 s."""

    chain_id: ChainId
    signer: Signer = attrs.field(eq=False, hash=False)
    request_limit: int = 10
    advertise_time: int = 10_000
    rate_limit_requests: int = 50
    rate_limit_window: int = 1_000
    rate_limit_peers: int = 1_024
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __attrs_post_init__(self) -> None:
        require_int(self.chain_id, "chain_id", 0, MAX_U64)
        require_signer(self.signer)
        require_int(self.request_limit, "request_limit", 1, MAX_REQUEST_LIMIT)
        require_int(self.advertise_time, "advertise_time (ms)", 1, MAX_PERIOD_MS)
        require_int(self.rate_limit_requests, "rate_limit_requests", 1, 1_000_000)
        require_int(self.rate_limit_window, "rate_limit_window (ms)", 1, MAX_PERIOD_MS)
        require_int(self.rate_limit_peers, "rate_limit_peers", 1, 1_000_000)
        require_int(
            self.max_response_bytes,
            "max_response_bytes",
            MIN_RESPONSE_BYTES,
            MAX_RESPONSE_BYTES,
        )


@attrs.frozen(slots=False)
class RateTable:
    """The rate window's table: responses served to each peer, in the order the peers entered it.

    Its value is ``entries``, the ``(peer, count)`` pairs in that order (what it equals, encodes
    and iterates as); a step reads and updates it through two sorted maps instead, so a request
    costs the same with 16 peers in the table as with 1,024:

    - ``_index``: peer to ``(count, seq)``, where ``seq`` numbers the peers in the order they
      entered the table (a smaller ``seq`` entered earlier);
    - ``_order``: ``(recorded count, seq)`` to peer, one entry per peer, for eviction. A served
      request raises a peer's count in ``_index`` only, so a recorded count may lag behind (never
      run ahead of) the peer's count; eviction takes the least key, and re-files it first when its
      count has moved on. The least key whose recorded count is current is the least
      ``(count, seq)`` of the table: the peer with the fewest responses, the earliest of those.
    """

    entries: tuple[tuple[PeerId, int], ...]

    def __attrs_post_init__(self) -> None:
        index: SortedMap[PeerId, tuple[int, int]] = SortedMap()
        order: SortedMap[tuple[int, int], PeerId] = SortedMap()
        for seq, (peer, count) in enumerate(self.entries):
            if peer in index:
                raise ValueError("a rate table lists each peer once")
            index = index.set(peer, (count, seq))
            order = order.set((count, seq), peer)
        self.__dict__.update(_index=index, _order=order, _seq=len(self.entries))

    _index: SortedMap[PeerId, tuple[int, int]] = attrs.field(init=False, eq=False, repr=False)
    _order: SortedMap[tuple[int, int], PeerId] = attrs.field(init=False, eq=False, repr=False)
    _seq: int = attrs.field(init=False, eq=False, repr=False)

    @classmethod
    def _of(
        cls,
        index: SortedMap[PeerId, tuple[int, int]],
        order: SortedMap[tuple[int, int], PeerId],
        seq: int,
    ) -> RateTable:
        table: RateTable = object.__new__(cls)
        table.__dict__.update(_index=index, _order=order, _seq=seq)
        return table

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # ``entries`` is built the first time it is read (to compare, encode or iterate).
            if name != "entries" or "_index" not in self.__dict__:
                raise AttributeError(name)
            ranked = sorted(self._index.items(), key=_by_seq)
            entries = tuple((peer, count) for peer, (count, _) in ranked)
            self.__dict__["entries"] = entries
            return entries

    def __iter__(self) -> Any:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._index)

    def served(self, peer: PeerId) -> int:
        """Responses served to ``peer`` in the window."""
        found = self._index.get(peer)
        return found[0] if found is not None else 0

    def record(self, peer: PeerId, capacity: int) -> RateTable:
        """The table after one more response to ``peer``; a new peer arriving at ``capacity``
        entries takes the place of the one with the fewest responses (the earliest of those)."""
        index = self._index
        found = index.get(peer)
        if found is not None:
            return self._of(index.set(peer, (found[0] + 1, found[1])), self._order, self._seq)
        order = self._order
        seq = self._seq
        if len(index) >= capacity and index:
            while True:
                key, victim = order.first()
                order = order.delete(key)
                current = index.get(victim)
                assert current is not None and current[1] == key[1]
                if current[0] == key[0]:
                    break
                order = order.set(current, victim)
            index = index.delete(victim)
        return self._of(index.set(peer, (1, seq)), order.set((1, seq), peer), seq + 1)


def _by_seq(item: tuple[PeerId, tuple[int, int]]) -> int:
    return item[1][1]


EMPTY_TABLE = RateTable(())


def _rate_table(value: Any) -> RateTable:
    return value if type(value) is RateTable else RateTable(tuple(value))


@attrs.frozen(kw_only=True)
class SyncServerState:
    control: str
    now: int = -1
    last_advertised: int = -1
    window: int = -1
    window_counts: RateTable = attrs.field(default=EMPTY_TABLE, converter=_rate_table)


# The step builds a new state through the slots' own setters: every table it hands on is already
# a ``RateTable``, so the converter has nothing to do, and attrs' ``__init__`` cost about twice
# this on the request path (measured in docs/performance.md).
_set_control = vars(SyncServerState)["control"].__set__
_set_now = vars(SyncServerState)["now"].__set__
_set_last_advertised = vars(SyncServerState)["last_advertised"].__set__
_set_window = vars(SyncServerState)["window"].__set__
_set_window_counts = vars(SyncServerState)["window_counts"].__set__
_new = object.__new__


def _state(
    control: str, now: int, last_advertised: int, window: int, counts: RateTable
) -> SyncServerState:
    new: SyncServerState = _new(SyncServerState)
    _set_control(new, control)
    _set_now(new, now)
    _set_last_advertised(new, last_advertised)
    _set_window(new, window)
    _set_window_counts(new, counts)
    return new


def initial(config: SyncServerConfig) -> SyncServerState:
    return SyncServerState(control=STARTING)


def step(config: SyncServerConfig, state: SyncServerState, event: Any, view: ChainView) -> Step:
    if type(event) is SyncRequestReceived:
        return _on_request(config, state, event, view)
    if type(event) is Tick:
        return _on_tick(config, state, event, view)
    raise TypeError(f"sync server does not take {type(event).__name__}")


def _on_tick(
    config: SyncServerConfig, state: SyncServerState, event: Tick, view: ChainView
) -> Step:
    now = event.now
    if type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now:
        return Step(state, (Rejected(reason="clock_regressed"),))
    if state.last_advertised >= 0 and now - state.last_advertised < config.advertise_time:
        return Step(
            _state(state.control, now, state.last_advertised, state.window, state.window_counts),
            (),
        )
    committed = view.committed_height()
    payload = advertise_block_payload(config.chain_id, config.signer.public_key, committed, now)
    effects = (
        Broadcast(message=AdvertiseCertificate(certificate=view.highest_certificate())),
        Broadcast(
            message=AdvertiseBlock(
                chain_id=config.chain_id,
                server=config.signer.public_key,
                committed_height=committed,
                timestamp=now,
                signature=config.signer.sign(payload),
            )
        ),
    )
    new_state = _state(SERVING, now, now, state.window, state.window_counts)
    return Step(new_state, effects)


def _on_request(
    config: SyncServerConfig, state: SyncServerState, event: SyncRequestReceived, view: ChainView
) -> Step:
    req = event.request
    peer = event.peer
    if type(req) is not SyncRequest or type(peer) is not bytes:
        return Step(state, (Rejected(reason="malformed_request", peer=peer),))
    # Each field an unsigned 64-bit int, tested inline (a helper called five times cost about a
    # tenth of a served request).
    chain_id = req.chain_id
    start = req.start_height
    limit = req.limit
    max_bytes = req.max_bytes
    request_id = req.request_id
    if not (
        type(chain_id) is int
        and type(request_id) is int
        and type(start) is int
        and type(limit) is int
        and type(max_bytes) is int
        and 0 <= chain_id <= MAX_U64
        and 0 <= request_id <= MAX_U64
        and 0 <= start <= MAX_U64
        and 0 <= limit <= MAX_U64
        and 0 <= max_bytes <= MAX_U64
    ):
        return Step(state, (Rejected(reason="malformed_request", peer=peer),))
    if limit == 0:
        return Step(state, (Rejected(reason="zero_limit", peer=peer),))
    if chain_id != config.chain_id:
        return Step(state, (Rejected(reason="wrong_chain", peer=peer),))

    window = state.now // config.rate_limit_window if state.now >= 0 else -1
    counts = state.window_counts if state.window == window else EMPTY_TABLE
    served = counts.served(peer)
    if served >= config.rate_limit_requests:
        return Step(state, (Rejected(reason="rate_limited", peer=peer),))
    certificate = view.highest_certificate()
    room = min(max_bytes, config.max_response_bytes) - (
        RESPONSE_OVERHEAD + certificate_size(certificate)
    )
    if room < 0:
        return Step(state, (Rejected(reason="response_too_large", peer=peer),))
    counts = counts.record(peer, config.rate_limit_peers)

    blocks = view.blocks_from(start, min(limit, config.request_limit))
    for i, block in enumerate(blocks):
        room -= block_size(block)
        if room < 0:
            blocks = blocks[:i]
            break
    response = SyncResponse(
        chain_id=config.chain_id,
        request_id=request_id,
        blocks=blocks,
        highest_certificate=certificate,
    )
    new_state = _state(state.control, state.now, state.last_advertised, window, counts)
    return Step(new_state, (Send(peer=peer, message=response),))
