"""Bounds that keep one peer, or a flood of connections, from starving the others.

- ``TokenBucket``: a peer's frames and bytes per second; the reader waits for tokens before it
  reads a frame's body, so a flooding peer is slowed by TCP backpressure, not buffered.
- ``FairInbox``: the runtime's events, queued per authenticated peer (a quota each) and served
  round robin, local events (ticks, store results) first; a full peer queue drops that peer's
  newest event and no one else's.
- ``LogLimiter``: at most ``burst`` lines per event name per ``window`` seconds; the next line
  that gets through says how many were suppressed.

Each takes its clock as an argument, so a test can hold time still and count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """One structured log line: a JSON object with ``event`` and the fields."""
    if logger.isEnabledFor(level):
        doc = {"event": event}
        for k, v in fields.items():
            doc[k] = v.hex()[:16] if isinstance(v, bytes) else v
        logger.log(level, json.dumps(doc, default=str), extra={"fields": doc})


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` saved up; ``take`` waits for them."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self.stamp = clock()
        self.waits = 0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay(self, cost: float) -> float:
        """Seconds until ``cost`` tokens are there (a cost above capacity counts as capacity)."""
        self._refill()
        cost = min(cost, self.capacity)
        return 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate

    async def take(self, cost: float) -> None:
        cost = min(cost, self.capacity)
        wait = self.delay(cost)
        if wait > 0:
            self.waits += 1
            await asyncio.sleep(wait)
            self._refill()
        self.tokens -= cost


class FairInbox:
    """Events per source, ``per_source`` each, served round robin; ``local`` for the node's own."""

    def __init__(self, per_source: int, local: int) -> None:
        self.per_source = per_source
        self.local_size = local
        self.local: deque[object] = deque()
        self.queues: dict[Hashable, deque[object]] = {}  # only sources with queued events
        self.dropped: Counter[str] = Counter()
        self._ready = asyncio.Event()

    def put(self, source: Hashable | None, event: object) -> bool:
        """Queue ``event``; False (counted) if its source's quota is used up."""
        if source is None:
            if len(self.local) >= self.local_size:
                self.dropped["local"] += 1
                return False
            self.local.append(event)
        else:
            q = self.queues.get(source)
            if q is None:
                q = self.queues[source] = deque()
            elif len(q) >= self.per_source:
                self.dropped["peer"] += 1
                return False
            q.append(event)
        self._ready.set()
        return True

    def depth(self) -> int:
        return len(self.local) + sum(len(q) for q in self.queues.values())

    qsize = depth  # the name ``asyncio.Queue`` gives it, for readers of a runtime's inbox

    def get_nowait(self) -> object | None:
        if self.local:
            return self.local.popleft()
        for source, q in self.queues.items():
            event = q.popleft()
            # Rotate: this source goes to the back; an emptied one is forgotten.
            del self.queues[source]
            if q:
                self.queues[source] = q
            return event
        return None

    async def get(self) -> object:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            self._ready.clear()
            await self._ready.wait()


class LogLimiter:
    """At most ``burst`` lines per event name per ``window`` seconds."""

    def __init__(
        self, burst: int = 20, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.window = window
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # event -> (start, lines, suppressed)

    def allow(self, event: str) -> int | None:
        """None to suppress this line, else how many lines were suppressed before it."""
        now = self.clock()
        start, lines, suppressed = self._windows.get(event, (now, 0, 0))
        if now - start >= self.window:
            start, lines = now, 0
        if lines >= self.burst:
            self._windows[event] = (start, lines, suppressed + 1)
            return None
        self._windows[event] = (start, lines + 1, 0)
        return suppressed

    def log(self, logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
        if not logger.isEnabledFor(level):
            return
        suppressed = self.allow(event)
        if suppressed is None:
            return
        if suppressed:
            fields["suppressed"] = suppressed
        log_event(logger, level, event, **fields)
