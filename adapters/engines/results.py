"""What a replay found: its verdict, the step and the paths that differ (``ReplayResult``)."""

from __future__ import annotations

from typing import Any

import attrs

from blockfsm.adapters.engines.itf import encode
from blockfsm.adapters.exits import EXIT_DIFFERS, EXIT_INPUT, EXIT_OK, EXIT_VIOLATION

EXIT_MATCHES = EXIT_OK
EXIT_REPRODUCES = EXIT_VIOLATION
EXIT_DIVERGES = EXIT_DIFFERS
EXIT_NOT_A_TRACE = EXIT_INPUT


@attrs.frozen(kw_only=True)
class Difference:
    what: str
    path: str
    recorded: Any
    replayed: Any


@attrs.frozen(kw_only=True)
class ReplayResult:
    verdict: str
    steps: int
    replayed: int
    step: int | None = None
    detail: str = ""
    differences: tuple[Difference, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.verdict == "matches":
            return EXIT_MATCHES
        if self.verdict == "reproduces":
            return EXIT_REPRODUCES
        return EXIT_DIVERGES

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "steps": self.steps,
            "replayed": self.replayed,
            "step": self.step,
            "detail": self.detail,
            "differences": [
                {"what": d.what, "path": d.path, "recorded": d.recorded, "replayed": d.replayed}
                for d in self.differences
            ],
        }


def differences(what: str, recorded: Any, replayed: Any, limit: int = 12) -> list[Difference]:
    """Where two values differ, as paths into their ITF encodings (at most ``limit``)."""
    out: list[Difference] = []
    _diff(what, encode(recorded), encode(replayed), out, limit)
    return out


def _diff(path: str, a: Any, b: Any, out: list[Difference], limit: int) -> None:
    if len(out) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) == {"tag", "value"} == set(b) and a["tag"] == b["tag"]:
            _diff(path, a["value"], b["value"], out, limit)
            return
        if set(a) == {"#tup"} == set(b):
            _diff(path, a["#tup"], b["#tup"], out, limit)
            return
        if not any(k.startswith("#") for k in (*a, *b)):
            for key in sorted(set(a) | set(b)):
                _diff(f"{path}.{key}", a.get(key), b.get(key), out, limit)
            return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(
                Difference(
                    what=_root(path), path=f"{path} length", recorded=len(a), replayed=len(b)
                )
            )
        for n, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(f"{path}[{n}]", x, y, out, limit)
        return
    out.append(Difference(what=_root(path), path=path, recorded=a, replayed=b))


def _root(path: str) -> str:
    return path.split(".")[0].split("[")[0].split(" ")[0]
