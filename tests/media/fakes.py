"""Virtual time and recording fakes for the media tests: no test here waits on the real clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any


class FakeClock:
    """A monotonic clock whose `sleep` waits for `advance()` instead of real time.

    `advance(seconds)` fires due sleepers in deadline order, letting the event loop run between them, so several
    tasks sleeping on the same clock (playout, silence timer) interleave as they would in real time.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await settle()
        while self._timers and self._timers[0][0] <= target + 1e-9:
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not future.done():
                future.set_result(None)
            await settle()
        self.now = max(self.now, target)
        await settle()

    async def run_until(self, done: asyncio.Future[Any], step: float = 0.001, limit: float = 60) -> Any:
        """Advance in `step`s until `done` completes (at most `limit` virtual seconds); return its result."""
        end = self.now + limit
        while not done.done():
            if self.now > end:
                raise TimeoutError("virtual time limit reached")
            await self.advance(step)
        return done.result()


async def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class RecordingSink:
    """An EventSink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        self.events.append({"call_id": call_id, "leg": leg, "event": event, **fields})

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]
