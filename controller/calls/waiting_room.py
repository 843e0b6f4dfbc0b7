"""Visitors who call while every conversation place is taken: their intercom rings until one frees.

Recognition on the CPU sets how many conversations one process holds before all of them slow down together
(docs/performance.md: the knee is 4 on 2 cores). Past the limit a new visitor is not answered yet: Asterisk rings
their intercom (ARI ``ring``), as a porteiro busy with someone else takes a moment to pick up, and the first call
to end gives its place to whoever has waited longest. After `wait_s` the visitor goes to a person (the site's
concierge) when the site has one; without one they are taken anyway, over the limit, because a slow
conversation is better than none.

A waiting visitor is journaled like an answered one, so a crash while they wait hands them to the concierge at
the next start (calls/recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError, AriNotFound
from controller.ari.events import Channel
from controller.calls.deps import CallDeps, to_the_fallback
from controller.conversation.events import Leg

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Waiting:
    """One visitor in the room: the call id their conversation will keep, and what it will run with."""

    call_id: str
    channel: Channel
    deps: CallDeps
    since: float
    timer: asyncio.Task[None] | None = None

    def emit(self, event: str, **fields: object) -> None:
        self.deps.events.emit(self.call_id, str(Leg.GATE), event, **fields)


class WaitingRoom:
    """Oldest first. `admit(waiting)` starts a visitor's conversation; the room calls it itself only for a
    visitor who waited `wait_s` with no concierge to go to."""

    def __init__(
        self,
        ari: AsteriskOps,
        *,
        wait_s: float,
        admit: Callable[[Waiting], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ari = ari
        self._wait_s = wait_s
        self._admit = admit
        self._clock = clock
        self._queue: dict[str, Waiting] = {}  # by the visitor's channel id, in arrival order
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._queue)

    def holds(self, channel_id: str) -> bool:
        return channel_id in self._queue

    def channels(self) -> list[str]:
        return list(self._queue)

    def channel_of(self, call_id: str) -> str | None:
        """The channel of the waiting visitor whose call will be `call_id`."""
        return next((channel for channel, waiting in self._queue.items() if waiting.call_id == call_id), None)

    async def hand_over(self, call_id: str, reason: str) -> bool:
        """Send a waiting visitor to a person now (an operator's action); False if they are not waiting or
        Asterisk refused (then they keep their place)."""
        channel = self.channel_of(call_id)
        if channel is None:
            return False
        waiting = self._queue.pop(channel)  # out of the line first: a place freeing meanwhile is not theirs
        self._stop_timer(waiting)
        if await self._hand_over(waiting, reason):
            self._left(waiting, "handed_over")
            return True
        self._queue[channel] = waiting  # back in line where they were, waiting afresh
        self._queue = dict(sorted(self._queue.items(), key=lambda item: item[1].since))
        waiting.timer = self._spawn(self._wait(waiting), f"queue-{call_id}")
        return False

    def enter(self, call_id: str, channel: Channel, deps: CallDeps, *, active: int) -> None:
        waiting = Waiting(call_id, channel, deps, self._clock())
        self._queue[channel.id] = waiting
        if deps.journal is not None:
            deps.journal.created(call_id, "caller", channel.id)
        waiting.emit(
            "call_queued",
            channel=channel.id,
            caller=channel.caller_number,
            site=deps.site,
            gate=deps.gate,
            position=len(self._queue),
            active=active,
        )
        log.info("call %s queued: %d conversations running, %d waiting", call_id, active, len(self._queue))
        waiting.timer = self._spawn(self._wait(waiting), f"queue-{call_id}")

    def next(self) -> Waiting | None:
        """The visitor who has waited longest, out of the room, for the place that just freed."""
        if not self._queue:
            return None
        waiting = self._queue.pop(next(iter(self._queue)))
        self._stop_timer(waiting)
        self._left(waiting, "admitted")
        return waiting

    def gone(self, channel_id: str) -> None:
        """The visitor hung up while waiting."""
        waiting = self._queue.pop(channel_id, None)
        if waiting is None:
            return
        self._stop_timer(waiting)
        self._left(waiting, "hung_up")
        self._ended(waiting)

    async def shutdown(self) -> None:
        """We are stopping: everyone waiting goes to a person through the dialplan."""
        waiting_now = list(self._queue.values())
        self._queue.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for waiting in waiting_now:
            await self._hand_over(waiting, "shutdown")
            self._left(waiting, "shutdown")

    async def _wait(self, waiting: Waiting) -> None:
        try:
            await self._ari.ring(waiting.channel.id)
        except AriError as error:  # they hear nothing until answered, but their place in the queue holds
            log.warning("call %s: cannot ring the waiting visitor's intercom: %s", waiting.call_id, error)
        await asyncio.sleep(self._wait_s)
        if self._queue.pop(waiting.channel.id, None) is None:
            return
        if waiting.deps.config.concierge_endpoint and await self._hand_over(waiting, "busy"):
            self._left(waiting, "handed_over")
            return
        self._left(waiting, "admitted", over_limit=True)
        self._admit(waiting)

    async def _hand_over(self, waiting: Waiting, reason: str) -> bool:
        """To the dialplan's fallback context; False when Asterisk refused (the visitor is still here)."""
        config = waiting.deps.config
        try:
            await to_the_fallback(
                self._ari, waiting.channel.id, concierge=config.concierge_endpoint, context=config.fallback_context
            )
        except AriNotFound:
            pass  # they hung up meanwhile
        except AriError as error:
            log.error("call %s: cannot hand the waiting visitor over: %s", waiting.call_id, error)
            return False
        waiting.emit("fallback", reason=reason, to=config.concierge_endpoint or "dialplan")
        self._ended(waiting)
        return True

    def _left(self, waiting: Waiting, outcome: str, **fields: object) -> None:
        waiting.emit("queue_left", outcome=outcome, wait_ms=self._waited_ms(waiting), **fields)

    def _waited_ms(self, waiting: Waiting) -> int:
        return round((self._clock() - waiting.since) * 1000)

    @staticmethod
    def _ended(waiting: Waiting) -> None:
        if waiting.deps.journal is not None:
            waiting.deps.journal.ended(waiting.call_id)

    def _stop_timer(self, waiting: Waiting) -> None:
        if waiting.timer is not None:
            waiting.timer.cancel()

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
