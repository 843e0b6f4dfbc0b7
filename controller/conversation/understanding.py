"""The understanding interface: one visitor utterance in, what it says out.

:class:`Understanding` is the seam for backends. The default, :class:`~controller.conversation.rules.RuleUnderstanding`,
is deterministic, offline and fast; an LLM backend can implement the same protocol, and :class:`WithFallback`
puts a deadline on it so the rules answer when the model is late or fails. No backend decides anything: the
result only fills the dialog's slots, and the directory and the resident have the last word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)


class Intent(StrEnum):
    VISITA = "visita"
    ENTREGA = "entrega"
    SERVICO = "prestacao_de_servico"
    DESCONHECIDO = "desconhecido"


class Slot(StrEnum):
    """What the dialog last asked the visitor, so a bare answer ("cento e três", "João") lands in the right place."""

    INTENT = "intent"
    APARTMENT = "apartment"
    BLOCK = "block"
    RESIDENT = "resident"
    VISITOR_NAME = "visitor_name"
    CHOICE = "choice"  # which of several residents
    CHECK = "check"  # "A Ana Paula mora no 103, é isso?"
    CONFIRM = "confirm"  # the summary before calling


@dataclass(frozen=True, slots=True)
class UnderstandingContext:
    expecting: Slot | None = None
    apartments: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()  # folded words of residents' names and nicknames
    sounds: frozenset[str] = frozenset()  # their phonetic keys (text.phonetic)
    has_blocks: bool = False
    # For backends that read the whole conversation (the LLM); the rules need only `expecting`.
    known: tuple[tuple[Slot, str], ...] = ()  # what the dialog already has, e.g. (Slot.APARTMENT, "101")
    last_said: str = ""  # the concierge's last sentence, the question being answered


@dataclass(frozen=True, slots=True)
class Understood:
    """What one utterance said; None/False means it did not say it."""

    intent: Intent | None = None
    visitor_name: str | None = None  # as it should be spoken back ("João")
    apartment: str | None = None  # digits
    block: str | None = None  # upper case ("A", "2")
    resident: str | None = None  # as heard; the directory resolves it
    asks_for_human: bool = False
    affirmation: bool | None = None  # yes / no
    dont_know: bool = False
    any_choice: bool = False  # "tanto faz", "qualquer um"
    ordinal: int | None = None  # "a primeira" = 0, "a segunda" = 1
    repeat: bool = False  # "como?", "não entendi"


class UnderstandingError(Exception):
    """A backend failed in a known way (HTTP error, unusable answer); the message says why and is safe to log."""


class Understanding(Protocol):
    async def understand(self, text: str, context: UnderstandingContext) -> Understood: ...


class Parser(Protocol):
    """A synchronous, side-effect-free understanding (the rules): usable inside the pure dialog."""

    def parse(self, text: str, context: UnderstandingContext) -> Understood: ...
