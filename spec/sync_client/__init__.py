"""Spec of the block sync client: an explicit, non-blocking machine a Byzantine server cannot
fool or stall. Upstream HotStuff-rs has no client machine at all (a blocking loop in the node's
main thread); the rules below are ours, with upstream's bugs (PROTOCOLS.md section 1, items 2 to
6) closed and each one named by an invariant.

Control states
- ``Passive``: no sync running; the client registers servers and watches both triggers.
- ``AwaitingResponse``: a sync is running and exactly one ``SyncRequest`` is outstanding, to one
  server, with a deadline ``sent + response_timeout``.

Rules
1. *Registry.* An ``AdvertiseBlock`` registers its sender with its committed height when it names
   our chain, names its sender as ``server``, the sender is a validator other than us and is not
   blacklisted, its timestamp is within ``advertise_freshness`` of our clock and newer than the
   last one registered for that server, and its signature verifies over the domain-tagged
   payload. Checks run cheapest first; the signature last. An entry expires
   ``advertise_expiry`` after it was received.
2. *Triggers.* Event trigger: in ``Passive``, an ``AdvertiseCertificate`` on our chain whose view is
   at least ``trigger_min_view_difference`` above our highest certificate's, at least
   ``trigger_rate_limit`` after the last event trigger, and valid under the validator set. The
   rate limit is checked and spent before any signature is verified: a certificate that reaches
   verification spends it whether it proves valid or not (it is then refused as
   ``invalid_certificate``), so certificates from anyone, valid or not, cost at most one
   verification round per ``trigger_rate_limit``. The price is stated: a peer flooding invalid
   certificates can hold the event trigger shut, and the timeout trigger still fires. Timeout
   trigger: a ``Tick`` at least ``trigger_timeout`` after the last progress. Progress is a commit
   made by a sync, a ``ChainAdvanced`` from the node, or the end of a sync attempt; a trigger that
   finds no eligible server does not reset the progress timer, so the next ``Tick`` tries again.
3. *Choice.* Eligible: registered and unexpired, not blacklisted, not tried in this sync, not us,
   advertised height >= our committed height. Candidates: at the start of a sync, servers
   strictly ahead, or any eligible one when none is ahead, and the peer whose certificate
   triggered it; later in the sync, servers strictly ahead. Every server has a *delivery record*:
   the number of blocks of its last valid answer if that answer was short (rule 8), else
   ``request_limit`` (no answer yet, or the last one in full). Only candidates with the best
   record are chosen: the trigger's sender among them if it is one (it gets no priority over a
   server that delivered more), else the one at index ``mix(seed, draws)`` of them, sorted by
   key (a seed and a counter in the state).
4. *Requests.* ``SyncRequest(chain_id, request_id, s, request_limit, max_response_bytes)``,
   where ``s`` is the first height the client does not hold as settled: ``committed + 2`` when
   the client holds the block at ``committed + 1`` and holds something that certifies it (the
   justify of the block it holds at ``committed + 2``, or its highest certificate), and
   ``committed + 1`` otherwise. A certified block was validated when it was persisted and is on
   the one chain a quorum certifies, so asking for it again would only repeat its signature
   checks; an uncertified block is asked for again. Heights, certificates and held blocks are
   read as they stand once the step's own effects are applied. Request ids strictly increase.
   A response is matched to the outstanding request by peer *and* request id; anything else is
   dropped and counted (``unexpected_response``).
5. *Validation before application.* A matched response is invalid when: its chain id is not ours;
   it holds more blocks than the request's limit; it is larger than ``max_response_bytes`` (the
   byte bound the request carried, counted as the server spec's ``encoded_size`` counts it);
   block i is not at ``start + i`` on our chain;
   a hash is wrong; a block's parent is not the previous block (for the first, our block at
   ``start - 1``); a justify does not certify the parent or is invalid; a block at a height we have
   committed differs from ours; or its highest certificate is invalid.
6. *Application.* Blocks we do not already hold are persisted in order (``Persist``); the highest
   certified height K among the blocks' justifies and the highest certificate (when it certifies a
   block we hold after the step) commits K - 1 (``Commit``); the highest-view such certificate
   above ours is recorded (``UpdateHighestCertificate``). The response's highest certificate is
   processed on every matched, valid response, whether or not it brought new blocks.
   *The uncertified tip, decided:* the last block of a valid response has a valid justify (its
   parent is certified) but nothing certifies the block itself, so a Byzantine server can make
   it a block of its own (``forked_tip``). The client persists it anyway and blames nobody: an
   honest server sends its own uncertified tip the same way, and the two cannot be told apart.
   It is harmless: it is never committed (a commit needs a certified child, and no quorum
   certifies a forked block), requests start at or below the lowest uncertified height (rule 4)
   so the next honest answer covers its height, and ``Persist`` of that answer replaces it.
7. *Blame, only for what no honest server could send.* The server is blacklisted for
   ``blacklist_expiry_time`` when a matched response is invalid (rule 5), and for nothing else. An
   honest server answers with ``min(limit, its own request_limit, blocks it holds from s)``
   blocks, fewer if its byte bound is smaller than ours; its ``request_limit`` may be anything
   from 1 to ``MAX_REQUEST_LIMIT`` and need not be ours, so any valid prefix, however short, is a
   possible honest answer: a short response is
   never blamed (upstream, and this machine before, blamed "under-delivery" against the client's
   own limit and blacklisted honest servers with a smaller cap). Never on timeout either (the
   network may be slow; a timed-out server is only skipped for the rest of the sync).
8. *Moving on.* A valid answer to a request from ``s`` made when the server's advertised
   height was ``A`` is *in full* when it holds at least ``min(request_limit, A + 1 - s)`` blocks
   (all it was asked for, or every block up to the height it advertised: a short answer that
   matches what it advertised is in full), or when one more block the size of its largest would
   not fit ``max_response_bytes``; otherwise it is *short*, and the server's delivery record
   becomes its length (rule 3). After a valid response that made progress (committed a height
   the chain had not committed before the step) while the client is still below the server's
   advertised height, the same server is asked again if the answer was in full, or if no
   eligible server strictly ahead has a better record; otherwise the best such server is asked,
   and the short one, not marked tried, stays a fallback. After a response without progress,
   or once the server's height is reached, and after a server fails or times out, the next
   eligible server is asked in the same step; the sync ends when none is left or when it has
   run ``max_sync_time``. A server that answers short costs one request per sync while a
   server with a better record is eligible, and no blame.

Assumptions (stated, not checked): at least one honest server runs ``request_limit >= 3`` (below
that no response commits anything new) and answers within ``response_timeout`` in the fair phase;
a quorum of validators is honest, so a certificate for a block off the canonical chain cannot
exist.

The classification functions in ``classify`` are the spec's own statement of each rule; the
machine does not import them. ``invariants`` and ``liveness`` hold the properties; this module
declares the guards, the rows and ``SPEC``, and re-exports every public name of the three.
"""

