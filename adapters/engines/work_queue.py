"""Work spread over machines through one Redis server: a coordinator puts work items on a list,
``blockfsm worker --connect URL`` processes on any machine take them one at a time and push each
result back; the coordinator collects them and orders them as one process would have.

An item is a JSON object naming its kind and its arguments: one seed of a simulation sweep
(``simulate``) or one seeded batch of a machine's campaign (``campaign``). What an item computes
depends on the item alone, never on which worker ran it or when, so a sweep run by any number of
workers gives what one process gives. Results are JSON too: nothing read from the server is
unpickled.

Keys (all under ``blockfsm:``): ``blockfsm:work``, the list workers pop from (BLPOP: each item
goes to one worker); ``blockfsm:results:<job>``, the list a worker pushes the results of one
coordinator's job to (a coordinator waits on its own list only, so several can share a server).
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from blockfsm.adapters.engines.example_database import ServerError, connect

WORK = "blockfsm:work"
RESULTS = "blockfsm:results:"
RESULT_TTL_SECONDS = 24 * 3600
POLL_SECONDS = 1


def distribute(
    url: str,
    items: list[dict[str, Any]],
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Put ``items`` on the queue at ``url`` and wait for every result; results in item order.

    Waits as long as it takes: with no worker running, nothing comes back (``progress`` is told
    of each result, so a terminal shows the count)."""
    client = connect(url)
    try:
        return _distribute(client, items, progress)
    except _redis_errors() as error:
        raise ServerError(f"lost the Redis server at {url}: {error}") from None


def _redis_errors() -> type[Exception]:
    import redis

    return redis.RedisError


