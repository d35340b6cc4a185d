"""Benchmarks for blockfsm, run as ``python -m benchmarks [--quick] [--json]``.

Every figure is measured against a baseline in the same run, the two interleaved, and reported as
the median of at least five paired ratios: the machine this runs on alternates between two speeds
about 2x apart, so a lone absolute time means little.

Adding a benchmark is one module: a file ``benchmarks/bench_<name>.py`` with a function
``run(options: Options) -> list[Figure]``. ``python -m benchmarks`` discovers it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Options:
    quick: bool
    repeat: int


@dataclass(frozen=True)
class Figure:
    """One measured figure against its baseline. ``ratio`` is oriented so that higher is better
    (for example baseline time / measured time, or measured rate / baseline rate)."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target_ratio: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def meets_target(self) -> bool | None:
        return None if self.target_ratio is None else self.ratio >= self.target_ratio


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Paired:
    """Interleaved timings of a measured run and its baseline."""

    measured: list[float]
    baseline: list[float]

    @property
    def ratios(self) -> list[float]:
        """baseline time / measured time per pair: higher means the measured run is faster."""
        return [b / m for m, b in zip(self.measured, self.baseline, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def measured_median(self) -> float:
        return statistics.median(self.measured)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)


def interleave(
    measured: Callable[[], object], baseline: Callable[[], object], repeat: int
) -> Paired:
    """Run ``baseline`` and ``measured`` ``repeat`` times each, alternating; one warm-up each."""
    baseline()
    measured()
    m: list[float] = []
    b: list[float] = []
    for i in range(repeat):
        # Alternate which goes first, so neither always runs right after a speed change.
        if i % 2:
            m.append(timed(measured))
            b.append(timed(baseline))
        else:
            b.append(timed(baseline))
            m.append(timed(measured))
    return Paired(m, b)


def rate_figure(
    name: str, baseline: str, paired: Paired, work: int, target_ratio: float | None
) -> Figure:
    """A figure in events per second, ``work`` events done by each run of either variant."""
    return Figure(
        name=name,
        value=work / paired.measured_median,
        unit="events/s",
        baseline=baseline,
        baseline_value=work / paired.baseline_median,
        ratio=paired.ratio,
        target_ratio=target_ratio,
    )


def format_table(figures: Sequence[Figure]) -> str:
    lines = []
    for f in figures:
        target = "" if f.target_ratio is None else f" (target >= {f.target_ratio:.2f})"
        mark = " MISSED" if f.meets_target is False else ""
        lines.append(
            f"{f.name:<42} {f.value:>12,.1f} {f.unit:<9} vs {f.baseline:<30} "
            f"{f.baseline_value:>12,.1f}  ratio {f.ratio:5.2f}{target}{mark}"
        )
    return "\n".join(lines)
