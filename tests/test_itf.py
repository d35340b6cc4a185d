"""The ITF mapping round-trips every kind of value blockfsm puts in a trace."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from blockfsm.adapters.engines import itf
from blockfsm.machine.core import Tick
from blockfsm.machine.crypto import StandInSigner, StandInVerifier
from blockfsm.machine.messages import SyncResponse
from blockfsm.machine.producer import Start
from blockfsm.machine.sync_client import SyncClientConfig
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.machine.types import ValidatorSet
from blockfsm.machine.view import InMemoryChain
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers
from blockfsm.spec.strategies.producer import _Opaque, producer_events, producer_states
from blockfsm.spec.strategies.sync_client import client_events, client_states
from blockfsm.spec.strategies.sync_server import request_events, server_states


def through_json(value: Any) -> Any:
    """Encode, write as JSON text, read back, decode: what a trace file does to a value."""
    return itf.decode(json.loads(json.dumps(itf.encode(value))))


def same(a: Any, b: Any) -> bool:
    """Equal, by the canonical encoding (attrs eq skips eq=False fields; NaN != NaN)."""
    return itf.canonical(a) == itf.canonical(b)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**53 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**53) + 2),
    st.text(max_size=8),
    st.binary(max_size=40),
    st.floats(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.one_of(st.integers(), st.binary(max_size=4), st.text(max_size=3))),
        st.dictionaries(st.one_of(st.integers(), st.binary(max_size=4)), inner, max_size=3),
    ),
    max_leaves=20,
)


def has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list | tuple | frozenset):
        return any(has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(has_nan(v) for v in value.values())
    return False


@given(values)
@example([math.nan])  # regression: NaN inside a list compared with ==
def test_plain_values_round_trip(value: Any) -> None:
    back = through_json(value)
    assert same(back, value)
    assert type(back) is type(value) or (type(value) is set and type(back) is frozenset)
    if not has_nan(value):  # NaN != NaN; the canonical comparison above covers it
        assert back == value


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**64 - 1, -(2**63)])
def test_integers_beyond_2_53_are_bigints(n: int) -> None:
    assert itf.encode(n) == {"#bigint": str(n)}
    assert itf.encode(2**53 - 1) == 2**53 - 1
    assert through_json(n) == n


def test_the_itf_forms() -> None:
    assert itf.encode((1, "a")) == {"#tup": [1, "a"]}
    assert itf.encode(frozenset({2, 1})) == {"#set": [1, 2]}
    assert itf.encode({b"\x01": 2}) == {"#map": [[{"tag": "Bytes", "value": "01"}, 2]]}
    assert itf.encode(None) == {"tag": "None", "value": {"#tup": []}}
    assert itf.encode([True]) == [True]


def test_sets_and_maps_are_encoded_in_one_order_whatever_the_insertion_order() -> None:
    a = {b"\x02": 1, b"\x01": 2}
    b = {b"\x01": 2, b"\x02": 1}
    assert itf.canonical(a) == itf.canonical(b)
    assert itf.canonical(frozenset(range(50))) == itf.canonical(frozenset(reversed(range(50))))


def test_a_value_with_no_itf_form_is_written_as_unserializable() -> None:
    encoded = itf.encode(object())
    assert list(encoded) == ["#unserializable"] and encoded["#unserializable"].startswith("object:")
    assert " at 0x" not in encoded["#unserializable"]  # canonical: no per-process address
    assert itf.canonical(object()) == itf.canonical(object())
    back = through_json(object())
    assert type(back) is itf.Unserializable and itf.encode(back) == {"#unserializable": back.text}
    with pytest.raises(itf.ITFError, match="unknown ITF form"):
        itf.decode({"#nonsense": 1})


def test_quint_records_and_foreign_variants_decode() -> None:
    doc = {"x": {"#bigint": "3"}, "v": {"tag": "Serving", "value": {"#tup": []}}}
    assert itf.decode(doc) == {"x": 3, "v": itf.Variant("Serving", ())}


_chain = chain_of(6, make_signers(4))
_view = _chain.snapshot()


@given(client_states())
def test_sync_client_states_round_trip(state: Any) -> None:
    back = through_json(state)
    assert back == state and same(back, state)


@given(server_states())
def test_sync_server_states_round_trip(state: Any) -> None:
    back = through_json(state)
    assert back == state and same(back, state)


@given(producer_states(buffer_cap=4))
def test_producer_states_round_trip(state: Any) -> None:
    back = through_json(state)
    assert back == state and same(back, state)


@given(st.one_of(client_events(_view), request_events(), producer_events()))
@example(Start(params=_Opaque()))  # regression: an object of no ITF type inside an event
def test_events_round_trip_garbage_included(event: Any) -> None:
    back = through_json(event)
    assert same(back, event)
    assert type(back) is type(event)


def test_blocks_certificates_views_and_configs_round_trip() -> None:
    signers, verifier = make_signers(4), StandInVerifier.of(make_signers(4))
    view = _chain.snapshot()
    back = through_json(view)
    assert same(back, view)
    assert back.blocks_from(0, 100) == view.blocks_from(0, 100)
    response = SyncResponse(
        chain_id=DEFAULT_CHAIN_ID,
        request_id=2**60,
        blocks=view.blocks_from(0, 6),
        highest_certificate=view.highest_certificate(),
    )
    assert through_json(response) == response
    server_config = SyncServerConfig(chain_id=DEFAULT_CHAIN_ID, signer=signers[0])
    restored = through_json(server_config)
    assert restored == server_config and restored.signer == signers[0]
    client_config = SyncClientConfig(
        chain_id=DEFAULT_CHAIN_ID,
        own_key=b"\x09" * 32,
        validators=ValidatorSet.equal(s.public_key for s in signers),
        verifier=verifier,
    )
    restored = through_json(client_config)
    assert restored == client_config
    block = view.block_at(3)
    assert block is not None
    assert restored.verifier.verify(
        signers[1].public_key,
        block.justify.payload(),
        dict(block.justify.signatures)[signers[1].public_key],
    )
    assert through_json(InMemoryChain(1).snapshot()).highest_height() == -1


def test_ed25519_signers_round_trip_by_seed() -> None:
    from blockfsm.adapters.node.crypto import Ed25519Signer

    signer = Ed25519Signer.from_seed(bytes(range(32)))
    back = through_json(signer)
    assert back.public_key == signer.public_key and back.sign(b"m") == signer.sign(b"m")


def test_stand_in_signers_keep_their_secret() -> None:
    signer = StandInSigner.from_seed(5)
    assert through_json(signer).sign(b"x") == signer.sign(b"x")


def test_tags_are_qualified_by_module_and_bare_tags_of_older_traces_still_read() -> None:
    tick = Tick(now=5)
    encoded = itf.encode(tick)
    assert encoded["tag"] == f"{Tick.__module__}.Tick"
    assert itf.decode(encoded) == tick
    assert itf.decode({"tag": "Tick", "value": {"now": 5}}, strict=True) == tick


def test_an_unknown_tag_is_a_one_line_error() -> None:
    with pytest.raises(itf.ITFError, match=r"unknown ITF tag 'nowhere\.Thing'") as raised:
        itf.decode({"tag": "nowhere.Thing", "value": {}})
    assert "\n" not in str(raised.value)
    # A trace names data, not code to load: a module outside blockfsm and the declared packages
    # is never imported.
    with pytest.raises(itf.ITFError, match="neither blockfsm's nor in a package"):
        itf.decode({"tag": "json.JSONDecoder", "value": {}})
    with pytest.raises(itf.ITFError, match="has no attrs class Nope"):
        itf.decode({"tag": "blockfsm.machine.core.Nope", "value": {}})
    with pytest.raises(itf.ITFError, match="unknown ITF tag 'Serving'"):
        itf.decode({"tag": "Serving", "value": {"#tup": []}}, strict=True)
