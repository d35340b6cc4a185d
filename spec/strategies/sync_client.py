"""Byzantine sync servers as data, and Hypothesis strategies over them, reusable by users.

A ``Byzantine`` is one misbehaviour with a parameter. A harness asks it what to advertise
(``advertised_height``) and how to answer a request (``answer``): given the request and the
response an honest server holding the same chain would send, it returns the replies to put on the
wire, each with a delay in milliseconds (possibly none at all). Behaviours never sign with keys
they do not own: they can replay, truncate, reorder, duplicate and corrupt, and sign their own
advertisements, which is exactly what a Byzantine validator can do when a quorum is honest.

Kinds (``KINDS``):

- ``invalid_block``: one block's payload altered, its hash left as it was;
- ``bad_certificate``: the highest certificate's signatures replaced by garbage;
- ``wrong_height``: the range starts one height late;
- ``duplicate_block``: one block listed twice;
- ``stale_reply``: the answer to an earlier request (request id of the past) is sent again;
- ``someone_elses``: the answer carries a request id that is not the one asked;
- ``sniffer``: answers requests sent to *other* servers with their request id, from itself;
- ``inflated``: advertises ``param`` more blocks than it holds, then answers honestly;
- ``withholding``: never answers;
- ``slow``: answers honestly, ``param`` ms after the client's response timeout;
- ``truncated``: answers only the first ``param`` blocks (fewer than it holds);
- ``limit_abuse``: answers ``param`` blocks more than the limit;
- ``wrong_chain``: answers with another chain id;
- ``forked_tip``: answers one well-formed block with a valid justify but a payload of its own,
  which a client cannot tell from a real uncertified block, and stops there.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from blockfsm.machine.messages import SyncRequest, SyncResponse
from blockfsm.machine.types import Block, Certificate
from blockfsm.machine.view import ChainView

KINDS = (
    "invalid_block",
    "bad_certificate",
    "wrong_height",
    "duplicate_block",
    "stale_reply",
    "someone_elses",
    "sniffer",
    "inflated",
    "withholding",
    "slow",
    "truncated",
    "limit_abuse",
    "wrong_chain",
    "forked_tip",
)

Reply = tuple[int, SyncResponse]
"""A reply to put on the wire: (delay in ms, response)."""


@attrs.frozen(kw_only=True)
class Byzantine:
    kind: str
    param: int = 1

    def advertised_height(self, committed: int) -> int:
        if self.kind == "inflated":
            return committed + max(1, self.param)
        return committed

    def answer(
        self,
        request: SyncRequest,
        honest: SyncResponse,
        chain: ChainView,
        history: tuple[SyncResponse, ...] = (),
        response_timeout: int = 0,
    ) -> list[Reply]:
        """The replies to ``request`` (sent to this server), given the honest ``response``."""
        kind = self.kind
        blocks = honest.blocks
        if kind in ("withholding", "sniffer"):
            return []
        if kind == "slow":
            return [(response_timeout + max(1, self.param), honest)]
        if kind in ("inflated",):
            return [(0, honest)]
        if kind == "stale_reply":
            if history:
                return [(0, history[-1])]
            return [(0, attrs.evolve(honest, request_id=max(0, request.request_id - 1)))]
        if kind == "someone_elses":
            return [(0, attrs.evolve(honest, request_id=request.request_id + 1 + self.param))]
        if kind == "wrong_chain":
            return [(0, attrs.evolve(honest, chain_id=honest.chain_id + 1))]
        if kind == "bad_certificate":
            return [
                (0, attrs.evolve(honest, highest_certificate=forge(honest.highest_certificate)))
            ]
        if kind == "truncated":
            keep = min(len(blocks) - 1, self.param) if blocks else 0
            return [(0, attrs.evolve(honest, blocks=blocks[: max(0, keep)]))]
        if kind == "limit_abuse":
            more = chain.blocks_from(request.start_height, request.limit + max(1, self.param))
            return [(0, attrs.evolve(honest, blocks=more))]
        if not blocks:
            # Nothing to corrupt in the range: corrupt the certificate instead.
            return [
                (0, attrs.evolve(honest, highest_certificate=forge(honest.highest_certificate)))
            ]
        i = self.param % len(blocks)
        if kind == "invalid_block":
            bad = attrs.evolve(blocks[i], payload=blocks[i].payload + b"!")
            return [(0, attrs.evolve(honest, blocks=(*blocks[:i], bad, *blocks[i + 1 :])))]
        if kind == "wrong_height":
            return [(0, attrs.evolve(honest, blocks=blocks[1:] or (blocks[0],) * 2))]
        if kind == "duplicate_block":
            return [(0, attrs.evolve(honest, blocks=(*blocks[: i + 1], *blocks[i:])))]
        if kind == "forked_tip":
            first = blocks[0]
            fork = Block.make(
                chain_id=first.chain_id,
                height=first.height,
                parent_hash=first.parent_hash,
                justify=first.justify,
                payload=b"fork" + self.param.to_bytes(4, "big"),
            )
            return [(0, attrs.evolve(honest, blocks=(fork,)))]
        raise ValueError(f"unknown Byzantine kind {kind!r}")

    def sniff(self, request: SyncRequest, honest: SyncResponse) -> list[Reply]:
        """Replies to a request the client sent to *another* server (only ``sniffer`` sends)."""
        if self.kind != "sniffer":
            return []
        return [(0, attrs.evolve(honest, request_id=request.request_id))]


def forge(cert: Certificate) -> Certificate:
    """The same certificate with signatures no key made (the genesis one gains a signature)."""
    if not cert.signatures:
        return attrs.evolve(cert, signatures=((bytes(32), bytes(64)),))
    return attrs.evolve(
        cert, signatures=tuple((signer, bytes(len(sig))) for signer, sig in cert.signatures)
    )


def byzantine(kinds: tuple[str, ...] = KINDS) -> st.SearchStrategy[Byzantine]:
    """One Byzantine behaviour, with a parameter suited to its kind."""
    return st.builds(
        Byzantine,
        kind=st.sampled_from(kinds),
        param=st.integers(min_value=1, max_value=40),
    )


def byzantine_servers(count: int = 3) -> st.SearchStrategy[list[Byzantine]]:
    return st.lists(byzantine(), min_size=count, max_size=count)