from __future__ import annotations

from typing import Any

from blockfsm.spec.language import (
    Guard,
    MachineSpec,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)
from blockfsm.spec.sync_client.classify import (
    AWAITING,
    MASK64,
    PASSIVE,
    advertise_block_kind,
    advertise_certificate_kind,
    answered_in_full,
    awaiting_tick_kind,
    blacklisted,
    block_well_formed,
    certificate_well_formed,
    chain_after,
    committed_after,
    continues_with_server,
    derived_commit,
    eligible,
    has_next_candidate,
    has_start_candidate,
    held_after,
    mix,
    passive_tick_kind,
    record_of,
    records_after,
    registered_height,
    response_is_valid,
    response_kind,
    response_matches,
    response_well_formed,
    tick_regressed,
)
from blockfsm.spec.sync_client.invariants import (
    INVARIANTS,
    AnswersOnlyOutstanding,
    BlacklistExpires,
    CertificateChecksRateLimited,
    ChainOnlyExtends,
    EventTriggerRateLimited,
    RequestsWellFormed,
    SyncTerminates,
    blame_justified,
    block_held_after_step,
    certificate_processed,
    highest_certificate_after_step,
    honest_could_send,
    moves_on,
    persisted_blocks_validated,
    ranked_by_delivery,
    registration_checked,
    registry_sound,
    request_start_after_step,
)
from blockfsm.spec.sync_client.liveness import DEFAULT_BOUND_MS, LIVENESS, TICK_INTERVAL

