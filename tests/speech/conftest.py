"""Shared fixtures: the committed speech WAVs and the real offline Whisper engine (never skipped)."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soxr

from audiosocket.speech import install_model
from audiosocket.speech.base import Transcript
from audiosocket.speech.whisper import WhisperSTT

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/speech"
MODEL = ROOT / "models/whisper-base"


RATES = (8000, 16000)


@dataclass(frozen=True)
class SpeechFixture:
    name: str
    text: str
    keywords: tuple[str, ...]
    reliable_8k: tuple[str, ...]
    reliable_16k: tuple[str, ...]
    pcm16k: bytes
    reliable_checked_8k: tuple[str, ...] = ()
    reliable_checked_16k: tuple[str, ...] = ()

    def reliable(self, rate: int) -> tuple[str, ...]:
        """The keywords heard with margin at `rate`: under every CPU kernel and input perturbation that
        tests/speech/margin.py tries (docs/speech.md, "Test fixtures"). Only these are asserted per clip."""
        return self.reliable_8k if rate == 8000 else self.reliable_16k

    def reliable_checked(self, rate: int) -> tuple[str, ...]:
        """The same for a turn the directory checks, which Whisper encodes in its 15 s window
        (`tests/speech/margin.py --paths window15`)."""
        return self.reliable_checked_8k if rate == 8000 else self.reliable_checked_16k

    def pcm(self, rate: int) -> bytes:
        """The audio as a leg at `rate` would deliver it."""
        if rate == 16000:
            return self.pcm16k
        samples = np.frombuffer(self.pcm16k, dtype="<i2")
        return bytes(soxr.resample(samples, 16000, rate, quality="HQ").astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes()), wav.getframerate()


def load_fixtures() -> list[SpeechFixture]:
    items = json.loads((FIXTURES / "fixtures.json").read_text(encoding="utf-8"))
    fixtures = []
    for item in items:
        pcm, rate = read_wav(FIXTURES / f"{item['name']}.wav")
        assert rate == 16000
        keywords = tuple(item["keywords"])
        reliable_8k, reliable_16k = tuple(item["reliable_8k"]), tuple(item["reliable_16k"])
        checked_8k, checked_16k = tuple(item["reliable_checked_8k"]), tuple(item["reliable_checked_16k"])
        assert {*reliable_8k, *reliable_16k, *checked_8k, *checked_16k} <= set(keywords), item["name"]
        fixtures.append(
            SpeechFixture(
                item["name"], item["text"], keywords, reliable_8k, reliable_16k, pcm, checked_8k, checked_16k
            )
        )
    return fixtures


SPEECH_FIXTURES = load_fixtures()


@pytest.fixture(scope="session")
def speech_executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2, thread_name_prefix="speech-test")
    yield pool
    pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def whisper(speech_executor: ThreadPoolExecutor) -> WhisperSTT:
    """Whisper base as shipped (assembled from the wheels first if this checkout has not done it yet)."""
    install_model.install(MODEL)
    engine = WhisperSTT(MODEL, speech_executor)
    engine.load_blocking()
    return engine


@pytest.fixture(scope="session")
def heard(whisper: WhisperSTT) -> dict[tuple[str, int], Transcript]:
    """Every fixture at both rates through the shipped engine, once per session (per-clip and aggregate tests
    read the same transcripts)."""
    return {(item.name, rate): whisper.recognize(item.pcm(rate), rate) for item in SPEECH_FIXTURES for rate in RATES}
