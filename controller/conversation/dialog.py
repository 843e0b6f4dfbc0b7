"""The visitor phase of a gate call as a pure state machine: ``Dialog.handle(state, event) -> (state, actions)``.

Policy, in the order :meth:`Dialog._next_question` applies it: settle who the visitor wants (apartment, block,
resident; choosing between close candidates and checking a guessed one with the visitor), then the visitor's
name, then the errand; then confirm everything in one sentence and call. One question per turn, a different
wording each time the same thing is asked, and after `max_turns_without_progress` turns that get nowhere (or
at once when the visitor asks for a person) the visitor is handed over.

Nothing here opens the gate: the visitor phase ends with :class:`CallResident` at most, and only the resident's
decision, in the next phase, can lead to opening.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from controller.conversation import prompts
from controller.conversation.directory import Directory
from controller.conversation.events import (
    Action,
    CallResident,
    CallStarted,
    CallTarget,
    CancelTimer,
    DeliveryPolicy,
    DtmfReceived,
    Event,
    Fallback,
    FallbackReason,
    Hangup,
    Leg,
    LegHungUp,
    NothingHeard,
    PlaybackFinished,
    Say,
    SpeechStarted,
    StartTimer,
    Timer,
    TimerFired,
    UtteranceHeard,
    VisitorRequest,
)
from controller.conversation.matching import ACCEPT, Candidate, Outcome, ResidentIndex
from controller.conversation.passes import CODE_DIGITS, Pass, pass_for_code, pass_for_name
from controller.conversation.ring_plan import ring_plan
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.state import DialogState, Line, Phase, Target
from controller.conversation.text import fold
from controller.conversation.understanding import Intent, Parser, Slot, UnderstandingContext, Understood


class IllegalTransition(Exception):
    """An event that cannot happen in the state it arrived in: a bug in the runner, never the visitor's fault."""


@dataclass(frozen=True, slots=True)
class DialogPolicy:
    greeting: str
    max_turns_without_progress: int = 3
    silence_timeout_s: float = 8.0
    dtmf_gap_s: float = 3.0
    concierge_available: bool = True  # False: a hand-over ends the call politely instead
    # Resident phase (controller/conversation/resident.py).
    call_attempts: int = 2  # dials per resident endpoint before the apartment's next one
    ring_timeout_s: float = 25.0
    reassure_every_s: float = 6.0  # the waiting visitor hears something at least this often
    resident_silence_s: float = 8.0  # the resident's silence after the question before asking again
    resident_max_asks: int = 3  # the question and its repetitions before "no decision"
    doubt_below: float = 0.5  # a request recognised with less confidence is read back before ringing
    directory_hints: bool = True  # tell the recogniser the building's names and apartments (hearing.py)
    delivery: DeliveryPolicy = DeliveryPolicy.CONCIERGE  # a delivery nobody answered for
    notify_residents: bool = False  # a note reaches the apartment then (NotifyResident)


@dataclass(frozen=True, slots=True)
class _Turn:
    """What one visitor turn changed, before the reply is chosen."""

    state: DialogState
    progress: bool = False
    notices: tuple[str, ...] = ()
    call_now: bool = False  # the visitor just confirmed the resident: no need for another confirmation
    new_name: bool = False


