"""Inputs that break exactly one validation rule: the sync client's and the sync server's.

Each strategy here draws a ``Case``: a machine's config, a state and a chain view, a *valid* input
that the machine accepts, and a *broken* input made from it by breaking one rule (``Case.rule``)
while every other check still passes. Where a Byzantine peer could re-hash or re-sign, the broken
input is re-hashed and re-signed: a block whose height is relabelled carries the hash of its new
contents; an advertisement with another chain id, server or timestamp carries its sender's real
signature over the new fields; a certificate on another chain is a real quorum's. Where it could
not (a quorum of validators is honest), it cannot: a fork of several blocks carries, on every
block after its first, a certificate that is forged, short of quorum, signed by a non-validator,
padded by repeating one signer, or signed over another message type's payload.

Rules are named ``<input>.<rule>`` (``RULES`` lists them, with the spec classification that must
decide each one). The strategies only *build* inputs; the spec rows and the machine decide. A
rule whose decision depends on the state rather than on the message (a blacklisted sender, a rate
limit, a response when no request is outstanding) breaks the state instead: ``broken_state``.

The world is fixed: validators are the keys of ``make_signers(6)`` with equal power (quorum 5), key
0 is the client's, key 100 an outsider; ``CANONICAL`` is one chain certified by keys 1 to 5.

This module holds the registry (``RULES``) and the strategies by name; the world and the building
blocks are in ``single_rule_world``, the cases in ``single_rule_advertisements``,
``single_rule_responses`` and ``single_rule_requests``. Every name is re-exported here.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from blockfsm.spec.strategies.single_rule_advertisements import (
    advertisement_cases,
    certificate_cases,
    signed_ad,
)
from blockfsm.spec.strategies.single_rule_requests import request_cases
from blockfsm.spec.strategies.single_rule_responses import (
    response_cases,
    tick_cases,
)
from blockfsm.spec.strategies.single_rule_world import (
    CANONICAL,
    CANONICAL_LENGTH,
    CHAIN_ID,
    CLIENT,
    KEYS,
    MAX_CLIENT_LENGTH,
    OTHER_CHAIN,
    OUTSIDER,
    QUORUM,
    SIGNERS,
    VALIDATORS,
    VERIFIER,
    VIEWS,
    Case,
    bad_certificate,
    certificate_of,
    client_configs,
    garbled,
    good_certificate,
    quorum_signers,
    rehashed,
    signed_certificate,
)


@attrs.frozen(kw_only=True)
class Rule:
    name: str
    machine: str
    decided_by: frozenset[str]
    """The spec classification (row guard name) that must decide the broken input."""
    text: str
    baseline: frozenset[str] = frozenset()
    """Where no input can be accepted (a response while no request is outstanding), the
    classification that decides the valid input instead; empty means ``ACCEPTED``."""


def _r(name: str, machine: str, decided_by: str, text: str, baseline: str = "") -> Rule:
    return Rule(
        name=name,
        machine=machine,
        decided_by=frozenset(decided_by.split()),
        text=text,
        baseline=frozenset(baseline.split()),
    )


_INVALID = "invalid_next invalid_end"
_CERT_KINDS = ("forged", "short", "non_validator", "repeated_signer", "cross_type", "wrong_chain")
_CERT_TEXT = {
    "forged": "a quorum of entries, one signature forged",
    "short": "genuine signatures of quorum - 1 validators",
    "non_validator": "a non-validator's genuine signature beside a quorum",
    "repeated_signer": "quorum reached only by repeating one validator's signature",
    "cross_type": "a quorum signed the same fields under another message type's domain tag",
    "wrong_chain": "a real quorum certificate of another chain",
}

RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        _r("tick.regressed", "sync_client", "regressed", "a Tick one millisecond before the clock"),
        _r("ad.malformed", "sync_client", "malformed", "one field of the wrong type or range"),
        _r("ad.wrong_chain", "sync_client", "wrong_chain", "another chain id, re-signed"),
        _r("ad.from_self", "sync_client", "from_self", "the client's own advertisement"),
        _r("ad.server_mismatch", "sync_client", "server_mismatch", "names another server"),
        _r("ad.not_validator", "sync_client", "not_validator", "an outsider's, self-signed"),
        _r("ad.blacklisted", "sync_client", "blacklisted", "the sender is blacklisted"),
        _r("ad.stale_past", "sync_client", "stale", "timestamp now - freshness - 1"),
        _r("ad.stale_future", "sync_client", "stale", "timestamp now + freshness + 1"),
        _r("ad.replay", "sync_client", "stale", "timestamp not newer than the registered one"),
        _r("ad.signature", "sync_client", "bad_signature", "another key's, another payload's"),
        _r("cert.malformed", "sync_client", "malformed", "a field of the wrong type"),
        _r("cert.chain", "sync_client", "wrong_chain", "a real certificate of another chain"),
        _r("cert.not_ahead", "sync_client", "not_ahead", "view one below the trigger threshold"),
        _r("cert.rate_limited", "sync_client", "rate_limited", "one millisecond inside the limit"),
        *(
            _r(f"cert.{k}", "sync_client", "invalid", _CERT_TEXT[k])
            for k in _CERT_KINDS
            if k != "wrong_chain"
        ),
        _r("response.malformed", "sync_client", "malformed", "one field of the wrong type"),
        _r(
            "response.malformed_passive",
            "sync_client",
            "malformed",
            "one field of the wrong type, no request outstanding",
            baseline="unexpected",
        ),
        _r("response.request_id", "sync_client", "unexpected", "another request id"),
        _r("response.peer", "sync_client", "unexpected", "sent by another server"),
        _r("response.no_request", "sync_client", "unexpected", "no request outstanding"),
        _r("response.chain", "sync_client", _INVALID, "the response names another chain"),
        _r("response.count", "sync_client", _INVALID, "limit + 1 blocks"),
        _r("response.bytes", "sync_client", _INVALID, "one byte over max_response_bytes"),
        _r("block.height", "sync_client", _INVALID, "a height relabelled, hash recomputed"),
        _r("block.chain", "sync_client", _INVALID, "a block of another chain, hash recomputed"),
        _r("block.hash", "sync_client", _INVALID, "contents changed, hash kept"),
        _r("block.parent", "sync_client", _INVALID, "parent link broken, hash recomputed"),
        _r(
            "block.justify_hash",
            "sync_client",
            _INVALID,
            "justify: a real quorum certificate of a sibling of the parent (same height)",
        ),
        _r(
            "block.justify_height",
            "sync_client",
            _INVALID,
            "justify: a quorum certificate naming the parent's hash at another height",
        ),
        _r("block.committed_conflict", "sync_client", _INVALID, "differs from a committed one"),
        *(
            _r(f"fork.{k}", "sync_client", _INVALID, "fork, later blocks: " + _CERT_TEXT[k])
            for k in _CERT_KINDS
        ),
        *(
            _r(f"highest.{k}", "sync_client", _INVALID, "highest certificate: " + _CERT_TEXT[k])
            for k in _CERT_KINDS
        ),
        _r("request.malformed", "sync_server", "malformed", "one field of the wrong type"),
        _r("request.zero_limit", "sync_server", "zero_limit", "limit 0"),
        _r("request.wrong_chain", "sync_server", "wrong_chain", "another chain id"),
        _r("request.rate_limited", "sync_server", "rate_limited", "one request over the limit"),
        _r("request.too_large", "sync_server", "too_large", "max_bytes one below the least"),
    )
}
"""Every single-rule strategy, by name."""

ACCEPTED: dict[str, frozenset[str]] = {
    "Tick": frozenset({"not_due", "trigger", "no_server", "time_cap", "waiting"}),
    "AdvertiseBlockReceived": frozenset({"register"}),
    "AdvertiseCertificateReceived": frozenset({"trigger", "no_server"}),
    "SyncResponseReceived": frozenset({"accepted_more", "accepted_end"}),
    "SyncRequestReceived": frozenset({"serve"}),
}
"""The classifications that accept an input, by event type: a case's valid input takes one."""

