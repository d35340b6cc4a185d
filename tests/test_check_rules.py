"""`blockfsm check` reports, per single-rule strategy of the sync client, how many inputs were
rejected by that rule alone; in a short campaign every rule has some."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from blockfsm.adapters.commands.cli import main
from blockfsm.spec.strategies.single_rule import CLIENT_RULES


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_check_json_counts_every_rule_of_the_sync_client() -> None:
    # --examples 20 runs exactly one batch of examples from the seed given: the same inputs every
    # time for one installation. Hypothesis draws differently when blockfsm is installed as a
    # package than from an editable checkout (one batch of seed 1 reaches every rule in the
    # one, 37 of 47 in the other), so four seeds' batches together must reach every rule in both.
    totals: dict[str, int] = dict.fromkeys(CLIENT_RULES, 0)
    for seed in ("1", "2", "3", "4"):
        result = run(
            "check",
            "--no-explore",
            "--machine",
            "sync_client",
            "--examples",
            "20",
            "--seed",
            seed,
            "--json",
        )
        assert result.exit_code == 0, result.output
        rules = json.loads(result.stdout)["rules"]["sync_client"]
        assert list(rules["counts"]) == list(CLIENT_RULES)
        assert rules["declared"] == len(CLIENT_RULES)
        assert rules["reached"] == sum(1 for n in rules["counts"].values() if n)
        for rule, n in rules["counts"].items():
            totals[rule] += n
    unreached = [rule for rule, n in totals.items() if n == 0]
    assert not unreached, f"rules no input broke alone: {unreached}"


def test_check_text_prints_the_per_rule_table() -> None:
    result = run(
        "check", "--no-explore", "--machine", "sync_client", "--examples", "20", "--seed", "1"
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "inputs rejected by one rule" in out
    for rule in ("ad.stale_past", "block.height", "fork.repeated_signer", "highest.cross_type"):
        assert rule in out
    assert f"/{len(CLIENT_RULES)} rules each rejected inputs that broke it alone" in out


def test_machines_without_single_rule_strategies_report_none() -> None:
    result = run(
        "check",
        "--no-explore",
        "--machine",
        "sync_server",
        "--examples",
        "20",
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rules"] == {}
