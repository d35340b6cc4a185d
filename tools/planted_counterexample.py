"""A planted cluster bug, end to end in one command: its counterexample found by the simulator,
shrunk, written as an ITF trace beside the run as found, and drawn as an HTML page.

    python tools/planted_counterexample.py OUT_DIR [--seed N]

The bug is tests/planted.py's ``attester_forgets_its_attestations`` (an attester that attests
twice in a round), planted for this process only; the command is ``blockfsm simulate --no-heal
--trace-dir OUT_DIR --html OUT_DIR/counterexample.html``. Replay the trace with
``blockfsm replay``: on the real code it diverges where the planted attester signed twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from planted import attester_forgets_its_attestations  # noqa: E402

from blockfsm.adapters.commands.cli import main  # noqa: E402


def run(out: Path, seed: int = 1) -> int:
    with pytest.MonkeyPatch.context() as patch:
        attester_forgets_its_attestations(patch)
        args = ["simulate", "--seed", str(seed), "--no-heal", "--trace-dir", str(out)]
        args += ["--html", str(out / "counterexample.html")]
        try:
            main.main(args=args, prog_name="blockfsm", standalone_mode=False)
        except SystemExit as exit_:
            return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    sys.exit(run(Path(sys.argv[1]), seed))
