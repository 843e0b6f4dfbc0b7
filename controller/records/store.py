"""Where conversation state lives between events: in memory by default, Redis when PORTARIA_REDIS_URL is set.

Both keep each call's :class:`DialogState` (collected data and transcript) for `ttl_s` after its last save, so
nothing about a visitor is kept forever. The state travels as JSON made by pydantic from the frozen dataclasses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as redis
from pydantic import TypeAdapter

from controller.conversation.state import DialogState

_CODEC = TypeAdapter(DialogState)
_PREFIX = "portaria:conversation:"


def encode_state(state: DialogState) -> bytes:
    return _CODEC.dump_json(state)


def decode_state(data: bytes | str) -> DialogState:
    return _CODEC.validate_json(data)


class ConversationStore(Protocol):
    async def save(self, state: DialogState) -> None:
        """Store the state under its call id, replacing what was there, and restart its time to live."""

    async def load(self, call_id: str) -> DialogState | None:
        """The last saved state, or None when there is none or it expired."""

    async def delete(self, call_id: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """Per-process store; expiry is checked on access against an injectable monotonic clock."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._items: dict[str, tuple[float, bytes]] = {}

    async def save(self, state: DialogState) -> None:
        now = self._clock()
        self._items = {key: item for key, item in self._items.items() if item[0] > now}
        self._items[state.call_id] = (now + self._ttl_s, encode_state(state))

    async def load(self, call_id: str) -> DialogState | None:
        item = self._items.get(call_id)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[call_id]
            return None
        return decode_state(item[1])

    async def delete(self, call_id: str) -> None:
        self._items.pop(call_id, None)

    async def aclose(self) -> None:
        self._items.clear()


class RedisStore:
    """State in Redis under ``portaria:conversation:<call id>``, with Redis expiring it (PSETEX)."""

    def __init__(self, url: str, ttl_s: float, *, timeout_s: float = 2.0) -> None:
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    async def save(self, state: DialogState) -> None:
        await self._client.psetex(_PREFIX + state.call_id, self._ttl_ms, encode_state(state))

    async def load(self, call_id: str) -> DialogState | None:
        data: bytes | str | None = await self._client.get(_PREFIX + call_id)
        return None if data is None else decode_state(data)

    async def delete(self, call_id: str) -> None:
        await self._client.delete(_PREFIX + call_id)

    async def aclose(self) -> None:
        await self._client.aclose()
