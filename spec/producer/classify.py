"""The producer spec's statement of how an input is classified: the control states, the
continuation point, Start, Tick (through ``update_candidate_common_section``), BlockBuilt,
attestations, finalization, keeper sets and invalidations. Each function restates a rule of the
docstring of ``blockfsm.spec.producer``; the machine does not import them.
"""

from __future__ import annotations

from typing import Any

from blockfsm.machine.producer_view import BlockRef
from blockfsm.spec.producer_rules import (
    MAX_U64,
    ancestor_blocks,
    ancestor_on_fallback,
    block_id_of,
    candidate_bytes,
    derived_selector,
    is_u64,
    named_by,
    next_round_quorum,
    next_round_vote_bytes,
)

IDLE = "Idle"
ARMED = "Armed"
PRODUCING = "Producing"
HOLDING = "Holding"
STOPPED = "Stopped"
ACTIVE = (ARMED, PRODUCING, HOLDING)
INACTIVE = (IDLE, STOPPED)

UPSTREAM_CAP_BOUND = 33
"""PL-1's bound in ticks for upstream's buffer of 30; campaigns use buffer_cap + 3."""

HOLD_ATTESTATION = "attestation"
HOLD_ANCESTOR = "ancestor"


def _is_id(value: object) -> bool:
    return type(value) is bytes and len(value) == 32


def tip(state: Any) -> BlockRef | None:
    """Where the next block is built: on the newest buffered block, else on the last produced
    block of this session, else on the continuation point."""
    if state.buffer:
        return state.buffer[-1].ref  # type: ignore[no-any-return]
    return state.last_produced if state.last_produced is not None else state.base  # type: ignore[no-any-return]


def continuation(state: Any, params: Any) -> BlockRef:
    if state.last_produced is not None and state.params == params:
        return state.last_produced  # type: ignore[no-any-return]
    return BlockRef(
        block_id=params.parent_id, seq_no=params.parent_seq_no, height=params.parent_height
    )


def _candidate_ok(c: Any) -> bool:
    if type(c).__name__ != "CandidateBlock" or not block_well_formed(c.block):
        return False
    sel = c.selector
    return (
        is_u64(c.round)
        and type(sel).__name__ == "ProducerSelector"
        and type(sel.seed) is bytes
        and is_u64(sel.index)
        and type(c.fallback) is bool
        and type(c.signature) is bytes
    )


def _vote_ok(v: Any) -> bool:
    return (
        type(v).__name__ == "NextRoundVote"
        and is_u64(v.round)
        and _is_id(v.parent_id)
        and _is_id(v.keeper)
        and type(v.signature) is bytes
        and (v.locked is None or _candidate_ok(v.locked))
    )


def params_well_formed(p: Any) -> bool:
    return (
        type(p).__name__ == "StartParams"
        and _is_id(p.parent_id)
        and is_u64(p.parent_seq_no)
        and is_u64(p.parent_height)
        and is_u64(p.round)
        and type(p.votes) is tuple
        and all(_vote_ok(v) for v in p.votes)
    )


