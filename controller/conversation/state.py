"""The conversation's state: a frozen value, replaced on every event, serialisable for the state store."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.conversation.matching import Candidate
from controller.conversation.understanding import Intent, Slot


class Phase(StrEnum):
    NEW = "new"  # waiting for CallStarted
    COLLECTING = "collecting"  # talking with the visitor
    CALLING = "calling"  # CallResident emitted: the resident phase takes over
    FALLBACK = "fallback"  # handed over to a person, or ended politely
    ENDED = "ended"  # the visitor hung up


@dataclass(frozen=True, slots=True)
class Target:
    """The resident the visitor means, as far as the directory can tell."""

    candidate: Candidate
    certain: bool  # the directory alone validates it (apartment and name agree, or an exact unique name)
    confirmed: bool = False  # the visitor said yes to it, or chose it
    stated_apartment: str | None = None  # the visitor named another apartment, where this resident does not live

    @property
    def valid(self) -> bool:
        return self.certain or self.confirmed


@dataclass(frozen=True, slots=True)
class Line:
    speaker: str  # "visitor" or "concierge"
    text: str


@dataclass(frozen=True, slots=True)
class DialogState:
    call_id: str
    phase: Phase = Phase.NEW
    intent: Intent = Intent.DESCONHECIDO
    visitor_name: str | None = None
    apartment: str | None = None  # as the visitor said or typed it
    block: str | None = None
    resident: str | None = None  # as heard; resolved into `target`
    target: Target | None = None
    candidates: tuple[Candidate, ...] = ()  # residents too close to choose between: we asked which one
    expecting: Slot | None = None  # what we asked last
    asked: tuple[Slot, ...] = ()  # every question asked, to phrase a repeated one differently
    unknown: tuple[Slot, ...] = ()  # what the visitor said they do not know
    stalled: int = 0  # consecutive turns without progress
    dtmf: str = ""  # keypad digits not yet complete
    transcript: tuple[Line, ...] = ()

    @property
    def valid(self) -> bool:
        """Complete and validated against the directory: the resident can be called."""
        return (
            self.phase is not Phase.FALLBACK
            and self.target is not None
            and self.target.valid
            and not self.candidates
            and self.visitor_name is not None
            and self.intent is not Intent.DESCONHECIDO
        )
