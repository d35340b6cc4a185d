"""Node config files and key files: every bad field is a clear error; keys are 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.node.config import ConfigFileError, load_config
from blockfsm.adapters.node.keys import KeyFileError, load_key_file, write_key_file

KEY = "ab" * 32
GOOD = f"""
chain_id = 3
key_file = "n.key"
data_dir = "data"
listen = "127.0.0.1:7000"
validators = ["{KEY}", "{"cd" * 32}"]
followers = ["{"ef" * 32}"]
[[peers]]
key = "{KEY}"
address = "localhost:7001"
[timeouts]
tick = 50
[store]
map_size_mb = 64
[limits]
max_frame_kb = 1024
idle_timeout = 30000
[source]
key_files = ["n.key"]
max_height = 10
"""


def test_a_good_config_loads(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD)
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.chain_id == 3 and cfg.listen_port == 7000 and cfg.tick == 50
    assert cfg.key_file == tmp_path / "n.key" and cfg.peers[0].host == "localhost"
    assert cfg.map_size_mb == 64 and cfg.source_max_height == 10
    assert cfg.limits.max_frame == 1024 * 1024 and cfg.limits.idle_timeout == 30_000
    assert cfg.limits.max_pending == 64  # a default
    assert cfg.admitted == {bytes.fromhex(k) for k in (KEY, "cd" * 32, "ef" * 32)}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("chain_id = 3", "chain_id = -3", "chain_id"),
        ("chain_id = 3", 'chain_id = "3"', "chain_id"),
        ("chain_id = 3", "", "missing required field chain_id"),
        ('key_file = "n.key"', "key_file = 5", "key_file"),
        ('data_dir = "data"', 'data_dir = ""', "data_dir"),
        ('listen = "127.0.0.1:7000"', 'listen = "127.0.0.1"', "listen"),
        ('listen = "127.0.0.1:7000"', 'listen = "h:99999"', "listen"),
        (f'validators = ["{KEY}", ', 'validators = ["zz", ', "validators[0]"),
        (f'validators = ["{KEY}", ', f'validators = ["{KEY}", "{KEY}", ', "twice"),
        (f'key = "{KEY}"', 'key = "abcd"', "peers[0].key"),
        ('address = "localhost:7001"', 'address = "x"', "peers[0].address"),
        ("tick = 50", "tick = 0", "timeouts.tick"),
        ("tick = 50", "tock = 50", "unknown field(s) in [timeouts]"),
        ("map_size_mb = 64", "map_size_mb = 0", "store.map_size_mb"),
        ("max_height = 10", "max_height = -1", "source.max_height"),
        (f'followers = ["{"ef" * 32}"]', 'followers = ["ef"]', "followers[0]"),
        (f'followers = ["{"ef" * 32}"]', 'followers = "x"', "followers"),
        ("max_frame_kb = 1024", "max_frame_kb = 0", "limits.max_frame_kb"),
        ("idle_timeout = 30000", "idle_timeout = 1.5", "limits.idle_timeout"),
        ("idle_timeout = 30000", "idle = 1", "unknown field(s) in [limits]"),
        ("chain_id = 3", "chain_id = 3\ncolour = 1", "unknown field(s): colour"),
        ("chain_id = 3", "chain_id = = 3", "not valid TOML"),
    ],
)
def test_every_bad_field_is_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    (tmp_path / "c.toml").write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigFileError, match=r"c\.toml") as info:
        load_config(tmp_path / "c.toml")
    assert message in str(info.value)


def test_keygen_writes_a_0600_key_that_loads(tmp_path: Path) -> None:
    out = tmp_path / "k.key"
    result = CliRunner().invoke(main, ["keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    signer = load_key_file(out)
    assert signer.public_key.hex() == result.output.strip()
    again = CliRunner().invoke(main, ["keygen", "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output


def test_bad_key_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    signer = write_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="too open"):
        load_key_file(path)
    os.chmod(path, 0o600)
    text = path.read_text()
    path.write_text(text.replace(signer.public_key.hex(), "00" * 32))
    with pytest.raises(KeyFileError, match="does not match"):
        load_key_file(path)
    path.write_text("not json")
    with pytest.raises(KeyFileError, match="not JSON"):
        load_key_file(path)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key_file(tmp_path / "missing.key")


def test_node_command_reports_a_bad_config(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD.replace("tick = 50", "tick = 'x'"))
    result = CliRunner().invoke(main, ["node", "--config", str(tmp_path / "c.toml")])
    assert result.exit_code != 0 and "timeouts.tick" in result.output


def _cluster_config(tmp_path: Path, peers: int, extra: str = "") -> tuple[Path, bytes]:
    """A validator of four whose config lists ``peers`` of the other three."""
    keys = [
        load_key_file(tmp_path / f"k{i}.key")
        if (tmp_path / f"k{i}.key").exists()
        else write_key_file(tmp_path / f"k{i}.key")
        for i in range(4)
    ]
    lines = [
        "chain_id = 3",
        'key_file = "k0.key"',
        'data_dir = "data"',
        'listen = "127.0.0.1:0"',
        "validators = [" + ", ".join(f'"{k.public_key.hex()}"' for k in keys) + "]",
    ]
    for i in range(1, 1 + peers):
        lines += [
            "[[peers]]",
            f'key = "{keys[i].public_key.hex()}"',
            f'address = "127.0.0.1:{7100 + i}"',
        ]
    path = tmp_path / "v.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path, keys[0].public_key


def test_a_validator_that_cannot_reach_a_quorum_is_refused_with_why(tmp_path: Path) -> None:
    """The peers rule: 4 validators, quorum 3; listing one other validator reaches 2."""
    path, _ = _cluster_config(tmp_path, peers=1)
    result = CliRunner().invoke(main, ["node", "--config", str(path)])
    assert result.exit_code == 4, result.output
    assert "reaches 2 of 4 validators" in result.output and "a quorum needs 3" in result.output
    assert "list every other validator under [[peers]]" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_peers_rule_passes_with_a_quorum_listed(tmp_path: Path) -> None:
    from blockfsm.adapters.node.config import check_quorum_reachable

    path, own = _cluster_config(tmp_path, peers=2)
    check_quorum_reachable(load_config(path), own, str(path))  # itself and 2 peers: 3 of 4
    with pytest.raises(ConfigFileError, match="reaches 1 of 4"):
        path, own = _cluster_config(tmp_path, peers=0)
        check_quorum_reachable(load_config(path), own, str(path))


def test_metrics_settings_are_read_and_checked(tmp_path: Path) -> None:
    path, _ = _cluster_config(
        tmp_path, peers=3, extra='[metrics]\nlisten = "127.0.0.1:9100"\nstatus_interval = 500\n'
    )
    cfg = load_config(path)
    assert (cfg.metrics_host, cfg.metrics_port, cfg.status_interval) == ("127.0.0.1", 9100, 500)
    for bad, message in (
        ('[metrics]\nlisten = "nowhere"\n', "metrics.listen"),
        ("[metrics]\nstatus_interval = -1\n", "metrics.status_interval"),
        ("[metrics]\nport = 3\n", "metrics"),
    ):
        path, _ = _cluster_config(tmp_path, peers=3, extra=bad)
        with pytest.raises(ConfigFileError, match=message):
            load_config(path)


def test_sync_only_is_a_boolean_and_exempts_the_peers_rule(tmp_path: Path) -> None:
    from blockfsm.adapters.node.config import check_quorum_reachable

    path, own = _cluster_config(tmp_path, peers=0, extra="")
    text = path.read_text()
    path.write_text(text.replace('data_dir = "data"', 'data_dir = "data"\nsync_only = true'))
    cfg = load_config(path)
    assert cfg.sync_only is True
    check_quorum_reachable(cfg, own, str(path))  # a sync-only node need not reach a quorum
    path.write_text(text.replace('data_dir = "data"', 'data_dir = "data"\nsync_only = "yes"'))
    with pytest.raises(ConfigFileError, match="sync_only: expected true or false"):
        load_config(path)
