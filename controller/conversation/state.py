"""The conversation's state: a frozen value, replaced on every event, serialisable for the state store."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.conversation.events import CallTarget, Decision, How, VisitorRequest
from controller.conversation.matching import Candidate
from controller.conversation.passes import Pass
from controller.conversation.understanding import Intent, Slot


class Phase(StrEnum):
    NEW = "new"  # waiting for CallStarted
    COLLECTING = "collecting"  # talking with the visitor
    CALLING = "calling"  # CallResident emitted: the resident phase (DialogState.call) takes over
    FALLBACK = "fallback"  # handed over to a person, or ended politely
    ENDED = "ended"  # the visitor hung up, or the resident phase finished


class Stage(StrEnum):
    """Where the resident phase is (see docs/resident.md for the diagram)."""

    DIALING = "dialing"  # DialResident emitted; waiting for an answer or the dial's end
    ASKING = "asking"  # the resident answered; we asked and wait for yes / no / talk
    AUDITING = "auditing"  # the resident said yes; WriteAudit(AUTHORISED) emitted, waiting for AuditWritten
    OPENING = "opening"  # OpenGate emitted, waiting for GateOpened
    TALKING = "talking"  # visitor and resident bridged; DTMF 1 on the resident leg still opens
    DONE = "done"  # EndCall emitted


@dataclass(frozen=True, slots=True)
class ResidentCall:
    """The resident phase's state: whom we call, where we are, what was decided."""

    request: VisitorRequest
    targets: tuple[CallTarget, ...]  # distinct endpoints, in calling order
    stage: Stage = Stage.DIALING
    index: int = 0  # the target being called, or who answered
    attempt: int = 1
    asks: int = 0  # times the resident heard the question (first time included)
    reassured: int = 0  # reassurances said to the visitor, to vary them
    decision: Decision | None = None  # the first decision recorded for this call
    how: How = How.NONE
    gate_attempt: int = 0
    bridged: bool = False
    visitor_gone: bool = False
    resident_gone: bool = False
    rung: tuple[str, ...] = ()  # each dial's outcome, for the audit row: "<endpoint>:<outcome>"
    preauth: Pass | None = None  # the yes given in advance that stands for the resident's (nobody is rung)

    @property
    def target(self) -> CallTarget:
        return self.targets[self.index]


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
    call: ResidentCall | None = None  # the resident phase, once CallResident was emitted
    doubt: bool = False  # the turn that found the target was heard with low confidence: confirm before ringing

    @property
    def valid(self) -> bool:
        """Validated against the directory with a known errand: the apartment can be rung (a name is optional)."""
        return (
            self.phase is not Phase.FALLBACK
            and self.target is not None
            and self.target.valid
            and not self.candidates
            and self.intent is not Intent.DESCONHECIDO
        )
