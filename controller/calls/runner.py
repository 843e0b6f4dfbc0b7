"""Runs the pure conversation for one call: media and ARI happenings in, the dialog's actions carried out.

The dialog (:class:`controller.conversation.Dialog`) decides; this runner only translates. It owns one inbox,
so the dialog sees one event at a time in arrival order, and for each leg a listener that turns the leg's media
events into dialog events:

    MediaLeg: EarlyUtterance --start STT--> (SpeechResumed cancels it) UtteranceEnded --reuse or run STT-->
              UtteranceHeard(text)         LegClosed --> LegHungUp

Actions that need Asterisk (hang up, hand over to a person, call the resident, open the gate) go to the
:class:`CallControl` the gate call implements. Recognition starts on the "probably ended" signal, while the
end-of-turn silence is still being confirmed, and its result is kept when no more speech arrives: that is
where most of the turn latency is won.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from audiosocket.media_leg import (
    DtmfPressed,
    EarlyUtterance,
    LegClosed,
    MediaLeg,
    SpeechResumed,
    UtteranceEnded,
    UtteranceStarted,
)
from audiosocket.speech.base import Transcript
from audiosocket.speech.guard import CallSpeech, SpeechFailure
from controller.conversation import (
    CallResident,
    CancelTimer,
    DialogState,
    Event,
    Fallback,
    Hangup,
    Leg,
    LegHungUp,
    PlaybackFinished,
    Say,
    StartTimer,
    Timer,
    TimerFired,
    UtteranceHeard,
)
from controller.conversation.call import Conversation
from controller.conversation.events import (
    AuditRecord,
    AuditWritten,
    BridgeVisitorAndResident,
    CallAction,
    DialResident,
    EndCall,
    GateOpened,
    OpenGate,
    WriteAudit,
)
from controller.conversation.reading import dialog_facts
from controller.conversation.state import Phase
from controller.conversation.understanding import Understanding
from controller.records.call_log import EventSink
from controller.records.store import ConversationStore

log = logging.getLogger(__name__)


class CallControl(Protocol):
    """What the runner asks of the gate call (ARI side, audit log, gate opener)."""

    async def hangup(self, leg: Leg) -> None: ...

    async def fallback(self, reason: str) -> None: ...

    async def dial_resident(self, action: DialResident) -> None:
        """Ring the resident; report ResidentRinging, then ResidentAnswered or ResidentUnavailable."""

    async def write_audit(self, record: AuditRecord) -> bool:
        """True only when the record is durably stored."""

    async def open_gate(self, action: OpenGate) -> bool: ...

    async def bridge_callers(self) -> None: ...

    async def end_call(self) -> None: ...


@dataclass
class LegIO:
    """One leg's media and speech, as the runner uses them."""

    media: MediaLeg
    speech: CallSpeech
    speaking: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def rate(self) -> int:
        return self.media.sample_rate


