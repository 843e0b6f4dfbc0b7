"""Interfaces every speech engine implements, and the errors they raise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class EngineError(Exception):
    """A speech engine failed. `retryable` says whether the same request may succeed if tried again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    confidence: float
    language: str


class SpeechToText(Protocol):
    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript: ...


class TextToSpeech(Protocol):
    def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Yield signed 16-bit mono PCM at `sample_rate` in chunks, the first as early as possible."""
        ...