CLIENT_RULES = tuple(name for name, r in RULES.items() if r.machine == "sync_client")
SERVER_RULES = tuple(name for name, r in RULES.items() if r.machine == "sync_server")


# --- by name -----------------------------------------------------------------------------------


def single_rule_cases(rule: str) -> st.SearchStrategy[Case]:
    """Cases that break ``rule`` (a key of ``RULES``) alone."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    prefix = rule.split(".", 1)[0]
    builder = {
        "tick": tick_cases,
        "ad": advertisement_cases,
        "cert": certificate_cases,
        "response": response_cases,
        "block": response_cases,
        "fork": response_cases,
        "highest": response_cases,
        "request": request_cases,
    }[prefix]
    return builder(rule)


def any_single_rule_case(rules: tuple[str, ...] = CLIENT_RULES) -> st.SearchStrategy[Case]:
    """A case for any of ``rules`` (the sync client's by default)."""
    return st.sampled_from(rules).flatmap(single_rule_cases)


__all__ = [
    "ACCEPTED",
    "CANONICAL",
    "CANONICAL_LENGTH",
    "CHAIN_ID",
    "CLIENT",
    "CLIENT_RULES",
    "KEYS",
    "MAX_CLIENT_LENGTH",
    "OTHER_CHAIN",
    "OUTSIDER",
    "QUORUM",
    "RULES",
    "SERVER_RULES",
    "SIGNERS",
    "VALIDATORS",
    "VERIFIER",
    "VIEWS",
    "Case",
    "Rule",
    "advertisement_cases",
    "any_single_rule_case",
    "bad_certificate",
    "certificate_cases",
    "certificate_of",
    "client_configs",
    "garbled",
    "good_certificate",
    "quorum_signers",
    "rehashed",
    "request_cases",
    "response_cases",
    "signed_ad",
    "signed_certificate",
    "single_rule_cases",
    "tick_cases",
]
