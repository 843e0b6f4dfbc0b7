"""Interfaces every speech engine implements, and the errors they raise.

Audio everywhere is signed 16-bit little-endian mono PCM at the leg's rate (8000 Hz for ``slin``, 16000 Hz for
``slin16``). Engines convert to whatever their model needs; callers never resample.

Two ways to recognise a turn:

- ``transcribe(pcm, rate)``: the whole utterance at once, after end-of-turn.
- ``stream(rate)``: a :class:`RecognitionStream` fed frame by frame while the visitor speaks, so an engine that
  recognises incrementally (Azure) has the answer moments after the last frame, and one that needs the whole
  utterance (Whisper) can start on ``flush()`` while endpointing still waits to be sure the turn is over
  (:mod:`audiosocket.speech.pieces`: ``BufferedStream``, ``PieceStream``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class EngineError(Exception):
    """A speech engine failed. `retryable` says whether the same request may succeed if tried again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class EngineTimeout(EngineError, TimeoutError):
    """The engine did not answer in time (also a ``TimeoutError``); worth one retry if time is left."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was recognised. Empty `text` means nothing intelligible was said (not an error).

    `alternatives` are the recogniser's other hypotheses, best first, when it was asked for them
    (:class:`Hints`), with their own `alternative_confidences`; `text` is always the best one."""

    text: str
    confidence: float
    language: str
    alternatives: tuple[str, ...] = ()
    alternative_confidences: tuple[float, ...] = ()

    def confidence_of(self, text: str) -> float:
        """The confidence of `text` among the hypotheses (the best's when it is not one of the others)."""
        if text != self.text and text in self.alternatives:
            position = self.alternatives.index(text)
            if position < len(self.alternative_confidences):
                return self.alternative_confidences[position]
        return self.confidence

    @property
    def empty(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True, slots=True)
class Hints:
    """What this turn makes likely, for an engine that can use it: `prompt` is text to expect (the building's
    names, its apartments as words), `alternatives` how many hypotheses to return. Engines that cannot use
    hints ignore them."""

    prompt: str = ""
    alternatives: int = 1
    phrases: tuple[str, ...] = ()  # the prompt's entries one by one (Azure's phrase list; Whisper reads the prompt)
    # What is heard is checked against the directory (the visitor's request, who, which apartment), so an engine
    # may trade a little accuracy for speed there; never a yes/no, never the resident's leg.
    checked: bool = False

    @property
    def any(self) -> bool:
        return bool(self.prompt) or self.alternatives > 1


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def echoes_prompt(text: str, prompt: str) -> bool:
    """Whether a recogniser's `text` repeats its prompt ("Moradores: A, B, C.") rather than the audio: the
    prompt's heading, or three of its entries in a row, which nobody at a gate says."""
    if not prompt or not text:
        return False
    heading, _, listed = prompt.rpartition(":")
    words = _folded(text.replace(",", " ").replace(".", " ").replace(":", " ")).split()
    if heading and _folded(heading) in words:
        return True
    entries = {_folded(entry.strip(" .")) for entry in listed.split(",") if entry.strip(" .")}
    run = 0
    for part in text.replace(".", ",").split(","):
        run = run + 1 if _folded(part.strip()) in entries else 0
        if run >= 3:
            return True
    return False


class RecognitionStream(Protocol):
    """One turn of live recognition. Frames go in as they arrive; `finish()` returns the transcript.

    `push_frame` never blocks the event loop. `flush()` says "the speaker paused: you may start recognising what
    you have"; frames pushed after it mean the speaker went on, and `finish()` then covers everything.
    `aclose()` abandons the turn (barge-in, hang-up) and frees the engine's resources; it is safe after `finish()`.
    `early()` is what the last flush recognised, once ready, so the call can judge the pause while it lasts.
    """

    def push_frame(self, pcm: bytes) -> None: ...

    def flush(self) -> None: ...

    async def early(self) -> Transcript | None:
        """The last flush's result; None without a flush, when it failed or was superseded, or when the engine
        has no such result (it recognises continuously)."""
        ...

    async def finish(self) -> Transcript: ...

    async def aclose(self) -> None: ...


class SpeechToText(Protocol):
    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        """Recognise one whole utterance."""
        ...

    def stream(self, sample_rate: int, hints: Hints | None = None) -> RecognitionStream:
        """Start recognising one turn fed frame by frame."""
        ...


class TextToSpeech(Protocol):
    def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Yield signed 16-bit mono PCM at `sample_rate` in chunks of whole samples, the first as early as possible."""
        ...
