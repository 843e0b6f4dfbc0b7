"""Watching a running Service's per-call events from a test."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.wiring import Service

Event = dict[str, Any]


class EventWatcher:
    """Collects every event the service emits and lets a test wait for one."""

    def __init__(self, service: Service) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._unsubscribe = service.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def close(self) -> None:
        self._unsubscribe()

    def find(self, name: str, **match: Any) -> list[Event]:
        return [e for e in self.events if e["event"] == name and all(e.get(k) == v for k, v in match.items())]

    async def wait_for(self, name: str, timeout: float = 15.0, **match: Any) -> Event:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                found = self.find(name, **match)
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()

    def for_call(self, call_id: str) -> list[Event]:
        return [e for e in self.events if e["call_id"] == call_id]
