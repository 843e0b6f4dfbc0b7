"""The failure wrapper: no engine error or stall hangs a call; failures are typed, counted, logged, evented."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from audiosocket.speech.base import EngineError, EngineTimeout, Transcript
from audiosocket.speech.guard import CallSpeech, GuardLimits, SpeechFailure
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE, PromptCache
from tests.speech.fakes import FakeSTT, FakeTTS, RecordingEvents

LIMITS = GuardLimits(stt_timeout_s=0.3, tts_timeout_s=0.2, max_consecutive_failures=3)
SIM = Transcript("sim", 0.9, "pt")


async def speech_with(
    stt: FakeSTT, tts: FakeTTS | None = None, fallback: FakeTTS | None = None, limits: GuardLimits = LIMITS,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[CallSpeech, RecordingEvents]:
    prompts = PromptCache(FakeTTS(chunks=[b"\x07\x00" * 800]))
    await prompts.warm([FALLBACK_PHRASE], [8000])
    events = RecordingEvents()
    speech = CallSpeech(
        stt, tts or FakeTTS(), prompts, limits, fallback_tts=fallback, events=events, call_id="c1", leg="gate",
        clock=clock,
    )
    return speech, events


async def test_a_stalled_recognizer_times_out_within_the_budget() -> None:
    speech, events = await speech_with(FakeSTT(30.0))
    started = time.monotonic()
    with pytest.raises(SpeechFailure) as caught:
        await speech.transcribe(b"\0\0" * 800, 8000)
    assert time.monotonic() - started < 10  # the budget ended it, not the 30 s stall (its speed is not a test's)
    assert isinstance(caught.value.cause, EngineTimeout)
    assert caught.value.stage == "stt" and caught.value.consecutive == 1 and not caught.value.give_up
    assert events.named("stt_failed")[0]["error"] == "EngineTimeout"
    assert speech.fallback_audio(8000) == b"\x07\x00" * 800


async def test_failures_are_counted_until_give_up_and_a_success_resets(caplog: pytest.LogCaptureFixture) -> None:
    speech, events = await speech_with(FakeSTT(EngineError("boom"), EngineError("boom"), SIM, *[EngineError("x")] * 3))
    for expected in (1, 2):
        with pytest.raises(SpeechFailure) as caught:
            await speech.transcribe(b"\0\0", 8000)
        assert caught.value.consecutive == expected
    assert await speech.transcribe(b"\0\0", 8000) == SIM
    assert speech.consecutive_failures == 0
    for expected in (1, 2, 3):
        with pytest.raises(SpeechFailure) as caught:
            await speech.transcribe(b"\0\0", 8000)
        assert caught.value.give_up is (expected == 3)
    assert speech.give_up
    assert "boom" in caplog.text  # the cause is logged
    assert events.named("stt_done")[0]["text"] == "sim"


async def test_a_retryable_error_is_retried_once() -> None:
    stt = FakeSTT(EngineError("connection reset", retryable=True), SIM)
    speech, _ = await speech_with(stt)
    assert await speech.transcribe(b"\0\0", 8000) == SIM
    assert len(stt.calls) == 2
    stt = FakeSTT(*[EngineError("connection reset", retryable=True)] * 3)
    speech, _ = await speech_with(stt)
    with pytest.raises(SpeechFailure):
        await speech.transcribe(b"\0\0", 8000)
    assert len(stt.calls) == 2


async def test_an_empty_transcript_is_not_a_failure() -> None:
    speech, _ = await speech_with(FakeSTT(Transcript("", 0.0, "pt")))
    assert (await speech.transcribe(b"\0\0", 8000)).empty
    assert speech.consecutive_failures == 0


async def test_guarded_stream_retries_the_whole_turn_after_a_retryable_failure() -> None:
    stt = FakeSTT(EngineError("dropped", retryable=True), SIM)
    speech, _ = await speech_with(stt)
    stream = speech.stream(16000)
    for frame in (b"\x01\x00", b"\x02\x00"):
        stream.push_frame(frame)
    assert await stream.finish() == SIM
    assert stt.calls == [(b"\x01\x00\x02\x00", 16000)] * 2


async def test_a_turn_whose_early_result_stands_reports_the_recognition_not_the_wait() -> None:
    now = [10.0]
    speech, events = await speech_with(FakeSTT(SIM, SIM), clock=lambda: now[0])
    stream = speech.stream(8000)
    stream.push_frame(b"\x01\x00")
    stream.flush()  # the early end: recognition starts at 10.0
    now[0] = 10.4
    assert await stream.early() == SIM  # ... and its result is there at 10.4
    now[0] = 10.7  # the turn ends after its silence: nothing is left to wait for
    assert await stream.finish() == SIM
    done = events.named("stt_done")[0]
    assert (done["latency_ms"], done["wait_ms"]) == (400, 0)

    stream = speech.stream(8000)  # speech resumed after the flush: the turn's end recognises it all again
    stream.push_frame(b"\x01\x00")
    stream.flush()
    stream.push_frame(b"\x02\x00")
    now[0] = 12.0
    assert await stream.finish() == SIM
    assert events.named("stt_done")[1]["latency_ms"] == 0


async def test_guarded_stream_times_out() -> None:
    speech, _ = await speech_with(FakeSTT(30.0))
    stream = speech.stream(8000)
    stream.push_frame(b"\0\0")
    with pytest.raises(SpeechFailure):
        await asyncio.wait_for(stream.finish(), 2)


async def test_synthesis_that_never_starts_times_out() -> None:
    speech, events = await speech_with(FakeSTT(), FakeTTS(first_delay=30))
    started = time.monotonic()
    with pytest.raises(SpeechFailure) as caught:
        async for _ in speech.synthesize("Qual apartamento?", 8000):
            pass
    assert time.monotonic() - started < 10  # the budget ended it, not the 30 s stall
    assert caught.value.stage == "tts" and isinstance(caught.value.cause, EngineTimeout)
    assert events.named("tts_failed")


async def test_synthesis_that_stalls_mid_sentence_times_out_and_closes_the_engine() -> None:
    tts = FakeTTS(stall_after=1)
    speech, _ = await speech_with(FakeSTT(), tts)
    received = []
    with pytest.raises(SpeechFailure):
        async for chunk in speech.synthesize("Qual apartamento?", 8000):
            received.append(chunk)
    assert received == tts.chunks[:1]
    assert tts.closed == 1


async def test_fallback_voice_speaks_when_the_main_one_fails_before_any_audio() -> None:
    main = FakeTTS(error=EngineError("401"))
    backup = FakeTTS(chunks=[b"\x05\x00"])
    speech, events = await speech_with(FakeSTT(), main, backup)
    assert [chunk async for chunk in speech.synthesize("Qual apartamento?", 8000)] == [b"\x05\x00"]
    assert speech.consecutive_failures == 0
    assert events.named("tts_first_audio")[0]["engine"] == 1


async def test_no_fallback_voice_after_audio_was_sent() -> None:
    main = FakeTTS(error=EngineError("dropped"), fail_after=1)
    backup = FakeTTS()
    speech, _ = await speech_with(FakeSTT(), main, backup)
    with pytest.raises(SpeechFailure):
        async for _ in speech.synthesize("Qual apartamento?", 8000):
            pass
    assert backup.texts == []


async def test_cached_phrases_skip_the_engine() -> None:
    tts = FakeTTS()
    speech, events = await speech_with(FakeSTT(), tts)
    audio = b"".join([chunk async for chunk in speech.synthesize(FALLBACK_PHRASE, 8000)])
    assert audio == b"\x07\x00" * 800
    assert tts.texts == []
    assert events.named("tts_first_audio")[0]["cached"] is True
