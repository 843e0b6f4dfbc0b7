"""Fixed phrases synthesized once at start-up and served from memory.

The greeting must start within 100 ms of answering; even espeak takes a few ms and Azure a few hundred, so the
phrases every call hears are synthesized when the process starts, per sample rate, and kept as PCM. The fallback
phrase is in here too, so a call can still apologise when the synthesizer itself is what failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator

from audiosocket.speech.base import EngineError, TextToSpeech

log = logging.getLogger(__name__)

ONE_MOMENT = "Um momento, por favor."
PLEASE_REPEAT = "Desculpe, pode repetir?"
FALLBACK_PHRASE = PLEASE_REPEAT
STANDARD_PHRASES = (ONE_MOMENT, PLEASE_REPEAT)
_CHUNK_MS = 200


def _key(text: str) -> str:
    return " ".join(text.split())


class PromptCache:
    """PCM of fixed phrases per (text, sample rate); also a TextToSpeech that serves hits without the engine."""

    def __init__(self, tts: TextToSpeech, *, chunk_ms: int = _CHUNK_MS, behind: PromptCache | None = None) -> None:
        """`behind`: another voice's cache, whose copies serve the phrases this one has not synthesized yet."""
        self._tts = tts
        self._chunk_ms = chunk_ms
        self._audio: dict[tuple[str, int], bytes] = {}
        self._behind = behind

    async def warm(
        self, phrases: Iterable[str], sample_rates: Iterable[int], *, timeout_s: float | None = None
    ) -> list[str]:
        """Synthesize every phrase at every rate not cached yet; returns the problems (logged, not raised).

        A phrase that cannot be synthesized now is simply synthesized on demand later; the caller decides whether
        a missing phrase (the fallback, say) should stop the start-up.
        """
        problems = []
        for rate in sorted(set(sample_rates)):
            for phrase in dict.fromkeys(_key(text) for text in phrases):
                if (phrase, rate) in self._audio:
                    continue
                try:
                    async with asyncio.timeout(timeout_s):
                        chunks = [chunk async for chunk in self._tts.synthesize(phrase, rate)]
                    self._audio[(phrase, rate)] = b"".join(chunks)
                except (EngineError, TimeoutError) as error:
                    problems.append(f"cannot synthesize {phrase!r} at {rate} Hz: {error}")
                    log.warning("prompt cache: %s", problems[-1])
        return problems

    def adopt(self, other: PromptCache) -> None:
        """Take the phrases `other` has and this cache lacks (the fallback voice filling gaps)."""
        for key, audio in other._audio.items():
            self._audio.setdefault(key, audio)

    def get(self, text: str, sample_rate: int) -> bytes | None:
        audio = self._audio.get((_key(text), sample_rate))
        if audio is None and self._behind is not None:
            return self._behind.get(text, sample_rate)
        return audio

    def __contains__(self, item: tuple[str, int]) -> bool:
        return self.get(*item) is not None

    def __len__(self) -> int:
        return len(self._audio)

    def chunks(self, text: str, sample_rate: int) -> Iterator[bytes]:
        """The cached PCM in `chunk_ms` pieces (KeyError when the phrase is not cached)."""
        audio = self.get(text, sample_rate)
        if audio is None:
            raise KeyError(text)
        step = max(2, sample_rate * self._chunk_ms // 1000 * 2)
        for start in range(0, len(audio), step):
            yield audio[start : start + step]

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Cached phrases from memory, anything else from the engine (and not cached)."""
        if (text, sample_rate) in self:
            for chunk in self.chunks(text, sample_rate):
                yield chunk
            return
        async for chunk in self._tts.synthesize(text, sample_rate):
            yield chunk
