"""Fake engines implementing the real speech interfaces, with scripted delays and failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from audiosocket.speech.base import EngineError, Hints, RecognitionStream, Transcript
from audiosocket.speech.pieces import BufferedStream


class FakeSTT:
    """Answers each call with the next scripted item: a Transcript, an exception, or a delay then a Transcript."""

    def __init__(self, *script: Transcript | BaseException | float) -> None:
        self.script = list(script)
        self.calls: list[tuple[bytes, int]] = []

    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        self.calls.append((pcm, sample_rate))
        item = self.script.pop(0) if self.script else Transcript("ok", 1.0, "pt")
        if isinstance(item, float):
            await asyncio.sleep(item)
            return Transcript("lento", 1.0, "pt")
        if isinstance(item, BaseException):
            raise item
        return item

    def stream(self, sample_rate: int, hints: Hints | None = None) -> RecognitionStream:
        return BufferedStream(lambda pcm: self.transcribe(pcm, sample_rate, hints))


@dataclass
class FakeTTS:
    """Yields `chunks` (after `first_delay`), failing with `error` after `fail_after` chunks if set."""

    chunks: list[bytes] = field(default_factory=lambda: [b"\x01\x00" * 160, b"\x02\x00" * 160])
    first_delay: float = 0.0
    error: EngineError | None = None
    fail_after: int = 0
    stall_after: int | None = None
    texts: list[tuple[str, int]] = field(default_factory=list)
    closed: int = 0

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        self.texts.append((text, sample_rate))
        try:
            if self.first_delay:
                await asyncio.sleep(self.first_delay)
            for index, chunk in enumerate(self.chunks):
                if self.error is not None and index == self.fail_after:
                    raise self.error
                if self.stall_after is not None and index == self.stall_after:
                    await asyncio.sleep(3600)
                yield chunk
            if self.error is not None and self.fail_after >= len(self.chunks):
                raise self.error
        finally:
            self.closed += 1


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        self.events.append({"call_id": call_id, "leg": leg, "event": event, **fields})

    def named(self, event: str) -> list[dict[str, Any]]:
        return [item for item in self.events if item["event"] == event]
