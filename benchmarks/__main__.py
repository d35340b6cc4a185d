"""``python -m benchmarks [--quick] [--json] [--only NAME]``: run every ``bench_*`` module."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
from pathlib import Path

from benchmarks import Figure, Options, format_table


def discover() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def machine_line() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"python {sys.version.split()[0]} on {platform.machine()} {platform.system()}, "
        f"nproc {os.cpu_count()}, {model or 'unknown CPU'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=None, help="pairs per figure (at least 5)")
    parser.add_argument("--only", action="append", default=[], help="run bench_NAME only")
    args = parser.parse_args(argv)
    options = Options(quick=args.quick, repeat=max(5, args.repeat or 5))
    names = discover()
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    figures: list[Figure] = []
    if not args.json:
        print(machine_line(), flush=True)
    for name in names:
        got = importlib.import_module(f"benchmarks.{name}").run(options)
        figures.extend(got)
        if not args.json:
            print(format_table(got), flush=True)
    if args.json:
        print(json.dumps({"benchmarks": [f.as_dict() for f in figures]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
