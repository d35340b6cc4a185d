"""Tests that kill the mutants mutmut left alive in machine/producer_view.py.

Each names the mutant it was written against (docs/mutation-testing.md lists every survivor and
why it is killed or equivalent). The executor stand-in and the block ids are restated here with
``hashlib`` from their documented definition: ids name blocks in recorded runs and traces, so
their derivation is part of the format, and the machine's own tests only compare ids with ids.
"""

from __future__ import annotations

import hashlib
import struct

from blockfsm.machine.producer_view import (
    EXECUTOR_DOMAIN,
    GENESIS_STATE,
    ID_SIZE,
    execute,
)


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def test_the_executor_state_is_the_domain_tagged_hash_of_parent_state_and_inputs() -> None:
    """``x_execute__mutmut_4`` (the parent state left out: every parent gave one state) and
    ``_5`` (a 64-byte state)."""
    inputs = (1, 2, 2**64 - 1)
    h = hashlib.blake2b(EXECUTOR_DOMAIN + GENESIS_STATE, digest_size=ID_SIZE)
    for message in inputs:
        h.update(_u64(message))
    assert execute(GENESIS_STATE, inputs) == h.digest()
    assert len(execute(GENESIS_STATE, ())) == ID_SIZE
    assert execute(GENESIS_STATE, inputs) != execute(bytes(ID_SIZE), inputs)
