"""The real offline recognizer (faster-whisper + Whisper base) on the committed pt-BR fixtures."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from audiosocket.speech.whisper import WhisperOptions, WhisperSTT
from controller.tools.scoring import contains_keywords
from tests.speech.conftest import MODEL, SPEECH_FIXTURES, SpeechFixture


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("fixture", SPEECH_FIXTURES, ids=lambda fixture: fixture.name)
async def test_fixture_keywords_are_heard(whisper: WhisperSTT, fixture: SpeechFixture, rate: int) -> None:
    transcript = await whisper.transcribe(fixture.pcm(rate), rate)
    assert not transcript.empty
    assert contains_keywords(transcript.text, fixture.expected(rate)) == [], transcript.text
    assert transcript.language == "pt" and 0 < transcript.confidence <= 1


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("name", ["visitor-farmacia", "resident-nao-conheco", "visitor-morador-34"])
async def test_short_encoder_input_path(
    whisper: WhisperSTT, speech_executor: ThreadPoolExecutor, name: str, rate: int
) -> None:
    """The opt-in faster path (PORTARIA_WHISPER_SHORT_INPUT) on fixtures it hears as well as the default."""
    short = WhisperSTT(MODEL, speech_executor, WhisperOptions(short_input=True))
    short.load_blocking()
    fixture = next(item for item in SPEECH_FIXTURES if item.name == name)
    transcript = await short.transcribe(fixture.pcm(rate), rate)
    assert contains_keywords(transcript.text, fixture.expected(rate)) == [], transcript.text
    assert (await short.transcribe(bytes(16000 * 2), 16000)).empty


async def test_silence_is_an_empty_transcript(whisper: WhisperSTT) -> None:
    transcript = await whisper.transcribe(bytes(2 * 8000 * 2), 8000)
    assert transcript.empty


async def test_stream_recognition_started_on_flush_is_reused(whisper: WhisperSTT) -> None:
    fixture = next(item for item in SPEECH_FIXTURES if item.name == "resident-sim")
    pcm = fixture.pcm(8000)
    stream = whisper.stream(8000)
    for start in range(0, len(pcm), 320):
        stream.push_frame(pcm[start : start + 320])
    stream.flush()
    await asyncio.sleep(2.0)  # endpointing's silence wait, during which recognition runs (~0.4 s here)
    started = time.monotonic()
    transcript = await stream.finish()
    assert time.monotonic() - started < 0.1  # already done: only the result was collected
    assert contains_keywords(transcript.text, fixture.keywords) == [], transcript.text


async def test_the_event_loop_keeps_ticking_while_transcribing(whisper: WhisperSTT) -> None:
    longest = max(SPEECH_FIXTURES, key=lambda item: len(item.pcm16k))
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    task = asyncio.create_task(ticker())
    try:
        for _ in range(3):
            await whisper.transcribe(longest.pcm16k, 16000)
    finally:
        task.cancel()
    assert len(lags) > 10
    assert max(lags) < 0.05, f"event loop stalled {max(lags) * 1000:.0f} ms"


async def test_offline_engines_from_settings_end_to_end() -> None:
    """build_speech() with the defaults: greeting from the cache at once, a fixture recognised, events emitted."""
    from controller.settings import MediaFormat, Settings
    from controller.wiring import speech_engines as build_speech
    from tests.speech.fakes import RecordingEvents

    settings = Settings(_env_file=None, whisper_model=MODEL, media_format=MediaFormat.SLIN)  # type: ignore[call-arg]
    speech = build_speech(settings)
    try:
        assert await speech.start() == []
        events = RecordingEvents()
        leg = speech.for_call("c1", "gate", events)
        started = time.monotonic()
        first = await anext(leg.synthesize(settings.greeting, 8000))
        assert time.monotonic() - started < 0.1 and first
        fixture = next(item for item in SPEECH_FIXTURES if item.name == "resident-nao")
        stream = leg.stream(8000)
        stream.push_frame(fixture.pcm(8000))
        stream.flush()
        transcript = await stream.finish()
        assert contains_keywords(transcript.text, fixture.expected(8000)) == [], transcript.text
        assert [event["event"] for event in events.events] == ["tts_first_audio", "stt_done"]
        assert leg.fallback_audio(8000)
    finally:
        speech.close()
