"""``blockfsm keygen``, ``blockfsm node --config FILE`` and ``blockfsm demo``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from blockfsm.adapters.exits import InputError, describe
from blockfsm.adapters.node.config import (
    ConfigFileError,
    NodeFileConfig,
    check_quorum_reachable,
    load_config,
)
from blockfsm.adapters.node.keys import KeyFileError, load_key_file, write_key_file
from blockfsm.adapters.node.metrics import NodeMetrics, status_line

if TYPE_CHECKING:
    from blockfsm.adapters.node.store import LmdbStore

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def keygen(out: Path) -> None:
    """Write a new Ed25519 key file (mode 0600) and print its public key.

    Exit status: 0 written, 2 a bad option, 4 the file exists or cannot be written.
    """
    try:
        signer = write_key_file(out)
    except (KeyFileError, OSError) as error:
        raise InputError(describe(error)) from None
    click.echo(signer.public_key.hex())


async def run_node(
    cfg: NodeFileConfig,
    stop: asyncio.Event | None = None,
    *,
    allow_missing_guard: bool = False,
    step_log: bool = False,
) -> None:
    """Run one node until ``stop`` is set (or SIGTERM/SIGINT); ``InputError`` (one line) if its
    store cannot be used or fails while it runs (damaged, full), or it would sign without a
    signing guard (``allow_missing_guard`` lets a chain without one through). With ``step_log``
    a full node writes every step to ``data_dir/steps.jsonl`` (``blockfsm monitor`` reads it)."""
    import lmdb

    from blockfsm.adapters.engines.steplog import LOG_NAME, LoggedMachine, RecordingSigner, StepLog
    from blockfsm.adapters.node.crypto import Ed25519Verifier
    from blockfsm.adapters.node.runtime import SYNC_NODE, BlockSource, Runtime, sync_node_config
    from blockfsm.adapters.node.store import STORE_FAILURES, StoreError
    from blockfsm.adapters.node.transport import Transport, TransportLimits, log_event
    from blockfsm.machine.node import NodeConfig
    from blockfsm.machine.node import initial as node_initial
    from blockfsm.machine.types import ValidatorSet
    from blockfsm.spec.machines import NODE

    signer = load_key_file(cfg.key_file)
    source_signers = [load_key_file(f) for f in cfg.source_key_files]
    store = open_store(cfg)
    verifier = Ed25519Verifier()
    validators = ValidatorSet.equal(cfg.validators)
    seed = int.from_bytes(signer.public_key[:8], "big")
    machine: Any
    if source_signers or cfg.sync_only or signer.public_key not in validators:
        # Sync-only: over a chain the block source extends (no consensus), or a follower that is
        # not a validator (it has nothing to attest; it serves and catches up through sync).
        machine = SYNC_NODE
        config: Any = sync_node_config(
            chain_id=cfg.chain_id,
            signer=signer,
            validators=validators,
            verifier=verifier,
            advertise_time=cfg.advertise,
            trigger_timeout=cfg.trigger,
            response_timeout=cfg.response,
            blacklist_expiry_time=cfg.blacklist,
            seed=seed,
        )
        state = None
    else:
        # The full node: sync server, sync client, attester and producer; restarts from their
        # persisted guards.
        machine = NODE
        recording = RecordingSigner(signer) if step_log else None
        config = NodeConfig.make(
            chain_id=cfg.chain_id,
            signer=recording if recording is not None else signer,
            validators=validators,
            verifier=verifier,
            seed=seed,
            round_timeout=cfg.round,
            advertise_time=cfg.advertise,
            trigger_timeout=cfg.trigger,
        )
        try:
            store.check_signing_guard(signer.public_key, allow_missing=allow_missing_guard)
            state = node_initial(config, store.attester_guard(), store.producer_guard())
        except (StoreError, lmdb.Error) as error:
            store.close()
            raise InputError(f"data_dir {describe(error)}") from None
        if recording is not None:
            try:
                steps = StepLog(Path(cfg.data_dir) / LOG_NAME)
            except OSError as error:
                store.close()
                raise InputError(f"data_dir {cfg.data_dir}: {describe(error)}") from None
            steps.start(config, state, store)
            machine = LoggedMachine(NODE, steps, recording)
    runtime: Runtime
    lim = cfg.limits
    transport = Transport(
        chain_id=cfg.chain_id,
        signer=signer,
        on_message=lambda p, m: runtime.deliver(p, m),
        allowed=cfg.admitted,
        limits=TransportLimits(
            max_frame=lim.max_frame,
            max_connections=lim.max_connections,
            max_pending=lim.max_pending,
            max_pending_per_host=lim.max_pending_per_host,
            connections_per_peer=lim.connections_per_peer,
            handshake_timeout=lim.handshake_timeout / 1000,
            idle_timeout=lim.idle_timeout / 1000,
            read_timeout=lim.read_timeout / 1000,
            peer_frames_per_second=lim.peer_frames_per_second,
            peer_bytes_per_second=lim.peer_bytes_per_second,
        ),
    )
    runtime = Runtime(
        machine,
        config,
        store,
        transport,
        tick_ms=cfg.tick,
        state=state,
        inbox_per_peer=lim.inbox_per_peer,
    )
    stop = stop or asyncio.Event()
    runtime.on_fatal = lambda _: stop.set()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        host, port = await transport.listen(cfg.listen_host, cfg.listen_port)
    except OSError as error:
        await transport.close()
        store.close()
        raise InputError(
            f"cannot listen on {cfg.listen_host}:{cfg.listen_port}: {describe(error)}"
        ) from None
    node_log = logging.getLogger("blockfsm.node")
    log_event(node_log, logging.INFO, "listening", host=host, port=port)
    metrics = NodeMetrics()
    runtime.on_step = lambda rt: metrics.observe(rt, store, len(transport.connected()))
    server = None
    if cfg.metrics_host is not None:
        try:
            server = metrics.serve(cfg.metrics_host, cfg.metrics_port)
        except OSError as error:
            await transport.close()
            store.close()
            raise InputError(
                f"cannot serve metrics on {cfg.metrics_host}:{cfg.metrics_port}: {describe(error)}"
            ) from None
        log_event(node_log, logging.INFO, "metrics", host=cfg.metrics_host, port=server.server_port)
    for peer in cfg.peers:
        transport.dial(peer.key, peer.host, peer.port)
    await runtime.start()
    status_task = (
        asyncio.get_running_loop().create_task(
            _status_lines(metrics, runtime, store, transport, cfg.status_interval)
        )
        if cfg.status_interval > 0
        else None
    )
    source = BlockSource(store, source_signers) if source_signers else None
    try:
        while not stop.is_set():
            if source is not None and store.highest_height < cfg.source_max_height:
                try:
                    await asyncio.to_thread(source.extend)
                except STORE_FAILURES as error:
                    runtime.fail(error)
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), cfg.source_interval / 1000)
    finally:
        if status_task is not None:
            status_task.cancel()
        if server is not None:
            server.shutdown()
        await runtime.stop()
        await transport.close()
        store.close()
        if isinstance(machine, LoggedMachine):
            machine.log.close()
    if runtime.fatal is not None:
        raise InputError(f"the node stopped: {describe(runtime.fatal)}")


async def _status_lines(
    metrics: NodeMetrics, runtime: Any, store: Any, transport: Any, interval_ms: int
) -> None:
    """Every ``interval_ms``: the node's status as one INFO line (``metrics.status_line``)."""
    log = logging.getLogger("blockfsm.node")
    while True:
        await asyncio.sleep(interval_ms / 1000)
        metrics.observe(runtime, store, len(transport.connected()))
        log.info(status_line(metrics))


