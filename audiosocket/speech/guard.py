"""The one place where speech timeouts, retries and fallbacks live: no failure may hang a call.

A :class:`CallSpeech` is made per call leg around the shared engines. It is itself a SpeechToText and a
TextToSpeech, so the runner uses it like any engine, and every failure reaches the runner as one typed error,
:class:`SpeechFailure`, after the wrapper has

- bounded the wait (a whole recognition; the first synthesized chunk and each chunk after it),
- retried once what the engine marked retryable, if the deadline leaves time,
- tried the fallback synthesizer (espeak behind Azure) before any audio was sent,
- logged the cause and emitted a per-call event,
- counted consecutive failures: `give_up` on the error (and on the session) says the limit is reached and the
  call should take the fallback path instead of asking again.

The runner's part is then one `except SpeechFailure`: play :data:`~audiosocket.speech.prompt_cache.FALLBACK_PHRASE`
from the prompt cache (``speech.fallback_audio(rate)``), or leave the conversation when `give_up` is set. A
success resets the count; an empty transcript is a success (the visitor said nothing intelligible, which the
conversation handles), not an engine failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from audiosocket.events import EventSink, NoEvents
from audiosocket.speech.base import (
    EngineError,
    EngineTimeout,
    Hints,
    RecognitionStream,
    SpeechToText,
    TextToSpeech,
    Transcript,
)
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE, PromptCache

log = logging.getLogger(__name__)

Stage = Literal["stt", "tts"]


class SpeechFailure(EngineError):
    """Recognition or synthesis failed for this turn; the caller should hear the fallback phrase.

    `cause` is the underlying error, `consecutive` the failures in a row on this leg including this one, and
    `give_up` whether that reached the limit (go to the fallback path rather than asking again).
    """

    def __init__(self, stage: Stage, cause: BaseException, *, consecutive: int, give_up: bool) -> None:
        super().__init__(f"{stage} failed: {cause}", retryable=not give_up)
        self.stage = stage
        self.cause = cause
        self.consecutive = consecutive
        self.give_up = give_up


@dataclass(frozen=True, slots=True)
class GuardLimits:
    stt_timeout_s: float = 8.0
    tts_timeout_s: float = 3.0
    max_consecutive_failures: int = 3


class CallSpeech:
    """Speech for one call leg: guarded recognition and synthesis, failure count, cached prompts."""

    def __init__(
        self,
        stt: SpeechToText,
        tts: TextToSpeech,
        prompts: PromptCache,
        limits: GuardLimits,
        *,
        fallback_tts: TextToSpeech | None = None,
        events: EventSink | None = None,
        call_id: str = "",
        leg: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stt = stt
        self._tts = tts
        self._prompts = prompts
        self._limits = limits
        self._fallback_tts = fallback_tts
        self._events: EventSink = events or NoEvents()
        self._call_id = call_id
        self._leg = leg
        self._clock = clock
        self._failures = 0

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def give_up(self) -> bool:
        return self._failures >= self._limits.max_consecutive_failures

    def fallback_audio(self, sample_rate: int) -> bytes:
        """The cached "Desculpe, pode repetir?" (empty if even start-up could not synthesize it)."""
        return self._prompts.get(FALLBACK_PHRASE, sample_rate) or b""

    # Recognition

    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        started = self._clock()
        deadline = started + self._limits.stt_timeout_s
        try:
            attempt = lambda: self._stt.transcribe(pcm, sample_rate, hints)  # noqa: E731
            transcript = await self._recognize([attempt, attempt], deadline)
        except EngineError as error:
            raise self._failed("stt", error) from error
        self._recognized(transcript, started, len(pcm) / 2 / sample_rate)
        return transcript

    def stream(self, sample_rate: int, hints: Hints | None = None) -> GuardedRecognition:
        return GuardedRecognition(self, sample_rate, hints)

    async def _recognize(self, attempts: list[Callable[[], Awaitable[Transcript]]], deadline: float) -> Transcript:
        """Run the attempts in turn until one succeeds, all within `deadline`.

        The next attempt runs only after a retryable error and only if at least half the budget is left; the
        deadline expiring is final.
        """
        for number, attempt in enumerate(attempts, start=1):
            try:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise EngineTimeout(f"recognition took longer than {self._limits.stt_timeout_s:g} s")
                async with asyncio.timeout(remaining):
                    return await attempt()
            except (EngineError, TimeoutError) as error:
                if not isinstance(error, EngineError):
                    raise EngineTimeout(f"recognition took longer than {self._limits.stt_timeout_s:g} s") from None
                if (
                    number == len(attempts)
                    or not error.retryable
                    or deadline - self._clock() < self._limits.stt_timeout_s / 2
                ):
                    raise
                log.info("retrying recognition on call %s leg %s: %s", self._call_id, self._leg, error)
        raise AssertionError("no recognition attempt")

    def _recognized(
        self, transcript: Transcript, started: float, audio_s: float,
        *, waited_s: float | None = None, done_at: float | None = None,
    ) -> None:
        """`latency_ms`: recognition from when it was asked for (the early flush or the turn's end) to its
        result; `wait_ms`: what the turn's end still waited for it (0 when the early result had come)."""
        self._failures = 0
        done = self._clock() if done_at is None else done_at
        fields: dict[str, object] = {"latency_ms": round((done - started) * 1000)}
        if waited_s is not None:
            fields["wait_ms"] = round(waited_s * 1000)
        self._events.emit(
            self._call_id, self._leg, "stt_done",
            text=transcript.text, confidence=transcript.confidence, audio_ms=round(audio_s * 1000), **fields,
        )

    def _failed(self, stage: Stage, error: BaseException) -> SpeechFailure:
        self._failures += 1
        failure = SpeechFailure(stage, error, consecutive=self._failures, give_up=self.give_up)
        log.warning(
            "%s failure %d on call %s leg %s: %s", stage, self._failures, self._call_id, self._leg, error
        )
        self._events.emit(
            self._call_id, self._leg, f"{stage}_failed",
            cause=str(error), error=type(error).__name__, consecutive=self._failures, give_up=failure.give_up,
        )
        return failure

    # Synthesis

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Cached phrases from memory; otherwise the engine, then the fallback engine if nothing was sent yet."""
        started = self._clock()
        cached = self._prompts.get(text, sample_rate)
        if cached is not None:
            self._events.emit(self._call_id, self._leg, "tts_first_audio", latency_ms=0, cached=True)
            for chunk in self._prompts.chunks(text, sample_rate):
                yield chunk
            return
        engines = [self._tts] if self._fallback_tts is None else [self._tts, self._fallback_tts]
        for index, engine in enumerate(engines):
            sent = False
            try:
                async for chunk in self._paced(engine, text, sample_rate):
                    if not sent:
                        sent = True
                        self._events.emit(
                            self._call_id, self._leg, "tts_first_audio",
                            latency_ms=round((self._clock() - started) * 1000), cached=False, engine=index,
                        )
                    yield chunk
            except EngineError as error:
                if sent or index == len(engines) - 1:
                    raise self._failed("tts", error) from error
                log.warning("synthesizer failed on call %s, using the fallback voice: %s", self._call_id, error)
                continue
            self._failures = 0
            return

    async def _paced(self, engine: TextToSpeech, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """The engine's chunks, each awaited at most `tts_timeout_s` (the first one included)."""
        timeout = self._limits.tts_timeout_s
        chunks = engine.synthesize(text, sample_rate)
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError as error:
                    if isinstance(error, EngineError):
                        raise
                    raise EngineTimeout(f"synthesizer silent for more than {timeout:g} s") from None
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()


class GuardedRecognition:
    """A guarded :class:`RecognitionStream`: keeps the turn's audio so a retryable failure can be retried whole."""

    def __init__(self, speech: CallSpeech, sample_rate: int, hints: Hints | None = None) -> None:
        self._speech = speech
        self._rate = sample_rate
        self._hints = hints
        self._audio = bytearray()
        # The last flush (its time and the audio it covered) and when its early result came: the recognition
        # time of a turn whose early result stands is flush -> result, not the near-zero wait after the turn.
        self._flushed: tuple[float, int] | None = None
        self._early_done_at: float | None = None
        self._error: EngineError | None = None
        self._inner: RecognitionStream | None = None
        try:
            self._inner = speech._stt.stream(sample_rate, hints)
        except EngineError as error:
            self._error = error

    def push_frame(self, pcm: bytes) -> None:
        self._audio += pcm
        if self._inner is None or self._error is not None:
            return
        try:
            self._inner.push_frame(pcm)
        except EngineError as error:
            self._error = error

    def flush(self) -> None:
        if self._inner is not None and self._error is None:
            if self._flushed is None or self._flushed[1] != len(self._audio):
                self._flushed = (self._speech._clock(), len(self._audio))
                self._early_done_at = None
            self._inner.flush()

    async def early(self) -> Transcript | None:
        """The engine's early result, or None (a failure here is the turn's end to retry, not the judge's)."""
        if self._inner is None or self._error is not None:
            return None
        flushed = self._flushed
        try:
            transcript = await self._inner.early()
        except EngineError:
            return None
        if transcript is not None and flushed is self._flushed and self._early_done_at is None:
            self._early_done_at = self._speech._clock()
        return transcript

    async def finish(self) -> Transcript:
        speech = self._speech
        finished_at = speech._clock()
        deadline = finished_at + speech._limits.stt_timeout_s
        inner, self._inner = self._inner, None
        audio = bytes(self._audio)

        async def first() -> Transcript:
            if self._error is not None:
                raise self._error
            assert inner is not None
            return await inner.finish()

        async def again() -> Transcript:
            return await speech._stt.transcribe(audio, self._rate, self._hints)

        try:
            transcript = await speech._recognize([first, again], deadline)
        except EngineError as error:
            raise speech._failed("stt", error) from error
        finally:
            if inner is not None:
                await inner.aclose()
        speech._recognized(transcript, self._recognition_start(finished_at, len(audio)), len(audio) / 2 / self._rate,
                           waited_s=speech._clock() - finished_at, done_at=self._done_at(len(audio)))
        return transcript

    def _recognition_start(self, finished_at: float, size: int) -> float:
        """The flush's time when the turn's result is that flush's early result (no frame since), else now."""
        if self._flushed is not None and self._flushed[1] == size and self._error is None:
            return min(self._flushed[0], finished_at)
        return finished_at

    def _done_at(self, size: int) -> float | None:
        if self._flushed is not None and self._flushed[1] == size:
            return self._early_done_at
        return None

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            await inner.aclose()
