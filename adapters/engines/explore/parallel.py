"""One breadth-first search in several processes: ``bfs_workers``.

The search is level-synchronous and its states are partitioned by key: worker ``w`` owns every
state whose digest is ``w`` modulo the number of workers, keeps the parent link of each state it
owns, and expands the states of the current level that it owns. A level runs in three phases:

1. every worker expands its part of the level in order, checks each successor (the same
   ``successor`` as ``bfs``) and sorts the successors by owner, a digest sent at most once;
2. every worker sends each other worker its share, in one batch (states shared between the
   batch's worlds are pickled once), and receives theirs;
3. every worker takes, in the order of the senders' indexes (its own successors at its own
   index), each successor whose digest it has not seen: the first one sets the parent link, and
   the new states are the next level it expands.

The states of a level are the same set whatever the interleaving of the processes, so the
distinct states, the transitions taken and the depth are those of ``bfs``, and nothing depends on
timing: which successor sets a parent link is fixed by the order above. A violation found at one
level is reported only when the level is over, and of those found, the first worker's (by index)
first one in its own order: every violation is found at the shallowest level that has one, so
its path, read back link by link from the owners, is a shortest path. (``bfs`` stops at the
first violation of its own order; the path may differ, its length does not.) ``max_states`` is
checked at the end of a level, where ``bfs`` checks it after each state: the cut differs.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from blockfsm.adapters.engines.explore.search import (
    Progress,
    Report,
    System,
    Violation,
    _report,
    _violated_at_start,
    digest,
    successor,
)


def owner_of(key: bytes, workers: int) -> int:
    """The worker that owns the state of digest ``key``: the same in every process."""
    return int.from_bytes(key[:8], "big") % workers


def bfs_workers(
    system: System,
    workers: int,
    *,
    max_depth: int | None = None,
    max_states: int | None = None,
    progress: Progress | None = None,
    factory: Callable[[], System] | None = None,
) -> Report:
    """``bfs(system)`` run by ``workers`` processes (see the module's docstring).

    Each worker steps its own copy of the system: ``factory()`` when given, otherwise the
    ``system`` object itself, inherited by a forked process (which also carries whatever the
    caller changed in it or in the modules it uses)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    started = time.monotonic()
    initial = system.initial()
    at_start = _violated_at_start(system, initial, "bfs", started)
    if at_start is not None:
        return at_start
    context = multiprocessing.get_context("fork")
    inboxes = [context.Queue() for _ in range(workers)]
    commands: list[Connection] = []
    processes = []
    for w in range(workers):
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_worker,
            args=(w, workers, factory, system, theirs, inboxes),
            name=f"blockfsm-explore-{w}",
            daemon=True,
        )
        process.start()
        theirs.close()
        commands.append(ours)
        processes.append(process)
    try:
        return _coordinate(system, workers, commands, started, max_depth, max_states, progress)
    finally:
        for connection in commands:
            try:
                connection.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        for inbox in inboxes:
            inbox.close()
            inbox.join_thread()


def _ask(commands: list[Connection], message: tuple[Any, ...]) -> list[Any]:
    for connection in commands:
        connection.send(message)
    answers = []
    for connection in commands:
        try:
            answer = connection.recv()
        except EOFError:
            raise RuntimeError("an explorer worker stopped before it answered") from None
        if answer[0] == "error":
            raise RuntimeError(f"an explorer worker failed:\n{answer[1]}")
        answers.append(answer[1])
    return answers


def _coordinate(
    system: System,
    workers: int,
    commands: list[Connection],
    started: float,
    max_depth: int | None,
    max_states: int | None,
    progress: Progress | None,
) -> Report:
    mode = f"bfs, {workers} workers"
    distinct = 1
    explored = 0
    depth = 0
    complete = True
    _ask(commands, ("start",))
    level_size = 1
    violation: Violation | None = None
    while level_size:
        if max_depth is not None and depth >= max_depth:
            complete = False
            break
        answers = _ask(commands, ("level",))
        explored += sum(a["explored"] for a in answers)
        found = [a["violation"] for a in answers if a["violation"] is not None]
        if found:
            parent, action, property_id, statement, message = found[0]
            path = (*_path(commands, workers, parent), action)
            violation = Violation(
                property_id=property_id, statement=statement, message=message, actions=path
            )
            distinct += sum(a["new"] for a in answers)
            depth += 1
            complete = False
            break
        level_size = sum(a["new"] for a in answers)
        distinct += level_size
        plan = _plan([a["held"] for a in answers])
        if plan:
            _ask(commands, ("balance", plan))
        if level_size:
            depth += 1
        if progress is not None:
            progress(explored, distinct, depth)
        if max_states is not None and distinct >= max_states and level_size:
            complete = False
            break
    figures: dict[str, Any] = {}
    for part in _ask(commands, ("figures",)):
        for name, value in part.items():
            figures[name] = value if name not in figures else max(figures[name], value)
    if progress is not None and violation is None:
        progress(explored, distinct, depth)
    report = _report(system, mode, explored, distinct, depth, complete, started, violation)
    if figures:
        report = _with_figures(report, figures)
    return report


