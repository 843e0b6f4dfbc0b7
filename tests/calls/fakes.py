"""Fakes implementing the real interfaces of the call path: speech engines, a VAD, an event sink, a media leg, the
call control and an understanding. (The fake Asterisk is in fake_asterisk.py, the audit log and gate opener in
bed.py.)

Audio carries words: :data:`PHRASES` gives every text its own sample value, so a prompt's PCM (from
:class:`PhraseTTS`) or a visitor's utterance can be read back as text wherever it ends up (:class:`PhraseSTT`, or
the fake Asterisk's AudioSocket client), with no real synthesis or recognition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiosocket.media_leg import EarlyUtterance, LegClosed, LegEvent
from audiosocket.playout import PlaybackResult
from audiosocket.speech.base import EngineError, Hints, RecognitionStream, Transcript
from audiosocket.speech.factory import SpeechEngines
from audiosocket.speech.guard import CallSpeech, GuardLimits
from audiosocket.speech.pieces import BufferedStream
from audiosocket.speech.prompt_cache import STANDARD_PHRASES, PromptCache
from controller.calls.runner import CallRunner, LegIO
from controller.conversation.events import (
    AuditRecord,
    DialResident,
    Leg,
    OpenGate,
    ResidentAnswered,
    ResidentRinging,
    ResidentUnavailable,
    Unavailable,
)
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.understanding import UnderstandingContext, Understood

RATE = 8000
FRAME_BYTES = RATE // 50 * 2  # 20 ms of slin


async def settle(rounds: int = 20) -> None:
    """Let every task that can run without I/O or timers run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# Words as audio -----------------------------------------------------------------------------------------------


class Phrasebook:
    """Each text gets one 16-bit sample value (>= 1000: loud enough to be speech for :class:`LoudnessVad`)."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._texts: dict[int, str] = {}

    def value(self, text: str) -> int:
        key = " ".join(text.split())
        if key not in self._values:
            value = 1000 + 16 * len(self._values)
            self._values[key], self._texts[value] = value, key
        return self._values[key]

    def pcm(self, text: str, ms: int = 40, rate: int = RATE) -> bytes:
        return np.full(rate * ms // 1000, self.value(text), dtype="<i2").tobytes()

    def texts(self, pcm: bytes) -> list[str]:
        """The known texts in `pcm`, in order (silence and unknown values skipped, repeats collapsed)."""
        found: list[str] = []
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        changes = np.flatnonzero(np.diff(samples)) + 1
        for value in samples[np.concatenate(([0], changes))] if samples.size else []:
            text = self._texts.get(int(value))
            if text is not None and (not found or found[-1] != text):
                found.append(text)
        return found

    def text(self, pcm: bytes) -> str:
        return " ".join(self.texts(pcm))


PHRASES = Phrasebook()


class PhraseTTS:
    """A TextToSpeech whose audio is the phrase's value for `ms` milliseconds, in 20 ms chunks."""

    def __init__(self, ms: int = 40) -> None:
        self.ms = ms
        self.texts: list[str] = []

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        self.texts.append(text)
        pcm = PHRASES.pcm(text, self.ms, sample_rate)
        step = sample_rate // 50 * 2
        for start in range(0, len(pcm), step):
            yield pcm[start : start + step]


class PhraseSTT:
    """A SpeechToText that reads PHRASES back; `failures` are raised first, one per recognition.

    With `hold` set, each recognition waits for it (cancelled recognitions are counted)."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls: list[bytes] = []
        self.cancelled = 0
        self.hold: asyncio.Event | None = None
        self.hints: list[Hints | None] = []  # what each recognition was told to expect
        self.alternatives: dict[str, tuple[str, ...]] = {}  # phrase -> the other hypotheses it comes with
        self.alternative_confidence = 0.9  # each of them, as the best one's

    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        self.calls.append(pcm)
        self.hints.append(hints)
        try:
            if self.hold is not None:
                await self.hold.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.failures:
            raise self.failures.pop(0)
        text = PHRASES.text(pcm)
        wanted = hints is not None and hints.alternatives > 1  # as a real engine: only when asked for
        others = self.alternatives.get(text, ()) if wanted else ()
        return Transcript(text, 0.9, "pt", others, (self.alternative_confidence,) * len(others))

    def stream(self, sample_rate: int, hints: Hints | None = None) -> RecognitionStream:
        return BufferedStream(lambda pcm: self.transcribe(pcm, sample_rate, hints))


async def prompt_cache(tts: PhraseTTS, *phrases: str) -> PromptCache:
    cache = PromptCache(tts)
    await cache.warm([*STANDARD_PHRASES, *phrases], [RATE])
    return cache


async def call_speech(
    stt: PhraseSTT | None = None, *, limits: GuardLimits | None = None, tts: PhraseTTS | None = None
) -> CallSpeech:
    """One leg's guarded speech around the phrase fakes, its prompt cache holding the fallback phrase."""
    tts = tts or PhraseTTS()
    return CallSpeech(stt or PhraseSTT(), tts, await prompt_cache(tts), limits or GuardLimits())


