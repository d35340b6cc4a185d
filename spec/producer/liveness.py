"""The producer's liveness properties, PL-1 to PL-3."""

from __future__ import annotations

from blockfsm.spec.language import Liveness
from blockfsm.spec.producer.classify import UPSTREAM_CAP_BOUND

LIVENESS = (
    Liveness(
        id="PL-1",
        statement="every block buffered when the fair phase begins is broadcast or discarded",
        fairness="after the chaos phase: every known block's data is ready and it gets all "
        "keepers' attestations with an AttestationReceived, each broadcast block joins the tree "
        "at once, builds are answered, and a Tick arrives every production_period",
        bound="buffer_cap + 3 production periods (one broadcast per due Tick, plus one Tick to "
        "release a held head and one to re-evaluate it)",
        bound_ticks=UPSTREAM_CAP_BOUND,
        catches="a NotReadyYet block never re-evaluated (upstream's lost condvar wake-up); a "
        "held block never retried",
    ),
    Liveness(
        id="PL-2",
        statement="after Stop or an abort, a Start on the last finalized block with a fresh round "
        "broadcasts a block",
        fairness="we are in the keeper set (view and latest KeeperSetChanged); builds answered; "
        "Ticks every production_period",
        bound="3 production periods",
        bound_ticks=3,
        catches="a Stopped producer that cannot be started again",
    ),
    Liveness(
        id="PL-3",
        statement="after a restart nothing is produced until a Start, and a Start then resumes "
        "production",
        fairness="as PL-2, with Ticks and attestations arriving before the Start",
        bound="3 production periods after the Start",
        bound_ticks=3,
        catches="production resuming by itself after a restart, or never resuming",
    ),
)
