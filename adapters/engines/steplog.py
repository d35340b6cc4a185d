"""A node's step log: every event it stepped, so the spec can check a real run afterwards.

A running full node (``blockfsm node``) writes one JSON object per line to ``steps.jsonl`` in its
data directory:

- ``{"t": ..., "start": {...}}`` each time it starts: its public key, the public part of its
  configuration (chain, validators, timeouts, seed: everything ``NodeConfig.make`` takes but the
  keys), the
  durable state it started from (the attester's and the producer's persisted guards, its final
  height and highest certificate, the non-final blocks of its store) and the store's directory,
  where the final chain it started with stays readable;
- ``{"t": ..., "step": n, "event": ..., "effects": [...], "signed": [[payload, signature], ...]}``
  for each step: the event, what the step returned, and every signature the node made in it.

``t`` is the wall-clock time the record was written, in microseconds: the monitor merges several
nodes' logs in that order.

Values are in ITF form (``blockfsm.adapters.engines.itf``). Nothing secret is written: the signer is
recorded by its public key, its signatures by what they sign. ``blockfsm monitor`` reads these
logs (``blockfsm.adapters.engines.monitor``). The log is a record for checking, not a write-ahead
log: the node restarts from its store, never from the log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.machine.core import Step

LOG_NAME = "steps.jsonl"


@attrs.define
class RecordingSigner:
    """The node's signer, noting each (payload, signature) it makes for the step's log record."""

    inner: Any
    made: list[tuple[bytes, bytes]] = attrs.field(factory=list)

    @property
    def public_key(self) -> bytes:
        return bytes(self.inner.public_key)

    def sign(self, message: bytes) -> bytes:
        signature = bytes(self.inner.sign(message))
        self.made.append((bytes(message), signature))
        return signature


def public_config(config: Any) -> dict[str, Any]:
    """What ``NodeConfig.make`` needs to build ``config`` again, keys aside."""
    a, s, c = config.attester, config.server, config.client
    return {
        "chain_id": a.chain_id,
        "validators": [[key.hex(), power] for key, power in a.validators.members],
        "seed": c.seed,
        "round_timeout": a.round_timeout,
        "round_timeout_increment": a.round_timeout_increment,
        "max_round_timeout": a.max_round_timeout,
        "advertise_time": s.advertise_time,
        "request_limit": s.request_limit,
        "trigger_timeout": c.trigger_timeout,
    }


class StepLog:
    """Appends a node's start and step records to ``path``, one line each, written through."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self.steps = 0

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def start(self, config: Any, state: Any, store: Any) -> None:
        """A start record: the configuration and the durable state this run starts from."""
        with store.snapshot() as view:
            committed = view.committed_height()
            pending = [view.block_at(h) for h in range(committed + 1, view.highest_height() + 1)]
            certificate = view.highest_certificate()
        self._write(
            {
                "t": time.time_ns() // 1_000,
                "start": {
                    "key": config.attester.signer.public_key.hex(),
                    "config": public_config(config),
                    "data_dir": str(Path(store.path).resolve()),
                    "guard": itf.encode(state.attester.guard),
                    "signing_guard": itf.encode(state.producer.guard),
                    "final_height": committed,
                    "certificate": itf.encode(certificate),
                    "pending": [itf.encode(b) for b in pending if b is not None],
                },
            }
        )

    def record(
        self, event: Any, effects: tuple[Any, ...], signed: list[tuple[bytes, bytes]]
    ) -> None:
        self.steps += 1
        self._write(
            {
                "t": time.time_ns() // 1_000,
                "step": self.steps,
                "event": itf.encode(event),
                "effects": [itf.encode(e) for e in effects],
                "signed": [[p.hex(), s.hex()] for p, s in signed],
            }
        )

    def close(self) -> None:
        self._file.close()


@attrs.define
class LoggedMachine:
    """A machine whose every step is written to a ``StepLog`` (the runtime steps it as the machine
    itself). ``signer`` is the ``RecordingSigner`` inside the machine's configuration."""

    inner: Any
    log: StepLog
    signer: RecordingSigner

    @property
    def accepts(self) -> Any:
        return getattr(self.inner, "accepts", None)

    def initial(self, config: Any) -> Any:
        return self.inner.initial(config)

    def step(self, config: Any, state: Any, event: Any, view: Any) -> Step:
        self.signer.made.clear()
        result: Step = self.inner.step(config, state, event, view)
        self.log.record(event, tuple(result.effects), list(self.signer.made))
        return result
