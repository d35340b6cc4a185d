"""Tests that kill the mutants mutmut left alive in machine/messages.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). The sizes the client and server both count must count every
byte string by its length: the tests' blocks mostly carry an empty payload, which hid a sign.
"""

from __future__ import annotations

import pytest

from blockfsm.machine.messages import block_size
from blockfsm.machine.types import ZERO_HASH, Block, Certificate


@pytest.mark.parametrize("payload", [b"x", b"y" * 100, bytes(4096)])
def test_a_block_s_size_grows_by_its_payload_s_length(payload: bytes) -> None:
    """``x_block_size__mutmut_3``: the payload's length was subtracted, not added."""

    def make(body: bytes) -> Block:
        return Block.make(
            chain_id=1,
            height=0,
            parent_hash=ZERO_HASH,
            justify=Certificate.genesis(1),
            payload=body,
        )

    assert block_size(make(payload)) - block_size(make(b"")) == len(payload)
    # two integers, three length prefixes, the parent hash, the payload, the hash, the justify
    genesis_cert = 3 * 8 + 4 + 32 + 4
    assert block_size(make(payload)) == 2 * 8 + 3 * 4 + 32 + len(payload) + 32 + genesis_cert
