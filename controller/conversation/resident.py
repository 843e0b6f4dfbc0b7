"""The resident phase of a gate call as a pure state machine: call, ask, record, open, end.

It starts from the visitor phase's :class:`CallResident` and keeps its state in ``DialogState.call``.

The only path to :class:`OpenGate` (docs/resident.md, "Safety"):

1. :class:`ResidentAnswered` for the target being dialled (stage ASKING);
2. a yes on the resident leg, by voice (:func:`read_answer`) or DTMF 1 (also while bridged, stage TALKING);
3. :class:`WriteAudit` of an AUTHORISED record is emitted (stage AUDITING);
4. :class:`AuditWritten` with ok=True for that AUTHORISED record arrives while the visitor is still on the line.

A failed :class:`GateOpened` gets one more OpenGate (the conversation retries, so every try is visible in the
state and the events); a second failure is told, recorded (GATE_FAILED) and handed to the concierge if any.
Nothing said or typed on the visitor's leg reaches any of these steps.
"""

from __future__ import annotations

from dataclasses import replace

from controller.conversation import resident_prompts as say
from controller.conversation.dialog import DialogPolicy
from controller.conversation.events import (
    AuditRecord,
    AuditWritten,
    BridgeVisitorAndResident,
    CallAction,
    CallResident,
    CallTarget,
    CancelTimer,
    Decision,
    DeliveryPolicy,
    DialResident,
    DtmfReceived,
    EndCall,
    ErrorOccurred,
    Event,
    Fallback,
    FallbackReason,
    GateOpened,
    Hangup,
    How,
    Leg,
    LegHungUp,
    NotifyResident,
    OpenGate,
    PlaybackFinished,
    ResidentAnswered,
    ResidentUnavailable,
    Say,
    StartTimer,
    Timer,
    TimerFired,
    Unavailable,
    UtteranceHeard,
    WriteAudit,
)
from controller.conversation.prompts import transfer
from controller.conversation.resident_rules import DTMF_ANSWERS, Answer, read_answer
from controller.conversation.ring_plan import distinct
from controller.conversation.state import DialogState, Phase, ResidentCall, Stage
from controller.conversation.understanding import Intent, Parser, UnderstandingContext

Step = tuple[DialogState, list[CallAction]]

_UP = frozenset({Stage.ASKING, Stage.AUDITING, Stage.OPENING, Stage.TALKING})  # the resident leg is answered


