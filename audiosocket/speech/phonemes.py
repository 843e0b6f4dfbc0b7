"""pt-BR text -> Kokoro phonemes, through espeak-ng's IPA output.

Kokoro-82M is multilingual at the phoneme level: its own non-English voices are driven by espeak-ng IPA, with
the multi-letter phonemes (diphthongs, affricates) that espeak writes with a tie replaced by the single symbols
Kokoro's vocabulary has for them (the table misaki, Kokoro's front-end, uses). Digits are spelled out first,
because espeak's own number reading does not survive the trip.

espeak-ng runs as a subprocess (a few ms a clause), off the event loop. It drops punctuation from its IPA, so
a clause's closing marks are put back after it: Kokoro shapes the intonation by them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Container

from audiosocket.speech.base import EngineError
from audiosocket.speech.numbers_pt import spell_numbers

TIE = "^"
_TIES = ("\u0361", "\u035c", "\u200d")  # tie bars above and below, and the joiner --ipa=3 uses
# espeak's tied phonemes -> the one symbol Kokoro was trained with (misaki's EspeakG2P table).
_TIED = {
    "a^ɪ": "I",
    "a^ʊ": "W",
    "d^z": "ʣ",
    "d^ʒ": "ʤ",
    "e^ɪ": "A",
    "o^ʊ": "O",
    "ə^ʊ": "Q",
    "s^s": "S",
    "t^s": "ʦ",
    "t^ʃ": "ʧ",
    "ɔ^ɪ": "Y",
}
# espeak pt-br writes a schwa between a tap and a consonant ("Marcos" mˈaɾəkʊs); Kokoro voices it as a whole
# syllable and Whisper hears "Maracossa". Without it Kokoro says the cluster, as Brazilians do.
_EPENTHETIC = re.compile(r"(?<=ɾ)ə(?=[^aeiouɐɛɔæyʊɪəɨ\u0303ˈˌ\s.,;:?!…])")
MARKS = ".,;:?!…"
_TIMEOUT_S = 5.0


def to_kokoro(ipa: str, vocab: Container[str]) -> str:
    """espeak IPA (tied with ^ or a combining tie bar) -> a string of Kokoro vocabulary symbols.

    Ties that name no Kokoro symbol (o^ɪ, ɐ̃^ʊ̃) are simply dropped, leaving the two phonemes side by side, the
    schwa espeak puts after a tap before a consonant goes, and symbols outside the vocabulary are dropped (the
    model would have no embedding for them).
    """
    for tie in _TIES:
        ipa = ipa.replace(tie, TIE)
    for tied, single in _TIED.items():
        ipa = ipa.replace(tied, single)
    ipa = " ".join(ipa.replace(TIE, "").split())
    ipa = _EPENTHETIC.sub("", ipa)
    return "".join(char for char in ipa if char in vocab)


def split_marks(clause: str) -> tuple[str, str]:
    """ "Um momento." -> ("Um momento", "."): the words for espeak, the marks for Kokoro."""
    words = clause.rstrip().rstrip(MARKS + " ")
    return words, clause.rstrip()[len(words) :].replace(" ", "")


class EspeakPhonemizer:
    """pt-BR clauses -> Kokoro phoneme strings with ``espeak-ng -q --ipa --tie=^``."""

    def __init__(self, vocab: Container[str], voice: str = "pt-br", binary: str = "espeak-ng") -> None:
        self._vocab = vocab
        self._voice = voice
        self._binary = binary

    async def ipa(self, words: str) -> str:
        """espeak's IPA for `words` (digits already spelled), its clause lines joined by spaces."""
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary, "-q", "--ipa", f"--tie={TIE}", "-v", self._voice, "--", words,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise EngineError(f"espeak-ng cannot run for phonemes: {error}") from None
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                out, err = await process.communicate()
        except TimeoutError:
            raise EngineError(f"espeak-ng gave no phonemes within {_TIMEOUT_S:g} s", retryable=True) from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[:200]
            raise EngineError(f"espeak-ng failed for phonemes (status {process.returncode}): {detail}")
        return " ".join(out.decode("utf-8", "replace").split())

    async def phonemes(self, clause: str) -> str:
        """One clause -> Kokoro phonemes with its closing marks; "" when there is nothing to say."""
        words, marks = split_marks(spell_numbers(clause))
        if not any(char.isalnum() for char in words):
            return ""
        phonemes = to_kokoro(await self.ipa(words), self._vocab)
        if not phonemes.strip():
            raise EngineError(f"espeak-ng gave no usable phonemes for a {len(words)}-character clause")
        return phonemes + "".join(mark for mark in marks if mark in self._vocab)
