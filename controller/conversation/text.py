"""Text normalisation shared by understanding and matching: accent folding, tokens, a pt-BR phonetic key.

Speech recognisers disagree on case, accents and punctuation, so every comparison happens on folded tokens
("João," -> "joao"). The original spelling is kept beside each folded token, so a name can be repeated back
with the accents the recogniser gave it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_PIECE = re.compile(r"[^\W_]+|[,.;:!?…]", re.UNICODE)
_CLAUSE_MARKS = frozenset(",.;:!?…")

# Connectors that stay lowercase inside a person's name ("Maria da Silva").
NAME_CONNECTORS = frozenset({"da", "de", "do", "das", "dos", "e"})


def fold(text: str) -> str:
    """Lowercase, strip accents and turn punctuation into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", stripped.replace("_", " ")).split())


def has_phrase(padded: str, phrases: Iterable[str]) -> bool:
    """Does one of the folded `phrases` stand in `padded` (folded words, a space at each end) as whole words?"""
    return any(f" {phrase} " in padded for phrase in phrases)


@dataclass(frozen=True, slots=True)
class Tokens:
    """An utterance split into words: `folded[i]` is the comparison form of `original[i]`; `breaks[i]` says a
    punctuation mark followed word i (Whisper's comma in "Sou Marcos, vim ver o Thiago" ends the name)."""

    original: tuple[str, ...]
    folded: tuple[str, ...]
    breaks: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.folded)


def tokenize(text: str) -> Tokens:
    original: list[str] = []
    folded: list[str] = []
    breaks: list[bool] = []
    for piece in _PIECE.findall(text.casefold()):
        if piece in _CLAUSE_MARKS:
            if breaks:
                breaks[-1] = True
            continue
        parts = fold(piece).split()
        original.extend([piece] if len(parts) == 1 else parts)
        folded.extend(parts)
        breaks.extend(False for _ in parts)
    return Tokens(tuple(original), tuple(folded), tuple(breaks))


def title_name(words: tuple[str, ...] | list[str]) -> str:
    """'joão da silva' -> 'João da Silva'."""
    return " ".join(word if word in NAME_CONNECTORS else word[:1].upper() + word[1:] for word in words)


_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"ph", "f"),
        (r"th", "t"),
        (r"[cs]h", "x"),
        (r"lh", "li"),
        (r"nh", "ni"),
        (r"^h", ""),
        (r"h", ""),
        (r"qu(?=[ei])", "k"),
        (r"gu(?=[ei])", "g"),
        (r"q", "k"),
        (r"sc(?=[ei])", "s"),
        (r"c(?=[ei])", "s"),
        (r"c", "k"),
        (r"g(?=[ei])", "j"),
        (r"z", "s"),
        (r"w", "v"),
        (r"y", "i"),
        (r"l(?=[^aeiou]|$)", "u"),
        (r"[mn](?=[^aeiou]|$)", "n"),
        (r"e$", "i"),
        (r"o$", "u"),
        (r"(.)\1+", r"\1"),
    )
)


def phonetic(word: str) -> str:
    """A rough pt-BR sound key: 'Luíza'/'Luisa' -> 'luisa', 'Thereza'/'Tereza' -> 'teresa', 'Raquel' -> 'rakeu'.

    It only has to make names that sound alike compare equal often enough to beat a misheard spelling; it is
    one signal among several in matching, never the only one.
    """
    key = fold(word).replace(" ", "")
    for pattern, replacement in _PHONETIC_RULES:
        key = pattern.sub(replacement, key)
    return key