def _plan(held: list[int]) -> list[tuple[int, int, int]]:
    """Moves (from, to, how many) that leave every worker within one state of an equal share,
    taken from the counts alone (so the same in every run). Nothing moves while no worker holds
    more than an eighth over its share: a move costs pickling, and the caches of the parts."""
    total, workers = sum(held), len(held)
    share = [total // workers + (1 if w < total % workers else 0) for w in range(workers)]
    if all(h <= s + s // 8 for h, s in zip(held, share, strict=True)):
        return []
    surplus = [[w, h - s] for w, (h, s) in enumerate(zip(held, share, strict=True)) if h > s]
    deficit = [[w, s - h] for w, (h, s) in enumerate(zip(held, share, strict=True)) if h < s]
    plan = []
    for d in deficit:
        for s_ in surplus:
            if d[1] == 0:
                break
            count = min(d[1], s_[1])
            if count:
                plan.append((s_[0], d[0], count))
                d[1] -= count
                s_[1] -= count
    return plan


def _with_figures(report: Report, figures: dict[str, Any]) -> Report:
    import attrs

    return attrs.evolve(report, figures=figures)


def _path(commands: list[Connection], workers: int, key: bytes) -> tuple[Any, ...]:
    """The actions from the initial state to the state of digest ``key``, read back from the
    owners' parent links."""
    actions = []
    while True:
        connection = commands[owner_of(key, workers)]
        connection.send(("link", key))
        answer = connection.recv()
        if answer[0] == "error":
            raise RuntimeError(f"an explorer worker failed:\n{answer[1]}")
        link = answer[1]
        if link is None:
            return tuple(reversed(actions))
        key, action = link
        actions.append(action)


def _worker(
    index: int,
    workers: int,
    factory: Callable[[], System] | None,
    given: System,
    commands: Connection,
    inboxes: list[Any],
) -> None:
    try:
        system = factory() if factory is not None else given
        part = _Part(index, workers, system, inboxes)
        while True:
            message = commands.recv()
            kind = message[0]
            if kind == "stop":
                return
            try:
                if kind == "start":
                    commands.send(("ok", part.start()))
                elif kind == "level":
                    commands.send(("ok", part.level()))
                elif kind == "balance":
                    commands.send(("ok", part.balance(message[1])))
                elif kind == "link":
                    commands.send(("ok", part.parents[message[1]]))
                elif kind == "figures":
                    commands.send(("ok", dict(getattr(system, "figures", {}))))
            except Exception:
                commands.send(("error", traceback.format_exc()))
    except (EOFError, KeyboardInterrupt):
        return


class _Part:
    """What one worker holds: the parent link of each state it owns, and the states of the level
    being expanded that it was given."""

    def __init__(self, index: int, workers: int, system: System, inboxes: list[Any]) -> None:
        self.index, self.workers, self.system, self.inboxes = index, workers, system, inboxes
        self.parents: dict[bytes, tuple[bytes, Any] | None] = {}
        self.frontier: list[tuple[Any, bytes]] = []
        self.number = 0
        self.waiting: dict[tuple[int, str, int], Any] = {}

    def start(self) -> None:
        initial = self.system.initial()
        key = digest(self.system, initial)
        if self.index == 0:
            self.frontier = [(initial, key)]
        if owner_of(key, self.workers) == self.index:
            self.parents[key] = None

    def _send(self, to: int, phase: str, payload: Any) -> None:
        message = (self.number, phase, self.index, payload)
        self.inboxes[to].put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))

    def _receive(self, phase: str, senders: list[int]) -> dict[int, Any]:
        """This level's ``phase`` message of each of ``senders`` (others are kept for later)."""
        out: dict[int, Any] = {}
        for sender in senders:
            early = self.waiting.pop((self.number, phase, sender), None)
            if early is not None:
                out[sender] = early
        while len(out) < len(senders):
            number, kind, sender, payload = pickle.loads(self.inboxes[self.index].get())
            if (number, kind) == (self.number, phase) and sender in senders:
                out[sender] = payload
            else:
                self.waiting[(number, kind, sender)] = payload
        return out

    def level(self) -> dict[str, Any]:
        """Expand this worker's states, then settle with the owners which successors are new:
        only digests, parent links and actions travel; each new state stays with the worker
        that made it (where the encodings and memos of its parts are)."""
        system, workers = self.system, self.workers
        self.number += 1
        others = [w for w in range(workers) if w != self.index]
        shares: list[list[tuple[bytes, bytes, Any]]] = [[] for _ in range(workers)]
        made: dict[bytes, Any] = {}
        explored = 0
        violation = None
        for state, key in self.frontier:
            for action in system.actions(state):
                explored += 1
                after, found = successor(system, state, action)
                if found is not None:
                    violation = (key, action, *found)
                    break
                after_key = digest(system, after)
                if after_key in made or after_key in self.parents:
                    continue
                made[after_key] = after
                shares[owner_of(after_key, workers)].append((after_key, key, action))
            if violation is not None:
                break
        for w in others:
            self._send(w, "offer", shares[w])
        offers = self._receive("offer", others)
        offers[self.index] = shares[self.index]
        parents = self.parents
        taken: list[list[bytes]] = [[] for _ in range(workers)]
        for w in range(workers):
            for after_key, parent, action in offers[w]:
                if after_key not in parents:
                    parents[after_key] = (parent, action)
                    taken[w].append(after_key)
        for w in others:
            self._send(w, "taken", taken[w])
        answers = self._receive("taken", others)
        answers[self.index] = taken[self.index]
        self.frontier = [(made[k], k) for w in range(workers) for k in answers[w]]
        new = sum(len(t) for t in taken)
        return {
            "explored": explored,
            "new": new,
            "held": len(self.frontier),
            "violation": violation,
        }

    def balance(self, plan: list[tuple[int, int, int]]) -> None:
        """Move states between workers as ``plan`` says ((from, to, how many), from the end of
        the sender's level), so each expands about as many as the others."""
        for source, to, count in plan:
            if source == self.index:
                moved, self.frontier = self.frontier[-count:], self.frontier[:-count]
                self._send(to, "moved", moved)
        sources = sorted({source for source, to, _ in plan if to == self.index})
        for _, moved in sorted(self._receive("moved", sources).items()):
            self.frontier.extend(moved)
