"""What happens to a conversation (events, in) and what it asks the call runner to do (actions, out).

The runner turns ARI and media happenings into events, feeds them to :meth:`Conversation.handle`, and executes
the actions it gets back, in order; tests and the `chat` CLI do the same with no I/O. Time never comes from a
clock inside the conversation: timers are actions the runner schedules and events it delivers.

Two vocabularies: :data:`Action` is what the visitor phase (:class:`Dialog`) can ask for, and has nothing that
opens the gate; :data:`CallAction` adds the resident phase's actions, among them :class:`OpenGate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.conversation.passes import Pass
from controller.conversation.understanding import Intent, Understood


class Leg(StrEnum):
    GATE = "gate"
    RESIDENT = "resident"


class Timer(StrEnum):
    SILENCE = "silence"  # the visitor said nothing after our question
    DTMF = "dtmf"  # pause after the last keypad digit: the number is complete
    REASSURE = "reassure"  # the visitor waits while the resident is called: say something
    RESIDENT_SILENCE = "resident_silence"  # the resident said nothing after our question


class FallbackReason(StrEnum):
    VISITOR_ASKED = "visitor_asked"  # "quero falar com o porteiro"
    NO_PROGRESS = "no_progress"  # too many turns without getting anywhere
    NO_ANSWER = "no_answer"  # no resident answered on any attempt
    NO_DECISION = "no_decision"  # the resident answered but we could not understand a decision
    AUDIT_FAILED = "audit_failed"  # the authorisation could not be recorded, so the gate stays shut
    GATE_FAILED = "gate_failed"  # authorised and recorded, but the gate did not open (twice)
    INTERNAL_ERROR = "internal_error"  # the runner reported ErrorOccurred


class Unavailable(StrEnum):
    """Why a resident's phone did not give us the resident; the runner tells from the channel's fate."""

    NO_ANSWER = "no_answer"  # rang until the ring timeout (Asterisk may report cause 0 here)
    BUSY = "busy"
    FAILED = "failed"  # the endpoint is unreachable, unregistered, or the originate failed
    REJECTED = "rejected"  # the resident declined the call: not rung again


class DeliveryPolicy(StrEnum):
    """What a courier is told when nobody answers at the apartment (per site)."""

    CONCIERGE = "portaria"  # hand over to the concierge (or end politely without one)
    CARETAKER = "zelador"  # leave it with the caretaker
    LATER = "voltar"  # come back later
    LOCKER = "armario"  # leave it in the parcel locker


class Decision(StrEnum):
    """What an audit record says happened; only AUTHORISED can lead to opening the gate."""

    AUTHORISED = "authorised"
    DENIED = "denied"
    WAIT = "wait"  # "manda esperar": not now; the visitor is asked to wait, the gate stays shut
    FRONT_DESK = "front_desk"  # "deixa na portaria": a delivery left at the front desk, the gate stays shut
    TALKED = "talked"  # resident and visitor talked directly and the resident did not press 1
    NO_DECISION = "no_decision"  # the resident answered but never said yes or no clearly
    RESIDENT_HUNG_UP = "resident_hung_up"  # the resident hung up before deciding
    NO_ANSWER = "no_answer"  # nobody answered on any attempt
    ABANDONED = "abandoned"  # the visitor hung up before the gate opened
    TRANSFERRED = "transferred"  # the visitor asked for a person while we were calling
    GATE_FAILED = "gate_failed"  # a second record after AUTHORISED: the opener failed twice
    ERROR = "error"  # an internal error ended the resident phase


class How(StrEnum):
    """How the resident gave the decision."""

    VOICE = "voice"
    DTMF = "dtmf"
    PREAUTHORISED = "preauthorised"  # given in advance: a pass (controller/conversation/passes.py)
    NONE = "none"


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
    confidence: float | None = None  # the recogniser's, 0..1; None when typed or unknown (trusted)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller started talking (recognition follows): a waiting reprompt should not interrupt them."""

    leg: Leg = Leg.GATE


@dataclass(frozen=True, slots=True)
class NothingHeard:
    """The caller made a sound but recognition found no words in it."""

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


@dataclass(frozen=True, slots=True)
class ResidentRinging:
    """The resident's phone is ringing (informational: the reassurance timer already runs)."""

    target: CallTarget
    attempt: int


@dataclass(frozen=True, slots=True)
class ResidentAnswered:
    """The resident leg is up and its media connected: the resident can hear us and be heard."""

    target: CallTarget
    endpoint: str = ""  # which of the target's phones answered ("": its only one)


@dataclass(frozen=True, slots=True)
class ResidentUnavailable:
    """The dial for (`target`, `attempt`) ended without an answer; its channel is gone."""

    target: CallTarget
    attempt: int
    reason: Unavailable


