"""``blockfsm status``: a node's data directory read without disturbing it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_store import CHAIN, make_chain

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.node.store import LmdbStore
from blockfsm.machine.attester import Guard, PersistGuard
from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

pytestmark = pytest.mark.timeout(60)
"""This module opens stores on disk: a hang fails the test at this deadline."""


def _node_dir(path: Path, *, held: bool = False) -> LmdbStore | None:
    """Three blocks, two final, the attester locked in round 2 at height 2 after attesting
    there; ``held`` leaves the store open (a running node's)."""
    blocks, certs = make_chain(3)
    guard = Guard(
        height=2,
        locked_round=2,
        locked_hash=blocks[2].hash,
        signed=((1, 0, blocks[2].hash), (2, 0, blocks[2].hash), (2, 1, blocks[2].hash)),
    )
    store = LmdbStore(path, CHAIN)
    store.check_signing_guard(b"\x01" * 32)
    store.apply([Persist(block=b) for b in blocks])
    store.apply([Commit(height=1), UpdateHighestCertificate(certificate=certs[1])])
    store.apply([PersistGuard(guard=guard)])
    if held:
        return store
    store.close()
    return None


def test_status_reports_the_chain_and_the_guards_even_beside_a_running_node(
    tmp_path: Path,
) -> None:
    held = _node_dir(tmp_path, held=True)
    try:
        args = ["status", "--data-dir", str(tmp_path), "--chain-id", str(CHAIN)]
        # Another process, as beside a running node (LMDB opens an environment once a process).
        beside = subprocess.run(
            [
                sys.executable,
                "-c",
                "from blockfsm.adapters.commands.cli import main; main()",
                *args,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert beside.returncode == 0, beside.stderr
        status = json.loads(beside.stdout)
        held.close()
        held = None
        assert status["final_height"] == 1 and status["highest_height"] == 2
        assert status["highest_certificate"]["height"] == 1
        assert status["highest_certificate"]["signers"] == 3
        assert status["signer"] == "01" * 32
        guard = status["attester_guard"]
        assert guard["height"] == 2 and guard["locked_round"] == 2
        assert (guard["last_signed_round"], guard["last_signed_step"]) == (2, "confirm")
        text = CliRunner().invoke(main, args)
        assert text.exit_code == 0
        assert "final height  1" in text.output
        assert "last signed round 2 at confirm, locked in round 2" in text.output
    finally:
        if held is not None:
            held.close()


def test_status_of_what_is_not_a_chain_store_is_one_line_and_status_4(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "data.mdb").write_bytes(b"")
    for args, message in (
        (["--data-dir", str(tmp_path / "missing"), "--chain-id", "7"], "not a directory"),
        (["--data-dir", str(empty), "--chain-id", "7"], "cannot open the chain store"),
    ):
        result = CliRunner().invoke(main, ["status", *args])
        assert result.exit_code == 4, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    other = tmp_path / "other"
    _node_dir(other)
    result = CliRunner().invoke(main, ["status", "--data-dir", str(other), "--chain-id", "8"])
    assert result.exit_code == 4 and "Traceback" not in result.output, result.output
    for bad in (["--data-dir", str(other)], ["--config", "x.toml", "--chain-id", "7"]):
        assert CliRunner().invoke(main, ["status", *bad]).exit_code == 2
