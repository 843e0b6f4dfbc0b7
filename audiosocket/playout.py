"""Paced playout: 20 ms frames written to one AudioSocket leg on the process's shared frame clock.

Asterisk plays AudioSocket audio as it arrives, so the sender is the clock. A :class:`Playout` holds the leg's
prompts; the :class:`~audiosocket.frame_clock.FrameClock` (one per process, shared by every leg) calls it once
per 20 ms slot on absolute deadlines, and it writes exactly one frame per slot: the next 20 ms of the playing
prompt, or silence between prompts. Never "write, then sleep 20 ms": that adds the write and scheduling time
to every interval, the caller hears the prompt slow down and the grid drifts (``docs/media.md`` measures both).

How it works::

    play(pcm) / play_stream(chunks) --> queued (FIFO, one prompt at a time)
    every slot (FrameClock) --> the playing prompt has 20 ms?  write it (the tail zero-padded)
                                synthesis not caught up?        count an underrun (once per gap), skip the slot
                                nothing to play?                 silence if keep_alive() runs, else detach

``interrupt()`` is barge-in: it flushes every queued and playing prompt that is not protected, at once (the
playing one writes nothing more). ``stop()`` flushes everything, protected or not (hang-up). Each prompt
returns a :class:`PlaybackResult` saying how much the caller actually heard. Consecutive prompts continue the
same grid, with no slot skipped between them.

While :meth:`Playout.keep_alive` runs (the media leg runs it for the call's lifetime) the slots between prompts
carry silence frames. Measured against the real Asterisk (``docs/media.md``): without them, a prompt that
follows an idle gap reached the far end up to ~100 ms early or late relative to the previous one; with them,
spacing was exact in every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from audiosocket.events import EventSink, NoEvents
from audiosocket.frame_clock import FRAME_MS, FRAME_S, MAX_LAG_S, FrameClock
from audiosocket.protocol import Audio, encode, frame_bytes

__all__ = ["FRAME_MS", "FRAME_S", "MAX_LAG_S", "FrameClock", "PlaybackResult", "Playout", "PlayoutStats"]

log = logging.getLogger(__name__)


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
    prompts: int = 0
    interrupted: int = 0
    idle_frames: int = 0


@dataclass(eq=False, slots=True)
class _Prompt:
    protected: bool
    done: asyncio.Future[PlaybackResult]
    buffer: bytearray = field(default_factory=bytearray)
    finished: bool = False
    cancelled: bool = False
    error: BaseException | None = None
    audio_bytes: int = 0
    sent: int = 0
    underruns: int = 0
    starving: bool = False


class Playout:
    """Writes PCM to one leg at real-time pace; one prompt at a time, flushable instantly.

    `write` receives whole encoded AudioSocket frames (``MediaConnection.write``). `frame_clock` is the process's
    shared 20 ms clock; without one the playout makes its own from `clock` and `sleep` (injected so tests run on
    virtual time). Events (``playout_start``, ``playout_stop``, ``playout_interrupted``, ``playout_underrun``) go
    to `events` under `call_id`/`leg`.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        sample_rate: int,
        *,
        frame_clock: FrameClock | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        events: EventSink | None = None,
        call_id: str = "",
        leg: str = "",
    ) -> None:
        self._write = write
        self._rate = sample_rate
        self._frame = frame_bytes(sample_rate, FRAME_MS)
        self._silence = encode(Audio(bytes(self._frame), sample_rate))
        self._header = self._silence[: len(self._silence) - self._frame]  # every frame we send has this header
        # A leg on its own gets its own clock (on virtual time when `clock`/`sleep` are a test's).
        self.frame_clock = frame_clock if frame_clock is not None else FrameClock(clock=clock, sleep=sleep)
        self._events: EventSink = events if events is not None else NoEvents()
        self._call_id = call_id
        self._leg = leg
        self._queued: deque[_Prompt] = deque()
        self._current: _Prompt | None = None
        self._idle_silence = False
        self._listener = self._tick  # one bound method: the clock's listener set is keyed by it
        self._attached = False
        self._broken = False
        self.stats = PlayoutStats()

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def playing(self) -> bool:
        """True while a prompt is playing or about to (barge-in detection arms on this)."""
        return self._current is not None

    @property
    def interruptible(self) -> bool:
        """True while an unprotected prompt is playing."""
        return self._current is not None and not self._current.protected

    def interrupt(self) -> bool:
        """Barge-in: flush every unprotected prompt, playing or queued. True if the playing one was cut."""
        return self._flush(force=False)

    def stop(self) -> bool:
        """Flush every prompt, protected ones included (hang-up, call teardown)."""
        return self._flush(force=True)

    async def keep_alive(self) -> None:
        """Send silence in every slot no prompt uses; run as a task for the leg's lifetime (cancel to stop)."""
        self._idle_silence = True
        if not self._broken:
            self._attach()
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._idle_silence = False
            self._detach_if_idle()

    async def play(self, pcm: bytes, *, protected: bool = False) -> PlaybackResult:
        """Play a whole prompt; returns when its last frame has been written (or it was cut)."""
        return await self._run(bytearray(pcm), True, protected, None)

    async def play_stream(self, chunks: AsyncIterable[bytes], *, protected: bool = False) -> PlaybackResult:
        """Play audio as it is synthesised: chunks of any size, written as soon as 20 ms are available.

        A slot that comes before the audio it needs is an underrun (counted once per gap, reported). If the
        iterator raises, what was received is played and the error is re-raised.
        """
        return await self._run(bytearray(), False, protected, chunks)

    async def _run(
        self, pcm: bytearray, finished: bool, protected: bool, chunks: AsyncIterable[bytes] | None
    ) -> PlaybackResult:
        if self._broken:
            return PlaybackResult(0, True)
        prompt = _Prompt(protected, asyncio.get_running_loop().create_future(), pcm, finished)
        feeder = asyncio.create_task(self._feed(prompt, chunks)) if chunks is not None else None
        if self._current is None:
            self._start(prompt)
        else:
            self._queued.append(prompt)
        self._attach()
        try:
            result = await asyncio.shield(prompt.done)
        except asyncio.CancelledError:
            self._abandon(prompt)
            raise
        finally:
            if feeder is not None and not feeder.done():
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
        if prompt.error is not None and not prompt.cancelled:
            raise prompt.error
        return result

    async def _feed(self, prompt: _Prompt, chunks: AsyncIterable[bytes]) -> None:
        try:
            async for chunk in chunks:
                prompt.buffer += chunk
                if prompt.cancelled:
                    break
        except Exception as error:  # the synthesiser failed: play what we have, then report it
            prompt.error = error
        finally:
            prompt.finished = True
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    # ------------------------------------------------------------------------------------- the 20 ms slot
    def _tick(self) -> None:
        """One slot: write the playing prompt's next frame, or silence, or nothing."""
        while (prompt := self._current) is not None:
            frame, audio = self._take(prompt)
            if frame is not None:
                if not self._send(self._header + frame):  # = encode(Audio(frame, rate)), minus an object per frame
                    return
                prompt.audio_bytes += audio
                prompt.sent += 1
                prompt.starving = False
                self.stats.frames_sent += 1
                if prompt.finished and not prompt.buffer:
                    self._finish(prompt, interrupted=False)  # the next prompt takes the next slot
                return
            if prompt.finished:
                self._finish(prompt, interrupted=False)  # nothing left (an empty prompt): the next one may use
                continue  # this slot
            if prompt.sent and not prompt.starving:
                prompt.starving = True
                prompt.underruns += 1
                self.stats.underruns += 1
                self._emit("playout_underrun", played_ms=self._ms(prompt.audio_bytes))
            break
        if self._idle_silence:
            if self._send(self._silence):
                self.stats.idle_frames += 1

    def _take(self, prompt: _Prompt) -> tuple[bytes | None, int]:
        """The next 20 ms frame and how many of its bytes are real audio (the tail is zero-padded), or None if
        synthesis has not caught up."""
        size = self._frame
        buffer = prompt.buffer
        if len(buffer) >= size:
            frame = bytes(buffer[:size])
            del buffer[:size]  # O(1): CPython moves a bytearray's start instead of copying the rest
            return frame, size
        if prompt.finished and buffer:
            audio = len(buffer)
            frame = bytes(buffer) + bytes(size - audio)
            buffer.clear()
            return frame, audio
        return None, 0

    def _send(self, data: bytes) -> bool:
        try:
            self._write(data)
        except Exception as error:  # the connection broke under us: this leg plays nothing more
            log.warning("call %s leg %s: playout write failed (%r); stopping playout", self._call_id, self._leg, error)
            self._broken = True
            self._idle_silence = False
            self.stop()
            self._detach()
            return False
        return True

    # ------------------------------------------------------------------------------------- prompt lifecycle
    def _start(self, prompt: _Prompt) -> None:
        self._current = prompt
        self.stats.prompts += 1
        self._emit("playout_start", protected=prompt.protected, queued_ms=self._ms(len(prompt.buffer)))

    def _finish(self, prompt: _Prompt, *, interrupted: bool) -> None:
        if self._current is prompt:
            self._current = None
        played_ms = self._ms(prompt.audio_bytes)
        self.stats.interrupted += interrupted
        event = "playout_interrupted" if interrupted else "playout_stop"
        self._emit(event, played_ms=played_ms, protected=prompt.protected, underruns=prompt.underruns)
        if not prompt.done.done():
            prompt.done.set_result(PlaybackResult(played_ms, interrupted, prompt.underruns))
        if self._current is None and self._queued:
            self._start(self._queued.popleft())
        self._detach_if_idle()

    def _flush(self, *, force: bool) -> bool:
        for prompt in [p for p in self._queued if force or not p.protected]:
            self._queued.remove(prompt)
            self._cancel_queued(prompt)
        current = self._current
        cut = current is not None and (force or not current.protected)
        if cut and current is not None:
            current.cancelled = True
            self._finish(current, interrupted=True)
        return cut

    def _cancel_queued(self, prompt: _Prompt) -> None:
        prompt.cancelled = True
        if not prompt.done.done():
            prompt.done.set_result(PlaybackResult(0, True))

    def _abandon(self, prompt: _Prompt) -> None:
        """The caller of play() was cancelled: this prompt goes, nothing else changes."""
        if prompt in self._queued:
            self._queued.remove(prompt)
            self._cancel_queued(prompt)
        elif self._current is prompt:
            prompt.cancelled = True
            self._finish(prompt, interrupted=True)

    def _attach(self) -> None:
        if not self._attached:
            self._attached = True
            self.frame_clock.add(self._listener)

    def _detach(self) -> None:
        if self._attached:
            self._attached = False
            self.frame_clock.remove(self._listener)

    def _detach_if_idle(self) -> None:
        if self._current is None and not self._queued and not self._idle_silence:
            self._detach()

    def _ms(self, n_bytes: int) -> int:
        return round(n_bytes / 2 / self._rate * 1000)

    def _emit(self, event: str, **fields: Any) -> None:
        self._events.emit(self._call_id, self._leg, event, **fields)