@dataclass(frozen=True, slots=True)
class AuditWritten:
    """The result of executing WriteAudit: ok means the record is durably stored.

    `decision` echoes ``WriteAudit.record.decision``, so a late result for another record can never be taken
    for the authorisation's.
    """

    ok: bool
    decision: Decision


@dataclass(frozen=True, slots=True)
class GateOpened:
    """The result of executing one OpenGate (one try; the conversation decides about a second)."""

    ok: bool


@dataclass(frozen=True, slots=True)
class ErrorOccurred:
    """Something in the runner broke (a leg's media, ARI, speech): hand over or end politely."""

    detail: str = ""


Event = (
    CallStarted
    | UtteranceHeard
    | SpeechStarted
    | NothingHeard
    | DtmfReceived
    | PlaybackFinished
    | LegHungUp
    | TimerFired
    | ResidentRinging
    | ResidentAnswered
    | ResidentUnavailable
    | AuditWritten
    | GateOpened
    | ErrorOccurred
)


# Actions ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    leg: Leg
    text: str  # pt-BR, short, ready for text-to-speech
    protected: bool = False  # barge-in must not cut it: a decision the visitor has to hear whole


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
    visitor_name: str | None  # None: a courier need not say who they are
    apartment: str
    block: str | None
    resident: str | None  # as written in the directory; None: the apartment, nobody in particular


@dataclass(frozen=True, slots=True)
class CallTarget:
    """One step of the ring list: a phone (with `also`, several rung at once: the first to answer decides)."""

    resident: str
    endpoint: str  # e.g. "PJSIP/101"; mapping prototype numbers is the runner's job
    ring_s: float | None = None  # None: the policy's ring timeout
    attempts: int = 0  # dials before the next step; 0: the policy's
    also: tuple[str, ...] = ()  # endpoints rung together with `endpoint`

    @property
    def endpoints(self) -> tuple[str, ...]:
        return (self.endpoint, *self.also)


@dataclass(frozen=True, slots=True)
class CallResident:
    """Ring `targets` in order (the requested resident first, then the apartment's other residents); with
    `preauthorised`, nobody: the resident's yes was given in advance, it is recorded and the gate opens."""

    request: VisitorRequest
    targets: tuple[CallTarget, ...]
    preauthorised: Pass | None = None


@dataclass(frozen=True, slots=True)
class Fallback:
    """Hand the visitor over to a person (the runner knows how: transfer to the concierge)."""

    reason: FallbackReason


@dataclass(frozen=True, slots=True)
class Hangup:
    """End `leg`'s channel once the speech queued before it on that leg has been played.

    On the resident leg it also cancels a dial that is still ringing.
    """

    leg: Leg


Action = Say | StartTimer | CancelTimer | CallResident | Fallback | Hangup
"""What the visitor phase can ask for: nothing here opens the gate."""


# Resident phase actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialResident:
    """Originate to `target.endpoint`; report ResidentRinging, then ResidentAnswered or ResidentUnavailable."""

    target: CallTarget
    attempt: int  # 1-based, per target
    timeout_s: float  # ring timeout


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One decision, as the conversation knows it; the audit log adds time, gate name and channel ids."""

    call_id: str
    decision: Decision
    how: How
    visitor_name: str
    intent: Intent
    apartment: str
    block: str | None
    resident: str  # who answered, else the resident the visitor asked for
    rung: tuple[str, ...] = ()  # every dial, in order: "<endpoint>:<outcome>" (answered, no_answer, busy...)
    preauthorisation: str = ""  # the pass that stood for the resident's yes (Pass.describe)


@dataclass(frozen=True, slots=True)
class WriteAudit:
    """Store `record` durably, then report AuditWritten(ok, record.decision)."""

    record: AuditRecord


@dataclass(frozen=True, slots=True)
class OpenGate:
    """Open the gate once (one try); report GateOpened(ok). Emitted only after AuditWritten(ok=True, AUTHORISED)."""

    request: VisitorRequest
    attempt: int  # 1, or 2 when the first try failed


@dataclass(frozen=True, slots=True)
class BridgeVisitorAndResident:
    """Put the two callers' channels in one bridge, our media legs out of it: they talk directly."""


@dataclass(frozen=True, slots=True)
class EndCall:
    """The conversation is over: after the actions before it, tear down whatever of the call remains."""


@dataclass(frozen=True, slots=True)
class NotifyResident:
    """Send the apartment a note (the site's webhook): a delivery came while nobody answered, and what the
    courier was told to do with it. Never waits: the call goes on and ends as it would."""

    request: VisitorRequest
    policy: DeliveryPolicy


ResidentAction = DialResident | WriteAudit | OpenGate | BridgeVisitorAndResident | EndCall | NotifyResident
CallAction = Action | ResidentAction
"""Everything :meth:`Conversation.handle` can ask the runner to do."""
