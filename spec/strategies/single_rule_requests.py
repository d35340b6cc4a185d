"""Single-rule cases (``blockfsm.spec.strategies.single_rule``): the sync server's request
checks (``request.*``)."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from blockfsm.machine.messages import (
    SyncRequest,
    SyncRequestReceived,
)
from blockfsm.machine.sync_server import SyncServerConfig, SyncServerState
from blockfsm.machine.types import MAX_U64
from blockfsm.spec.strategies.single_rule_world import (
    CANONICAL_LENGTH,
    CHAIN_ID,
    KEYS,
    SIGNERS,
    VIEWS,
    Case,
    _servers,
    garbled,
)

# --- the sync server's request checks ----------------------------------------------------------


@st.composite
def request_cases(draw: st.DrawFn, rule: str) -> Case:
    from blockfsm.machine.messages import RESPONSE_OVERHEAD, certificate_size

    rate = draw(st.integers(min_value=1, max_value=20))
    window = draw(st.integers(min_value=1, max_value=5_000))
    signer = SIGNERS[draw(_servers)]
    config = SyncServerConfig(
        chain_id=CHAIN_ID,
        signer=signer,
        request_limit=draw(st.integers(min_value=1, max_value=12)),
        rate_limit_requests=rate,
        rate_limit_window=window,
    )
    view = VIEWS[draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH))]
    now = draw(st.integers(min_value=0, max_value=10**9))
    peer = KEYS[0]
    served = draw(st.integers(min_value=0, max_value=rate - 1))
    if rule == "request.rate_limited":
        served = rate - 1
    counts = ((peer, served),) if served else ()
    state = SyncServerState(
        control=draw(st.sampled_from(("Starting", "Serving"))),
        now=now,
        last_advertised=now,
        window=now // window,
        window_counts=counts,
    )
    least = RESPONSE_OVERHEAD + certificate_size(view.highest_certificate())
    max_bytes = draw(st.integers(min_value=least, max_value=least + 100_000))
    if rule == "request.too_large":
        max_bytes = least
    request = SyncRequest(
        chain_id=CHAIN_ID,
        request_id=draw(st.integers(min_value=0, max_value=MAX_U64)),
        start_height=draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH + 2)),
        limit=draw(st.integers(min_value=1, max_value=20)),
        max_bytes=max_bytes,
    )
    bad: Any = request
    broken_state = None
    if rule == "request.malformed":
        field = draw(
            st.sampled_from(("chain_id", "request_id", "start_height", "limit", "max_bytes"))
        )
        bad = garbled(request, **{field: draw(st.sampled_from((None, -1, 2**64, "1")))})
    elif rule == "request.zero_limit":
        bad = attrs.evolve(request, limit=0)
    elif rule == "request.wrong_chain":
        bad = attrs.evolve(
            request, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
        )
    elif rule == "request.rate_limited":
        broken_state = attrs.evolve(state, window_counts=((peer, rate),))
    elif rule == "request.too_large":
        bad = attrs.evolve(request, max_bytes=least - 1)
    else:
        raise ValueError(rule)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=SyncRequestReceived(peer=peer, request=request),
        broken=SyncRequestReceived(peer=peer, request=bad),
        broken_state=broken_state,
    )
