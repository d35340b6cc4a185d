"""``blockfsm status``: what a node's data directory says of it, read without disturbing it.

It opens the chain store read-only (no lock is taken, so it works beside a running node, and a
store in use by another process is still readable) and reports the chain (final height, highest
persisted height, the final tip's hash, the highest certificate), the attester's durable guard
(the height it follows, the last (round, step) it signed there, its lock) and the producer's
guard, and the key the store records as its signer. A directory that is not a usable chain
store is one line and exit status 4, as for ``blockfsm node``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import click

from blockfsm.adapters.exits import InputError, describe

STEP_NAMES = {-1: "none", 0: "propose", 1: "attest", 2: "confirm"}


def read_status(data_dir: Path, chain_id: int) -> dict[str, Any]:
    """The status of the chain store in ``data_dir``: a JSON-ready dict."""
    import lmdb

    from blockfsm.adapters.node.store import LmdbStore, StoreError
    from blockfsm.machine.attester import last_signed

    if not data_dir.is_dir():
        raise InputError(f"data_dir {data_dir}: not a directory")
    try:
        store = LmdbStore(data_dir, chain_id, readonly=True)
    except (StoreError, OSError, lmdb.Error) as error:
        raise InputError(
            f"data_dir {data_dir}: cannot open the chain store ({describe(error)})"
        ) from None
    try:
        committed = store.committed_height
        tip = store.block_at(committed) if committed >= 0 else None
        cert = store.highest_certificate
        guard = store.attester_guard()
        producer = store.producer_guard()
        signer = store.signer_key()
        out: dict[str, Any] = {
            "data_dir": str(data_dir),
            "chain_id": chain_id,
            "final_height": committed,
            "highest_height": store.highest_height,
            "final_tip": tip.hash.hex() if tip is not None else None,
            "highest_certificate": {
                "height": cert.height,
                "view": cert.view,
                "block": cert.block_hash.hex(),
                "signers": len(cert.signatures),
            },
            "signer": signer.hex() if signer is not None else None,
            "attester_guard": None,
            "producer_guard": None,
        }
        if guard is not None:
            round_, step = last_signed(guard)
            out["attester_guard"] = {
                "height": guard.height,
                "last_signed_round": round_,
                "last_signed_step": STEP_NAMES.get(step, str(step)),
                "locked_round": guard.locked_round,
                "locked_block": guard.locked_hash.hex() if guard.locked_round >= 0 else None,
                "signed": len(guard.signed),
            }
        if producer is not None:
            out["producer_guard"] = {
                f.name: _plain(getattr(producer, f.name)) for f in attrs.fields(type(producer))
            }
        return out
    except (StoreError, lmdb.Error) as error:
        raise InputError(f"data_dir {data_dir}: {describe(error)}") from None
    finally:
        store.close()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _text(status: dict[str, Any]) -> str:
    lines = [
        f"data dir      {status['data_dir']} (chain {status['chain_id']})",
        f"final height  {status['final_height']}"
        + (f", tip {status['final_tip'][:16]}" if status["final_tip"] else ""),
        f"persisted to  {status['highest_height']}",
    ]
    cert = status["highest_certificate"]
    lines.append(
        f"certificate   height {cert['height']}, view {cert['view']}, {cert['signers']} signers"
    )
    signer = status["signer"]
    lines.append(f"signer        {signer[:16] + '...' if signer else 'none recorded'}")
    guard = status["attester_guard"]
    if guard is None:
        lines.append("attester      no guard (never signed)")
    else:
        lock = (
            f"locked in round {guard['locked_round']} on {guard['locked_block'][:16]}"
            if guard["locked_block"]
            else "not locked"
        )
        lines.append(
            f"attester      height {guard['height']}, last signed round "
            f"{guard['last_signed_round']} at {guard['last_signed_step']}, {lock}"
        )
    lines.append(
        "producer      " + ("no guard" if status["producer_guard"] is None else "guard kept")
    )
    return "\n".join(lines)


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A node config file: its data_dir and chain_id.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The data directory (with --chain-id), instead of --config.",
)
@click.option("--chain-id", type=click.IntRange(min=0), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(
    config_file: Path | None, data_dir: Path | None, chain_id: int | None, as_json: bool
) -> None:
    """What a node's data directory holds: final height, certificate, signing guards.

    Read-only: safe beside a running node. Exit status: 0 read, 2 a bad option, 4 the directory
    is not a usable chain store.
    """
    from blockfsm.adapters.node.config import ConfigFileError, load_config

    if config_file is not None:
        if data_dir is not None or chain_id is not None:
            raise click.UsageError("give --config, or --data-dir with --chain-id, not both")
        try:
            cfg = load_config(config_file)
        except ConfigFileError as error:
            raise InputError(str(error)) from None
        data_dir, chain_id = Path(cfg.data_dir), cfg.chain_id
    elif data_dir is None or chain_id is None:
        raise click.UsageError("give --config FILE, or --data-dir DIR with --chain-id N")
    result = read_status(data_dir, chain_id)
    click.echo(json.dumps(result, indent=2) if as_json else _text(result))
