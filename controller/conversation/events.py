"""What happens to a conversation (events, in) and what it asks the call runner to do (actions, out).

The runner turns ARI and media happenings into events, feeds them to :meth:`Dialog.handle`, and executes the
actions it gets back; tests and the `chat` CLI do the same with no I/O. Time never comes from a clock inside the
conversation: timers are actions the runner schedules and events it delivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.conversation.understanding import Intent, Understood


class Leg(StrEnum):
    GATE = "gate"
    RESIDENT = "resident"


class Timer(StrEnum):
    SILENCE = "silence"  # the visitor said nothing after our question
    DTMF = "dtmf"  # pause after the last keypad digit: the number is complete


class FallbackReason(StrEnum):
    VISITOR_ASKED = "visitor_asked"  # "quero falar com o porteiro"
    NO_PROGRESS = "no_progress"  # too many turns without getting anywhere


# Events -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    at: float = 0.0  # the runner's monotonic clock, seconds


@dataclass(frozen=True, slots=True)
class UtteranceHeard:
    """The visitor said `text`; `understood` is filled by an asynchronous backend, else the rules read `text`."""

    text: str
    understood: Understood | None = None
    leg: Leg = Leg.GATE


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    digit: str  # one of 0-9, *, #
    leg: Leg = Leg.GATE


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    leg: Leg = Leg.GATE
    played_ms: int = 0
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class LegHungUp:
    leg: Leg = Leg.GATE


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer: Timer
    at: float = 0.0


Event = CallStarted | UtteranceHeard | DtmfReceived | PlaybackFinished | LegHungUp | TimerFired


# Actions ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    leg: Leg
    text: str  # pt-BR, short, ready for text-to-speech


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start `timer`; when it runs out the runner delivers TimerFired(timer)."""

    timer: Timer
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class VisitorRequest:
    """What the visitor asked for, validated against the directory and confirmed: the resident phase's input."""

    call_id: str
    intent: Intent
    visitor_name: str
    apartment: str
    block: str | None
    resident: str  # as written in the directory


@dataclass(frozen=True, slots=True)
class CallTarget:
    resident: str
    endpoint: str  # e.g. "PJSIP/101"; mapping prototype numbers is the runner's job


@dataclass(frozen=True, slots=True)
class CallResident:
    """Ring `targets` in order (the requested resident first, then the apartment's other residents)."""

    request: VisitorRequest
    targets: tuple[CallTarget, ...]


@dataclass(frozen=True, slots=True)
class Fallback:
    """Hand the visitor over to a person (the runner knows how: transfer to the concierge)."""

    reason: FallbackReason


@dataclass(frozen=True, slots=True)
class Hangup:
    leg: Leg


Action = Say | StartTimer | CancelTimer | CallResident | Fallback | Hangup