def _distribute(
    client: Any,
    items: list[dict[str, Any]],
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    job = uuid.uuid4().hex
    results_key = RESULTS + job
    client.rpush(
        WORK,
        *(json.dumps({"job": job, "index": n, "item": item}) for n, item in enumerate(items)),
    )
    collected: dict[int, dict[str, Any]] = {}
    if progress is not None:
        progress(0, len(items))
    while len(collected) < len(items):
        popped = client.blpop([results_key], timeout=POLL_SECONDS)
        if popped is None:
            continue
        answer = json.loads(popped[1])
        if "error" in answer:
            raise WorkerFailed(f"a worker failed on item {answer['index']}: {answer['error']}")
        collected[answer["index"]] = answer["result"]
        if progress is not None:
            progress(len(collected), len(items))
    client.delete(results_key)
    return [collected[n] for n in range(len(items))]


class WorkerFailed(RuntimeError):
    """A worker could not run an item (a bug, or a machine module missing on that worker)."""


def run_item(item: dict[str, Any]) -> dict[str, Any]:
    """What one item computes: the same wherever it runs."""
    kind = item["kind"]
    if kind == "simulate":
        from blockfsm.adapters.engines.sweep import config_from_json, run_seed

        return run_seed(
            config_from_json(item["config"]),
            item["k"],
            item["ticks"],
            item["no_heal"],
            item["unsafe"],
            Path(item["trace_dir"]),
        )
    if kind == "campaign":
        return run_campaign_item(item)
    if kind == "explore":
        return run_exploration_item(item)
    raise ValueError(f"unknown work item kind {kind!r}")


def run_campaign_item(item: dict[str, Any]) -> dict[str, Any]:
    """One seeded batch of a machine's campaign, its database shared through ``database``."""
    from blockfsm.adapters.engines.campaigns import run_named

    result = run_named(
        item["machine"],
        float(item.get("budget_seconds", 60.0)),
        int(item["seed"]),
        item.get("profile") or None,
        max_examples=int(item["examples"]),
        database=item.get("database"),
        modules=tuple(item.get("modules", ())),
        steer=bool(item.get("steer", False)),
    )
    violation = result.violation
    return {
        "machine": result.machine,
        "seed": int(item["seed"]),
        "ok": result.ok,
        "examples": result.examples,
        "rows_hit": result.rows_hit,
        "rows_declared": result.rows_declared,
        "violated": None if violation is None else violation.property_id,
        "counterexample": [] if violation is None else list(violation.trace),
    }


def exploration_item(system: str, bounds: dict[str, Any], trace_dir: Path) -> dict[str, Any]:
    """The item that explores ``system`` (a name of ``explore.SYSTEMS``) at ``bounds``."""
    return {"kind": "explore", "system": system, "bounds": bounds, "trace_dir": str(trace_dir)}


def default_exploration_items(trace_dir: Path) -> list[dict[str, Any]]:
    """The explorations ``blockfsm check`` runs after its campaigns, one item each."""
    from blockfsm.adapters.engines.explore import ADVERSARY_EXPLORATIONS

    return [
        exploration_item("sync", {}, trace_dir),
        exploration_item("cluster", {}, trace_dir),
        *(exploration_item("cluster", dict(b), trace_dir) for b in ADVERSARY_EXPLORATIONS),
    ]


def run_exploration_item(item: dict[str, Any]) -> dict[str, Any]:
    """One complete breadth-first exploration: its report, as ``Report.as_json`` gives it, and
    the trace file of its violation, if any (on the worker's disk)."""
    from blockfsm.adapters.engines.explore import SYSTEMS, bfs, write_trace

    system = SYSTEMS[item["system"]](**item["bounds"])
    report = bfs(system)
    out = report.as_json()
    written = write_trace(system, report, Path(item["trace_dir"]))
    out["trace_file"] = None if written is None else str(written)
    return out


def report_of(answer: dict[str, Any]) -> tuple[Any, Path | None]:
    """A worker's exploration answer as (``Report``, trace path), as ``default_explorations``
    returns them; the violation's path is kept as the readable action lines."""
    from blockfsm.adapters.engines.explore.search import Report, Violation

    found = answer.get("violation")
    violation = None
    if found is not None:
        violation = Violation(
            property_id=found["property"],
            statement=found["statement"],
            message=found["message"],
            actions=tuple(found["path"]),
        )
    report = Report(
        system=answer["system"],
        mode=answer["mode"],
        states=answer["states"],
        distinct=answer["distinct"],
        depth=answer["depth"],
        complete=answer["complete"],
        seconds=answer["seconds"],
        violation=violation,
        parameters=answer["parameters"],
        figures=answer.get("figures", {}),
    )
    trace = answer.get("trace_file")
    return report, None if trace is None else Path(trace)


class _Stop:
    def __init__(self) -> None:
        self.asked = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.asked = True


def serve(
    url: str,
    max_items: int | None = None,
    on_item: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> int:
    """Take items from the queue at ``url`` and push their results until SIGINT or SIGTERM (the
    item in hand is finished first) or ``max_items`` were run; returns how many ran."""
    client = connect(url)
    try:
        return _serve(client, max_items, on_item)
    except _redis_errors() as error:
        raise ServerError(f"lost the Redis server at {url}: {error}") from None


def _serve(
    client: Any,
    max_items: int | None,
    on_item: Callable[[dict[str, Any], dict[str, Any]], None] | None,
) -> int:
    stop = _Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    done = 0
    try:
        while not stop.asked and (max_items is None or done < max_items):
            popped = client.blpop([WORK], timeout=POLL_SECONDS)
            if popped is None:
                continue
            envelope = json.loads(popped[1])
            answer: dict[str, Any] = {"index": envelope["index"], "worker": os.getpid()}
            try:
                answer["result"] = run_item(envelope["item"])
            except Exception as error:  # reported to the coordinator, which stops with it
                answer["error"] = f"{type(error).__name__}: {error}"
            key = RESULTS + envelope["job"]
            client.rpush(key, json.dumps(answer))
            client.expire(key, RESULT_TTL_SECONDS)
            done += 1
            if on_item is not None:
                on_item(envelope["item"], answer)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return done
