"""The real Kokoro-82M engine: synthesis at both leg rates, a round trip through Whisper base, priorities, errors.

One session for the module (~0.6 s to open, ~370 MB); no part of Kokoro is faked.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest

from audiosocket.speech import install_model
from audiosocket.speech.base import EngineError, TextToSpeech
from audiosocket.speech.install_model import KOKORO_MODEL, KOKORO_VOCAB, KOKORO_VOICES
from audiosocket.speech.kokoro import KokoroOptions, KokoroTTS
from audiosocket.speech.tts_cache import CachedTTS, DiskCache
from audiosocket.speech.whisper import WhisperSTT
from controller.tools.scoring import contains_keywords, normalize, word_error_rate

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models/kokoro"
SENTENCE = "Boa tarde, do 702."


@pytest.fixture(scope="module")
def kokoro() -> KokoroTTS:
    install_model.install_kokoro(MODEL)
    engine = KokoroTTS(MODEL, KokoroOptions(voice="jm_kumo", threads=2))
    engine.load_blocking()
    return engine


async def _say(engine: TextToSpeech, text: str, rate: int) -> tuple[list[bytes], float]:
    started = time.monotonic()
    first = 0.0
    chunks = []
    async for chunk in engine.synthesize(text, rate):
        first = first or time.monotonic() - started
        chunks.append(chunk)
    return chunks, first


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_synthesis_at_the_leg_rate_is_plausible_speech(kokoro: KokoroTTS, rate: int) -> None:
    chunks, _ = await _say(kokoro, SENTENCE, rate)
    assert len(chunks) == 2  # one per clause: "Boa tarde," then "do setecentos e dois."
    assert all(chunk and len(chunk) % 2 == 0 for chunk in chunks)
    samples = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float64)
    seconds = samples.size / rate
    assert 1.0 < seconds < 4.0  # seven syllables and a half
    assert np.all(np.isfinite(samples))
    assert np.mean(np.abs(samples) >= 32767) < 1e-4  # not clipped (loud clauses are scaled down instead)
    assert np.sqrt(np.mean(samples**2)) > 500  # audible
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    assert spectrum[(freqs > 100) & (freqs < 3400)].sum() / spectrum.sum() > 0.7  # speech where a phone carries it


async def test_both_rates_carry_the_same_duration(kokoro: KokoroTTS) -> None:
    narrow = b"".join((await _say(kokoro, "Pode entrar.", 8000))[0])
    wide = b"".join((await _say(kokoro, "Pode entrar.", 16000))[0])
    assert len(wide) / len(narrow) == pytest.approx(2.0, rel=0.01)


async def test_the_first_clause_leaves_before_the_rest_is_made(kokoro: KokoroTTS) -> None:
    started = time.monotonic()
    chunks = kokoro.synthesize("Certo. Vou chamar a moradora do apartamento, um momento por favor.", 8000)
    first = await anext(chunks)
    first_at = time.monotonic() - started
    rest = [chunk async for chunk in chunks]
    total = time.monotonic() - started
    assert rest and first_at < total * 0.7
    assert len(first) < sum(map(len, rest))


async def test_round_trip_through_whisper_hears_the_sentence(kokoro: KokoroTTS, whisper: WhisperSTT) -> None:
    """At 8 kHz, as a slin leg carries it. Asserted with margin: the names and the number, not every word
    (measured WER 0.02-0.05 for this voice; bench/bench_tts.py)."""
    text = "Certo, Marcos. Vou chamar a Giovanna, do 702. Um momento."
    pcm = b"".join((await _say(kokoro, text, 8000))[0])
    heard = whisper.recognize(pcm, 8000).text
    assert contains_keywords(heard, ["giovanna", "momento"]) == [], heard
    assert "702" in normalize(heard), heard  # as a substring: the reader may join it to the "um" that follows
    assert word_error_rate(text, heard) < 0.4, heard


async def test_empty_and_markless_text(kokoro: KokoroTTS) -> None:
    assert (await _say(kokoro, " ... ", 8000))[0] == []
    assert len((await _say(kokoro, "Olá", 8000))[0]) == 1


async def test_abandoning_synthesis_is_clean(kokoro: KokoroTTS) -> None:
    chunks = kokoro.synthesize("Primeiro. Segundo. Terceiro.", 8000)
    assert await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]
    assert (await _say(kokoro, "Olá.", 8000))[0]  # the engine is still usable


async def test_a_live_synthesis_stops_a_background_one(kokoro: KokoroTTS) -> None:
    background_text = "O morador não atendeu, pode deixar a encomenda na portaria que avisamos quando ele chegar."
    done: list[str] = []

    async def background() -> bytes:
        pcm = b"".join([chunk async for chunk in kokoro.low_priority.synthesize(background_text, 8000)])
        done.append("background")
        return pcm

    task = asyncio.create_task(background())
    async with asyncio.timeout(10):
        while not kokoro.background_running:  # noqa: ASYNC110 (the engine has no event for it: a test-only wait)
            await asyncio.sleep(0.01)
    live, _ = await _say(kokoro, "Pode subir pelo elevador social.", 8000)
    done.append("live")
    pcm = await task
    assert live and pcm and done == ["live", "background"]
    assert kokoro.preempted >= 1  # stopped, then redone in full
    alone = b"".join([chunk async for chunk in kokoro.synthesize(background_text, 8000)])
    assert abs(len(pcm) - len(alone)) <= 0.02 * len(alone)


async def test_the_cache_in_front_reuses_clauses_across_sentences(kokoro: KokoroTTS, tmp_path: Path) -> None:
    cached = CachedTTS(kokoro, kokoro.cache_id, DiskCache(tmp_path))
    await _say(cached, "Certo, Marcos. Um momento.", 8000)
    assert (cached.hits, cached.misses) == (0, 3)
    chunks, first = await _say(cached, "Certo, Marcos. Vou chamar a Giovanna. Um momento.", 8000)
    assert (cached.hits, cached.misses) == (3, 4)
    assert first < 0.1  # "Certo," came from memory
    fresh = CachedTTS(kokoro, kokoro.cache_id, DiskCache(tmp_path))
    again, first = await _say(fresh, "Certo, Marcos. Vou chamar a Giovanna. Um momento.", 8000)
    assert again == chunks and (fresh.hits, fresh.misses) == (4, 0) and first < 0.1  # all from disk


async def test_not_loaded_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not loaded"):
        await _say(KokoroTTS(tmp_path), "Olá.", 8000)


def test_missing_model_is_a_clear_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no Kokoro model.*install_model"):
        KokoroTTS(tmp_path).load_blocking()


def test_a_model_that_fails_its_sha256_is_refused(kokoro: KokoroTTS, tmp_path: Path) -> None:
    for name in (KOKORO_MODEL, KOKORO_VOICES, KOKORO_VOCAB):
        (tmp_path / name).symlink_to(MODEL / name)
    (tmp_path / ".assembled.json").write_text(json.dumps({"sha256": "0" * 64}), encoding="utf-8")
    with pytest.raises(EngineError, match="sha256"):
        KokoroTTS(tmp_path).load_blocking()


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="jm_kumo"):
        KokoroOptions(voice="af_heart")
    with pytest.raises(ValueError):
        KokoroOptions(speed=3.0)
