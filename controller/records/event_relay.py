"""The per-call events of every instance, through Redis pub/sub, so each instance's console shows all the calls.

Each instance publishes its own events on one channel and hears the others' there. Its own events reach its
console directly, never through Redis, so a Redis outage costs the console only the other instances' calls.
Publishing never holds up a call: events go into a bounded queue that a task empties (when Redis is away the
oldest are dropped and counted); the listener reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis

log = logging.getLogger(__name__)

CHANNEL = "portaria:events"
_QUEUE = 2000  # events held while Redis is slow or away (a few busy calls' worth)
_RETRY_S = 2.0


class RedisEventRelay:
    def __init__(self, url: str, *, channel: str = CHANNEL, instance: str | None = None) -> None:
        self._url, self._channel = url, channel
        self.instance = instance or uuid.uuid4().hex[:8]
        self._pending: deque[str] = deque(maxlen=_QUEUE)
        self._wake = asyncio.Event()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.subscribed = asyncio.Event()  # the listener is on the channel (tests wait for it)

    def publish(self, event: dict[str, Any]) -> None:
        """An EventSink listener: queue `event` for the others (never blocks)."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(json.dumps({**event, "instance": self.instance}, ensure_ascii=False, default=str))
        self._wake.set()

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """`listener` hears the other instances' events."""
        self._listeners.append(listener)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send(), name="event-relay-send"),
            asyncio.create_task(self._listen(), name="event-relay-listen"),
        ]

    async def _send(self) -> None:
        client = redis.from_url(self._url)
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    try:
                        await client.publish(self._channel, self._pending[0])
                    except (redis.RedisError, OSError) as error:
                        log.warning("event relay: cannot publish (%s); retrying", error)
                        await asyncio.sleep(_RETRY_S)
                        continue
                    self._pending.popleft()
        finally:
            await client.aclose()

    async def _listen(self) -> None:
        while True:
            client = redis.from_url(self._url)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._deliver(message.get("data"))
            except (redis.RedisError, OSError) as error:
                self.subscribed.clear()
                log.warning("event relay: listening failed (%s); again in %g s", error, _RETRY_S)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    await client.aclose()
            await asyncio.sleep(_RETRY_S)

    def _deliver(self, data: object) -> None:
        try:
            event = json.loads(data if isinstance(data, str | bytes) else "")
        except ValueError:
            log.warning("event relay: a message that is not JSON was ignored")
            return
        if not isinstance(event, dict) or event.get("instance") == self.instance or not event.get("call_id"):
            return
        for listener in list(self._listeners):
            listener(event)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
