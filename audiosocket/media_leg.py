"""One call leg's media, as the call runner sees it: typed events in, prompts out, barge-in handled here.

:class:`MediaLeg` wraps an AudioSocket :class:`~audiosocket.server.MediaConnection`. It reads the inbound frames,
runs the VAD and the :class:`~audiosocket.endpointing.Endpointer` on each, keeps the wall-clock silence timer
(Asterisk sends nothing while nobody talks), owns the leg's :class:`~audiosocket.playout.Playout` (silence
frames between prompts unless ``idle_silence=False``), and stops an interruptible prompt when the caller talks
over it.

API::

    async with MediaLeg(connection, sample_rate, vad=make_vad("silero", rate), events=sink,
                        call_id=call_id, leg="gate") as leg:    # or: MediaLeg.configured(connection, config, ...)
        result = await leg.say(pcm)                     # bytes, or an async iterator of chunks (streaming TTS)
        result = await leg.say(decision, protected=True)  # barge-in cannot cut this one
        leg.stop_speaking()                             # flush every prompt, protected included
        leg.expect_verdicts()                           # every EarlyUtterance will be judged: wait for it
        leg.judge_pause(early, True)                    # its words answer the question: end the turn soon
        event = await leg.next_event()                  # or: async for event in leg: ...

``say`` returns :class:`~audiosocket.playout.PlaybackResult` ``(played_ms, interrupted, underruns)``; concurrent
calls queue in order. Events, in the order they happen:

- :class:`UtteranceStarted` ``(onset, at)``: the caller started talking (after the blip filter).
- :class:`EarlyUtterance` ``(pcm, sample_rate, duration_ms, at)``: probably done; start recognising now.
- :class:`SpeechResumed` ``(at)``: not done after all; drop the early recognition.
- :class:`UtteranceEnded` ``(pcm, sample_rate, duration_ms, delay_ms, at, truncated, barged_in)``: the turn is
  over. If no SpeechResumed came since the last EarlyUtterance, its pcm is the same and that recognition stands.
- :class:`LegClosed` ``(reason, at)``: the connection is gone; the last event, repeated to any later reader.

Times (``at``, ``onset``) are from the injected `clock` (``time.monotonic`` by default). Per-call events go to
`events`: ``speech_start``, ``speech_early_end``, ``speech_resumed``, ``speech_end`` (``utterance_ms``,
``endpointing_delay_ms``), ``speech_blip``, ``barge_in``, ``leg_closed``, and the playout's own. DTMF frames
are counted (``dtmf_frames``) and dropped: the call gets keypad digits from ARI, which knows the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from audiosocket.endpointing import (
    BargeIn,
    BlipDropped,
    EarlyUtterance,
    Endpointer,
    EndpointingConfig,
    SpeechResumed,
    TurnEvent,
    UtteranceEnded,
    UtteranceStarted,
)
from audiosocket.events import EventSink
from audiosocket.frame_clock import FrameClock
from audiosocket.playout import PlaybackResult, Playout
from audiosocket.protocol import Audio, Dtmf
from audiosocket.vad import Vad

log = logging.getLogger(__name__)

# Inbound frames waiting for the next frame-clock pass; more than 10 s of them means the loop is stuck: drop old.
INBOX_FRAMES = 500

__all__ = [
    "EarlyUtterance",
    "LegClosed",
    "LegEvent",
    "MediaLeg",
    "SpeechResumed",
    "UtteranceEnded",
    "UtteranceStarted",
    "LegConfig",
]


@dataclass(frozen=True, slots=True)
class LegClosed:
    reason: str
    at: float


LegEvent = UtteranceStarted | EarlyUtterance | SpeechResumed | UtteranceEnded | LegClosed


class MediaSource(Protocol):
    """What MediaLeg needs of a connection (``MediaConnection`` is one)."""

    @property
    def closed(self) -> asyncio.Event: ...

    @property
    def close_reason(self) -> str: ...

    def receive(self, receiver: Callable[[Audio | Dtmf], None]) -> None:
        """Call `receiver` with every inbound frame, as it arrives."""

    def write(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class LegConfig:
    """How every leg of a service is set up: its rate, turn detection, barge-in, and silence between prompts."""

    sample_rate: int = 8000
    endpointing: EndpointingConfig = EndpointingConfig()
    barge_in: bool = True
    idle_silence: bool = True


class MediaLeg:
    """Turn detection and paced playout for one AudioSocket leg. See the module docstring for the API."""

    def __init__(
        self,
        connection: MediaSource,
        sample_rate: int,
        *,
        vad: Vad,
        endpointing: EndpointingConfig | None = None,
        barge_in: bool = True,
        idle_silence: bool = True,
        events: EventSink,
        call_id: str,
        leg: str,
        frame_clock: FrameClock | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._connection = connection
        self.sample_rate = sample_rate
        self._vad = vad
        self._endpointer = Endpointer(endpointing or EndpointingConfig(), sample_rate)
        self._barge_in = barge_in
        self._idle_silence = idle_silence
        self._events = events
        self._call_id = call_id
        self._leg = leg
        self._clock = clock
        self._sleep = sleep
        self.playout = Playout(
            connection.write,
            sample_rate,
            frame_clock=frame_clock,
            clock=clock,
            sleep=sleep,
            events=events,
            call_id=call_id,
            leg=leg,
        )
        self._queue: asyncio.Queue[LegEvent] = asyncio.Queue()
        self._closed: LegClosed | None = None
        self._timer_wake = asyncio.Event()
        self._timer_target: float | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inbox: deque[tuple[Audio | Dtmf, float]] = deque()
        self._failure: str | None = None
        self._keep_alive: asyncio.Task[None] | None = None
        self.foreign_frames = 0
        self.dtmf_frames = 0
        self.dropped_frames = 0

    @classmethod
    def configured(
        cls,
        connection: MediaSource,
        config: LegConfig,
        *,
        vad: Vad,
        events: EventSink,
        call_id: str,
        leg: str,
        frame_clock: FrameClock | None = None,
    ) -> MediaLeg:
        """The leg as `config` says. Legs of one process share one `frame_clock` (the service's); without one
        the leg paces itself."""
        return cls(
            connection,
            config.sample_rate,
            vad=vad,
            endpointing=config.endpointing,
            barge_in=config.barge_in,
            idle_silence=config.idle_silence,
            events=events,
            call_id=call_id,
            leg=leg,
            frame_clock=frame_clock,
        )

    def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())
            self._tasks = [self._watcher, asyncio.create_task(self._timer())]
            if self._idle_silence:
                self._keep_alive = asyncio.create_task(self.playout.keep_alive())
                self._tasks.append(self._keep_alive)
            self.playout.frame_clock.add(self._drain_inbox, after_writes=True)
            self._connection.receive(self._accept)

    async def aclose(self) -> None:
        """Stop reading and playing (does not close the connection: the server and ARI own that)."""
        self.playout.frame_clock.remove(self._drain_inbox)
        self.playout.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def say(self, audio: bytes | AsyncIterable[bytes], *, protected: bool = False) -> PlaybackResult:
        """Play a prompt (whole PCM, or chunks as synthesis produces them) at the leg's rate."""
        if self._closed is not None:
            return PlaybackResult(0, True)
        if isinstance(audio, bytes | bytearray | memoryview):
            return await self.playout.play(bytes(audio), protected=protected)
        return await self.playout.play_stream(audio, protected=protected)

    def stop_speaking(self) -> bool:
        """Flush every queued and playing prompt, protected ones included."""
        return self.playout.stop()

    def expect_verdicts(self) -> None:
        """From now on every :class:`EarlyUtterance` gets a :meth:`judge_pause`, and the turn waits for it (up to
        the endpointing's ``hold_ms``)."""
        self._endpointer.judged = True

    def judge_pause(self, early: EarlyUtterance, complete: bool | None) -> None:
        """The verdict on the pause `early` began: its words answer what was asked (True: the turn ends after a
        short silence), stop mid-phrase (False: it waits longer) or say nothing either way (None). A pause already
        over (speech resumed, the turn ended) ignores it."""
        if self._closed is not None:
            return
        self._drain_inbox()  # frames not yet processed may hold resumed speech
        self._handle(self._endpointer.judge_pause(self._clock(), complete, early.at))
        self._timer_wake.set()  # the silence deadline moved

    async def next_event(self) -> LegEvent:
        if self._queue.empty() and self._closed is not None:
            return self._closed
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[LegEvent]:
        while True:
            event = await self.next_event()
            yield event
            if isinstance(event, LegClosed):
                return

    def _accept(self, item: Audio | Dtmf) -> None:
        """An inbound frame, straight from the connection: stamped with its arrival time and set aside.

        The VAD and the endpointer run on it in the next frame-clock pass, after every leg's outbound frame is
        written (:meth:`_drain_inbox`): that work comes in bursts (Asterisk sends a call's frames together) and,
        done on arrival, it delayed other legs' frames by several ms at 200 legs (docs/media.md). The arrival
        time keeps the endpointer's measure of speech and silence exact; only the events come <= 20 ms later."""
        if self._closed is not None:
            return
        if isinstance(item, Audio) and item.sample_rate != self.sample_rate:
            self.foreign_frames += 1
            return
        if len(self._inbox) >= INBOX_FRAMES:
            self._inbox.popleft()
            self.dropped_frames += 1
        self._inbox.append((item, self._clock()))

    async def _watch(self) -> None:
        """End the leg when the connection closes (or the inbound processing failed)."""
        reason = "connection closed"
        try:
            await self._connection.closed.wait()
            reason = str(self._connection.close_reason or reason)
        finally:
            self.playout.frame_clock.remove(self._drain_inbox)
            if self._failure is None:
                with contextlib.suppress(Exception):
                    self._drain_inbox()  # what arrived before the end still counts (the last words)
            reason = self._failure or reason
            self.playout.stop()
            if self._keep_alive is not None:
                self._keep_alive.cancel()  # idle silence: nothing to send to once the connection is gone
            self._closed = LegClosed(reason, self._clock())
            self._emit("leg_closed", reason=reason)
            self._queue.put_nowait(self._closed)

    def _drain_inbox(self) -> None:
        """VAD and endpointing for the frames that arrived since the last pass (the frame clock calls this)."""
        try:
            while self._inbox:
                item, at = self._inbox.popleft()
                if isinstance(item, Dtmf):
                    # Keypad digits reach the call through ARI, which names the channel; this is the copy the
                    # bridge forwards to every member. Counted, not reported twice.
                    self.dtmf_frames += 1
                    continue
                speech = self._vad.is_speech(item.pcm)
                barge_in = self._barge_in and self.playout.interruptible
                self._handle(self._endpointer.feed(at, speech, item.pcm, barge_in=barge_in))
        except Exception as error:  # a broken VAD ends this leg, visibly; other legs go on
            log.exception("call %s leg %s: inbound audio processing failed", self._call_id, self._leg)
            self._failure = f"media processing failed: {error!r}"
            self._inbox.clear()
            if self._watcher is not None:
                self._watcher.cancel()  # _watch ends the leg with this reason
            return
        deadline = self._endpointer.deadline()
        if deadline is not None and (self._timer_target is None or deadline < self._timer_target):
            self._timer_wake.set()

    async def _timer(self) -> None:
        """Wall-clock silence: wake at the endpointer's next deadline, or when a frame brings it forward."""
        while True:
            self._timer_wake.clear()
            deadline = self._timer_target = self._endpointer.deadline()
            if deadline is None:
                await self._timer_wake.wait()
                continue
            delay = deadline - self._clock()
            if delay > 0:
                sleeper = asyncio.ensure_future(self._sleep(delay))
                waker = asyncio.ensure_future(self._timer_wake.wait())
                try:
                    await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    waker.cancel()
                continue
            self._drain_inbox()  # frames that came before now may still hold speech
            if self._endpointer.deadline() == deadline:
                self._handle(self._endpointer.tick(self._clock()))

    def _handle(self, events: list[TurnEvent]) -> None:
        for event in events:
            match event:
                case UtteranceStarted(onset=onset):
                    self._emit("speech_start", onset=round(onset, 6))
                    self._queue.put_nowait(event)
                case BargeIn(voiced_ms=voiced_ms):
                    if self.playout.interrupt():
                        self._emit("barge_in", voiced_ms=voiced_ms)
                case EarlyUtterance(duration_ms=duration_ms):
                    self._emit("speech_early_end", utterance_ms=duration_ms)
                    self._queue.put_nowait(event)
                case SpeechResumed():
                    self._emit("speech_resumed")
                    self._queue.put_nowait(event)
                case UtteranceEnded():
                    self._emit(
                        "speech_end",
                        utterance_ms=event.duration_ms,
                        endpointing_delay_ms=event.delay_ms,
                        truncated=event.truncated,
                        barged_in=event.barged_in,
                    )
                    self._queue.put_nowait(event)
                case BlipDropped(voiced_ms=voiced_ms):
                    self._emit("speech_blip", voiced_ms=voiced_ms)

    def _emit(self, event: str, **fields: Any) -> None:
        self._events.emit(self._call_id, self._leg, event, **fields)
