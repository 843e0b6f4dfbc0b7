"""The clause cache: memory and disk hits, keys, damaged files, concurrent writers, size bound, prewarming.

The engine behind it here is a recording one (the cache is engine-agnostic); test_kokoro.py runs it over the real
Kokoro.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audiosocket.speech.base import EngineError
from audiosocket.speech.factory import SpeechEngines
from audiosocket.speech.guard import GuardLimits
from audiosocket.speech.prompt_cache import PromptCache
from audiosocket.speech.tts_cache import CachedTTS, CacheKey, DiskCache
from tests.speech.fakes import FakeSTT

SENTENCE = "Certo, Marcos. Vou chamar a Giovanna, do 702. Um momento."


class RecordingTTS:
    """Deterministic PCM per (text, rate), recording every request; `fail` makes it raise EngineError."""

    def __init__(self, delay: float = 0.0) -> None:
        self.said: list[tuple[str, int]] = []
        self.delay = delay
        self.fail = False

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        self.said.append((text, sample_rate))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise EngineError("synthesizer down")
        yield pcm_for(text, sample_rate)


def pcm_for(text: str, rate: int) -> bytes:
    seed = hashlib.sha256(f"{text}/{rate}".encode()).digest()
    return (seed * (rate // 100))[: rate // 5 * 2]  # 200 ms


def files(folder: Path, pattern: str) -> list[Path]:
    return list(folder.glob(pattern))


async def say(tts: CachedTTS, text: str, rate: int = 8000) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, rate)])


async def test_known_clauses_do_not_reach_the_engine(tmp_path: Path) -> None:
    engine = RecordingTTS()
    cached = CachedTTS(engine, "kokoro/jm_kumo/1.0", DiskCache(tmp_path))
    first = await say(cached, SENTENCE)
    clauses = ["Certo,", "Marcos.", "Vou chamar a Giovanna,", "do 702.", "Um momento."]
    assert [text for text, _ in engine.said] == clauses
    assert await say(cached, SENTENCE) == first and len(engine.said) == 5
    await say(cached, "Certo, Marcos. Vou chamar o Pedro, do 702. Um momento.")
    assert engine.said[5:] == [("Vou chamar o Pedro,", 8000)]
    # A new process: everything from disk, nothing from the engine.
    again = RecordingTTS()
    assert await say(CachedTTS(again, "kokoro/jm_kumo/1.0", DiskCache(tmp_path)), SENTENCE) == first
    assert again.said == []


async def test_pauses_between_clauses_come_from_punctuation_not_the_cache(tmp_path: Path) -> None:
    cached = CachedTTS(RecordingTTS(), "e", DiskCache(tmp_path))
    one = await say(cached, "Um momento.")
    both = await say(cached, "Certo. Um momento.")
    gap = len(both) - len(one) - len(pcm_for("Certo.", 8000))
    assert gap == 2 * round(0.30 * 8000)  # the pause after a full stop
    assert both.endswith(one)


async def test_the_key_holds_engine_voice_rate_and_normalized_text(tmp_path: Path) -> None:
    engine = RecordingTTS()
    disk = DiskCache(tmp_path)
    kumo = CachedTTS(engine, "kokoro/jm_kumo/1.0", disk)
    await say(kumo, "Um momento.", 8000)
    await say(kumo, "  Um   momento. ", 8000)  # whitespace is not part of the key
    assert len(engine.said) == 1
    await say(kumo, "Um momento.", 16000)
    await say(CachedTTS(engine, "kokoro/jf_nezumi/1.0", disk), "Um momento.", 8000)
    await say(CachedTTS(engine, "kokoro/jm_kumo/1.2", disk), "Um momento.", 8000)
    assert len(engine.said) == 4
    assert len(files(tmp_path, "*.pcm")) == 4
    assert CacheKey.of("a", "x", 8000).digest != CacheKey.of("a", "x", 16000).digest


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
async def test_a_damaged_file_is_a_miss_and_is_rewritten(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    disk = DiskCache(tmp_path)
    engine = RecordingTTS()
    await say(CachedTTS(engine, "e", disk), "Um momento.")
    path = disk.path(CacheKey.of("e", "Um momento.", 8000))
    data = path.read_bytes()
    broken = {
        "truncate": data[: len(data) - 7],
        "flip": data[:-1] + bytes([data[-1] ^ 1]),
        "garbage": b"x" * len(data),
        "empty": b"",
    }[damage]
    path.write_bytes(broken)
    fresh = CachedTTS(engine, "e", disk)  # a new process: nothing in memory
    with caplog.at_level(logging.WARNING):
        assert await say(fresh, "Um momento.") == pcm_for("Um momento.", 8000)
    assert len(engine.said) == 2 and "discarding" in caplog.text
    assert path.read_bytes() == data  # rewritten whole


async def test_an_unusable_cache_costs_speed_not_speech(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = DiskCache(tmp_path)
    disk.path(CacheKey.of("e", "Olá.", 8000)).mkdir(parents=True)  # neither readable nor replaceable
    engine = RecordingTTS()
    with caplog.at_level(logging.WARNING):
        assert await say(CachedTTS(engine, "e", disk), "Olá.") == pcm_for("Olá.", 8000)
    assert "cannot read" in caplog.text and "cannot write" in caplog.text
    assert not files(tmp_path, ".*.tmp")


async def test_a_failing_engine_stores_nothing(tmp_path: Path) -> None:
    engine = RecordingTTS()
    engine.fail = True
    cached = CachedTTS(engine, "e", DiskCache(tmp_path))
    with pytest.raises(EngineError):
        await say(cached, "Olá.")
    assert not files(tmp_path, "*")
    engine.fail = False
    assert await say(cached, "Olá.") and len(engine.said) == 2


def test_concurrent_writers_never_leave_a_torn_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = CacheKey.of("e", "Um momento.", 8000)
    payloads = [bytes([n]) * (2000 + 200 * n) for n in range(8)]
    stop = threading.Event()
    seen: list[bytes | None] = []

    def write(n: int) -> None:
        disk = DiskCache(tmp_path)  # as separate processes would: no shared state
        for _ in range(40):
            assert disk.put(key, payloads[n])

    def read() -> None:
        disk = DiskCache(tmp_path)
        while not stop.is_set():
            seen.append(disk.get(key))

    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(10) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        for writer in [pool.submit(write, n) for n in range(8)]:
            writer.result()
        stop.set()
        for reader in readers:
            reader.result()
    assert "discarding" not in caplog.text
    assert all(item is None or item in payloads for item in seen) and any(seen)
    assert DiskCache(tmp_path).get(key) in payloads
    assert [path.name for path in tmp_path.iterdir()] == [f"{key.digest}.pcm"]


def test_the_directory_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    import os

    disk = DiskCache(tmp_path, max_bytes=10_000)
    keys = [CacheKey.of("e", f"frase {n}.", 8000) for n in range(8)]
    for age, key in enumerate(keys):
        disk.put(key, b"\0" * 2000)
        os.utime(disk.path(key), (1_000_000 + age, 1_000_000 + age))
    disk.get(keys[0])  # used just now: kept
    assert disk.prune() > 0
    left = {key for key in keys if disk.contains(key)}
    assert keys[0] in left and keys[1] not in left and keys[-1] in left
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) <= 9_000


async def test_prewarm_fills_the_disk_one_clause_at_a_time(tmp_path: Path) -> None:
    live, background = RecordingTTS(), RecordingTTS(delay=0.01)
    cached = CachedTTS(live, "e", DiskCache(tmp_path), background=background)
    made = await cached.prewarm(["Vou chamar a Giovanna, do 702.", "Vou chamar o Pedro, do 702."], [8000, 16000])
    assert made == 6 and live.said == []  # "do 702." once per rate
    assert len(files(tmp_path, "*.pcm")) == 6
    assert await cached.prewarm(["Vou chamar o Pedro, do 702."], [8000]) == 0
    await say(cached, "Vou chamar o Pedro, do 702.", 16000)
    assert live.said == []


async def test_speech_engines_prewarm_in_the_background(tmp_path: Path) -> None:
    background = RecordingTTS(delay=0.02)
    cached = CachedTTS(RecordingTTS(), "e", DiskCache(tmp_path), background=background)
    engines = SpeechEngines(
        stt=FakeSTT(), tts=cached, fallback_tts=None, prompts=PromptCache(cached), limits=GuardLimits(),
        executor=ThreadPoolExecutor(1), sample_rates=(8000,), cache=cached,
    )
    try:
        task = engines.prewarm(f"Vou chamar {name}, do 702." for name in ("a Ana", "o Rui", "a Bia"))
        assert not task.done()  # returned at once; the work goes on in the background
        loop_ran = 0
        while not task.done():
            await asyncio.sleep(0.005)
            loop_ran += 1
        assert await task == 4 and loop_ran > 3  # the event loop kept turning meanwhile
        stalled = engines.prewarm(["Uma frase que fica para depois."])
    finally:
        engines.close()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    plain = SpeechEngines(
        stt=FakeSTT(), tts=RecordingTTS(), fallback_tts=None, prompts=PromptCache(RecordingTTS()),
        limits=GuardLimits(), executor=ThreadPoolExecutor(1),
    )
    try:
        assert await plain.prewarm(["Olá."]) == 0  # no cache (espeak, Azure): nothing to do
    finally:
        plain.close()
