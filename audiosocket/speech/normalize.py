"""Normalise pt-BR transcripts for comparison: lowercase, accents folded, punctuation dropped, numbers as digits.

Whisper writes the same words in many shapes ("Cento e um", "101", "cento e 1"); tests, the word error rate in the
bench and keyword checks compare the normalised forms, never raw strings.

How numbers are read: a run of number words (and digits) joined by "e" is one number as long as each part is
smaller than the place of the part before it ("duzentos e dois" -> 202, "mil e quinhentos" -> 1500), so
"dois três" stays two numbers. "um"/"uma" alone are articles far more often than numbers and stay words unless
they end a compound ("cento e um" -> 101).
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz.distance import Levenshtein

_UNITS = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14,
    "quatorze": 14, "quinze": 15, "dezesseis": 16, "dezessete": 17, "dezoito": 18, "dezenove": 19,
}
_TENS = {
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "sessenta": 60, "setenta": 70,
    "oitenta": 80, "noventa": 90,
}
_HUNDREDS = {
    "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200, "trezentos": 300, "trezentas": 300,
    "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500, "quinhentas": 500, "seiscentos": 600,
    "seiscentas": 600, "setecentos": 700, "setecentas": 700, "oitocentos": 800, "oitocentas": 800,
    "novecentos": 900, "novecentas": 900,
}
_WORD_VALUES = {**_UNITS, **_TENS, **_HUNDREDS}
_ARTICLES = {"um", "uma"}
_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase and strip accents ("Não é o João" -> "nao e o joao")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _place(value: int) -> int:
    """The size of the slot a number part fills: 100 for 100-999, 10 for 20-99 (and 10-19), 1 for 0-9."""
    if value >= 100:
        return 100
    if value >= 10:
        return 10
    return 1


def _value(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _WORD_VALUES.get(token)


def _read_number(tokens: list[str], start: int) -> tuple[int, int] | None:
    """Parse the number starting at tokens[start]; returns (value, tokens consumed) or None."""
    first = tokens[start]
    if first == "mil":
        total, current, index = 1000, 0, start + 1
    else:
        value = _value(first)
        if value is None:
            return None
        total, current, index = 0, value, start + 1
    while index < len(tokens):
        token = tokens[index]
        if token == "mil" and current and total == 0 and current < 1000:
            total, current = current * 1000, 0
            index += 1
            continue
        joined = token == "e" and index + 1 < len(tokens)
        candidate = tokens[index + 1] if joined else token
        value = _value(candidate)
        if value is None or (token.isdigit() and not joined):
            break
        limit = _place(current) if current else 1000
        # Without "e", only a tens word followed by a unit is spoken that way ("vinte dois" is sloppy but common
        # in transcripts); with "e" the part must be smaller than the place of the part before it.
        if value >= limit or (not joined and not (current in _TENS.values() and value < 10)):
            break
        current += value
        index += 2 if joined else 1
    return total + current, index - start


def normalize(text: str) -> str:
    """Lowercase, fold accents, drop punctuation and write numbers as digits ("Cento e um!" -> "101")."""
    tokens = _TOKEN.findall(fold(text.replace("º", "").replace("ª", "")))
    words: list[str] = []
    index = 0
    while index < len(tokens):
        parsed = _read_number(tokens, index)
        if parsed is None or (parsed[1] == 1 and tokens[index] in _ARTICLES):
            words.append(tokens[index])
            index += 1
            continue
        value, used = parsed
        words.append(str(value))
        index += used
    return " ".join(words)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length, both sides normalised first."""
    ref = normalize(reference).split()
    hyp = normalize(hypothesis).split()
    if not ref:
        return float(bool(hyp))
    return Levenshtein.distance(ref, hyp) / len(ref)


def contains_keywords(text: str, keywords: list[str] | tuple[str, ...]) -> list[str]:
    """The keywords (normalised) that do NOT appear in the normalised text as whole words or phrases."""
    padded = f" {normalize(text)} "
    return [keyword for keyword in keywords if f" {normalize(keyword)} " not in padded]
