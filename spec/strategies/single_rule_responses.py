"""Single-rule cases (``blockfsm.spec.strategies.single_rule``): sync responses and the clock
(``response.*``, ``block.*``, ``fork.*``, ``highest.*``, ``tick.*``)."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st

from blockfsm.machine.core import Tick
from blockfsm.machine.messages import (
    MIN_RESPONSE_BYTES,
    SyncResponse,
    SyncResponseReceived,
    response_size,
)
from blockfsm.machine.sync_client import SyncClientState
from blockfsm.machine.types import (
    MAX_U64,
    Block,
)
from blockfsm.spec.strategies.single_rule_world import (
    CANONICAL,
    CANONICAL_LENGTH,
    CHAIN_ID,
    KEYS,
    MAX_CLIENT_LENGTH,
    VIEWS,
    Case,
    _awaiting_request,
    _registry,
    _servers,
    bad_certificate,
    certificate_of,
    client_configs,
    garbled,
    good_certificate,
    rehashed,
)
from blockfsm.spec.sync_client import AWAITING, PASSIVE

# --- responses ---------------------------------------------------------------------------------


@st.composite
def response_cases(draw: st.DrawFn, rule: str) -> Case:
    """A client awaiting blocks from ``start`` (its committed height + 1 when it asked) and a
    canonical answer; then one rule broken."""
    limit = draw(st.integers(min_value=3, max_value=8))
    length = draw(st.integers(min_value=0, max_value=MAX_CLIENT_LENGTH))
    start = max(0, length - 1)
    # Where the node's own consensus committed more since the request was sent.
    advanced = rule == "block.committed_conflict" or draw(st.integers(0, 4)) == 0
    view_length = length + draw(st.integers(min_value=2, max_value=4)) if advanced else length
    view = VIEWS[view_length]
    committed = view.committed_height()
    server = draw(_servers)
    rid = draw(st.integers(min_value=1, max_value=1_000))
    available = CANONICAL_LENGTH - start
    count = draw(st.integers(min_value=0, max_value=min(limit, available)))
    if rule in (
        "block.height",
        "block.chain",
        "block.hash",
        "block.parent",
        "block.justify_hash",
        "block.justify_height",
    ) or rule.startswith("fork."):
        count = max(count, 1)
    if rule == "block.justify_hash":
        # The last block's parent is a real block (height >= 0), so a sibling of it can be.
        assume(start + count - 1 >= 1)
    if rule.startswith("fork."):
        count = max(count, 2)
        # The fork's first block lies above the committed height and before the last block.
        assume(count <= min(limit, available) and max(0, committed + 1 - start) <= count - 2)
    if rule == "block.committed_conflict":
        count = max(count, 1)
        count = min(count, committed - start + 1)
        assume(count >= 1)
    if rule == "response.count":
        count = limit + 1
        assume(count <= available)
    blocks = CANONICAL.blocks_from(start, count)
    tip = start + count - 1
    highest_height = draw(st.integers(min_value=-1, max_value=max(-1, tip - 1)))
    if rule.startswith("highest."):
        highest_height = draw(st.integers(min_value=0, max_value=CANONICAL_LENGTH - 1))
    highest = certificate_of(highest_height)
    config_fields: dict[str, Any] = {"request_limit": limit}
    if rule == "response.bytes":
        count = draw(st.integers(min_value=1, max_value=min(limit, available)))
        blocks = CANONICAL.blocks_from(start, count)
        over = SyncResponse(
            chain_id=CHAIN_ID, request_id=rid, blocks=blocks, highest_certificate=highest
        )
        size = response_size(over)
        assume(size - 1 >= MIN_RESPONSE_BYTES)
        config_fields["max_response_bytes"] = size - 1
    config = draw(client_configs(**config_fields))
    now = draw(st.integers(min_value=0, max_value=50_000))
    registry = draw(_registry(now, config, without=None))
    state = SyncClientState(
        control=AWAITING,
        now=now,
        seed=config.seed,
        next_request_id=rid + 1,
        registry=registry,
        last_progress=now,
        sync_started=now,
        request=_awaiting_request(server, rid, start, limit, now),
    )
    valid_r = SyncResponse(
        chain_id=CHAIN_ID, request_id=rid, blocks=blocks, highest_certificate=highest
    )
    peer = KEYS[server]
    bad_peer = peer
    bad: Any = valid_r
    broken_state = None
    last = len(blocks) - 1
    if rule == "response.malformed_passive":
        state = attrs.evolve(state, control=PASSIVE, request=None, sync_started=-1)
    if rule in ("response.malformed", "response.malformed_passive"):
        how = draw(st.sampled_from(("request_id", "blocks", "block", "certificate")))
        if how == "request_id":
            bad = garbled(valid_r, request_id=None)
        elif how == "blocks":
            bad = garbled(valid_r, blocks=list(blocks))
        elif how == "certificate":
            bad = garbled(valid_r, highest_certificate=None)
        elif blocks:
            bad = attrs.evolve(
                valid_r, blocks=(*blocks[:last], garbled(blocks[last], payload=None))
            )
        else:
            bad = garbled(valid_r, blocks=(None,))
    elif rule == "response.request_id":
        other = draw(st.integers(min_value=0, max_value=MAX_U64).filter(lambda i: i != rid))
        bad = attrs.evolve(valid_r, request_id=other)
    elif rule == "response.peer":
        bad_peer = KEYS[draw(st.integers(min_value=0, max_value=5).filter(lambda i: i != server))]
    elif rule == "response.no_request":
        broken_state = attrs.evolve(
            state,
            control=PASSIVE,
            request=None,
            sync_started=-1,
        )
    elif rule == "response.chain":
        bad = attrs.evolve(
            valid_r, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
        )
    elif rule == "response.count":
        valid_r = attrs.evolve(valid_r, blocks=blocks[:limit])
    elif rule == "response.bytes":
        valid_r = attrs.evolve(valid_r, blocks=blocks[:-1])
        bad = attrs.evolve(valid_r, blocks=blocks)
    elif rule.startswith("block."):
        if rule == "block.committed_conflict":
            i = last
        else:
            i = draw(st.integers(min_value=0, max_value=last)) if rule == "block.hash" else last
        b = blocks[i]
        if rule == "block.height":
            how = draw(st.sampled_from(("skip", "repeat", "any")))
            new_h = {
                "skip": b.height + 1,
                "repeat": b.height - 1,
                "any": draw(st.integers(0, MAX_U64).filter(lambda h: h != b.height)),
            }[how]
            if new_h < 0:
                new_h = b.height + 2
            fake = rehashed(b, height=new_h)
        elif rule == "block.chain":
            fake = rehashed(
                b, chain_id=draw(st.integers(0, MAX_U64).filter(lambda c: c != CHAIN_ID))
            )
        elif rule == "block.hash":
            if draw(st.booleans()):
                fake = attrs.evolve(b, payload=b.payload + draw(st.binary(min_size=1, max_size=4)))
            else:
                fake = attrs.evolve(
                    b, hash=draw(st.binary(min_size=32, max_size=32).filter(lambda h: h != b.hash))
                )
                if i != last:
                    fake = attrs.evolve(b, payload=b.payload + b"x")
        elif rule == "block.parent":
            fake = rehashed(
                b,
                parent_hash=draw(
                    st.binary(min_size=32, max_size=32).filter(lambda h: h != b.parent_hash)
                ),
            )
        elif rule == "block.justify_hash":
            # A block at the parent's height that a quorum certified in some view but that is not
            # the parent: what a history with a failed view leaves behind.
            sibling_hash = draw(
                st.binary(min_size=32, max_size=32).filter(lambda h: h != b.parent_hash)
            )
            justify = draw(good_certificate(b.height - 1, sibling_hash, b.justify.view + 1))
            fake = rehashed(b, justify=justify)
        elif rule == "block.justify_height":
            # Only a dishonest quorum signs this; the link check refuses it before any signature.
            wrong = draw(
                st.integers(min_value=0, max_value=CANONICAL_LENGTH).filter(
                    lambda h: h != b.height - 1
                )
            )
            justify = draw(good_certificate(wrong, b.parent_hash, max(1, b.justify.view)))
            fake = rehashed(b, justify=justify)
        else:  # committed_conflict
            fake = rehashed(b, payload=b"fork" + draw(st.binary(min_size=1, max_size=4)))
        bad = attrs.evolve(valid_r, blocks=(*blocks[:i], fake, *blocks[i + 1 :]))
    elif rule.startswith("fork."):
        kind = rule.removeprefix("fork.")
        # The fork starts at a block above the client's committed height whose justify is the
        # real certificate of its parent; every later block is justified by a certificate of the
        # fork's previous block that only a quorum could make valid.
        first_fork = draw(st.integers(min_value=max(0, committed + 1 - start), max_value=last - 1))
        payload = b"fork" + draw(st.binary(min_size=1, max_size=4))
        good_fork = list(blocks[:first_fork])
        bad_fork = list(blocks[:first_fork])
        first = rehashed(blocks[first_fork], payload=payload)
        good_fork.append(first)
        bad_fork.append(first)
        for _ in range(first_fork + 1, len(blocks)):
            g_prev, b_prev = good_fork[-1], bad_fork[-1]
            v = g_prev.height + 1
            g_cert = draw(good_certificate(g_prev.height, g_prev.hash, v))
            b_cert = draw(bad_certificate(kind, b_prev.height, b_prev.hash, v))
            good_fork.append(
                Block.make(
                    chain_id=CHAIN_ID,
                    height=g_prev.height + 1,
                    parent_hash=g_prev.hash,
                    justify=g_cert,
                    payload=payload,
                )
            )
            bad_fork.append(
                Block.make(
                    chain_id=CHAIN_ID,
                    height=b_prev.height + 1,
                    parent_hash=b_prev.hash,
                    justify=b_cert,
                    payload=payload,
                )
            )
        valid_r = attrs.evolve(valid_r, blocks=tuple(good_fork))
        bad = attrs.evolve(valid_r, blocks=tuple(bad_fork))
    elif rule.startswith("highest."):
        kind = rule.removeprefix("highest.")
        target = CANONICAL.block_at(highest_height)
        assert target is not None
        bad = attrs.evolve(
            valid_r,
            highest_certificate=draw(
                bad_certificate(kind, highest_height, target.hash, highest_height + 1)
            ),
        )
    else:
        raise ValueError(rule)
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=view,
        valid=SyncResponseReceived(peer=peer, response=valid_r),
        broken=SyncResponseReceived(peer=bad_peer, response=bad),
        broken_state=broken_state,
    )


@st.composite
def tick_cases(draw: st.DrawFn, rule: str) -> Case:
    config = draw(client_configs())
    now = draw(st.integers(min_value=1, max_value=MAX_U64 - 2_000))
    state = SyncClientState(control=PASSIVE, now=now, seed=config.seed, last_progress=now)
    if draw(st.booleans()):
        # A sync running, its request's deadline ahead: a Tick at the clock is "waiting".
        state = attrs.evolve(
            state,
            control=AWAITING,
            sync_started=now,
            next_request_id=2,
            request=_awaiting_request(draw(_servers), 1, 0, config.request_limit, now),
        )
    return Case(
        rule=rule,
        config=config,
        state=state,
        view=VIEWS[0],
        valid=Tick(now=now),
        broken=Tick(now=now - 1),
    )
