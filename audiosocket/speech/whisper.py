"""Offline speech-to-text with faster-whisper (CTranslate2), Whisper base by default.

The model is assembled at install time by :mod:`audiosocket.speech.install_model`; nothing is downloaded here.
Recognition is CPU-bound and blocking, so it runs in the executor handed in by the composition root, never on
the event loop.

Two decoding paths, chosen by `short_input`:

- plain ``WhisperModel.transcribe()`` (the default), which pads every utterance to Whisper's 30 s window, so a
  2 s "sim" costs as much encoder time as 30 s of speech (~0.4 s on a 2-core EPYC);
- the short path: log-mel features of the utterance only (plus ~1 s of padding, rounded up to whole seconds) go
  to ``model.encode`` and then ``model.generate`` with the fixed pt/transcribe/no-timestamps prompt. The
  CTranslate2 encoder accepts the shorter input and is 3-4x faster, but on our fixtures it heard less
  (WER 0.30 vs 0.17 at 16 kHz, 0.31 vs 0.22 at 8 kHz; padding to 10 s did not close the gap, only the full
  30 s window did), so it is opt-in. The default hides Whisper's time instead: ``stream().flush()`` starts
  recognition while endpointing still waits for the end-of-turn silence. docs/speech.md has the numbers.

`window_seconds` shortens the window both paths encode, for speech that fits in it with a second to spare: a
fixed window (15 s halves the encoder's time) rather than the utterance's own length, which heard far less.
`checked_window_seconds` is the window for turns the directory checks (`Hints.checked`): 15 s heard the names
set's residents and apartments as well as 30 s did, while it lost the resident's "sim, pode liberar", so the
turns that decide anything keep `window_seconds`.

Decoding settings are the ones that behaved on our 2-core test machine (docs/speech.md): beam 5, temperature 0, no
conditioning on previous text, repetition penalty 1.1, no repeated 3-grams; plus a cap on new tokens
proportional to the audio length so a decoding loop cannot run for seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from audiosocket.speech.base import EngineError, Hints, RecognitionStream, Transcript, echoes_prompt
from audiosocket.speech.pieces import BufferedStream, PieceSizes, PieceStream

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
LANGUAGE = "pt"
_FRAMES_PER_SECOND = 100  # log-mel hop of 10 ms
_MAX_FRAMES = 3000  # Whisper's 30 s window
_MAX_TOKENS = 448
_MAX_PROMPT_TOKENS = _MAX_TOKENS // 2 - 1  # what Whisper keeps of the previous-text prompt
# A segment Whisper itself thinks is silence (the same test faster-whisper applies).
_NO_SPEECH_PROB = 0.6
_SILENCE_LOGPROB = -1.0
_NO_SPEECH_PROB_PROMPTED = 0.4
_TAIL_OVER_PIECE_S = 0.5  # the last recognition of a turn heard in pieces is this much longer than a piece


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """How the model is run. `cpu_threads` per recognition; concurrency is bounded by the executor."""

    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    short_input: bool = False
    pad_seconds: float = 1.0
    window_seconds: int = 30  # the encoder's window when the utterance fits it with a second to spare
    checked_window_seconds: int = 15  # the same for a turn the directory checks (Hints.checked)
    piece_seconds: float = 3.0  # such a turn is heard a piece at a time at its pauses (pieces.py); 0: whole
    warm_up: bool = True  # one decode of quiet noise inside load(): the first call's recognition is not the slow one


def pcm_to_float(pcm: bytes, sample_rate: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Signed 16-bit PCM at `sample_rate` -> float32 in [-1, 1) at 16 kHz, as Whisper wants it."""
    if len(pcm) % 2:
        raise EngineError("PCM length is not a whole number of 16-bit samples")
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate != WHISPER_RATE and audio.size:
        audio = soxr.resample(audio, sample_rate, WHISPER_RATE, quality="HQ").astype(np.float32)
    return audio


def drop_echoes(heard: Transcript, prompt: str) -> Transcript | None:
    """`heard` without the hypotheses that repeat the prompt; None when the best one does."""
    if echoes_prompt(heard.text, prompt):
        return None
    kept = [
        (text, confidence)
        for text, confidence in zip(heard.alternatives, heard.alternative_confidences, strict=True)
        if not echoes_prompt(text, prompt)
    ]
    if len(kept) == len(heard.alternatives):
        return heard
    return replace(heard, alternatives=tuple(t for t, _ in kept), alternative_confidences=tuple(c for _, c in kept))


def encoder_frames(content: int, window_seconds: int) -> int:
    """The log-mel frames the encoder sees for `content` frames of speech: the configured window when the
    speech fits in it with a second to spare, else Whisper's own 30 s (what longer speech needs)."""
    window = min(_MAX_FRAMES, window_seconds * _FRAMES_PER_SECOND)
    return window if content + _FRAMES_PER_SECOND <= window else _MAX_FRAMES