class Dialog:
    """The conversation rules for one directory version; build once per directory, share between calls."""

    def __init__(
        self,
        directory: Directory,
        policy: DialogPolicy,
        parser: Parser | None = None,
        passes: tuple[Pass, ...] = (),
    ) -> None:
        """`passes`: the pre-authorisations valid for this call (passes.py), looked up when it started."""
        self.index = ResidentIndex(directory)
        self.policy = policy
        self.passes = passes
        self.parser: Parser = parser or RuleUnderstanding()
        self._has_blocks = directory.has_blocks

    def start(self, call_id: str) -> DialogState:
        return DialogState(call_id)

    def context(self, state: DialogState) -> UnderstandingContext:
        """What an understanding backend should know before reading the visitor's next utterance."""
        index = self.index
        return UnderstandingContext(
            state.expecting, index.apartments, index.name_words, index.name_sounds, self._has_blocks
        )

    def handle(self, state: DialogState, event: Event) -> tuple[DialogState, list[Action]]:
        if isinstance(event, CallStarted):
            if state.phase is not Phase.NEW:
                raise IllegalTransition(f"CallStarted in phase {state.phase}")
            return self._say(replace(state, phase=Phase.COLLECTING), self.policy.greeting, [])
        if state.phase is Phase.NEW:
            raise IllegalTransition(f"{type(event).__name__} before CallStarted")
        if isinstance(event, LegHungUp) and event.leg is Leg.GATE:
            stop: list[Action] = [CancelTimer(Timer.SILENCE), CancelTimer(Timer.DTMF)]
            return replace(state, phase=Phase.ENDED, expecting=None), stop if state.phase is Phase.COLLECTING else []
        if state.phase is not Phase.COLLECTING:
            return state, []  # later events belong to the resident phase, or the call is over
        match event:
            case UtteranceHeard(text=text, understood=understood, leg=Leg.GATE, confidence=confidence):
                heard = understood or self.parser.parse(text, self.context(state))
                doubtful = confidence is not None and confidence < self.policy.doubt_below
                return self._turn(state, text, heard, [CancelTimer(Timer.SILENCE)], doubtful)
            case SpeechStarted(leg=Leg.GATE):
                return state, [CancelTimer(Timer.SILENCE)]
            case NothingHeard(leg=Leg.GATE):
                return state, [StartTimer(Timer.SILENCE, self.policy.silence_timeout_s)]
            case DtmfReceived(digit=digit, leg=Leg.GATE):
                return self._key(state, digit)
            case PlaybackFinished(leg=Leg.GATE, interrupted=False):
                return state, [StartTimer(Timer.SILENCE, self.policy.silence_timeout_s)]
            case TimerFired(timer=Timer.SILENCE):
                return self._silence(state)
            case TimerFired(timer=Timer.DTMF):
                return self._typed(state, [])
        return state, []

    # Keypad ---------------------------------------------------------------------------------------------------

    def _key(self, state: DialogState, digit: str) -> tuple[DialogState, list[Action]]:
        if digit.isdigit():
            return replace(state, dtmf=state.dtmf + digit), [
                CancelTimer(Timer.SILENCE),
                StartTimer(Timer.DTMF, self.policy.dtmf_gap_s),
            ]
        if digit == "*":
            return replace(state, dtmf=""), [CancelTimer(Timer.DTMF)]
        if digit == "#":
            return self._typed(state, [CancelTimer(Timer.DTMF)])
        return state, []

    def _typed(self, state: DialogState, actions: list[Action]) -> tuple[DialogState, list[Action]]:
        """The keypad number is complete: it is an apartment."""
        if not state.dtmf:
            return state, actions
        digits = state.dtmf
        granted = pass_for_code(self.passes, digits) if CODE_DIGITS[0] <= len(digits) <= CODE_DIGITS[1] else None
        apartment = self.index.directory.find(granted.apartment, granted.block) if granted else None
        if granted is not None and apartment is not None:
            state = replace(state, dtmf="", transcript=(*state.transcript, Line("visitor", "[teclado] código")))
            request = VisitorRequest(
                state.call_id, state.intent, granted.visitor_name, apartment.number, apartment.block, None
            )
            return self._let_in(state, request, ring_plan(apartment, None), granted, actions)
        return self._turn(replace(state, dtmf=""), f"[teclado] {digits}", Understood(apartment=digits), actions)

    # Turns ----------------------------------------------------------------------------------------------------

    def _silence(self, state: DialogState) -> tuple[DialogState, list[Action]]:
        turn = _Turn(state, notices=(prompts.still_there(),))
        return self._reply(turn, [])

    def _turn(
        self, state: DialogState, text: str, heard: Understood, actions: list[Action], doubtful: bool = False
    ) -> tuple[DialogState, list[Action]]:
        state = replace(state, transcript=(*state.transcript, Line("visitor", text)))
        if heard.asks_for_human:
            return self._fallback(state, FallbackReason.VISITOR_ASKED, actions)
        if heard.block and not self._has_blocks:
            heard = replace(heard, block=None)  # a building without blocks: "bloco b" is noise, not a wrong address
        turn = self._absorb(state, heard)
        if turn.state.target is not None and turn.state.target != state.target:
            turn = replace(turn, state=replace(turn.state, doubt=doubtful))  # the target was found just now
        return self._reply(turn, actions)

    def _absorb(self, state: DialogState, heard: Understood) -> _Turn:
        """Fold what the visitor said into the state."""
        target = state.target
        fresh = self._changes_target(state, heard)
        if state.expecting is Slot.CONFIRM and target is not None and not fresh:
            if heard.affirmation is True:
                return _Turn(state, progress=True, call_now=True)
            if heard.affirmation is False and not heard.visitor_name and not heard.intent:
                cleared = replace(state, target=None, resident=None, apartment=None, block=None)
                return _Turn(cleared, notices=(prompts.rejected(),))
        if state.expecting is Slot.CHECK and target is not None and not target.valid:
            agrees = heard.apartment == target.candidate.apartment and not heard.resident
            if heard.affirmation is True and not fresh or agrees:
                state = replace(state, target=replace(target, confirmed=True))
                return self._details(state, heard, _Turn(state, progress=True, call_now=True))
            if heard.affirmation is False and not fresh:
                return _Turn(replace(state, target=None, resident=None, apartment=target.stated_apartment))
        if state.expecting is Slot.CHOICE and state.candidates:
            chosen = self._chosen(state, heard)
            if chosen is not None:
                state = replace(state, candidates=(), target=chosen)
                return self._details(state, heard, _Turn(state, progress=True, call_now=True))
        turn = self._details(state, heard, _Turn(state))
        if fresh:
            turn = self._locate(turn, heard)
        if heard.dont_know and state.expecting in (Slot.APARTMENT, Slot.RESIDENT) and not turn.progress:
            turn = replace(turn, state=replace(turn.state, unknown=(*turn.state.unknown, state.expecting)))
        return turn

    def _details(self, state: DialogState, heard: Understood, turn: _Turn) -> _Turn:
        """Intent and visitor name: any turn may bring or correct them."""
        progress, new_name = turn.progress, False
        if heard.intent is not None and heard.intent is not Intent.DESCONHECIDO and heard.intent is not state.intent:
            state, progress = replace(state, intent=heard.intent), True
        if heard.visitor_name and heard.visitor_name != state.visitor_name:
            state, progress, new_name = replace(state, visitor_name=heard.visitor_name), True, True
        return replace(turn, state=state, progress=progress, new_name=new_name)

    def _changes_target(self, state: DialogState, heard: Understood) -> bool:
        candidate = state.target.candidate if state.target else None
        apartment = candidate.apartment if candidate else state.apartment
        if heard.apartment and heard.apartment != apartment and heard.apartment != state.apartment:
            return True
        if heard.block and heard.block != (candidate.block if candidate else state.block):
            return True
        if not heard.resident or fold(heard.resident) == fold(state.resident or ""):
            return False
        return candidate is None or self.index.score(heard.resident, candidate) < ACCEPT

    def _chosen(self, state: DialogState, heard: Understood) -> Target | None:
        options = state.candidates
        pick = self.index.pick(options, heard.resident, heard.apartment, heard.block)
        if pick is None and heard.ordinal is not None and -len(options) <= heard.ordinal < len(options):
            pick = options[heard.ordinal]
        same_home = len({(option.apartment, option.block) for option in options}) == 1
        if pick is None and heard.any_choice and same_home:
            pick = options[0]
        return None if pick is None else Target(pick, certain=True, confirmed=True)

    def _locate(self, turn: _Turn, heard: Understood) -> _Turn:
        """Resolve apartment, block and resident against the directory after the visitor changed any of them."""
        state = turn.state
        apartment = heard.apartment or state.apartment
        block = heard.block or (state.block if apartment == state.apartment else None)
        resident = heard.resident or state.resident
        state = replace(state, apartment=apartment, block=block, resident=resident, target=None, candidates=())
        found = self.index.resolve(resident, apartment, block)
        notices: tuple[str, ...] = ()
        progress = True
        match found.outcome:
            case Outcome.RESOLVED:
                state = replace(state, target=Target(found.candidates[0], certain=found.certain))
            case Outcome.AMBIGUOUS:
                state = replace(state, candidates=found.candidates)
            case Outcome.NOT_IN_APARTMENT if not found.candidates and (home := self._home(apartment, block)):
                state = replace(state, target=Target(home, certain=False))  # a guest, or a misheard name
            case Outcome.NOT_IN_APARTMENT if len(found.candidates) == 1:
                stated = f"{apartment}, bloco {block}" if block else apartment
                state = replace(state, target=Target(found.candidates[0], certain=False, stated_apartment=stated))
            case Outcome.NOT_IN_APARTMENT if found.candidates:
                state = replace(state, candidates=found.candidates)
                notices = (prompts.not_in_apartment(resident or "", apartment or ""),)
            case Outcome.NOT_IN_APARTMENT:
                notices, progress = (prompts.not_in_apartment(resident or "", apartment or ""),), False
                state = replace(state, resident=None)
            case Outcome.NOT_FOUND:
                notices, progress = (prompts.not_found(resident or ""),), False
                state = replace(state, resident=None)
            case Outcome.NO_SUCH_APARTMENT:
                notices, progress = (prompts.no_such_apartment(apartment or "", block),), False
            case Outcome.NOTHING:
                progress = False
        return replace(turn, state=state, progress=turn.progress or progress, notices=turn.notices + notices)

    def _home(self, apartment: str | None, block: str | None) -> Candidate | None:
        units = self.index.units(apartment or "", block)
        return Candidate(None, units[0].number, units[0].block) if len(units) == 1 else None

    # Replies --------------------------------------------------------------------------------------------------

    def _reply(self, turn: _Turn, actions: list[Action]) -> tuple[DialogState, list[Action]]:
        state = replace(turn.state, stalled=0 if turn.progress else turn.state.stalled + 1)
        if state.stalled >= self.policy.max_turns_without_progress:
            return self._fallback(state, FallbackReason.NO_PROGRESS, actions)
        if state.valid and (turn.call_now or self._ready(state)):
            return self._call(state, actions)
        question = self._next_question(state)
        if question is None:
            return self._fallback(state, FallbackReason.NO_PROGRESS, actions)
        slot, text = question
        greeting = (prompts.acknowledge(state.visitor_name),) if turn.new_name and state.visitor_name else ()
        if slot is Slot.CONFIRM:
            greeting = ()
        words = " ".join((*turn.notices, *greeting, text))
        return self._say(replace(state, expecting=slot, asked=(*state.asked, slot)), words, actions)

    def _next_question(self, state: DialogState) -> tuple[Slot, str] | None:
        if state.candidates:
            return Slot.CHOICE, prompts.ask_choice(state)
        target = state.target
        if target is not None and not target.valid:
            return Slot.CHECK, prompts.ask_check(state, target)
        if target is None:
            outcome = self.index.resolve(state.resident, state.apartment, state.block).outcome
            if outcome is Outcome.BLOCK_NEEDED:
                return Slot.BLOCK, prompts.ask_block(state)
            if Slot.APARTMENT in state.unknown:
                if Slot.RESIDENT in state.unknown:
                    return None
                return Slot.RESIDENT, prompts.ask_resident(state)
            return Slot.APARTMENT, prompts.ask_apartment(state)
        if state.intent is Intent.DESCONHECIDO:
            return Slot.INTENT, prompts.ask_intent(state)
        if self._wants_name(state):
            return Slot.VISITOR_NAME, prompts.ask_visitor_name(state)
        return Slot.CONFIRM, prompts.ask_confirm(state)

    @staticmethod
    def _wants_name(state: DialogState) -> bool:
        """A visit is announced by name, so ask once; a courier or a technician need not say who they are."""
        return state.visitor_name is None and state.intent is Intent.VISITA and Slot.VISITOR_NAME not in state.asked

    def _ready(self, state: DialogState) -> bool:
        """Ring now, without reading the request back: nothing is missing and nothing was guessed."""
        return not self._wants_name(state) and not state.doubt

    def _call(self, state: DialogState, actions: list[Action]) -> tuple[DialogState, list[Action]]:
        target = state.target
        assert target is not None
        chosen = target.candidate
        apartment = self.index.apartment(chosen)
        assert apartment is not None
        targets = ring_plan(apartment, chosen.resident)
        request = VisitorRequest(
            state.call_id, state.intent, state.visitor_name, chosen.apartment, chosen.block, chosen.resident
        )
        granted = pass_for_name(self.passes, chosen.apartment, chosen.block, state.visitor_name)
        if granted is not None:
            return self._let_in(state, request, targets, granted, actions)
        calling = replace(state, phase=Phase.CALLING, expecting=None)
        state, actions = self._say(calling, prompts.calling(state, target), actions)
        return state, [*actions, CallResident(request, targets)]

    def _let_in(
        self,
        state: DialogState,
        request: VisitorRequest,
        targets: tuple[CallTarget, ...],
        granted: Pass,
        actions: list[Action],
    ) -> tuple[DialogState, list[Action]]:
        """A pass stands for the resident's yes: the resident phase records it and opens, nobody is rung."""
        calling = replace(state, phase=Phase.CALLING, expecting=None)
        state, actions = self._say(calling, prompts.let_in(request.visitor_name), actions)
        return state, [*actions, CallResident(request, targets, granted)]

    def _fallback(
        self, state: DialogState, reason: FallbackReason, actions: list[Action]
    ) -> tuple[DialogState, list[Action]]:
        concierge = self.policy.concierge_available
        text = prompts.fallback(asked=reason is FallbackReason.VISITOR_ASKED, concierge=concierge)
        state, actions = self._say(replace(state, phase=Phase.FALLBACK, expecting=None), text, actions)
        return state, [*actions, Fallback(reason) if concierge else Hangup(Leg.GATE)]

    def _say(self, state: DialogState, text: str, actions: list[Action]) -> tuple[DialogState, list[Action]]:
        state = replace(state, transcript=(*state.transcript, Line("concierge", text)))
        return state, [*actions, Say(Leg.GATE, text)]


def outcome(state: DialogState) -> dict[str, object]:
    """The request as the `chat` CLI reports it (and as the audit log will record it)."""
    target = state.target if state.target is not None and state.target.valid and not state.candidates else None
    candidate = target.candidate if target else None
    result: dict[str, object] = {
        "intent_type": state.intent.value,
        "interlocutor_name": state.visitor_name,
        "apartment_number": candidate.apartment if candidate else state.apartment,
        "resident_name": candidate.resident if candidate else None,
        "valid_for_action": state.valid,
    }
    block = candidate.block if candidate else state.block
    if block:
        result["block"] = block
    return result