async def speech_engines(stt: PhraseSTT, tts: PhraseTTS, *phrases: str) -> SpeechEngines:
    return SpeechEngines(
        stt=stt,
        tts=tts,
        fallback_tts=None,
        prompts=await prompt_cache(tts, *phrases),
        limits=GuardLimits(),
        executor=ThreadPoolExecutor(max_workers=1),
    )


class LoudnessVad:
    """A Vad: speech is any sample of magnitude over 500 (every phrase's audio, not silence)."""

    sample_rate = RATE

    def is_speech(self, pcm: bytes) -> bool:
        return bool(pcm) and int(np.abs(np.frombuffer(pcm, dtype="<i2")).max()) > 500

    def reset(self) -> None:
        return None


# Events -------------------------------------------------------------------------------------------------------


class EventLog:
    """An EventSink keeping every event, with a wait for one to happen."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        self.events.append({"call_id": call_id, "leg": leg, "event": event, **fields})
        self._changed.set()

    def named(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event and all(e.get(k) == v for k, v in match.items())]

    def turns(self) -> list[str]:
        """The conversation's inputs, in the order the runner fed them."""
        return [e["input"] for e in self.named("dialog_turn")]

    async def wait_for(self, event: str, count: int = 1, **match: Any) -> dict[str, Any]:
        """The `count`-th event called `event` with fields `match` (callers bound this with asyncio.timeout)."""
        while len(self.named(event, **match)) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.named(event, **match)[count - 1]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    async def wait_turn(self, name: str, count: int = 1) -> None:
        await self.wait_for("dialog_turn", count, input=name)


# A media leg --------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Prompt:
    pcm: bytes
    protected: bool
    done: asyncio.Future[PlaybackResult]

    @property
    def text(self) -> str:
        return PHRASES.text(self.pcm)

    def finish(self, interrupted: bool) -> None:
        if not self.done.done():
            played = 0 if interrupted else round(len(self.pcm) / 2 / RATE * 1000)
            self.done.set_result(PlaybackResult(played, interrupted))


class FakeMediaLeg:
    """The part of :class:`~audiosocket.media_leg.MediaLeg` the runner and the turn listener use.

    The test pushes leg events; prompts play at once, or, with `hold`, until :meth:`release` (or stop_speaking).
    """

    def __init__(self, sample_rate: int = RATE) -> None:
        self.sample_rate = sample_rate
        self.prompts: list[Prompt] = []
        self.hold = False
        self.cancelled = 0  # say() calls cancelled by their caller (a prompt cut without barge-in or hang-up)
        self.stops = 0
        self.closed = False
        self.verdicts: list[bool | None] = []  # judge_pause calls, in order
        self.expecting_verdicts = False
        self._events: asyncio.Queue[LegEvent] = asyncio.Queue()
        self._said = asyncio.Event()

    def push(self, *events: LegEvent) -> None:
        for event in events:
            self._events.put_nowait(event)

    @property
    def unread(self) -> int:
        return self._events.qsize()

    def texts(self) -> list[str]:
        return [prompt.text for prompt in self.prompts]

    async def say(self, audio: bytes | AsyncIterable[bytes], *, protected: bool = False) -> PlaybackResult:
        if isinstance(audio, bytes | bytearray | memoryview):
            pcm = bytes(audio)
        else:
            pcm = b"".join([chunk async for chunk in audio])
        prompt = Prompt(pcm, protected, asyncio.get_running_loop().create_future())
        self.prompts.append(prompt)
        self._said.set()
        if not self.hold:
            prompt.finish(interrupted=False)
        try:
            return await asyncio.shield(prompt.done)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def wait_said(self, count: int) -> Prompt:
        while len(self.prompts) < count:
            self._said.clear()
            await self._said.wait()
        return self.prompts[count - 1]

    def release(self) -> None:
        self.hold = False
        for prompt in self.prompts:
            prompt.finish(interrupted=False)

    def expect_verdicts(self) -> None:
        self.expecting_verdicts = True

    def judge_pause(self, early: EarlyUtterance, complete: bool | None) -> None:
        self.verdicts.append(complete)

    def stop_speaking(self) -> bool:
        self.stops += 1
        playing = [prompt for prompt in self.prompts if not prompt.done.done()]
        for prompt in playing:
            prompt.finish(interrupted=True)
        return bool(playing)

    async def aclose(self) -> None:
        self.closed = True

    async def __aiter__(self) -> AsyncIterator[LegEvent]:
        while True:
            await asyncio.sleep(0)  # events of a real leg come apart in time: what they started gets to run
            event = await self._events.get()
            yield event
            if isinstance(event, LegClosed):
                return