def max_new_tokens(seconds: float) -> int:
    """Generous for speech (~4 tokens per word, ~3 words per second) but stops a looping decoder early."""
    return min(_MAX_TOKENS // 2, 24 + math.ceil(16 * seconds))


class WhisperSTT:
    """faster-whisper behind :class:`~audiosocket.speech.base.SpeechToText`. Call `load()` once before use."""

    def __init__(self, model_dir: Path, executor: Executor, options: WhisperOptions | None = None) -> None:
        self._model_dir = model_dir
        self._executor = executor
        self._options = options or WhisperOptions()
        self._model: Any = None
        self._tokenizer: Any = None
        self._suppress: tuple[int, ...] = ()

    @property
    def options(self) -> WhisperOptions:
        return self._options

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def load(self) -> None:
        """Load the model in the executor (about a second, ~320 MB for base)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load_blocking)

    def load_blocking(self) -> None:
        if self._model is not None:
            return
        if not (self._model_dir / "model.bin").is_file():
            raise EngineError(
                f"no Whisper model in {self._model_dir}: run `python -m audiosocket.speech.install_model` "
                "or point PORTARIA_WHISPER_MODEL at a CTranslate2 Whisper model directory"
            )
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        try:
            model = WhisperModel(
                str(self._model_dir),
                device="cpu",
                compute_type=self._options.compute_type,
                cpu_threads=self._options.cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as error:
            raise EngineError(f"cannot load the Whisper model in {self._model_dir}: {error}") from None
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=LANGUAGE)
        self._suppress = tuple(get_suppressed_tokens(tokenizer, [-1]) or ())
        self._tokenizer = tokenizer
        self._model = model
        if self._options.warm_up:
            self._warm_up()

    def _warm_up(self) -> None:
        """Run both decode paths once on a second of faint noise, so the first run's one-off costs (CTranslate2's
        buffers, the feature extractor's first use) are paid at start-up, not by the first visitor."""
        noise = np.random.default_rng(0).normal(0, 0.003, WHISPER_RATE).astype(np.float32)
        try:
            self._recognize_plain(noise, self._options.window_seconds)
            for window in sorted({self._options.window_seconds, self._options.checked_window_seconds}):
                self._recognize_window(noise, Hints(prompt="Portaria.", alternatives=1), window)
        except (RuntimeError, ValueError) as error:  # a model that cannot decode fails loudly at the first call
            log.warning("Whisper warm-up failed: %s", error)

    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.recognize, pcm, sample_rate, hints)

    def stream(self, sample_rate: int, hints: Hints | None = None) -> RecognitionStream:
        def recognize(pcm: bytes) -> Awaitable[Transcript]:
            return self.transcribe(pcm, sample_rate, hints)

        piece = self._options.piece_seconds
        if hints is not None and hints.checked and piece > 0:
            sizes = PieceSizes(2 * round(piece * sample_rate), 2 * round((piece + _TAIL_OVER_PIECE_S) * sample_rate))
            return PieceStream(recognize, sizes)
        return BufferedStream(recognize)

    def recognize(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        """Blocking recognition of one utterance (runs in the executor)."""
        if self._model is None:
            raise EngineError("the Whisper model is not loaded")
        audio = pcm_to_float(pcm, sample_rate)
        if not audio.size:
            return Transcript("", 0.0, LANGUAGE)
        try:
            window = self._window(hints)
            if hints is not None and hints.any and audio.size <= _MAX_FRAMES * WHISPER_RATE // _FRAMES_PER_SECOND:
                prompted = self._recognize_window(audio, hints, window)
                heard = drop_echoes(prompted, hints.prompt) if prompted is not None else None
                if heard is not None:
                    return heard
                # The prompt came back instead of the audio, or it left Whisper unsure there was speech at
                # all: hear it unbiased.
            if self._options.short_input and audio.size <= _MAX_FRAMES * WHISPER_RATE // _FRAMES_PER_SECOND:
                return self._recognize_short(audio)
            return self._recognize_plain(audio, window)
        except (RuntimeError, ValueError) as error:
            raise EngineError(f"Whisper failed: {error}") from None

    def _window(self, hints: Hints | None) -> int:
        checked = hints is not None and hints.checked
        return self._options.checked_window_seconds if checked else self._options.window_seconds

    @staticmethod
    def _encoder_frames(audio: np.ndarray[Any, np.dtype[np.float32]], window: int) -> int:
        """From the audio's length, so the full-window path never extracts features it hands to transcribe()."""
        return encoder_frames(audio.size * _FRAMES_PER_SECOND // WHISPER_RATE, window)

    def _recognize_plain(self, audio: np.ndarray[Any, np.dtype[np.float32]], window: int) -> Transcript:
        frames = self._encoder_frames(audio, window)
        if frames < _MAX_FRAMES:
            return self._decode(self._model.feature_extractor(audio)[:, :-1], audio, frames, [], 1)[0]
        segments, _info = self._model.transcribe(
            audio,
            language=LANGUAGE,
            beam_size=self._options.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            repetition_penalty=1.1,
            no_repeat_ngram_size=3,
            max_new_tokens=max_new_tokens(audio.size / WHISPER_RATE),
            vad_filter=False,
        )
        texts, logprobs = [], []
        for segment in segments:
            texts.append(segment.text.strip())
            logprobs.append(segment.avg_logprob)
        text = " ".join(part for part in texts if part)
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        return Transcript(text, round(confidence, 3), LANGUAGE)

    def prompt_tokens(self, prompt: str) -> list[int]:
        """The previous-text tokens `prompt` becomes (its end kept when it is too long: put what matters last)."""
        if not prompt.strip():
            return []
        tokens: list[int] = self._tokenizer.encode(" " + prompt.strip())
        return tokens[-_MAX_PROMPT_TOKENS:]

    def _recognize_window(
        self, audio: np.ndarray[Any, np.dtype[np.float32]], hints: Hints, window: int
    ) -> Transcript | None:
        """The encoder's `window` (30 s unless configured), as plain transcribe() encodes it, decoded after
        `hints.prompt` as previous text (faster-whisper's ``initial_prompt`` and ``hotwords`` both go there), with
        up to `hints.alternatives` hypotheses kept from the beam. None when the decode is doubtful."""
        features = self._model.feature_extractor(audio)[:, :-1]
        frames = self._encoder_frames(audio, window)
        heard, doubtful = self._decode(features, audio, frames, self.prompt_tokens(hints.prompt), hints.alternatives)
        return None if doubtful else heard

    def _recognize_short(self, audio: np.ndarray[Any, np.dtype[np.float32]]) -> Transcript:
        """The utterance's own frames plus `pad_seconds`, rounded up to whole seconds."""
        features = self._model.feature_extractor(audio)[:, :-1]
        target = features.shape[-1] + round(self._options.pad_seconds * _FRAMES_PER_SECOND)
        target = min(_MAX_FRAMES, math.ceil(target / _FRAMES_PER_SECOND) * _FRAMES_PER_SECOND)
        return self._decode(features, audio, target, [], 1)[0]

    def _decode(
        self,
        features: np.ndarray[Any, np.dtype[np.float32]],
        audio: np.ndarray[Any, np.dtype[np.float32]],
        frames: int,
        previous: list[int],
        hypotheses: int,
    ) -> tuple[Transcript, bool]:
        """Log-mel `features` zero-padded to `frames` -> ``model.encode`` -> ``model.generate`` after the
        `previous` prompt tokens and the fixed pt/transcribe/no-timestamps prompt, keeping `hypotheses`; and
        whether a prompted decode is doubtful (see below)."""
        import ctranslate2

        content = min(features.shape[-1], frames)
        window = np.zeros((1, features.shape[0], frames), dtype=np.float32)
        window[0, :, :content] = features[:, :content]
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
        prompt = [self._tokenizer.sot_prev, *previous] if previous else []
        prompt += [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        beam = max(self._options.beam_size, hypotheses)
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=beam,
            num_hypotheses=max(1, min(hypotheses, beam)),
            repetition_penalty=1.1,
            no_repeat_ngram_size=3,
            max_length=len(prompt) + max_new_tokens(audio.size / WHISPER_RATE),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(self._suppress),
        )[0]
        texts: list[str] = []
        confidences: list[float] = []
        best_logprob = 0.0
        for rank, (tokens, score) in enumerate(zip(result.sequences_ids, result.scores, strict=True)):
            logprob = score * len(tokens) / (len(tokens) + 1)
            best_logprob = logprob if rank == 0 else best_logprob
            text = self._tokenizer.decode(tokens).strip()
            if text and text not in texts:
                texts.append(text)
                confidences.append(round(math.exp(logprob), 3))
        unsure = best_logprob < _SILENCE_LOGPROB
        if not texts or (unsure and result.no_speech_prob > _NO_SPEECH_PROB):
            return Transcript("", 0.0, LANGUAGE), False
        # A prompt makes Whisper surer there is speech: noise it left empty unprompted came back as "O que é
        # isso?" at no-speech 0.52-0.68. But real speech under a prompt also reached 0.43-0.52 (an 8 kHz
        # espeak request cut late), so a prompted decode in that band is doubtful, never taken as silence.
        doubtful = bool(previous) and unsure and result.no_speech_prob > _NO_SPEECH_PROB_PROMPTED
        heard = Transcript(texts[0], confidences[0], LANGUAGE, tuple(texts[1:]), tuple(confidences[1:]))
        return heard, doubtful
