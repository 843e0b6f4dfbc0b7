"""Scoring recognised pt-BR text against what was said: for the speech tests, the benches and the fixtures.

Recognisers write the same words in many shapes ("Cento e um", "101", "cento e 1"), so comparisons happen on
normalised text, never on raw strings. Normalising uses the conversation's own folding and number reader, so a
transcript scores as right when the dialog would read it the same as the reference.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from controller.conversation.numbers import find_numbers
from controller.conversation.text import fold, has_phrase

# Alone, these are words far more often than numbers ("uma entrega", "meia hora"); in a compound they are numbers.
_WORDS_WHEN_ALONE = frozenset({"um", "uma", "meia"})
# Folding would turn the ordinal marks into letters ("1º" -> "1o"); the number is what gets compared.
_ORDINAL_MARKS = str.maketrans("", "", "ºª")


def normalize(text: str) -> str:
    """Lowercase, fold accents, drop punctuation and write numbers as digits ("Cento e um!" -> "101")."""
    words = fold(text.translate(_ORDINAL_MARKS)).split()
    normalised: list[str] = []
    done = 0
    for span in find_numbers(words, compose_digits=True):
        normalised += words[done : span.start]
        alone = span.end - span.start == 1 and words[span.start] in _WORDS_WHEN_ALONE
        normalised.append(words[span.start] if alone else span.value)
        done = span.end
    normalised += words[done:]
    return " ".join(normalised)


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
    return [keyword for keyword in keywords if not has_phrase(padded, (normalize(keyword),))]
