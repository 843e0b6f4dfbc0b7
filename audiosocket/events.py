"""Where the media layer reports per-call events: one small interface, satisfied by the service's call log.

The media and speech code only ever calls ``emit``; what happens to an event (a JSON line, a live feed, a test's
list) is decided by whoever builds the leg.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventSink(Protocol):
    """Per-call structured events: call id, leg (``gate``, ``resident``, ``system``), event name, fields."""

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None: ...


class NoEvents:
    """An EventSink that drops everything (tools and tests that do not look at events)."""

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        return None
