"""Offline text-to-speech with Kokoro-82M (int8 ONNX) speaking pt-BR through espeak-ng's phonemes.

The model directory is made by :mod:`audiosocket.speech.install_model` (``models/kokoro``: the model, the five
voice packs, the phoneme vocabulary, a stamp with the model's sha256). `load()` checks the sha256 and opens one
onnxruntime session, once, off the event loop.

Kokoro renders a whole input at once (24 kHz), about twice as fast as real time on 2 cores, so a text is
synthesized clause by clause (:mod:`audiosocket.speech.clauses`): the first clause's audio leaves while the
rest is computed. Each clause is trimmed of the model's edge silence, and the pause between clauses is added
by punctuation, so a clause sounds the same in any sentence and can be cached alone (:mod:`tts_cache`).

Inference runs on a one-thread executor of its own: concurrent calls take turns clause by clause instead of
oversubscribing the cores Whisper needs. :attr:`KokoroTTS.low_priority` is the same voice for background work
(cache prewarming): its inferences run on a niced thread, only while no live synthesis waits, and one that is
running when a live request arrives is stopped (onnxruntime's terminate flag) and redone later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from audiosocket.speech.base import EngineError
from audiosocket.speech.clauses import pause_after, silence, split_clauses
from audiosocket.speech.install_model import (
    KOKORO_MODEL,
    KOKORO_VOCAB,
    KOKORO_VOICES,
    read_kokoro_stamp,
    sha256_of,
)
from audiosocket.speech.phonemes import EspeakPhonemizer

log = logging.getLogger(__name__)

KOKORO_RATE = 24000
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_MAX_TOKENS = 510  # the model's context is 512 with the two pad tokens
_TRIM_LEVEL = 0.01  # float amplitude below which the model's edges count as silence
_LEAD_S, _TAIL_S = 0.02, 0.06  # kept around the voiced part: a clean onset, the decay of the last sound
_PEAK = 0.97  # a clause louder than this is scaled down rather than clipped
# Bump when the audio a clause gives changes for the same voice and speed, so old cache entries stop matching.
ENGINE_REVISION = "r1"

Audio = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True, slots=True)
class KokoroOptions:
    """Which voice, how fast, and how many onnxruntime threads one inference uses."""

    voice: str = "jm_kumo"
    speed: float = 1.0
    threads: int = 2
    espeak_voice: str = "pt-br"

    def __post_init__(self) -> None:
        if self.voice not in VOICES:
            raise ValueError(f"unknown Kokoro voice {self.voice!r}; choose one of {', '.join(VOICES)}")
        if not 0.5 <= self.speed <= 2.0:
            raise ValueError("Kokoro speed must be between 0.5 and 2.0")
        if self.threads < 1:
            raise ValueError("Kokoro needs at least one thread")


def trim(audio: Audio) -> Audio:
    """The voiced part of a clause with a little margin; silence in, empty out."""
    voiced = np.flatnonzero(np.abs(audio) > _TRIM_LEVEL)
    if not voiced.size:
        return audio[:0]
    start = max(0, int(voiced[0]) - round(_LEAD_S * KOKORO_RATE))
    end = min(audio.size, int(voiced[-1]) + round(_TAIL_S * KOKORO_RATE))
    return audio[start:end]


def to_pcm(audio: Audio, sample_rate: int) -> bytes:
    """24 kHz float -> signed 16-bit PCM at the leg's rate (a whole clause: its edges are silent)."""
    if not audio.size:
        return b""
    peak = float(np.max(np.abs(audio)))
    if peak > _PEAK:
        audio = audio * (_PEAK / peak)
    if sample_rate != KOKORO_RATE:
        audio = soxr.resample(audio, KOKORO_RATE, sample_rate, quality="HQ")
    return bytes(np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2").tobytes())


def _lower_priority() -> None:
    # Linux nice is per thread, and this runs in the background executor's thread: the scheduler then favours
    # Whisper and live synthesis over prewarming whenever both want a core.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class KokoroTTS:
    """Kokoro behind :class:`~audiosocket.speech.base.TextToSpeech`. Call `load()` once before use."""

    def __init__(self, model_dir: Path, options: KokoroOptions | None = None, *, espeak: str = "espeak-ng") -> None:
        self._dir = model_dir
        self._options = options or KokoroOptions()
        self._espeak = espeak
        self._session: Any = None
        self._vocab: dict[str, int] = {}
        self._styles: dict[str, Audio] = {}  # per voice pack: the default loads with the model, others on first use
        self._phonemizer: EspeakPhonemizer | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kokoro")
        self._background = ThreadPoolExecutor(1, thread_name_prefix="kokoro-bg", initializer=_lower_priority)
        self._priority: _Priority | None = None
        self._load_lock = threading.Lock()

    @property
    def options(self) -> KokoroOptions:
        return self._options

    @property
    def cache_id(self) -> str:
        """Everything besides text and rate that changes the audio: the disk cache's key prefix."""
        return self.cache_id_of(self._options.voice)

    def cache_id_of(self, voice: str) -> str:
        return f"kokoro-v1.0-int8/{voice}/speed={self._options.speed:.2f}/{ENGINE_REVISION}"

    def in_voice(self, voice: str) -> KokoroVoice:
        """The same model speaking with another voice pack (one condominium's voice): no second model in memory."""
        if voice not in VOICES:
            raise ValueError(f"unknown Kokoro voice {voice!r}; choose one of {', '.join(VOICES)}")
        return KokoroVoice(self, voice)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def preempted(self) -> int:
        """Background inferences stopped for a live one (on the current loop's scheduling)."""
        return self._priority.preempted if self._priority is not None else 0

    def live_clauses(self, voice: str | None = None) -> int:
        """Clauses made in `voice` (None: the configured one) on the live executor, where calls wait."""
        return self._priority.live_clauses.get(voice, 0) if self._priority is not None else 0

    @property
    def background_running(self) -> bool:
        """A background inference is on the executor right now."""
        return self._priority is not None and self._priority.background_run is not None

    @property
    def low_priority(self) -> _LowPriority:
        return _LowPriority(self, self._options.voice)

    async def load(self) -> None:
        """Check and open the model off the event loop (~0.6 s with the sha256, ~200 MB)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load_blocking)

    def load_blocking(self) -> None:
        with self._load_lock:
            if self._session is None:
                self._load()

    def _load(self) -> None:
        model = self._dir / KOKORO_MODEL
        hint = "run `python -m audiosocket.speech.install_model` (./portaria setup)"
        missing = [name for name in (KOKORO_MODEL, KOKORO_VOICES, KOKORO_VOCAB) if not (self._dir / name).is_file()]
        if missing:
            raise EngineError(f"no Kokoro model in {self._dir} (missing {', '.join(missing)}): {hint}")
        expected = read_kokoro_stamp(self._dir).get("sha256")
        try:
            actual = sha256_of(model)
        except OSError as error:
            raise EngineError(f"cannot read the Kokoro model in {self._dir}: {error.strerror or error}") from None
        if not isinstance(expected, str) or actual != expected:
            raise EngineError(f"the Kokoro model in {self._dir} is damaged or unverified (sha256 mismatch): {hint}")
        try:
            vocab = json.loads((self._dir / KOKORO_VOCAB).read_text(encoding="utf-8"))["vocab"]
            with np.load(self._dir / KOKORO_VOICES) as packs:
                style = np.asarray(packs[self._options.voice], dtype=np.float32).reshape(-1, 256)
        except (OSError, ValueError, KeyError) as error:
            raise EngineError(f"cannot read the Kokoro voices or vocabulary in {self._dir}: {error}") from None
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self._options.threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle onnxruntime threads spin by default, burning the core Whisper is about to need.
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(model), sess_options=session_options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise EngineError(f"cannot open the Kokoro model in {self._dir}: {str(error)[:200]}") from None
        self._vocab = {symbol: int(token) for symbol, token in vocab.items()}
        self._styles[self._options.voice] = style
        self._phonemizer = EspeakPhonemizer(self._vocab, voice=self._options.espeak_voice, binary=self._espeak)
        self._session = session

    def _style(self, voice: str) -> Audio:
        style = self._styles.get(voice)
        if style is None:
            with self._load_lock:
                try:
                    with np.load(self._dir / KOKORO_VOICES) as packs:
                        style = np.asarray(packs[voice], dtype=np.float32).reshape(-1, 256)
                except (OSError, ValueError, KeyError) as error:
                    raise EngineError(f"cannot read the Kokoro voice {voice!r} in {self._dir}: {error}") from None
                self._styles[voice] = style
        return style

    def infer(self, phonemes: str, run_options: Any = None, voice: str | None = None) -> Audio:
        """Blocking: one clause's phonemes -> trimmed 24 kHz float audio (runs in an executor)."""
        if self._session is None:
            raise EngineError("the Kokoro model is not loaded")
        styles = self._style(voice or self._options.voice)
        tokens = [self._vocab[symbol] for symbol in phonemes if symbol in self._vocab]
        if len(tokens) > _MAX_TOKENS:
            log.warning("Kokoro: clause of %d phonemes cut to %d", len(tokens), _MAX_TOKENS)
            tokens = tokens[:_MAX_TOKENS]
        if not tokens:
            return np.zeros(0, np.float32)
        inputs = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": styles[min(len(tokens), len(styles)) - 1].reshape(1, 256),
            "speed": np.array([self._options.speed], dtype=np.float32),
        }
        try:
            audio = self._session.run(None, inputs, run_options)[0]
        except Exception as error:
            if run_options is not None and run_options.terminate:
                raise _Preempted from None
            raise EngineError(f"Kokoro inference failed: {str(error)[:200]}") from None
        return trim(np.asarray(audio, dtype=np.float32).ravel())

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        async for chunk in self._synthesize(text, sample_rate, background=False):
            yield chunk

    async def _synthesize(
        self, text: str, sample_rate: int, *, background: bool, voice: str | None = None
    ) -> AsyncIterator[bytes]:
        if self._phonemizer is None:
            raise EngineError("the Kokoro model is not loaded")
        previous = ""
        for clause in split_clauses(text):
            phonemes = await self._phonemizer.phonemes(clause)
            if not phonemes:
                continue
            infer = self._infer_background if background else self._infer_live
            audio = await infer(phonemes, voice)
            pcm = to_pcm(audio, sample_rate)
            if not pcm:
                continue
            yield (silence(pause_after(previous), sample_rate) if previous else b"") + pcm
            previous = clause

    def _scheduling(self) -> _Priority:
        # asyncio primitives belong to one loop; a test suite (or a tool) may run several in turn.
        loop = asyncio.get_running_loop()
        if self._priority is None or self._priority.loop is not loop:
            self._priority = _Priority(loop)
        return self._priority

    async def _infer_live(self, phonemes: str, voice: str | None = None) -> Audio:
        priority = self._scheduling()
        priority.live += 1
        priority.live_clauses[voice] = priority.live_clauses.get(voice, 0) + 1
        priority.idle.clear()
        if priority.background_run is not None:
            priority.background_run.terminate = True  # a call is waiting: the prewarm clause is redone later
        try:
            return await priority.loop.run_in_executor(self._executor, self.infer, phonemes, None, voice)
        finally:
            priority.live -= 1
            if not priority.live:
                priority.idle.set()

    async def _infer_background(self, phonemes: str, voice: str | None = None) -> Audio:
        import onnxruntime as ort

        priority = self._scheduling()
        async with priority.background_lock:
            while True:
                await priority.idle.wait()
                run_options = ort.RunOptions()
                priority.background_run = run_options
                try:
                    return await priority.loop.run_in_executor(
                        self._background, self.infer, phonemes, run_options, voice
                    )
                except _Preempted:
                    priority.preempted += 1
                    log.debug("Kokoro: background clause stopped for a live one; retrying when idle")
                finally:
                    priority.background_run = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._background.shutdown(wait=False, cancel_futures=True)


