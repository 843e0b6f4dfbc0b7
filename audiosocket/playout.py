"""Paced playout: 20 ms frames written on absolute deadlines.

Asterisk plays AudioSocket audio as it arrives, so the sender is the clock. Deadlines are computed from the
start of a prompt (t0 + n * 20 ms), never by sleeping after each write, so scheduling jitter does not
accumulate into drift.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from audiosocket.protocol import Audio, encode, frame_bytes

FRAME_MS = 20


@dataclass(frozen=True, slots=True)
class PlaybackResult:
    played_ms: int
    interrupted: bool


class Playout:
    """Writes PCM to one AudioSocket leg at real-time pace; `interrupt()` stops the current prompt."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        sample_rate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._write = write
        self._rate = sample_rate
        self._frame = frame_bytes(sample_rate, FRAME_MS)
        self._clock = clock
        self._sleep = sleep
        self._interrupted = asyncio.Event()

    def interrupt(self) -> None:
        self._interrupted.set()

    async def play(self, pcm: bytes) -> PlaybackResult:
        self._interrupted.clear()
        frames = [pcm[i : i + self._frame] for i in range(0, len(pcm), self._frame)]
        if frames and len(frames[-1]) < self._frame:
            frames[-1] = frames[-1] + bytes(self._frame - len(frames[-1]))
        start = self._clock()
        for index, frame in enumerate(frames):
            if self._interrupted.is_set():
                return PlaybackResult(index * FRAME_MS, True)
            delay = start + index * FRAME_MS / 1000 - self._clock()
            if delay > 0:
                await self._sleep(delay)
            self._write(encode(Audio(frame, self._rate)))
        return PlaybackResult(len(frames) * FRAME_MS, False)
