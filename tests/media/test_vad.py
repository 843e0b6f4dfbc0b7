"""Both VAD engines on committed speech fixtures and synthetic noise (bench/bench_vad.py measures them properly)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from audiosocket.vad import SileroVad, Vad, VadEngine, WebRtcVad, make_vad

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "media"


def speech(rate: int) -> bytes:
    with wave.open(str(FIXTURES / "entrega-501.wav")) as wav:
        assert wav.getframerate() == 16000
        pcm = wav.readframes(wav.getnframes())
    if rate == 16000:
        return bytes(pcm)
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return bytes(np.asarray(soxr.resample(samples, 16000, rate)).clip(-32768, 32767).astype("<i2").tobytes())


def brown_noise(rate: int, seconds: float, level: float = 2000) -> bytes:
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.standard_normal(int(rate * seconds)))
    walk -= np.convolve(walk, np.ones(400) / 400, mode="same")
    return bytes((walk / walk.std() * level).clip(-32768, 32767).astype("<i2").tobytes())


def verdicts(vad: Vad, pcm: bytes, chunk: int) -> list[bool]:
    return [vad.is_speech(pcm[i : i + chunk]) for i in range(0, len(pcm) - chunk + 1, chunk)]


ENGINES = [VadEngine.SILERO, VadEngine.WEBRTC]


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("engine", ENGINES)
def test_speech_is_speech_and_silence_is_not(engine: VadEngine, rate: int) -> None:
    vad = make_vad(engine, rate)
    assert vad.sample_rate == rate
    frame = rate // 50 * 2
    assert sum(verdicts(vad, bytes(frame * 50), frame)) == 0
    said = verdicts(vad, speech(rate), frame)
    assert sum(said) / len(said) > 0.6


@pytest.mark.parametrize("rate", [8000, 16000])
def test_silero_ignores_brown_noise(rate: int) -> None:
    vad = SileroVad(rate)
    frame = rate // 50 * 2
    said = verdicts(vad, brown_noise(rate, 5), frame)
    assert sum(said) / len(said) < 0.05


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("chunk", [160, 320, 480, 1000])
def test_any_chunk_size_gives_the_same_speech_share(engine: VadEngine, chunk: int) -> None:
    pcm = speech(8000)
    reference = verdicts(make_vad(engine, 8000), pcm, 320)
    said = verdicts(make_vad(engine, 8000), pcm, chunk)
    assert abs(sum(said) / len(said) - sum(reference) / len(reference)) < 0.1


@pytest.mark.parametrize("engine", ENGINES)
def test_reset_forgets_the_stream(engine: VadEngine) -> None:
    vad = make_vad(engine, 8000)
    pcm = speech(8000)
    first = verdicts(vad, pcm, 320)
    vad.reset()
    assert verdicts(vad, pcm, 320) == first


def test_engine_types_and_bad_rates() -> None:
    assert isinstance(make_vad("webrtc", 8000, webrtc_mode=1), WebRtcVad)
    assert isinstance(make_vad("silero", 16000, silero_threshold=0.5), SileroVad)
    with pytest.raises(ValueError):
        make_vad("silero", 44100)
    with pytest.raises(ValueError):
        WebRtcVad(12000)
    with pytest.raises(ValueError):
        make_vad("nope", 8000)
