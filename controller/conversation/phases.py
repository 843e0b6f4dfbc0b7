"""A whole gate call's conversation: the visitor phase, then the resident phase, as one pure function.

:class:`Conversation` has the same shape as :class:`Dialog` (``start``, ``context``, ``handle``) and is what the
call runner drives. Events go to the visitor phase until it emits :class:`CallResident`; in the same step the
resident phase starts (first :class:`DialResident`), and from then on it gets every event. Every call ends with
exactly one :class:`EndCall`, after the actions that finish it.

:class:`ErrorOccurred` in the visitor phase hands the visitor over (or ends politely), as any failure should.
"""

from __future__ import annotations

from dataclasses import replace

from controller.conversation import resident_prompts
from controller.conversation.dialog import Dialog
from controller.conversation.events import (
    CallAction,
    CallResident,
    CancelTimer,
    EndCall,
    ErrorOccurred,
    Event,
    Fallback,
    FallbackReason,
    Hangup,
    Leg,
    Say,
    Timer,
)
from controller.conversation.hearing import Expecting, Hearing, checks, choose, expecting_on, hearing_for
from controller.conversation.pauses import Awaiting, awaiting, judge_pause
from controller.conversation.resident import ResidentPhase
from controller.conversation.state import DialogState, Phase
from controller.conversation.understanding import UnderstandingContext

_OVER = frozenset({Phase.FALLBACK, Phase.ENDED})


class Conversation:
    """Visitor phase (:class:`Dialog`) then resident phase (:class:`ResidentPhase`); share it between calls."""

    def __init__(self, dialog: Dialog) -> None:
        self.dialog = dialog
        self.resident = ResidentPhase(dialog.policy, dialog.parser)
        self._hearings: dict[tuple[Expecting, str | None], Hearing] = {}

    def start(self, call_id: str) -> DialogState:
        return self.dialog.start(call_id)

    def context(self, state: DialogState) -> UnderstandingContext:
        return self.dialog.context(state)

    def judge_pause(self, state: DialogState, leg: Leg, text: str) -> bool | None:
        """Do the words `leg` said before its pause answer the question pending there? See pauses.py."""
        waiting = awaiting(state, leg)
        heard = self.dialog.parser.parse(text, self.dialog.context(state)) if waiting is Awaiting.REQUEST else None
        return judge_pause(text, waiting, self.dialog.index.apartments, heard)

    def hearing(self, state: DialogState, leg: Leg) -> Hearing:
        """What the next recognition on `leg` is told to expect (hearing.py); when hints are off, only whether
        the directory checks the answer."""
        key = (expecting_on(state, leg), state.apartment)
        if not self.dialog.policy.directory_hints:
            return Hearing(checked=checks(key[0]))
        if key not in self._hearings:
            self._hearings[key] = hearing_for(self.dialog.index.directory, *key)
        return self._hearings[key]

    def choose_heard(self, state: DialogState, leg: Leg, texts: tuple[str, ...]) -> str:
        """Which of a turn's hypotheses (best first) the directory agrees with (hearing.py)."""
        context = self.dialog.context(state)
        return choose(
            texts, expecting_on(state, leg), lambda text: self.dialog.parser.parse(text, context), self.dialog.index
        )

    def handle(self, state: DialogState, event: Event) -> tuple[DialogState, list[CallAction]]:
        if state.call is not None:
            return self.resident.handle(state, event)
        if state.phase in _OVER:
            return state, []
        if isinstance(event, ErrorOccurred) and state.phase is not Phase.NEW:
            return self._failed(state)
        new, visitor_actions = self.dialog.handle(state, event)
        actions: list[CallAction] = [*visitor_actions]
        call = next((action for action in actions if isinstance(action, CallResident)), None)
        if call is not None:
            new, more = self.resident.start(new, call)
            return new, [*actions, *more]
        if new.phase in _OVER:
            actions.append(EndCall())
        return new, actions

    def _failed(self, state: DialogState) -> tuple[DialogState, list[CallAction]]:
        concierge = self.dialog.policy.concierge_available
        done: CallAction = Fallback(FallbackReason.INTERNAL_ERROR) if concierge else Hangup(Leg.GATE)
        phase = Phase.FALLBACK if concierge else Phase.ENDED
        return replace(state, phase=phase, expecting=None), [
            CancelTimer(Timer.SILENCE),
            CancelTimer(Timer.DTMF),
            Say(Leg.GATE, resident_prompts.error(concierge), protected=True),
            done,
            EndCall(),
        ]
