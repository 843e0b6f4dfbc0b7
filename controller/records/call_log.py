"""Per-call structured events: one JSON object per line, the single source for logs and the latency report.

Each line carries the call id, the leg (``gate``, ``resident``, ``system``), the event name, a monotonic
timestamp (``mono``, seconds, for durations within one process) and a wall-clock one (``ts``, ISO 8601 UTC).
Writers never raise into a call: a failing sink is logged once and the call goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None: ...


class JsonlEventLog:
    """Appends events to a file, flushing each line so a crash loses at most the event being written."""

    def __init__(
        self,
        path: Path,
        *,
        mono: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._mono = mono
        self._wall = wall
        self._file: IO[str] | None = None
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._failed = False

    def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._path.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Also hand every event to `listener` (tests, the demo); returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        record: dict[str, Any] = {
            "call_id": call_id,
            "leg": leg,
            "event": event,
            "mono": round(self._mono(), 6),
            "ts": datetime.fromtimestamp(self._wall(), UTC).isoformat(timespec="milliseconds"),
            **fields,
        }
        for listener in list(self._listeners):
            listener(record)
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._file.flush()
        except OSError as error:
            if not self._failed:
                log.error("cannot write call events to %s: %s", self._path, error)
            self._failed = True


def read_events(path: Path) -> list[dict[str, Any]]:
    """Load an events file, skipping lines a crash cut short."""
    events = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
