"""Watching a running Service's per-call events from a test."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from controller.tools.simulator import SimulatedVisitor, call_gate
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


async def a_new_call_is_answered(service: Service, watcher: EventWatcher) -> None:
    """A silent visitor calls the gate: the call starts, its media connects, and it ends when they hang up."""
    visitor = SimulatedVisitor("none", f"t-{uuid.uuid4().hex[:8]}")
    channel = await call_gate(service.ari, visitor)
    start = await watcher.wait_for("stasis_start", channel=channel["id"], timeout=15)
    await watcher.wait_for("media_connected", call_id=start["call_id"], timeout=15)
    await service.asterisk.hang_up(channel["id"])
    await watcher.wait_for("call_end", call_id=start["call_id"], timeout=15)


def events_file(path: Path) -> list[Event]:
    """The events another process (a controller run as its own process) wrote to its events file so far."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
