"""Pre-authorised visitors: a resident's yes given in advance, for one visitor, one apartment and a time window.

A resident (or the operator on their behalf) registers "Rosângela Alves, for 1203, Monday 8:00-18:00, given by
Kátia Regina". During the window the concierge recognises her and the authorisation given in advance counts as
the resident's yes: recorded as such (who gave it and when), then the gate opens, nobody is rung. Outside the
window, or for anyone else, it is an ordinary visit.

How she is recognised:

- by name: the apartment the visitor asked for is the pass's, and the name she gave is the pass's (the first
  name, and the surname too when she said one; spelling slips allowed, not another person). A pass with a
  keypad code is never opened by a name alone: it rings the resident as any visit;
- by code: digits typed on the intercom's keypad that are a pass's code (6 to 10 digits, longer than any
  apartment number, so they cannot be read as one).

Pure: which passes are valid is decided by the caller with the time it passes in (`valid_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from controller.conversation.text import fold

_SAME_NAME = 85  # rapidfuzz ratio of two folded words: "Rosangela" / "Rozangela" yes, "Rosa" / "Rosangela" no
CODE_DIGITS = (6, 10)


@dataclass(frozen=True, slots=True)
class Pass:
    """One pre-authorisation. Times are UTC ISO 8601 (they sort as text)."""

    id: str
    apartment: str
    block: str | None
    visitor_name: str
    granted_by: str  # the resident (or "operador: <name>") who gave it
    granted_at: str
    valid_from: str
    valid_until: str
    code: str | None = None

    def valid_at(self, now: str) -> bool:
        return self.valid_from <= now < self.valid_until

    def describe(self) -> str:
        """How the audit row names it: which pass, who gave it and when."""
        return f"#{self.id} de {self.granted_by} em {self.granted_at}"


def pass_for_name(passes: tuple[Pass, ...], apartment: str, block: str | None, said: str | None) -> Pass | None:
    """The pass for the visitor who said they are `said`, at `apartment` (None: none is theirs)."""
    if not said:
        return None
    for candidate in passes:
        if candidate.code or candidate.apartment != apartment or (block and candidate.block != block):
            continue
        if same_person(said, candidate.visitor_name):
            return candidate
    return None


def pass_for_code(passes: tuple[Pass, ...], digits: str) -> Pass | None:
    return next((candidate for candidate in passes if candidate.code and candidate.code == digits), None)


def same_person(said: str, registered: str) -> bool:
    """Is "Rosângela" (or "Rosângela Alves") the registered "Rosângela Alves"? Each word said must be one of
    the registered name's, in order, starting with the first name."""
    spoken, known = fold(said).split(), fold(registered).split()
    if not spoken or not known or fuzz.ratio(spoken[0], known[0]) < _SAME_NAME:
        return False
    rest = iter(known[1:])
    return all(any(fuzz.ratio(word, other) >= _SAME_NAME for other in rest) for word in spoken[1:])