def lock_acceptable(config: Any, p: Any, c: Any) -> bool:
    """A reported lock counts only if it is a block on the Start's parent, one position up, whose
    id commits to its contents and which its producer signed."""
    b = c.block
    return (
        config.verifier is not None
        and b.parent_id == p.parent_id
        and b.seq_no == p.parent_seq_no + 1
        and b.height == p.parent_height + 1
        and b.block_id
        == block_id_of(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
        and config.verifier.verify(
            b.producer,
            candidate_bytes(b, c.round, c.selector.seed, c.selector.index, c.fallback),
            c.signature,
        )
    )


def counted_votes(config: Any, p: Any, members: Any) -> tuple[set[bytes], list[Any]]:
    """The keepers whose votes count for (p.round, p.parent_id), each once, and their locks."""
    voters: set[bytes] = set()
    locks = []
    for v in p.votes:
        if v.keeper in voters or config.verifier is None:
            continue
        lock_id = None if v.locked is None else v.locked.block.block_id
        if not (
            v.round == p.round
            and v.parent_id == p.parent_id
            and v.keeper in members
            and config.verifier.verify(
                v.keeper,
                next_round_vote_bytes(v.round, v.parent_id, v.keeper, lock_id),
                v.signature,
            )
        ):
            continue
        if v.locked is not None and not lock_acceptable(config, p, v.locked):
            continue
        voters.add(v.keeper)
        if v.locked is not None:
            locks.append(v.locked)
    return voters, locks


def start_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    """``malformed``, ``same`` (already producing with these params), ``below_finalized``
    (continuation point below the last finalized seq_no), ``unknown_parent``, ``not_selected``
    (the selector derived from the parent's and the round names another keeper, or we are not in
    both keeper sets), ``no_quorum`` (a takeover without ceil((N+1)/2) counted NextRound votes),
    ``announced_elsewhere`` (this round was announced at this height for another parent),
    ``locked`` (a counted vote reports a locked block: re-broadcast it), or ``begin``."""
    p = event.params
    if not params_well_formed(p):
        return "malformed"
    if state.control in ACTIVE and state.params == p:
        return "same"
    base = continuation(state, p)
    if base.seq_no < view.last_finalized().seq_no:
        return "below_finalized"
    parent = view.block(base.block_id)
    if parent is None:
        return "unknown_parent"
    keepers = view.keeper_set()
    me = config.signer.public_key
    continuing = state.last_produced is not None and state.params == p
    rounds = 0 if continuing else p.round
    seed, index = derived_selector(parent.selector, keepers.seed, len(keepers.members), rounds)
    if (
        me not in keepers.members
        or not state.in_keeper_set
        or named_by(keepers.members, seed, index) != me
    ):
        return "not_selected"
    if rounds == 0:
        return "begin"
    voters, locks = counted_votes(config, p, keepers.members)
    if len(voters) < next_round_quorum(len(keepers.members)):
        return "no_quorum"
    if any(
        r == p.round and h == base.height and i != base.block_id
        for r, h, i in state.guard.announced
    ):
        return "announced_elsewhere"
    return "locked" if locks else "begin"


def tick_regressed(state: Any, event: Any) -> bool:
    now = event.now
    return type(now) is not int or not 0 <= now <= MAX_U64 or now < state.now


def common_section_outcome(config: Any, view: Any, head: Any) -> tuple[str, bool]:
    """The spec's ``update_candidate_common_section``: (outcome, produced on the fallback path).

    Outcomes in priority order: ``not_in_keeper_set`` (AbortNotInBKSet); ``chain_broken``
    (FailedToBuildChainToTheLastFinalizedBlock: an invalidated ancestor, seq_nos not decreasing
    towards the root, or the walk meets the last finalized seq_no at another block);
    ``ancestor_not_ready`` (AncestorIsNotReadyYet: an ancestor unknown or its data not ready);
    ``attestations_not_ready`` (NotReadyYet: an ancestor at or past the fallback deadline without
    floor(N/2)+1 attestations); ``ready`` (Success)."""
    keepers = view.keeper_set()
    if config.signer.public_key not in keepers.members:
        return "not_in_keeper_set", False
    final = view.last_finalized()
    chain = []
    missing = broken = False
    previous = head.seq_no
    info = view.block(head.parent_id)
    while True:
        if info is None:
            missing = True
            break
        if info.seq_no >= previous:
            broken = True
            break
        if info.seq_no <= final.seq_no:
            broken = info.seq_no != final.seq_no or info.block_id != final.block_id
            break
        chain.append(info)
        previous = info.seq_no
        info = view.block(info.parent_id)
    if broken or any(i.invalidated for i in chain):
        return "chain_broken", False
    if missing or not all(i.data_ready for i in chain):
        return "ancestor_not_ready", False
    n = len(keepers.members)
    for i in chain:
        depth = head.seq_no - i.seq_no
        if ancestor_blocks(
            depth, i.attestations, n, config.primary_deadline, config.fallback_deadline
        ):
            return "attestations_not_ready", False
    fallback = any(
        ancestor_on_fallback(head.seq_no - i.seq_no, i.attestations, n, config.primary_deadline)
        for i in chain
    )
    return "ready", fallback


def head_selector(view: Any, state: Any) -> tuple[bytes, int]:
    """The head's selector: its parent's moved by the session's round for the first block on the
    Start's parent, else by 0 (we continue our own chain)."""
    head = state.buffer[0]
    keepers = view.keeper_set()
    parent = view.block(head.parent_id)
    rounds = state.round if state.last_produced is None else 0
    return derived_selector(parent.selector, keepers.seed, len(keepers.members), rounds)


def already_signed(state: Any, height: int, round_: int) -> bool:
    return any(r == round_ and h >= height for r, h, _ in state.guard.blocks)


def evaluation(config: Any, state: Any, view: Any) -> str:
    """What a due Tick does with the head of the buffer."""
    head = state.buffer[0]
    if head.seq_no <= view.last_finalized().seq_no:
        return "finalized_over"
    outcome, _ = common_section_outcome(config, view, head)
    if outcome != "ready":
        return outcome
    if not state.in_keeper_set:
        return "assumptions_stop"
    if state.epoch != state.assumed_epoch:
        return "assumptions_restart"
    seed, index = head_selector(view, state)
    if named_by(view.keeper_set().members, seed, index) != config.signer.public_key:
        return "not_selected"
    if already_signed(state, head.height, state.round):
        return "equivocation"
    return "broadcast"


OUTCOMES = (
    "finalized_over",
    "not_in_keeper_set",
    "chain_broken",
    "ancestor_not_ready",
    "attestations_not_ready",
    "assumptions_stop",
    "assumptions_restart",
    "not_selected",
    "equivocation",
    "broadcast",
)


def tick_kind(config: Any, state: Any, event: Any, view: Any) -> str:
    if tick_regressed(state, event):
        return "regressed"
    if state.control == PRODUCING:
        if event.now < state.next_due:
            return "not_due"
        if not state.buffer:
            return "due_empty"
        return "due:" + evaluation(config, state, view)
    if state.control == HOLDING:
        if event.now >= state.next_due:
            return "release"
        return "waiting"
    return "clock"


def block_well_formed(b: Any) -> bool:
    return (
        type(b).__name__ == "ProducedBlock"
        and _is_id(b.block_id)
        and _is_id(b.parent_id)
        and is_u64(b.seq_no)
        and is_u64(b.height)
        and type(b.state) is bytes
        and type(b.inputs) is tuple
        and all(is_u64(m) for m in b.inputs)
        and type(b.producer) is bytes
    )


def built_kind(config: Any, state: Any, event: Any) -> str:
    """``malformed``, ``stale`` (not the outstanding request of this session), ``inconsistent``
    (does not extend the tip by one, is not ours, or its id does not commit to its fields), or
    ``accept``."""
    b = event.block
    if not (is_u64(event.session) and is_u64(event.build_id) and block_well_formed(b)):
        return "malformed"
    if (
        state.control not in ACTIVE
        or event.session != state.session
        or (event.build_id != state.building)
    ):
        return "stale"
    parent = tip(state)
    assert parent is not None
    if (
        b.parent_id != parent.block_id
        or b.seq_no != parent.seq_no + 1
        or b.height != parent.height + 1
        or b.producer != config.signer.public_key
        or b.block_id != block_id_of(b.parent_id, b.seq_no, b.height, b.state, b.inputs, b.producer)
    ):
        return "inconsistent"
    return "accept"


def attestation_kind(state: Any, event: Any) -> str:
    if not (_is_id(event.block_id) and is_u64(event.count)):
        return "malformed"
    if state.control == HOLDING:
        return "wake"
    return "noted"


def finalization_kind(state: Any, event: Any) -> str:
    if not (_is_id(event.block_id) and is_u64(event.seq_no)):
        return "malformed"
    # Only Producing and Holding have an ``overtaken`` row: Armed has built nothing yet.
    if (
        state.control in (PRODUCING, HOLDING)
        and state.buffer
        and state.buffer[0].seq_no <= event.seq_no
    ):
        return "overtaken"
    return "noted"


def keeper_set_valid(keepers: Any) -> bool:
    return (
        type(keepers).__name__ == "KeeperSet"
        and is_u64(keepers.epoch)
        and type(keepers.seed) is bytes
        and type(keepers.members) is tuple
        and len(keepers.members) > 0
        and all(_is_id(m) for m in keepers.members)
        and len(set(keepers.members)) == len(keepers.members)
    )


def keeper_kind(state: Any, event: Any) -> str:
    if not keeper_set_valid(event.keepers):
        return "malformed"
    if event.keepers.epoch <= state.epoch:
        return "stale"
    return "newer"


def invalidation_kind(state: Any, event: Any) -> str:
    if not _is_id(event.block_id):
        return "malformed"
    if state.control in ACTIVE:
        ids = {b.block_id for b in state.buffer}
        for ref in (state.base, state.last_produced):
            if ref is not None:
                ids.add(ref.block_id)
        if event.block_id in ids:
            return "affects"
    return "unrelated"
