"""The real offline synthesizer (espeak-ng pt-br) at both leg rates."""

from __future__ import annotations

import time

import numpy as np
import pytest

from audiosocket.speech.base import EngineError
from audiosocket.speech.espeak import EspeakTTS

GREETING = "Condomínio Apoena, em que posso ajudar?"


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_synthesis_at_the_leg_rate_is_plausible_speech(rate: int) -> None:
    started = time.monotonic()
    first_at = None
    chunks = []
    async for chunk in EspeakTTS().synthesize(GREETING, rate):
        first_at = first_at or time.monotonic() - started
        chunks.append(chunk)
    assert first_at is not None and first_at < 0.3
    assert len(chunks) > 1  # streamed, not one block at the end
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    samples = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float64)
    seconds = samples.size / rate
    assert 1.5 < seconds < 5.0  # six words at 160 wpm
    assert np.sqrt(np.mean(samples**2)) > 500  # audible, not silence
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    voice_band = spectrum[(freqs > 100) & (freqs < 3400)].sum() / spectrum.sum()
    assert voice_band > 0.8  # speech energy where a telephone carries it: the rate is what we said it is


async def test_both_rates_carry_the_same_duration() -> None:
    tts = EspeakTTS()
    narrow = b"".join([chunk async for chunk in tts.synthesize(GREETING, 8000)])
    wide = b"".join([chunk async for chunk in tts.synthesize(GREETING, 16000)])
    assert len(wide) / len(narrow) == pytest.approx(2.0, rel=0.01)


async def test_empty_text_yields_nothing() -> None:
    assert [chunk async for chunk in EspeakTTS().synthesize("  ", 8000)] == []


async def test_missing_binary_is_an_engine_error() -> None:
    with pytest.raises(EngineError):
        async for _ in EspeakTTS(binary="/nonexistent/espeak-ng").synthesize("olá", 8000):
            pass


async def test_abandoning_synthesis_stops_espeak() -> None:
    chunks = EspeakTTS().synthesize("Uma frase bem longa " * 20, 8000)
    assert await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]
