"""The test phone's audio parts, without Asterisk: WAV loading and resampling, pacing, energy detection, recording."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np
import pytest

from controller.tools.phone import (
    FRAME_BYTES,
    EnergyDetector,
    Pacer,
    PhoneError,
    Recorder,
    dbfs,
    load_wav,
    split_frames,
)
from tests.support.testbed import REPO, read_wav

HELLO = REPO / "tests" / "fixtures" / "audio" / "visitor-hello.wav"


def _write_wav(path: Path, samples: np.ndarray, rate: int, width: int, channels: int = 1) -> Path:
    """`samples` in [-1, 1], shape (n,) or (n, channels), written as `width`-byte PCM."""
    scaled = samples * (2 ** (8 * width - 1) - 1)
    if width == 1:
        raw = (scaled + 128).astype(np.uint8).tobytes()
    elif width == 3:
        as32 = scaled.astype("<i4").reshape(-1, 1).view(np.uint8).reshape(-1, 4)
        raw = as32[:, :3].tobytes()
    else:
        raw = scaled.astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(raw)
    return path


def _tone(rate: int, seconds: float, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return level * np.sin(2 * np.pi * hz * t)


def _peak_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


# WAV loading ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_any_pcm_wav_becomes_8khz_mono_slin_of_the_same_length_pitch_and_level(
    tmp_path: Path, rate: int, width: int
) -> None:
    path = _write_wav(tmp_path / "tone.wav", _tone(rate, 1.0), rate, width)
    pcm = load_wav(path)
    assert abs(len(pcm) / 2 - 8000) <= 2
    assert abs(_peak_hz(pcm, 8000) - 440) <= 2
    middle = np.frombuffer(pcm, dtype="<i2")[1000:7000]  # away from the resampler's edges
    assert abs(np.abs(middle).max() / 32767 - 0.5) < 0.02


def test_8khz_16bit_mono_passes_through_unchanged(tmp_path: Path) -> None:
    samples = (_tone(8000, 0.5) * 32767).astype("<i2")
    path = tmp_path / "same.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(samples.tobytes())
    assert load_wav(path) == samples.tobytes()


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = _tone(16000, 0.5, level=0.6), np.zeros(8000)
    path = _write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1).reshape(-1), 16000, 2, channels=2)
    middle = np.frombuffer(load_wav(path), dtype="<i2")[500:3500]
    assert abs(np.abs(middle).max() / 32767 - 0.3) < 0.02


def test_the_committed_visitor_fixture_loads_at_its_length() -> None:
    samples, rate = read_wav(HELLO)
    assert abs(len(load_wav(HELLO)) / 2 / 8000 - len(samples) / rate) < 0.001


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PhoneError, match=r"missing\.wav: no such file"):
        load_wav(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(PhoneError, match="not a PCM WAV file"):
        load_wav(text)
    empty = _write_wav(tmp_path / "empty.wav", np.zeros(0), 8000, 2)
    with pytest.raises(PhoneError, match="no audio"):
        load_wav(empty)
    with pytest.raises(PhoneError) as raised:
        load_wav(tmp_path)
    assert "\n" not in str(raised.value)


def test_frames_are_20ms_and_the_last_is_padded_with_silence() -> None:
    frames = split_frames(b"\x01\x00" * 400)  # 50 ms
    assert [len(f) for f in frames] == [FRAME_BYTES] * 3
    assert frames[2] == b"\x01\x00" * 80 + bytes(160)


# Pacing --------------------------------------------------------------------------------------------------------


def _run_pacer(pacer: Pacer, frames: int, jitter: float, start: float = 100.0) -> list[float]:
    """Send `frames` frames with a sleep that oversleeps by up to `jitter`; returns the send times."""
    now, sent, rng = start, [], random.Random(7)
    for _ in range(frames):
        wait = pacer.delay(now)
        now += wait + (rng.uniform(0, jitter) if wait > 0 else 0)
        sent.append(now)
    return sent


def test_frames_go_out_on_absolute_20ms_deadlines_without_drift() -> None:
    sent = _run_pacer(Pacer(), 3000, jitter=0.004)  # a minute of audio, each wake-up up to 4 ms late
    due = 100.0 + 0.02 * np.arange(3000)
    lateness = np.array(sent) - due
    assert lateness.min() >= 0
    assert lateness.max() <= 0.004 + 1e-9, "lateness never accumulates"
    assert abs(sent[-1] - (100.0 + 0.02 * 2999)) <= 0.004


def test_a_late_wake_up_shortens_the_next_wait() -> None:
    pacer = Pacer()
    assert pacer.delay(0.0) == 0.0
    assert pacer.delay(0.0) == pytest.approx(0.02)
    assert pacer.delay(0.035) == pytest.approx(0.005)  # woke 15 ms late for frame 1: frame 2 still due at 40 ms


def test_after_a_stall_the_pacer_re_anchors_instead_of_bursting() -> None:
    pacer = Pacer(max_lag=0.2)
    for i in range(10):
        pacer.delay(i * 0.02)
    assert pacer.delay(5.0) == 0.0  # stalled 4.8 s: send now...
    assert pacer.delay(5.0) == pytest.approx(0.02)  # ...and the next one 20 ms later, not a backlog of 240 frames


# Energy detection and recording --------------------------------------------------------------------------------

LOUD = (np.ones(160) * 8000).astype("<i2").tobytes()
QUIET = bytes(FRAME_BYTES)


def test_dbfs() -> None:
    assert dbfs(QUIET) < -150
    assert dbfs((np.ones(160) * 32767).astype("<i2").tobytes()) == pytest.approx(0, abs=0.01)
    assert dbfs(b"") == -np.inf


def test_the_concierge_is_speaking_at_once_and_silent_after_the_hold_on_the_wall_clock() -> None:
    detector = EnergyDetector(threshold_dbfs=-45, hold_s=0.6)
    assert detector.feed(QUIET, 0.0) is None
    assert detector.feed(LOUD, 0.02) is True
    assert detector.feed(LOUD, 0.04) is None
    assert detector.feed(QUIET, 0.3) is None  # a pause between words
    assert detector.feed(LOUD, 1.0) is None
    # Then no frames at all (a bridge sends nothing while nobody talks): only the clock says it is silence.
    assert detector.tick(1.5) is None
    assert detector.tick(1.6) is False
    assert detector.spoke_s == pytest.approx(1.0)
    assert detector.tick(5.0) is None


def test_the_recording_keeps_wall_clock_time_across_gaps(tmp_path: Path) -> None:
    path = tmp_path / "heard.wav"
    recorder = Recorder(path, start=10.0)
    for i in range(50):  # one second of frames, arriving on time
        recorder.write(LOUD, 10.02 + i * 0.02)
    recorder.write(LOUD, 13.02)  # then two seconds with nothing from Asterisk
    recorder.close(14.0)
    samples, rate = read_wav(path)
    assert rate == 8000
    assert len(samples) / rate == pytest.approx(4.0, abs=0.001)
    loud = np.nonzero(np.abs(samples) > 0)[0] / rate
    assert loud[0] == 0 and loud[-1] == pytest.approx(3.02, abs=0.001)
    assert not samples[int(1.05 * rate) : int(2.95 * rate)].any()