class CallRunner:
    def __init__(
        self,
        call_id: str,
        dialog: Conversation,
        control: CallControl,
        events: EventSink,
        store: ConversationStore,
        understanding: Understanding,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self._dialog = dialog
        self._understanding = understanding
        self._control = control
        self._events = events
        self._store = store
        self._clock = clock
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._legs: dict[Leg, LegIO] = {}
        self._timers: dict[Timer, asyncio.Task[None]] = {}
        self._timer_seconds: dict[Timer, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._gone: set[Leg] = set()
        self._ended = False
        self.state: DialogState = dialog.start(call_id)

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def leg_gone(self, leg: Leg) -> None:
        """A caller hung up (reported by ARI or by the media closing): tell the conversation once."""
        if leg not in self._gone:
            self._gone.add(leg)
            io = self._legs.get(leg)
            if io is not None:
                io.media.stop_speaking()  # nobody is listening: do not finish prompts before ending
            self.post(LegHungUp(leg=leg))

    async def detach(self, leg: Leg) -> None:
        """Stop listening to a leg whose media we remove on purpose (the callers then talk directly)."""
        io = self._legs.pop(leg, None)
        if io is None:
            return
        for task in list(self._tasks):
            if task.get_name().endswith(f"-listen-{leg}"):
                task.cancel()
        await io.media.aclose()

    def attach(self, leg: Leg, io: LegIO) -> None:
        """Start listening to a leg's media; its events reach the dialog from now on."""
        self._legs[leg] = io
        self._spawn(self._listen(leg, io), f"listen-{leg}")

    async def run(self, first: Event) -> None:
        """Feed the conversation until it ends the call (EndCall) or the gate call cancels this."""
        self.post(first)
        try:
            while not self._ended:
                event = await self._inbox.get()
                if isinstance(event, UtteranceHeard) and event.leg is Leg.GATE and event.understood is None:
                    event = await self._understand(event)
                started = self._clock()
                self.state, actions = self._dialog.handle(self.state, event)
                self._emit(
                    Leg.GATE,
                    "dialog_turn",
                    input=type(event).__name__,
                    phase=str(self.state.phase),
                    actions=[type(action).__name__ for action in actions],
                    ms=round((self._clock() - started) * 1000, 3),
                )
                await self._save()
                for action in actions:
                    await self._execute(action)
        finally:
            await self._cancel_all()

    async def _understand(self, event: UtteranceHeard) -> UtteranceHeard:
        """Read the visitor's words with the configured backend (rules, or an LLM that falls back to them)."""
        started = self._clock()
        context = dialog_facts(self._dialog.context(self.state), self.state)
        understood = await self._understanding.understand(event.text, context)
        self._emit(
            event.leg, "understood", ms=round((self._clock() - started) * 1000, 3), intent=str(understood.intent)
        )
        return UtteranceHeard(event.text, understood, leg=event.leg)

    # Actions ---------------------------------------------------------------------------------------------------

    async def _execute(self, action: CallAction) -> None:
        match action:
            case Say(leg, text):
                io = self._legs.get(leg)
                if io is None:
                    log.warning("call %s: nothing to say %r on absent leg %s", self.call_id, text, leg)
                    return
                self._emit(leg, "say", text=text, protected=action.protected)
                task = self._spawn(self._speak(leg, io, text, action.protected), f"say-{leg}")
                io.speaking.append(task)
            case StartTimer(timer, seconds):
                self._start_timer(timer, seconds)
            case CancelTimer(timer):
                self._cancel_timer(timer)
            case Hangup(leg):
                await self._after_speech(leg)
                await self._control.hangup(leg)
            case Fallback(reason):
                await self._after_speech(Leg.GATE)
                await self._control.fallback(str(reason))
            case DialResident():
                self._spawn(self._control.dial_resident(action), "dial")
            case WriteAudit(record):
                ok = await self._control.write_audit(record)
                self.post(AuditWritten(ok=ok, decision=record.decision))
            case OpenGate():
                self._spawn(self._open_gate(action), "open-gate")
            case BridgeVisitorAndResident():
                await self._after_speech(Leg.GATE)
                await self._after_speech(Leg.RESIDENT)
                await self._control.bridge_callers()
            case EndCall():
                for leg in list(self._legs):
                    await self._after_speech(leg)
                self._ended = True
                await self._control.end_call()
            case CallResident():
                self._emit(
                    Leg.GATE,
                    "call_resident",
                    apartment=action.request.apartment,
                    resident=action.request.resident,
                    targets=[t.endpoint for t in action.targets],
                )
            case _:
                log.error("call %s: no runner for action %r", self.call_id, action)

    async def _open_gate(self, action: OpenGate) -> None:
        self.post(GateOpened(ok=await self._control.open_gate(action)))

    async def _speak(self, leg: Leg, io: LegIO, text: str, protected: bool) -> None:
        try:
            result = await io.media.say(io.speech.synthesize(text, io.rate), protected=protected)
        except SpeechFailure as failure:
            self._emit(leg, "say_failed", text=text, cause=str(failure))
            result = await io.media.say(io.speech.fallback_audio(io.rate))
        self.post(PlaybackFinished(leg=leg, played_ms=result.played_ms, interrupted=result.interrupted))

    async def _after_speech(self, leg: Leg) -> None:
        """Let a leg finish what it is saying (a goodbye must be heard before the hang-up)."""
        io = self._legs.get(leg)
        if io is None:
            return
        pending = [task for task in io.speaking if not task.done()]
        io.speaking = pending
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _start_timer(self, timer: Timer, seconds: float) -> None:
        self._cancel_timer(timer)
        self._timer_seconds[timer] = seconds

        async def fire() -> None:
            # A reprompt timer counts from when the question has been heard, not from when it was queued.
            await self._after_speech(Leg.GATE)
            await asyncio.sleep(seconds)
            self._timers.pop(timer, None)
            self.post(TimerFired(timer, at=self._clock()))

        self._timers[timer] = self._spawn(fire(), f"timer-{timer}")

    def _cancel_timer(self, timer: Timer) -> None:
        task = self._timers.pop(timer, None)
        if task is not None:
            task.cancel()

    # Media -> dialog events ------------------------------------------------------------------------------------

    async def _listen(self, leg: Leg, io: LegIO) -> None:
        early: asyncio.Task[Transcript] | None = None
        async for event in io.media:
            match event:
                case UtteranceStarted():
                    paused = self._timers.get(Timer.SILENCE)
                    if paused is not None and leg is Leg.GATE:
                        self._cancel_timer(Timer.SILENCE)
                case EarlyUtterance(pcm=pcm):
                    if early is not None:
                        early.cancel()
                    early = self._spawn(io.speech.transcribe(pcm, io.rate), f"stt-{leg}")
                case SpeechResumed():
                    if early is not None:
                        early.cancel()
                    early = None
                case UtteranceEnded(pcm=pcm):
                    # No SpeechResumed since the early signal: the turn is what was recognised early. (The final
                    # audio may carry one more frame of trailing silence; comparing bytes threw the early result
                    # away in 9 of 12 turns, docs/performance.md.)
                    if early is not None:
                        task, reused = early, True
                    else:
                        if early is not None:
                            early.cancel()
                        task, reused = self._spawn(io.speech.transcribe(pcm, io.rate), f"stt-{leg}"), False
                    early = None
                    await self._heard(leg, io, task, reused)
                case DtmfPressed():
                    pass  # keypad digits reach the dialog from ARI (ChannelDtmfReceived), once
                case LegClosed(reason=reason):
                    self._emit(leg, "leg_media_closed", reason=reason)
                    self.leg_gone(leg)
                    return

    async def _heard(self, leg: Leg, io: LegIO, task: asyncio.Task[Transcript], reused: bool) -> None:
        try:
            transcript = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled, not just the recognition
            return
        except SpeechFailure as failure:
            if failure.give_up:
                await self._control.fallback("speech_failures")
            else:
                self._emit(leg, "say", text="(fallback)", cause="stt")
                self._spawn(io.media.say(io.speech.fallback_audio(io.rate)), "say-fallback")
            return
        self._emit(leg, "transcript", text=transcript.text, early=reused)
        if transcript.text.strip():
            self.post(UtteranceHeard(transcript.text, leg=leg))
        elif leg is Leg.GATE and Timer.SILENCE in self._timer_seconds and self.state.phase is Phase.COLLECTING:
            self._start_timer(Timer.SILENCE, self._timer_seconds[Timer.SILENCE])

    # Plumbing --------------------------------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"call-{self.call_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call %s: task %s failed", self.call_id, task.get_name(), exc_info=task.exception())

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _save(self) -> None:
        try:
            await self._store.save(self.state)
        except Exception as error:  # the store is a record, not a dependency: the call goes on without it
            log.warning("call %s: state store unavailable: %s", self.call_id, error)

    def _emit(self, leg: Leg, event: str, **fields: Any) -> None:
        self._events.emit(self.call_id, str(leg), event, **fields)