class _Priority:
    """Live syntheses in flight and the background inference running, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.live = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.background_lock = asyncio.Lock()
        self.background_run: Any = None
        self.preempted = 0
        self.live_clauses: dict[str | None, int] = {}


class _Preempted(Exception):
    """A background inference was stopped because a live one arrived."""


class _LowPriority:
    """The same voice for background work: yields to live syntheses (see the module docstring)."""

    def __init__(self, engine: KokoroTTS, voice: str) -> None:
        self._engine = engine
        self._voice = voice

    @property
    def cache_id(self) -> str:
        return self._engine.cache_id_of(self._voice)

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        async for chunk in self._engine._synthesize(text, sample_rate, background=True, voice=self._voice):
            yield chunk


class KokoroVoice:
    """A :class:`KokoroTTS` speaking with another of its voice packs; model, threads and priorities are shared."""

    def __init__(self, engine: KokoroTTS, voice: str) -> None:
        self._engine = engine
        self.voice = voice

    @property
    def cache_id(self) -> str:
        return self._engine.cache_id_of(self.voice)

    @property
    def low_priority(self) -> _LowPriority:
        return _LowPriority(self._engine, self.voice)

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        async for chunk in self._engine._synthesize(text, sample_rate, background=False, voice=self.voice):
            yield chunk
