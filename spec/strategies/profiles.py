"""Hypothesis profiles, chosen by the ``HYPOTHESIS_PROFILE`` environment variable.

- ``dev`` (default): quick local runs; derandomized like ``ci``, so the test suite decides the
  same way on every run and every machine (``blockfsm check`` draws its own seeds either way).
- ``ci``: derandomized and without deadlines, so CI is reproducible and immune to slow machines.
- ``deep``: long, randomized campaigns for hunting rare interleavings.
- ``mutation``: few examples, derandomized, no deadline and no database, for mutation testing
  (``tools/mutation-testing.sh``): each mutant reruns the fast tests, so they must stay cheap, and
  a mutant's verdict must not depend on luck or on what an earlier mutant left in a database.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}

settings.register_profile(
    "dev",
    max_examples=60,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    **_COMMON,  # type: ignore[arg-type]
)
settings.register_profile(
    "ci",
    max_examples=150,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    print_blob=True,
    **_COMMON,  # type: ignore[arg-type]
)
settings.register_profile("deep", max_examples=3000, stateful_step_count=100, **_COMMON)  # type: ignore[arg-type]

settings.register_profile(
    "mutation",
    max_examples=25,
    stateful_step_count=25,
    derandomize=True,
    database=None,
    **_COMMON,  # type: ignore[arg-type]
)

PROFILES = ("dev", "ci", "deep", "mutation")


def load_profile(name: str | None = None) -> str:
    """Load ``name``, else ``$HYPOTHESIS_PROFILE``, else ``dev``; return the name loaded."""
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or "dev"
    if chosen not in PROFILES:
        raise ValueError(f"unknown Hypothesis profile {chosen!r}; choose one of {PROFILES}")
    settings.load_profile(chosen)
    return chosen
