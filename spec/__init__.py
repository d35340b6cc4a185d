"""The formal spec: the spec language, one declarative module per machine, structural checks and
conformance. Hypothesis strategies and campaigns live in ``strategies`` and ``campaigns``.

Per-machine spec modules may import the shared protocol types of ``blockfsm.machine`` (blocks,
messages, effects) but never the machine they specify, so the spec and the step function stay two
independent statements of the same rules.
"""

from blockfsm.spec.language import (
    Guard,
    Invariant,
    Liveness,
    MachineSpec,
    Row,
    SpecError,
    Transition,
    classified,
    define_machine,
    ignore,
    reject,
    row,
)

__all__ = [
    "Guard",
    "Invariant",
    "Liveness",
    "MachineSpec",
    "Row",
    "SpecError",
    "Transition",
    "classified",
    "define_machine",
    "ignore",
    "reject",
    "row",
]
