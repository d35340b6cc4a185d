"""The node's TOML config, parsed with ``tomllib`` and checked field by field.

Example (every field but ``[source]`` and ``[timeouts]``/``[store]`` entries is required)::

    chain_id = 1
    key_file = "keys/n0.key"          # relative paths are relative to the config file
    data_dir = "data/n0"
    listen = "127.0.0.1:7100"
    validators = ["<64 hex>", ...]    # the validator set (equal power)
    followers = ["<64 hex>", ...]     # optional: non-validator keys admitted as peers

    Only keys listed here (validators, followers, peers) can connect: see ``admitted``.

    [[peers]]
    key = "<64 hex>"
    address = "127.0.0.1:7101"

    [timeouts]                         # milliseconds
    tick = 100
    round = 1000                       # the attester's round timeout (full node only)
    advertise = 300
    response = 1000
    trigger = 2000
    blacklist = 5000

    [store]
    map_size_mb = 256

    [limits]                           # optional, each with the default shown
    max_frame_kb = 8192                # a frame after the handshake
    max_connections = 256              # connections in all
    max_pending = 64                   # connections still in their handshake
    max_pending_per_host = 8           # of those, from one remote address
    connections_per_peer = 2           # authenticated connections per key (oldest closed)
    handshake_timeout = 5000           # ms, TLS and Hello
    idle_timeout = 60000               # ms without a frame closes a connection
    read_timeout = 10000               # ms for a frame's body, and for a write to drain
    peer_frames_per_second = 500
    peer_kb_per_second = 16384
    inbox_per_peer = 256               # events queued per peer before its newest are dropped

    [metrics]                          # optional
    listen = "127.0.0.1:9100"          # serve Prometheus metrics at http://host:port/metrics
    status_interval = 10000            # ms between status lines in the log (0: none)

    sync_only = false                  # optional: sync only, even as a validator (see below)

    [source]                           # optional: extend the chain with certified blocks,
    key_files = ["keys/n0.key", ...]   # standing in for consensus (demo and tests)
    interval = 200                     # ms between blocks
    max_height = 100                   # stop extending at this height

Every bad field is a ``ConfigFileError`` naming the file, the field and what was expected.

**The peers rule.** Every validator lists every other validator under ``[[peers]]``: a node only
dials the peers it lists, and a quorum must be reachable for anything to become final. A
validator whose config lists fewer (itself included) than a quorum of the validator set is
refused at startup, with a line saying how many it reaches and how many a quorum needs
(``check_quorum_reachable``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.node.keys import KeyFileError, parse_public_key
from blockfsm.machine.types import MAX_U64


class ConfigFileError(ValueError):
    pass


@attrs.frozen(kw_only=True)
class PeerEntry:
    key: bytes
    host: str
    port: int


@attrs.frozen(kw_only=True)
class NodeLimits:
    """``[limits]``: sizes in bytes, times in milliseconds."""

    max_frame: int = 8192 * 1024
    max_connections: int = 256
    max_pending: int = 64
    max_pending_per_host: int = 8
    connections_per_peer: int = 2
    handshake_timeout: int = 5_000
    idle_timeout: int = 60_000
    read_timeout: int = 10_000
    peer_frames_per_second: int = 500
    peer_bytes_per_second: int = 16384 * 1024
    inbox_per_peer: int = 256


_LIMITS = {  # field: (low, high, scale into NodeLimits)
    "max_frame_kb": (1, 64 * 1024, 1024),
    "max_connections": (1, 65_536, 1),
    "max_pending": (1, 65_536, 1),
    "max_pending_per_host": (1, 65_536, 1),
    "connections_per_peer": (1, 64, 1),
    "handshake_timeout": (1, 600_000, 1),
    "idle_timeout": (1, 86_400_000, 1),
    "read_timeout": (1, 600_000, 1),
    "peer_frames_per_second": (1, 10_000_000, 1),
    "peer_kb_per_second": (1, 10_000_000, 1024),
    "inbox_per_peer": (1, 1_000_000, 1),
}
_LIMIT_FIELD = {"max_frame_kb": "max_frame", "peer_kb_per_second": "peer_bytes_per_second"}


@attrs.frozen(kw_only=True)
class NodeFileConfig:
    chain_id: int
    key_file: Path
    data_dir: Path
    listen_host: str
    listen_port: int
    validators: tuple[bytes, ...]
    peers: tuple[PeerEntry, ...]
    followers: tuple[bytes, ...] = ()
    limits: NodeLimits = NodeLimits()
    tick: int = 100
    round: int = 1000
    advertise: int = 300
    response: int = 1000
    trigger: int = 2000
    blacklist: int = 5000
    map_size_mb: int = 256
    source_key_files: tuple[Path, ...] = ()
    source_interval: int = 200
    source_max_height: int = 2**62
    sync_only: bool = False
    """Run sync only (serve and catch up, attest nothing) even as a validator: the nodes of a
    chain extended by a ``[source]`` rather than by consensus."""
    metrics_host: str | None = None
    metrics_port: int = 0
    status_interval: int = 10_000

    @property
    def admitted(self) -> frozenset[bytes]:
        """The keys that may connect: validators, followers and the peers dialled."""
        return frozenset(self.validators) | set(self.followers) | {p.key for p in self.peers}


_TOP = {
    "chain_id", "key_file", "data_dir", "listen", "validators", "peers", "timeouts", "store",
    "source", "followers", "limits", "metrics", "sync_only",
}  # fmt: skip
_HOUR = 3_600_000
_TIMEOUTS = {
    "tick": (1, 60_000),
    "round": (1, _HOUR),
    "advertise": (1, _HOUR),
    "response": (1, _HOUR),
    "trigger": (1, _HOUR),
    "blacklist": (1, _HOUR),
}


def _address(value: object, where: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigFileError(f'{where}: expected "host:port", got {value!r}')
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigFileError(f'{where}: expected "host:port" with a port in 0..65535')
    return host.strip("[]"), int(port)


def _int(value: object, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ConfigFileError(f"{where}: expected an integer in [{low}, {high}], got {value!r}")
    return value


def _path(value: object, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigFileError(f"{where}: expected a path string, got {value!r}")
    p = Path(value)
    return p if p.is_absolute() else base / p


def _key(value: object, where: str) -> bytes:
    try:
        return parse_public_key(value, where)
    except KeyFileError as error:
        raise ConfigFileError(str(error)) from None


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigFileError(f"{where}: expected true or false, got {value!r}")
    return value


def _table(doc: dict[str, Any], name: str, allowed: set[str], where: str) -> dict[str, Any]:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ConfigFileError(f"{where}: [{name}] must be a table")
    unknown = set(t) - allowed
    if unknown:
        raise ConfigFileError(
            f"{where}: unknown field(s) in [{name}]: {', '.join(sorted(unknown))}"
        )
    return t


def load_config(path: str | Path) -> NodeFileConfig:
    p = Path(path)
    where = str(p)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileError(f"{where}: cannot read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{where}: not valid TOML ({error})") from None
    return parse_config(doc, where, p.parent)


def parse_config(doc: dict[str, Any], where: str, base: Path) -> NodeFileConfig:
    unknown = set(doc) - _TOP
    if unknown:
        raise ConfigFileError(f"{where}: unknown field(s): {', '.join(sorted(unknown))}")
    for required in ("chain_id", "key_file", "data_dir", "listen", "validators"):
        if required not in doc:
            raise ConfigFileError(f"{where}: missing required field {required}")
    chain_id = _int(doc["chain_id"], f"{where}: chain_id", 0, MAX_U64)
    host, port = _address(doc["listen"], f"{where}: listen")
    vals = doc["validators"]
    if not isinstance(vals, list) or not vals:
        raise ConfigFileError(f"{where}: validators: expected a non-empty list of public keys")
    validators = tuple(_key(v, f"{where}: validators[{i}]") for i, v in enumerate(vals))
    if len(set(validators)) != len(validators):
        raise ConfigFileError(f"{where}: validators: a key is listed twice")
    raw_followers = doc.get("followers", [])
    if not isinstance(raw_followers, list):
        raise ConfigFileError(f"{where}: followers: expected a list of public keys")
    followers = tuple(_key(v, f"{where}: followers[{i}]") for i, v in enumerate(raw_followers))
    raw_peers = doc.get("peers", [])
    if not isinstance(raw_peers, list):
        raise ConfigFileError(f"{where}: peers: expected an array of tables ([[peers]])")
    peers = []
    for i, entry in enumerate(raw_peers):
        w = f"{where}: peers[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"key", "address"}:
            raise ConfigFileError(f"{w}: expected exactly the fields key and address")
        ph, pp = _address(entry["address"], f"{w}.address")
        peers.append(PeerEntry(key=_key(entry["key"], f"{w}.key"), host=ph, port=pp))
    timeouts = _table(doc, "timeouts", set(_TIMEOUTS), where)
    t = {k: _int(v, f"{where}: timeouts.{k} (ms)", *_TIMEOUTS[k]) for k, v in timeouts.items()}
    raw_limits = _table(doc, "limits", set(_LIMITS), where)
    limits = NodeLimits(
        **{
            _LIMIT_FIELD.get(k, k): _int(v, f"{where}: limits.{k}", *_LIMITS[k][:2]) * _LIMITS[k][2]
            for k, v in raw_limits.items()
        }
    )
    store = _table(doc, "store", {"map_size_mb"}, where)
    map_size = _int(store.get("map_size_mb", 256), f"{where}: store.map_size_mb", 1, 1 << 20)
    metrics = _table(doc, "metrics", {"listen", "status_interval"}, where)
    metrics_host, metrics_port = (
        _address(metrics["listen"], f"{where}: metrics.listen")
        if "listen" in metrics
        else (None, 0)
    )
    status_interval = _int(
        metrics.get("status_interval", 10_000), f"{where}: metrics.status_interval (ms)", 0, _HOUR
    )
    source = _table(doc, "source", {"key_files", "interval", "max_height"}, where)
    files = source.get("key_files", [])
    if not isinstance(files, list):
        raise ConfigFileError(f"{where}: source.key_files: expected a list of paths")
    return NodeFileConfig(
        chain_id=chain_id,
        key_file=_path(doc["key_file"], f"{where}: key_file", base),
        data_dir=_path(doc["data_dir"], f"{where}: data_dir", base),
        listen_host=host,
        listen_port=port,
        validators=validators,
        peers=tuple(peers),
        followers=followers,
        limits=limits,
        map_size_mb=map_size,
        source_key_files=tuple(
            _path(f, f"{where}: source.key_files[{i}]", base) for i, f in enumerate(files)
        ),
        source_max_height=_int(
            source.get("max_height", 2**62), f"{where}: source.max_height", 0, 2**62
        ),
        source_interval=_int(
            source.get("interval", 200), f"{where}: source.interval", 1, 3_600_000
        ),
        sync_only=_bool(doc.get("sync_only", False), f"{where}: sync_only"),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        status_interval=status_interval,
        **t,
    )


def check_quorum_reachable(cfg: NodeFileConfig, own_key: bytes, where: str) -> None:
    """The peers rule: a validator reaches, itself and the validators it lists under
    ``[[peers]]``, at least a quorum of the validator set; else ``ConfigFileError`` saying how
    many it reaches, how many a quorum needs and which validators are missing. A follower (not
    a validator) or a node over a block source is not held to it."""
    from blockfsm.machine.types import ValidatorSet

    if own_key not in cfg.validators or cfg.source_key_files or cfg.sync_only:
        return
    validators = ValidatorSet.equal(cfg.validators)
    listed = {p.key for p in cfg.peers}
    reached = [k for k in cfg.validators if k == own_key or k in listed]
    power = sum(validators.power_of(k) for k in reached)
    if power < validators.quorum:
        missing = [k.hex()[:16] for k in cfg.validators if k not in reached]
        raise ConfigFileError(
            f"{where}: this validator reaches {len(reached)} of {len(cfg.validators)} validators "
            f"(itself and its [[peers]]), a quorum needs {validators.quorum}: list every other "
            f"validator under [[peers]] (missing: {', '.join(missing)})"
        )