class ResidentPhase:
    """The resident phase's rules; stateless, shared between calls like :class:`Dialog`."""

    def __init__(self, policy: DialogPolicy, parser: Parser) -> None:
        self.policy = policy
        self.parser = parser

    def start(self, state: DialogState, call: CallResident) -> Step:
        targets = distinct(call.targets)
        if not targets:
            state = replace(state, call=ResidentCall(call.request, call.targets))
            return self._end(state, Decision.ERROR, resident=None, visitor=say.error(self._concierge), fallback=True)
        if call.preauthorised is not None:  # the yes was given in advance: record it, then open; nobody rung
            granted = ResidentCall(call.request, targets, preauth=call.preauthorised, resident_gone=True)
            return self._authorise(replace(state, call=granted), granted, How.PREAUTHORISED, [])
        state = replace(state, call=ResidentCall(call.request, targets))
        return state, [self._dial(targets[0], 1), self._reassure_timer()]

    def handle(self, state: DialogState, event: Event) -> Step:
        call = state.call
        if call is None or call.stage is Stage.DONE:
            return state, []
        match event:
            case ErrorOccurred():
                return self._end(state, Decision.ERROR, say.resident_error(), say.error(self._concierge), True)
            case LegHungUp(leg=Leg.GATE):
                return self._visitor_left(state, call)
            case LegHungUp(leg=Leg.RESIDENT):
                return self._resident_left(state, call)
            case TimerFired(timer=Timer.REASSURE):
                return self._reassure(state, call)
            case UtteranceHeard(leg=Leg.GATE, text=text, understood=understood):
                heard = understood or self.parser.parse(text, UnderstandingContext())
                if heard.asks_for_human and self._concierge and call.stage in (Stage.DIALING, Stage.ASKING):
                    to_visitor = transfer(asked=True)
                    return self._end(state, Decision.TRANSFERRED, say.resident_transferred(), to_visitor, True)
            case ResidentAnswered(target=target) if call.stage is Stage.DIALING and target == call.target:
                rung = (*call.rung, f"{event.endpoint or target.endpoint}:answered")
                return self._answered(state, replace(call, rung=rung))
            case ResidentUnavailable() if call.stage is Stage.DIALING:
                if (event.target, event.attempt) == (call.target, call.attempt):
                    rung = (*call.rung, f"{'+'.join(event.target.endpoints)}:{event.reason}")
                    return self._unavailable(state, replace(call, rung=rung), event.reason)
            case UtteranceHeard(leg=Leg.RESIDENT, text=text) if call.stage is Stage.ASKING:
                answer = read_answer(text, delivery=call.request.intent is Intent.ENTREGA)
                return self._answer(state, call, answer, How.VOICE, [CancelTimer(Timer.RESIDENT_SILENCE)])
            case DtmfReceived(leg=Leg.RESIDENT, digit=digit) if call.stage is Stage.ASKING:
                answer = DTMF_ANSWERS.get(digit, Answer.UNCLEAR)
                return self._answer(state, call, answer, How.DTMF, [CancelTimer(Timer.RESIDENT_SILENCE)])
            case DtmfReceived(leg=Leg.RESIDENT, digit="1") if call.stage is Stage.TALKING and not call.gate_attempt:
                return self._authorise(state, call, How.DTMF, [])
            case PlaybackFinished(leg=Leg.RESIDENT, interrupted=False) if call.stage is Stage.ASKING:
                return state, [StartTimer(Timer.RESIDENT_SILENCE, self.policy.resident_silence_s)]
            case TimerFired(timer=Timer.RESIDENT_SILENCE) if call.stage is Stage.ASKING:
                return self._answer(state, call, Answer.UNCLEAR, How.NONE, [])
            case AuditWritten(decision=Decision.AUTHORISED, ok=ok) if call.stage is Stage.AUDITING:
                return self._audited(state, call, ok)
            case GateOpened(ok=ok) if call.stage is Stage.OPENING:
                return self._gate(state, call, ok)
        return state, []

    @property
    def _concierge(self) -> bool:
        return self.policy.concierge_available

    # Calling --------------------------------------------------------------------------------------------------

    def _dial(self, target: CallTarget, attempt: int) -> DialResident:
        return DialResident(target, attempt, target.ring_s or self.policy.ring_timeout_s)

    def _reassure_timer(self) -> StartTimer:
        return StartTimer(Timer.REASSURE, self.policy.reassure_every_s)

    def _reassure(self, state: DialogState, call: ResidentCall) -> Step:
        if call.stage not in (Stage.DIALING, Stage.ASKING, Stage.AUDITING, Stage.OPENING) or call.visitor_gone:
            return state, []
        if call.stage in (Stage.AUDITING, Stage.OPENING):
            text = "Só mais um momento, por favor."
        else:
            text = say.reassure(call.target.resident, call.stage is Stage.ASKING, call.reassured)
        state = replace(state, call=replace(call, reassured=call.reassured + 1))
        return state, [Say(Leg.GATE, text), self._reassure_timer()]

    def _unavailable(self, state: DialogState, call: ResidentCall, reason: Unavailable) -> Step:
        if reason is not Unavailable.REJECTED and call.attempt < (call.target.attempts or self.policy.call_attempts):
            call = replace(call, attempt=call.attempt + 1)
            text = say.try_again()
        elif call.index + 1 < len(call.targets):
            previous = call.target.resident
            call = replace(call, index=call.index + 1, attempt=1)
            text = say.next_resident(previous, call.target.resident)
        else:
            state = replace(state, call=replace(call, resident_gone=True))  # the last dial's channel is gone
            if call.request.intent is Intent.ENTREGA:
                return self._nobody_home(state, call)
            visitor = say.no_answer(call.request, self._concierge)
            return self._end(state, Decision.NO_ANSWER, None, visitor, fallback=True)
        state = replace(state, call=call)
        return state, [Say(Leg.GATE, text), self._dial(call.target, call.attempt), self._reassure_timer()]

    def _nobody_home(self, state: DialogState, call: ResidentCall) -> Step:
        """A delivery nobody answered for: the site's policy says what the courier does, and the apartment is
        sent a note about it (when the site has somewhere to send it)."""
        policy, notify = self.policy.delivery, self.policy.notify_residents
        note: list[CallAction] = [NotifyResident(call.request, policy)] if notify else []
        if policy is DeliveryPolicy.CONCIERGE:
            visitor = say.no_answer(call.request, self._concierge)
            return self._end(state, Decision.NO_ANSWER, None, visitor, fallback=True, first=note)
        visitor = say.delivery_nobody_home(call.request, policy, notify)
        return self._end(state, Decision.NO_ANSWER, None, visitor, first=note)

    def _answered(self, state: DialogState, call: ResidentCall) -> Step:
        state = replace(state, call=replace(call, stage=Stage.ASKING, asks=1))
        return state, [
            Say(Leg.RESIDENT, say.question(call.request)),
            Say(Leg.GATE, say.answered(call.target.resident)),
            self._reassure_timer(),
        ]

    # The resident's answer -------------------------------------------------------------------------------------

    def _answer(
        self, state: DialogState, call: ResidentCall, answer: Answer, how: How, actions: list[CallAction]
    ) -> Step:
        resident = call.target.resident
        match answer:
            case Answer.YES:
                return self._authorise(state, call, how, actions)
            case Answer.NO:
                return self._end(state, Decision.DENIED, say.resident_denied(), say.denied(), how=how, first=actions)
            case Answer.WAIT:
                return self._end(state, Decision.WAIT, say.resident_wait(), say.wait(resident), how=how, first=actions)
            case Answer.FRONT_DESK:
                visitor = say.front_desk(resident)
                return self._end(state, Decision.FRONT_DESK, say.resident_front_desk(), visitor, how=how, first=actions)
            case Answer.TALK:
                return self._talk(state, call, actions)
        if call.asks >= self.policy.resident_max_asks:
            visitor = say.no_decision(resident, self._concierge)
            return self._end(state, Decision.NO_DECISION, say.resident_no_decision(), visitor, True, first=actions)
        text = say.question(call.request) if answer is Answer.REPEAT else say.ask_again(call.request, call.asks)
        state = replace(state, call=replace(call, asks=call.asks + 1))
        return state, [*actions, Say(Leg.RESIDENT, text)]

    def _talk(self, state: DialogState, call: ResidentCall, actions: list[CallAction]) -> Step:
        state = replace(state, call=replace(call, stage=Stage.TALKING, bridged=True))
        return state, [
            *actions,
            CancelTimer(Timer.REASSURE),
            Say(Leg.RESIDENT, say.resident_talk()),
            Say(Leg.GATE, say.talk(call.target.resident)),
            BridgeVisitorAndResident(),
        ]

    # Authorisation: record, then open ---------------------------------------------------------------------------

    def _authorise(self, state: DialogState, call: ResidentCall, how: How, actions: list[CallAction]) -> Step:
        call = replace(call, stage=Stage.AUDITING, decision=call.decision or Decision.AUTHORISED, how=how)
        state = replace(state, call=call)
        return state, [*actions, WriteAudit(self._record(call, Decision.AUTHORISED, how))]

    def _audited(self, state: DialogState, call: ResidentCall, ok: bool) -> Step:
        if ok:
            state = replace(state, call=replace(call, stage=Stage.OPENING, gate_attempt=1))
            return state, [OpenGate(call.request, 1)]
        if call.bridged:  # they are talking; nothing can be said on the bridge, the gate just stays shut
            return self._back_to_talk(state, call, [])
        visitor = say.audit_failed(self._concierge)
        return self._end(state, None, say.resident_audit_failed(), visitor, fallback=True, reason=_AUDIT)

    def _gate(self, state: DialogState, call: ResidentCall, ok: bool) -> Step:
        if not ok and call.gate_attempt < 2 and not call.visitor_gone:
            state = replace(state, call=replace(call, gate_attempt=call.gate_attempt + 1))
            return state, [OpenGate(call.request, call.gate_attempt + 1)]
        failed: list[CallAction] = [] if ok else [WriteAudit(self._record(call, Decision.GATE_FAILED, call.how))]
        if call.bridged:
            return self._back_to_talk(state, call, failed)
        resident = call.preauth.granted_by if call.preauth else call.target.resident
        if ok:
            visitor = say.preauthorised(resident) if call.preauth else say.authorised(resident)
            return self._end(state, None, say.resident_opened(), visitor)
        visitor = say.gate_failed(resident, self._concierge)
        return self._end(state, None, say.resident_gate_failed(), visitor, True, first=failed, reason=_GATE)

    def _back_to_talk(self, state: DialogState, call: ResidentCall, actions: list[CallAction]) -> Step:
        """After a try to open while bridged: the talk goes on, unless one of them left meanwhile."""
        if call.visitor_gone or call.resident_gone:
            return self._end(state, None, None, None, first=actions)
        return replace(state, call=replace(call, stage=Stage.TALKING)), actions

    # Hang-ups ---------------------------------------------------------------------------------------------------

    def _visitor_left(self, state: DialogState, call: ResidentCall) -> Step:
        if call.stage is Stage.OPENING:  # the gate is being opened: let the try finish, then end
            return replace(state, call=replace(call, visitor_gone=True)), []
        call = replace(call, visitor_gone=True)
        state = replace(state, call=call)
        if call.stage is Stage.TALKING:
            return self._end(state, Decision.TALKED if call.decision is None else None, None, None)
        decision = Decision.ABANDONED if call.decision in (None, Decision.AUTHORISED) else None
        return self._end(state, decision, say.resident_visitor_left(), None, force_audit=decision is not None)

    def _resident_left(self, state: DialogState, call: ResidentCall) -> Step:
        if call.stage is Stage.DIALING:  # the dial's end is reported as ResidentUnavailable
            return state, []
        call = replace(call, resident_gone=True)
        state = replace(state, call=call)
        if call.stage in (Stage.AUDITING, Stage.OPENING):  # the yes stands: go on with the gate
            return state, []
        if call.stage is Stage.TALKING:
            return self._end(state, Decision.TALKED if call.decision is None else None, None, None)
        visitor = say.resident_hung_up(call.target.resident)
        return self._end(state, Decision.RESIDENT_HUNG_UP, None, visitor)

    # Endings ----------------------------------------------------------------------------------------------------

    def _end(
        self,
        state: DialogState,
        decision: Decision | None,
        resident: str | None,
        visitor: str | None,
        fallback: bool = False,
        *,
        how: How = How.NONE,
        first: list[CallAction] | None = None,
        reason: FallbackReason | None = None,
        force_audit: bool = False,
    ) -> Step:
        """Record `decision` (if it is the first), tell both callers, hang up, hand over if asked, end.

        Nothing is said on a bridge (our media legs left it) nor to a caller who hung up; `fallback` hands the
        visitor to the concierge when there is one, else the visitor's leg just ends after the words.
        """
        call = state.call
        assert call is not None
        actions: list[CallAction] = [*(first or []), CancelTimer(Timer.REASSURE), CancelTimer(Timer.RESIDENT_SILENCE)]
        if decision is not None and (call.decision is None or force_audit):
            actions.append(WriteAudit(self._record(call, decision, how)))
            call = replace(call, decision=call.decision or decision, how=how if call.decision is None else call.how)
        resident_up = call.stage in _UP and not call.resident_gone
        # Both callers hear the outcome at once: both sentences are queued before either hang-up waits for one.
        if resident is not None and resident_up and not call.bridged:
            actions.append(Say(Leg.RESIDENT, resident))
        if visitor is not None and not call.bridged and not call.visitor_gone:
            actions.append(Say(Leg.GATE, visitor, protected=True))
        if (call.stage is Stage.DIALING and not call.resident_gone) or resident_up:
            actions.append(Hangup(Leg.RESIDENT))
        handed_over = False
        if not call.visitor_gone:
            if fallback and self._concierge and not call.bridged:
                actions.append(Fallback(reason or _reason(decision)))
                handed_over = True
            else:
                actions.append(Hangup(Leg.GATE))
        actions.append(EndCall())
        phase = Phase.FALLBACK if handed_over else Phase.ENDED
        return replace(state, phase=phase, call=replace(call, stage=Stage.DONE)), actions

    def _record(self, call: ResidentCall, decision: Decision, how: How) -> AuditRecord:
        request = call.request
        answered = call.stage is not Stage.DIALING
        resident = call.target.resident if answered else (request.resident or "")
        if call.preauth is not None:
            resident = call.preauth.granted_by
        rung = call.rung
        if call.stage is Stage.DIALING and not call.resident_gone:  # the call ends while this dial still rings
            rung = (*rung, f"{'+'.join(call.target.endpoints)}:cancelled")
        return AuditRecord(
            request.call_id,
            decision,
            how,
            request.visitor_name or "",
            request.intent,
            request.apartment,
            request.block,
            resident,
            rung,
            call.preauth.describe() if call.preauth else "",
        )


_AUDIT = FallbackReason.AUDIT_FAILED
_GATE = FallbackReason.GATE_FAILED
_REASONS = {
    Decision.NO_ANSWER: FallbackReason.NO_ANSWER,
    Decision.NO_DECISION: FallbackReason.NO_DECISION,
    Decision.TRANSFERRED: FallbackReason.VISITOR_ASKED,
    Decision.ERROR: FallbackReason.INTERNAL_ERROR,
}


def _reason(decision: Decision | None) -> FallbackReason:
    return _REASONS.get(decision, FallbackReason.INTERNAL_ERROR) if decision else FallbackReason.INTERNAL_ERROR