__all__ = [
    "APPLY",
    "AWAITING",
    "DEFAULT_BOUND_MS",
    "INVARIANTS",
    "LIVENESS",
    "MASK64",
    "PASSIVE",
    "SPEC",
    "TICK_INTERVAL",
    "AnswersOnlyOutstanding",
    "BlacklistExpires",
    "CertificateChecksRateLimited",
    "ChainOnlyExtends",
    "EventTriggerRateLimited",
    "RequestsWellFormed",
    "SyncTerminates",
    "advertise_block_kind",
    "advertise_certificate_kind",
    "answered_in_full",
    "awaiting_tick_kind",
    "blacklisted",
    "blame_justified",
    "block_held_after_step",
    "block_well_formed",
    "certificate_processed",
    "certificate_well_formed",
    "chain_after",
    "committed_after",
    "continues_with_server",
    "derived_commit",
    "eligible",
    "has_next_candidate",
    "has_start_candidate",
    "held_after",
    "highest_certificate_after_step",
    "honest_could_send",
    "mix",
    "moves_on",
    "passive_tick_kind",
    "persisted_blocks_validated",
    "ranked_by_delivery",
    "record_of",
    "records_after",
    "registered_height",
    "registration_checked",
    "registry_sound",
    "request_start_after_step",
    "response_is_valid",
    "response_kind",
    "response_matches",
    "response_well_formed",
    "tick_regressed",
]


# --- guards --------------------------------------------------------------------------------------


def _passive_tick(kind: str, text: str) -> Guard:
    return classified(passive_tick_kind, kind, text)


def _awaiting_tick(kind: str, text: str) -> Guard:
    return classified(awaiting_tick_kind, kind, text)


_AD_TEXT = {
    "malformed": "a field has the wrong type or range",
    "wrong_chain": "advertisement.chain_id != config.chain_id",
    "from_self": "peer == own_key",
    "server_mismatch": "advertisement.server != peer",
    "not_validator": "peer not in the validator set",
    "blacklisted": "peer has a live blacklist entry",
    "stale": "timestamp outside advertise_freshness of now, or not newer than the registered one",
    "bad_signature": "signature does not verify over the domain-tagged payload",
    "register": "every registration check holds",
}


def _ad(kind: str) -> Guard:
    return Guard(
        name=kind,
        text=_AD_TEXT[kind],
        holds=lambda c, s, e, v: advertise_block_kind(c, s, e) == kind,
    )


_CERT_TEXT = {
    "malformed": "the certificate has the wrong type or fields",
    "wrong_chain": "certificate.chain_id != config.chain_id",
    "not_ahead": "view < highest certificate's view + trigger_min_view_difference",
    "rate_limited": "now - last event trigger < trigger_rate_limit",
    "invalid": "the certificate is not a valid quorum certificate",
    "trigger": "valid, far enough ahead, rate limit open, and some server eligible",
    "no_server": "valid, far enough ahead, rate limit open, but no server eligible",
}


def _cert(kind: str) -> Guard:
    return classified(advertise_certificate_kind, kind, _CERT_TEXT[kind])


_RESPONSE_TEXT = {
    "malformed": "a field has the wrong type",
    "unexpected": "no request outstanding, or the peer or request id differs from it",
    "invalid_next": "fails rule 5; another server strictly ahead is eligible",
    "invalid_end": "fails rule 5; no other server strictly ahead is eligible",
    "accepted_more": "valid; it made progress and the server has more (asked again if in full "
    "or none delivered more, else the best record ahead), or another server is ahead",
    "accepted_end": "valid; no server is left ahead",
}