def open_store(cfg: NodeFileConfig) -> LmdbStore:
    """The node's chain store; ``InputError`` (one line) if its data directory cannot be used:
    not a directory, not readable, in use by another process, not an LMDB store (foreign, empty,
    truncated), or the store of another chain."""
    import lmdb

    from blockfsm.adapters.node.store import CorruptStoreError, LmdbStore, StoreError

    try:
        return LmdbStore(cfg.data_dir, cfg.chain_id, map_size=cfg.map_size_mb * 1024 * 1024)
    except CorruptStoreError as error:
        raise InputError(
            f"data_dir {cfg.data_dir}: cannot open the chain store ({describe(error)})"
        ) from None
    except StoreError as error:
        raise InputError(f"data_dir {error}") from None
    except (OSError, lmdb.Error) as error:
        raise InputError(
            f"data_dir {cfg.data_dir}: cannot open the chain store ({describe(error)})"
        ) from None


@click.command()
@click.option("--config", "config_file", type=click.Path(path_type=Path), required=True)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
)
@click.option(
    "--allow-missing-guard",
    is_flag=True,
    help="Sign even though the data directory holds a chain but no signing guard. Only for a "
    "key that has never signed on this chain: otherwise it can sign twice.",
)
@click.option(
    "--step-log",
    is_flag=True,
    help="Write every step to data_dir/steps.jsonl, for `blockfsm monitor` (a full node only).",
)
def node(config_file: Path, log_level: str, allow_missing_guard: bool, step_log: bool) -> None:
    """Run one node from a TOML config file.

    Exit status: 0 stopped by SIGTERM or SIGINT, 2 a bad option, 4 the config file, a key file or
    the data directory cannot be used (in use by another process, damaged, of another chain, a
    chain without a signing guard), the listen address is taken, or the store failed while the
    node ran (a block that does not match its hash, a full map: the line names map_size_mb).
    """
    try:
        cfg = load_config(config_file)
        own = load_key_file(cfg.key_file)
        check_quorum_reachable(cfg, own.public_key, str(config_file))
    except (ConfigFileError, KeyFileError) as error:
        raise InputError(str(error)) from None
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr, format="%(message)s")
    asyncio.run(run_node(cfg, allow_missing_guard=allow_missing_guard, step_log=step_log))


@click.command()
@click.option("--nodes", default=4, show_default=True, type=click.IntRange(2, 16))
@click.option("--duration", default=20.0, show_default=True, type=click.FloatRange(3, 600))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
@click.option("--keep", is_flag=True, help="Keep the data directory and print its path.")
@click.option(
    "--mode",
    type=click.Choice(["node", "sync"]),
    default="node",
    show_default=True,
    help="node: full nodes, blocks by consensus; sync: sync-only nodes and a block source.",
)
def demo(nodes: int, duration: float, as_json: bool, keep: bool, mode: str) -> None:
    """A local cluster on loopback: kill -9 and restart one node, start one late, check safety.

    Exit status: 0 every invariant held over the nodes' chains, 1 one was violated, 2 a bad
    option.
    """
    from blockfsm.adapters.commands.demo import run_demo

    sys.exit(run_demo(nodes=nodes, duration=duration, as_json=as_json, keep=keep, mode=mode))
