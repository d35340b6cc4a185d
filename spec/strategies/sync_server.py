"""Strategies for the sync server's inputs: requests (honest, abusive and malformed) and configs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from blockfsm.machine.core import PeerId
from blockfsm.machine.messages import DEFAULT_MAX_RESPONSE_BYTES, SyncRequest, SyncRequestReceived
from blockfsm.machine.sync_server import SyncServerState
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_ids, u64_or_garbage
from blockfsm.spec.sync_server import SERVING, STARTING

PEERS: tuple[PeerId, ...] = tuple(bytes([0xA0 + i]) * 32 for i in range(8))

limits = st.one_of(
    st.just(0),
    st.integers(min_value=1, max_value=16),
    st.sampled_from([2**31, 2**32 - 1, 2**64 - 1]),
)
"""Request limits: the small ones a client sends, zero, and the absurd ones an attacker sends."""


byte_bounds = st.one_of(
    st.integers(min_value=0, max_value=600),
    st.integers(min_value=600, max_value=8_000),
    st.sampled_from([DEFAULT_MAX_RESPONSE_BYTES, 2**64 - 1]),
)
"""Byte bounds a request may carry: too small for anything, a few blocks' worth, the default,
and absurd."""


def sync_requests(
    chain_id: int = DEFAULT_CHAIN_ID, max_start: int = 48
) -> st.SearchStrategy[SyncRequest]:
    return st.builds(
        SyncRequest,
        chain_id=chain_ids(chain_id),
        request_id=st.integers(min_value=0, max_value=2**64 - 1),
        start_height=st.integers(min_value=0, max_value=max_start),
        limit=limits,
        max_bytes=byte_bounds,
    )


@st.composite
def malformed_requests(draw: st.DrawFn, chain_id: int = DEFAULT_CHAIN_ID) -> SyncRequest:
    """A request with one field holding something a u64 field cannot (as a codec bug or a
    user's runtime might pass through)."""
    fields: dict[str, object] = {
        "chain_id": chain_id,
        "request_id": 1,
        "start_height": 0,
        "limit": 1,
        "max_bytes": DEFAULT_MAX_RESPONSE_BYTES,
    }
    fields[draw(st.sampled_from(sorted(fields)))] = draw(u64_or_garbage())
    return SyncRequest(**fields)  # type: ignore[arg-type]


not_requests: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.text(max_size=3), st.integers(), st.just(()), st.just(b"request")
)
"""Things a broken codec or runtime might deliver where a ``SyncRequest`` belongs."""

_garbage_peers: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.binary(max_size=33), st.integers(), st.text(max_size=3)
)


def request_events(
    chain_id: int = DEFAULT_CHAIN_ID, peers: tuple[PeerId, ...] = PEERS
) -> st.SearchStrategy[SyncRequestReceived]:
    """Requests from known peers (valid, abusive, malformed, or no request at all), and now and
    then from a peer that is no key."""
    return st.builds(
        SyncRequestReceived,
        peer=st.one_of(st.sampled_from(peers), st.sampled_from(peers), _garbage_peers),
        request=st.one_of(sync_requests(chain_id), malformed_requests(chain_id), not_requests),
    )


@st.composite
def server_states(draw: st.DrawFn, peers: tuple[PeerId, ...] = PEERS) -> SyncServerState:
    """Any well-typed server state, reachable or not: for checking guards and totality beyond what
    a campaign happens to reach."""
    started = draw(st.booleans())
    now = draw(st.integers(min_value=0, max_value=10**7)) if started else -1
    last = draw(st.integers(min_value=0, max_value=max(now, 0))) if started else -1
    window = draw(st.integers(min_value=-1, max_value=max(now, 0)))
    chosen = draw(st.lists(st.sampled_from(peers), unique=True, max_size=len(peers)))
    counts = tuple((p, draw(st.integers(min_value=1, max_value=60))) for p in chosen)
    return SyncServerState(
        control=SERVING if started else STARTING,
        now=now,
        last_advertised=last,
        window=window,
        window_counts=counts,
    )