def _response(kind: str) -> Guard:
    return classified(response_kind, kind, _RESPONSE_TEXT[kind])


def _passive_response(kind: str) -> Guard:
    def holds(c: Any, s: Any, e: Any, v: Any) -> bool:
        return (response_well_formed(e)) == (kind == "unexpected")

    return Guard(name=kind, text=_RESPONSE_TEXT[kind], holds=holds)


APPLY = ("Persist*", "Commit?", "UpdateHighestCertificate?")


_STATES = (PASSIVE, AWAITING)


SPEC: MachineSpec = define_machine(
    name="sync_client",
    title="Block sync client",
    summary=(
        "Registers servers from signed, fresh AdvertiseBlocks; starts a sync on a certificate far "
        "enough ahead (rate limited) or after trigger_timeout without progress; asks one server "
        "at a time with request ids and deadlines; validates a response in full before "
        "persisting and committing through effects; blames a server by result only, with "
        "blacklist entries that expire; moves on to the next server in the same step; caps the "
        "time of one sync."
    ),
    states=_STATES,
    initial=PASSIVE,
    events=(
        "Tick",
        "AdvertiseBlockReceived",
        "AdvertiseCertificateReceived",
        "SyncResponseReceived",
        "ChainAdvanced",
    ),
    effects=(
        "Send",
        "Rejected",
        "Observe",
        "Persist",
        "Commit",
        "UpdateHighestCertificate",
        "Blacklisted",
    ),
    rows=(
        reject(
            PASSIVE,
            "Tick",
            "clock_regressed",
            guard=_passive_tick("regressed", "now < last tick, or not an unsigned 64-bit integer"),
        ),
        row(
            PASSIVE,
            "Tick",
            PASSIVE,
            guard=_passive_tick("not_due", "now - last_progress < trigger_timeout"),
            note="expire entries",
        ),
        row(
            PASSIVE,
            "Tick",
            AWAITING,
            guard=_passive_tick("trigger", "timeout trigger due and some server eligible"),
            effects=("Observe", "Send"),
            note="timeout trigger",
        ),
        row(
            PASSIVE,
            "Tick",
            PASSIVE,
            guard=_passive_tick("no_server", "timeout trigger due but no server eligible"),
            note="the progress timer is not reset, so the next Tick tries again",
        ),
        reject(
            AWAITING,
            "Tick",
            "clock_regressed",
            guard=_awaiting_tick("regressed", "now < last tick, or not an unsigned 64-bit integer"),
        ),
        row(
            AWAITING,
            "Tick",
            PASSIVE,
            guard=_awaiting_tick("time_cap", "now - sync start >= max_sync_time"),
            effects=("Observe",),
        ),
        row(
            AWAITING,
            "Tick",
            AWAITING,
            guard=_awaiting_tick("waiting", "now < the request's deadline"),
        ),
        row(
            AWAITING,
            "Tick",
            AWAITING,
            guard=_awaiting_tick(
                "timeout_next", "deadline passed; another server strictly ahead is eligible"
            ),
            effects=("Send",),
            note="skip the slow server for this sync, without blame",
        ),
        row(
            AWAITING,
            "Tick",
            PASSIVE,
            guard=_awaiting_tick(
                "timeout_end", "deadline passed; no other server strictly ahead is eligible"
            ),
            effects=("Observe",),
        ),
        *(
            draft
            for state in _STATES
            for draft in (
                reject(
                    state,
                    "AdvertiseBlockReceived",
                    "malformed_advertisement",
                    guard=_ad("malformed"),
                ),
                reject(state, "AdvertiseBlockReceived", "wrong_chain", guard=_ad("wrong_chain")),
                reject(state, "AdvertiseBlockReceived", "from_self", guard=_ad("from_self")),
                reject(
                    state, "AdvertiseBlockReceived", "server_mismatch", guard=_ad("server_mismatch")
                ),
                reject(
                    state, "AdvertiseBlockReceived", "not_validator", guard=_ad("not_validator")
                ),
                reject(state, "AdvertiseBlockReceived", "blacklisted", guard=_ad("blacklisted")),
                reject(state, "AdvertiseBlockReceived", "stale_advertisement", guard=_ad("stale")),
                reject(
                    state, "AdvertiseBlockReceived", "bad_signature", guard=_ad("bad_signature")
                ),
                row(
                    state,
                    "AdvertiseBlockReceived",
                    state,
                    guard=_ad("register"),
                    note="add or update the server's entry",
                ),
            )
        ),
        reject(
            PASSIVE,
            "AdvertiseCertificateReceived",
            "malformed_certificate",
            guard=_cert("malformed"),
        ),
        reject(PASSIVE, "AdvertiseCertificateReceived", "wrong_chain", guard=_cert("wrong_chain")),
        ignore(PASSIVE, "AdvertiseCertificateReceived", guard=_cert("not_ahead")),
        ignore(
            PASSIVE,
            "AdvertiseCertificateReceived",
            guard=_cert("rate_limited"),
            note="checked before the signatures, so a flood costs no verification",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            PASSIVE,
            guard=_cert("invalid"),
            effects=("Rejected",),
            note="refused as invalid_certificate; the attempt spends the rate limit",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            AWAITING,
            guard=_cert("trigger"),
            effects=("Observe", "Send"),
            note="event trigger; the sender is tried first among the best delivery records",
        ),
        row(
            PASSIVE,
            "AdvertiseCertificateReceived",
            PASSIVE,
            guard=_cert("no_server"),
            note="the rate limit is spent; the progress timer is not reset",
        ),
        ignore(AWAITING, "AdvertiseCertificateReceived", note="a sync is already running"),
        reject(
            PASSIVE,
            "SyncResponseReceived",
            "malformed_response",
            guard=_passive_response("malformed"),
        ),
        reject(
            PASSIVE,
            "SyncResponseReceived",
            "unexpected_response",
            guard=_passive_response("unexpected"),
            note="no request outstanding",
        ),
        reject(
            AWAITING, "SyncResponseReceived", "malformed_response", guard=_response("malformed")
        ),
        reject(
            AWAITING,
            "SyncResponseReceived",
            "unexpected_response",
            guard=_response("unexpected"),
            note="stale, duplicated or someone else's reply",
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            AWAITING,
            guard=_response("invalid_next"),
            effects=("Blacklisted", "Send"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            PASSIVE,
            guard=_response("invalid_end"),
            effects=("Blacklisted", "Observe"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            AWAITING,
            guard=_response("accepted_more"),
            effects=(*APPLY, "Send"),
        ),
        row(
            AWAITING,
            "SyncResponseReceived",
            PASSIVE,
            guard=_response("accepted_end"),
            effects=(*APPLY, "Observe"),
        ),
        row(PASSIVE, "ChainAdvanced", PASSIVE, note="progress: the timeout trigger restarts"),
        row(AWAITING, "ChainAdvanced", AWAITING, note="progress: the timeout trigger restarts"),
    ),
    invariants=INVARIANTS,
    liveness=LIVENESS,
    notes=(
        "Upstream runs sync as a blocking loop in the node's main thread; here every step "
        "returns at once and a sync is a control state with a deadline and a time cap.",
        "Upstream's blacklist cleanup compares the wrong way round (expired entries stay, live "
        "ones go); here an entry is live while until > now and is removed on the first Tick after.",
        "Upstream blames a server whose response brought no new blocks, even when the client "
        "already held them and only lagged in commits, and discards that response's highest "
        "certificate; here blame is judged by the committed height after the response.",
        "Upstream has no request id; here a response must match the outstanding request's peer "
        "and id, and is acted on once.",
        "Upstream inserts a block listed twice twice and never checks heights; here a response "
        "must be contiguous from the requested start with unbroken parent links.",
        "A timed-out server is skipped for the rest of the sync but not blacklisted: a slow "
        "network must not make an honest server look Byzantine.",
    ),
)
