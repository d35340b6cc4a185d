"""``update_candidate_common_section``: the outcome a buffered block's head gets on a due ``Tick``
(Success, NotReadyYet, AncestorIsNotReadyYet, AbortNotInBKSet,
FailedToBuildChainToTheLastFinalizedBlock), and ``selected_producer``."""

from __future__ import annotations

import attrs

from blockfsm.machine.producer.state import ProducerConfig
from blockfsm.machine.producer_selection import (
    ProducerSelector,
    child_selector,
    misses_primary,
    required_attestations,
)
from blockfsm.machine.producer_view import ProducedBlock, ProducerView

SUCCESS = "Success"


NOT_READY_YET = "NotReadyYet"


ANCESTOR_NOT_READY_YET = "AncestorIsNotReadyYet"


ABORT_NOT_IN_BK_SET = "AbortNotInBKSet"


FAILED_TO_BUILD_CHAIN = "FailedToBuildChainToTheLastFinalizedBlock"


@attrs.frozen(kw_only=True)
class CommonSection:
    """The outcome, and on Success the selector and fallback flag the candidate carries."""

    outcome: str
    selector: ProducerSelector | None = None
    fallback: bool = False


def update_candidate_common_section(
    config: ProducerConfig, view: ProducerView, block: ProducedBlock, rounds: int = 0
) -> CommonSection:
    """Walk from ``block``'s parent to the last finalized block and decide whether ``block`` may
    be signed now. Severity order: AbortNotInBKSet, FailedToBuildChain..., AncestorIsNotReadyYet,
    NotReadyYet, Success (a missing ancestor hides anything above it). On Success the selector is
    the parent's moved by ``rounds`` (the caller checks that it names us)."""
    keepers = view.keeper_set()
    members = keepers.members
    key = config.signer.public_key
    if key not in members:
        return CommonSection(outcome=ABORT_NOT_IN_BK_SET)
    n = len(members)
    final = view.last_finalized()
    not_ready = attestations_missing = fallback = False
    seq_no = block.seq_no
    info = view.block(block.parent_id)
    parent_selector = info.selector if info is not None else None
    while True:
        if info is None:
            not_ready = True
            break
        if info.seq_no >= seq_no:
            return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
        if info.seq_no <= final.seq_no:
            if info.seq_no != final.seq_no or info.block_id != final.block_id:
                return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
            break
        if info.invalidated:
            return CommonSection(outcome=FAILED_TO_BUILD_CHAIN)
        if not info.data_ready:
            not_ready = True
        depth = block.seq_no - info.seq_no
        required = required_attestations(
            n, depth, config.primary_deadline, config.fallback_deadline
        )
        if info.attestations < required:
            attestations_missing = True
        elif misses_primary(info.attestations, n, depth, config.primary_deadline):
            fallback = True
        seq_no = info.seq_no
        info = view.block(info.parent_id)
    if not_ready:
        return CommonSection(outcome=ANCESTOR_NOT_READY_YET)
    if attestations_missing:
        return CommonSection(outcome=NOT_READY_YET)
    selector = child_selector(parent_selector, keepers.seed, n, rounds)
    return CommonSection(outcome=SUCCESS, selector=selector, fallback=fallback)


def selected_producer(members: tuple[bytes, ...], selector: ProducerSelector) -> bytes | None:
    return selector.producer(members)