# The call control ---------------------------------------------------------------------------------------------


class FakeControl:
    """A CallControl recording every request. A dial answers (attaching a FakeMediaLeg as the resident's leg)
    unless `unavailable` says why not; the audit and the gate succeed unless told otherwise."""

    def __init__(self, speech: Callable[[], CallSpeech]) -> None:
        self.speech = speech
        self.runner: CallRunner | None = None
        self.calls: list[tuple[str, Any]] = []
        self.unavailable: Unavailable | None = None
        self.audit_ok = True
        self.gate_ok = True
        self.resident = FakeMediaLeg()
        self.ended = asyncio.Event()
        self.lost = asyncio.Event()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def args(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    async def hangup(self, leg: Leg) -> None:
        self.calls.append(("hangup", leg))

    async def fallback(self, reason: str) -> None:
        self.calls.append(("fallback", reason))

    async def dial_resident(self, action: DialResident) -> None:
        assert self.runner is not None
        self.calls.append(("dial_resident", action))
        self.runner.post(ResidentRinging(action.target, action.attempt))
        await asyncio.sleep(0)
        if self.unavailable is not None:
            self.runner.post(ResidentUnavailable(action.target, action.attempt, self.unavailable))
            return
        self.runner.attach(Leg.RESIDENT, LegIO(self.resident, self.speech()))  # type: ignore[arg-type]
        self.runner.post(ResidentAnswered(action.target))

    async def write_audit(self, record: AuditRecord) -> bool:
        self.calls.append(("write_audit", record))
        return self.audit_ok

    async def open_gate(self, action: OpenGate) -> bool:
        self.calls.append(("open_gate", action))
        return self.gate_ok

    async def bridge_callers(self) -> None:
        self.calls.append(("bridge_callers", None))

    async def end_call(self) -> None:
        self.calls.append(("end_call", None))
        self.ended.set()

    def leg_lost(self, leg: Leg, reason: str) -> None:
        self.calls.append(("leg_lost", (leg, reason)))
        self.lost.set()


# Understanding ------------------------------------------------------------------------------------------------


class ScriptedUnderstanding:
    """The rules, except that a text in `hold` waits for its Event first and a text in `fail` raises."""

    def __init__(self) -> None:
        self.rules = RuleUnderstanding()
        self.hold: dict[str, asyncio.Event] = {}
        self.fail: dict[str, Exception] = {}
        self.started: list[str] = []
        self.finished: list[str] = []
        self._began = asyncio.Event()

    async def wait_started(self, count: int = 1) -> None:
        while len(self.started) < count:
            self._began.clear()
            await self._began.wait()

    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        self.started.append(text)
        self._began.set()
        if text in self.hold:
            await self.hold[text].wait()
        if text in self.fail:
            raise self.fail[text]
        self.finished.append(text)
        return self.rules.parse(text, context)


def engine_error(message: str = "engine down") -> EngineError:
    return EngineError(message, retryable=False)
