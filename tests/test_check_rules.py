"""`blockfsm check` reports, per single-rule strategy of the sync client, how many inputs were
rejected by that rule alone; in a short campaign every rule has some."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from blockfsm.adapters.cli import main
from blockfsm.spec.strategies.single_rule import CLIENT_RULES


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_check_json_counts_every_rule_of_the_sync_client() -> None:
    result = run("check", "--machine", "sync_client", "--budget", "4", "--seed", "11", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rules = report["rules"]["sync_client"]
    assert list(rules["counts"]) == list(CLIENT_RULES)
    unreached = [rule for rule, n in rules["counts"].items() if n == 0]
    assert not unreached, f"rules no input broke alone: {unreached}"
    assert rules["reached"] == rules["declared"] == len(CLIENT_RULES)


def test_check_text_prints_the_per_rule_table() -> None:
    result = run("check", "--machine", "sync_client", "--budget", "0", "--seed", "11")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "inputs rejected by one rule" in out
    for rule in ("ad.stale_past", "block.height", "fork.repeated_signer", "highest.cross_type"):
        assert rule in out
    assert f"/{len(CLIENT_RULES)} rules each rejected inputs that broke it alone" in out


def test_machines_without_single_rule_strategies_report_none() -> None:
    result = run("check", "--machine", "sync_server", "--budget", "0", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rules"] == {}
