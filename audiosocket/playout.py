"""Paced playout: 20 ms frames written to one AudioSocket leg on absolute deadlines.

Asterisk plays AudioSocket audio as it arrives, so the sender is the clock. Frame ``n`` of a run of speech is
written at ``t0 + n * 20 ms`` (``t0`` fixed when the run starts), never "write, then sleep 20 ms": sleeping after
each write adds the write and scheduling time to every interval, the caller hears the prompt slow down and the
grid drifts (``docs/media.md`` measures both). Consecutive prompts continue the same grid; a gap re-anchors it.

How it works::

    play(pcm) / play_stream(chunks) --> wait for its turn (one prompt at a time, FIFO)
        --> loop: sleep until deadline -> interrupted? stop : take 20 ms -> write -> deadline += 20 ms
            no audio at a deadline (streaming synthesis too slow) -> count an underrun, wait, re-anchor
            deadline missed by more than max_lag (event loop stalled) -> re-anchor instead of bursting

``interrupt()`` is barge-in: it flushes every queued and playing prompt that is not protected; the playing one
stops at its next deadline (<= 20 ms). ``stop()`` flushes everything, protected or not (hang-up). Each prompt
returns a :class:`PlaybackResult` saying how much the caller actually heard.

Between prompts, :meth:`Playout.keep_alive` (run by the media leg for the call's lifetime) sends silence frames
on the same grid. Measured against the real Asterisk (``docs/media.md``): without them, a prompt that follows
an idle gap reached the far end up to ~100 ms early or late relative to the previous one; with them, spacing
was exact in every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from audiosocket.protocol import Audio, encode, frame_bytes
from controller.events import EventSink

FRAME_MS = 20
FRAME_S = FRAME_MS / 1000
# A deadline missed by more than this (the loop stalled) restarts the grid instead of sending a burst of frames.
MAX_LAG_S = 0.1


@dataclass(frozen=True, slots=True)
class PlaybackResult:
    """What the caller heard of one prompt: `played_ms` of audio written, and whether barge-in (or stop) cut it."""

    played_ms: int
    interrupted: bool
    underruns: int = 0


@dataclass(slots=True)
class PlayoutStats:
    frames_sent: int = 0
    underruns: int = 0
    reanchors: int = 0
    prompts: int = 0
    interrupted: int = 0
    idle_frames: int = 0


@dataclass(eq=False, slots=True)
class _Prompt:
    protected: bool
    cancelled: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    finished: bool = False
    error: BaseException | None = None


class _NullSink:
    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        return None


class Playout:
    """Writes PCM to one leg at real-time pace; one prompt at a time, flushable instantly.

    `write` receives whole encoded AudioSocket frames (``MediaConnection.write``). `clock` and `sleep` are
    injected so tests run on virtual time. Events (``playout_start``, ``playout_stop``, ``playout_interrupted``,
    ``playout_underrun``) go to `events` under `call_id`/`leg`.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        sample_rate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        events: EventSink | None = None,
        call_id: str = "",
        leg: str = "",
    ) -> None:
        self._write = write
        self._rate = sample_rate
        self._frame = frame_bytes(sample_rate, FRAME_MS)
        self._clock = clock
        self._sleep = sleep
        self._events: EventSink = events if events is not None else _NullSink()
        self._call_id = call_id
        self._leg = leg
        self._turn = asyncio.Lock()
        self._queued: list[_Prompt] = []
        self._current: _Prompt | None = None
        self._wake = asyncio.Event()
        self._next_deadline: float | None = None
        self.stats = PlayoutStats()

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def playing(self) -> bool:
        """True while a prompt is being written (barge-in detection arms on this)."""
        return self._current is not None

    @property
    def interruptible(self) -> bool:
        """True while an unprotected prompt is being written."""
        return self._current is not None and not self._current.protected

    def interrupt(self) -> bool:
        """Barge-in: flush every unprotected prompt, playing or queued. True if the playing one was cut."""
        return self._flush(force=False)

    def stop(self) -> bool:
        """Flush every prompt, protected ones included (hang-up, call teardown)."""
        return self._flush(force=True)

    def _flush(self, *, force: bool) -> bool:
        for prompt in self._queued:
            if force or not prompt.protected:
                prompt.cancelled = True
        current = self._current
        cut = current is not None and not current.cancelled and (force or not current.protected)
        if cut and current is not None:
            current.cancelled = True
            self._wake.set()
        return cut

    async def keep_alive(self) -> None:
        """Send silence on the grid whenever no prompt plays; run as a task for the leg's lifetime.

        A prompt never waits for it: the prompt takes the next grid slot and this loop skips that slot."""
        silence = encode(Audio(bytes(self._frame), self._rate))
        while True:
            if self._turn.locked() or self._queued:
                async with self._turn:  # behind the queued prompts (the lock is FIFO)
                    pass
                continue
            deadline = self._start_deadline()
            delay = deadline - self._clock()
            if delay > 0:
                await self._sleep(delay)
            if self._turn.locked() or self._queued:
                continue
            now = self._clock()
            if now - deadline > MAX_LAG_S:
                self.stats.reanchors += 1
                deadline = now
            self._write(silence)
            self.stats.idle_frames += 1
            self._next_deadline = deadline + FRAME_S

    async def play(self, pcm: bytes, *, protected: bool = False) -> PlaybackResult:
        """Play a whole prompt; returns when it has been written (or cut)."""
        prompt = _Prompt(protected, buffer=bytearray(pcm), finished=True)
        return await self._run(prompt, None)

    async def play_stream(self, chunks: AsyncIterable[bytes], *, protected: bool = False) -> PlaybackResult:
        """Play audio as it is synthesised: chunks of any size, written as soon as 20 ms are available.

        A chunk that arrives after its deadline is an underrun (counted, reported); the grid restarts when
        audio comes back. If the iterator raises, what was received is played and the error is re-raised.
        """
        return await self._run(_Prompt(protected), chunks)

    async def _run(self, prompt: _Prompt, chunks: AsyncIterable[bytes] | None) -> PlaybackResult:
        self._queued.append(prompt)
        feeder: asyncio.Task[None] | None = None
        try:
            if chunks is not None:
                feeder = asyncio.create_task(self._feed(prompt, chunks))
            async with self._turn:
                self._queued.remove(prompt)
                if prompt.cancelled:
                    return PlaybackResult(0, True)
                self._current = prompt
                try:
                    result = await self._pace(prompt)
                finally:
                    self._current = None
            if prompt.error is not None and not prompt.cancelled:
                raise prompt.error
            return result
        finally:
            if prompt in self._queued:
                self._queued.remove(prompt)
            if feeder is not None and not feeder.done():
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder

    async def _feed(self, prompt: _Prompt, chunks: AsyncIterable[bytes]) -> None:
        try:
            async for chunk in chunks:
                prompt.buffer += chunk
                self._wake.set()
                if prompt.cancelled:
                    break
        except Exception as error:  # the synthesiser failed: play what we have, then report it
            prompt.error = error
        finally:
            prompt.finished = True
            self._wake.set()
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _take(self, prompt: _Prompt) -> bytes | None:
        """The next 20 ms frame, the zero-padded tail at the end, or None if synthesis has not caught up."""
        size = self._frame
        if len(prompt.buffer) >= size:
            frame = bytes(prompt.buffer[:size])
            del prompt.buffer[:size]
            return frame
        if prompt.finished and prompt.buffer:
            frame = bytes(prompt.buffer) + bytes(size - len(prompt.buffer))
            prompt.buffer.clear()
            return frame
        return None

    def _start_deadline(self) -> float:
        now = self._clock()
        # Right after the previous frame: stay on its grid (a slot missed by less than half a frame is still
        # taken, late), so no two frames are closer than 20 ms and back-to-back prompts do not drift.
        if self._next_deadline is not None and now < self._next_deadline + FRAME_S / 2:
            return self._next_deadline
        return now

    async def _pace(self, prompt: _Prompt) -> PlaybackResult:
        audio_bytes = 0
        sent = 0
        underruns = 0
        deadline = self._start_deadline()
        self.stats.prompts += 1
        self._emit("playout_start", protected=prompt.protected, queued_ms=self._ms(len(prompt.buffer)))
        while True:
            if prompt.finished and not prompt.buffer:
                break  # done: do not wait for a slot we will not use (the next prompt takes it)
            delay = deadline - self._clock()
            if delay > 0:
                await self._sleep(delay)
            now = self._clock()
            if now - deadline > MAX_LAG_S:
                self.stats.reanchors += 1
                deadline = now
            if prompt.cancelled:
                break
            available = len(prompt.buffer)
            frame = self._take(prompt)
            if frame is None:
                if prompt.finished:
                    break
                if sent:
                    underruns += 1
                    self.stats.underruns += 1
                    self._emit("playout_underrun", played_ms=self._ms(audio_bytes))
                while not prompt.cancelled and not prompt.finished and len(prompt.buffer) < self._frame:
                    self._wake.clear()
                    await self._wake.wait()
                deadline = self._clock()
                continue
            self._write(encode(Audio(frame, self._rate)))
            audio_bytes += min(available, self._frame)
            sent += 1
            self.stats.frames_sent += 1
            deadline += FRAME_S
        self._next_deadline = deadline
        played_ms = self._ms(audio_bytes)
        if prompt.cancelled:
            self.stats.interrupted += 1
            self._emit("playout_interrupted", played_ms=played_ms, protected=prompt.protected, underruns=underruns)
        else:
            self._emit("playout_stop", played_ms=played_ms, protected=prompt.protected, underruns=underruns)
        return PlaybackResult(played_ms, prompt.cancelled, underruns)

    def _ms(self, n_bytes: int) -> int:
        return round(n_bytes / 2 / self._rate * 1000)

    def _emit(self, event: str, **fields: Any) -> None:
        self._events.emit(self._call_id, self._leg, event, **fields)
