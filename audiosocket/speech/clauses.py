"""Text split into clauses, the unit Kokoro synthesizes and the disk cache stores.

Kokoro renders a whole input before returning any audio, so a sentence is cut at its punctuation and the first
clause ("Certo,") leaves while the next is still being computed. The punctuation stays on its clause: the model
was trained with it and shapes the clause's intonation by it (a question rises). Recurring clauses ("Um
momento.", "Pode entrar,") then hit the cache whatever sentence they came in.

The pause between two clauses is added here, not by the engine, so a clause's audio does not depend on its
neighbours and can be cached alone.
"""

from __future__ import annotations

import re
import unicodedata

# A clause ends at one or more marks; "..." and "?!" stay together. A mark between digits (1.203, 1,5) is not
# an end: numbers are spelled out before Kokoro sees them, and espeak reads them whole.
_CLAUSE = re.compile(r".*?(?:(?<!\d)[.,;:?!…]+|[.,;:?!…]+(?!\d)|$)", re.DOTALL)
_ABBREVIATIONS = frozenset({"sr", "sra", "srta", "dr", "dra", "av", "apto", "ap", "bl", "n", "nº", "prof", "profa"})
# Clauses longer than this are cut at a space: Kokoro's cost grows with the input and the guard waits at most
# tts_timeout_s for each chunk, so no single inference may take seconds (~120 characters is ~1 s on 2 cores).
MAX_CLAUSE_CHARS = 120

_PAUSES_S = {".": 0.30, "!": 0.30, "?": 0.30, "…": 0.35, ";": 0.20, ":": 0.15, ",": 0.10}


def normalize_text(text: str) -> str:
    """One spelling per text: NFC, whitespace collapsed. Cache keys and clause splitting start from this."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _ends_in_abbreviation(clause: str) -> bool:
    if not clause.endswith("."):
        return False
    words = clause[:-1].split()
    return bool(words) and words[-1].lower() in _ABBREVIATIONS


def _cut_long(clause: str, limit: int) -> list[str]:
    pieces = []
    while len(clause) > limit:
        cut = clause.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(clause[:cut].strip())
        clause = clause[cut:].strip()
    if clause:
        pieces.append(clause)
    return pieces


def split_clauses(text: str, *, limit: int = MAX_CLAUSE_CHARS) -> list[str]:
    """ "Certo, Marcos. Um momento." -> ["Certo,", "Marcos.", "Um momento."]; marks only become part of the
    clause before them, and a clause of marks alone is dropped (nothing to say)."""
    text = normalize_text(text)
    clauses: list[str] = []
    pending = ""
    for match in _CLAUSE.finditer(text):
        piece = f"{pending} {match.group(0).strip()}".strip()
        pending = ""
        if not piece:
            continue
        if _ends_in_abbreviation(piece):  # "Sr. Marcos" is one clause
            pending = piece
            continue
        if not any(char.isalnum() for char in piece):
            if clauses:
                clauses[-1] += piece
            continue
        clauses.extend(_cut_long(piece, limit))
    if pending:
        clauses.extend(_cut_long(pending, limit))
    return clauses


def pause_after(clause: str) -> float:
    """Seconds of silence after `clause` when another follows: longer after a sentence than after a comma."""
    mark = clause.rstrip()[-1:] if clause else ""
    return _PAUSES_S.get(mark, 0.05)


def silence(seconds: float, sample_rate: int) -> bytes:
    return bytes(2 * round(seconds * sample_rate))
