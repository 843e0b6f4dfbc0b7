"""Runs the pure conversation for one call: happenings in, the conversation's actions carried out.

The conversation (:class:`~controller.conversation.phases.Conversation`) decides; this runner only translates. It
owns one inbox, so the conversation sees one event at a time in arrival order. Events come from

- each leg's :class:`~controller.calls.turns.TurnListener` (speech started, utterance heard, nothing heard),
- the gate call (keypad digits and hang-ups from ARI, the resident's phone ringing/answering),
- the runner's own work: timers, playback results, the audit and gate results, and understanding.

Understanding (the rules, or an LLM that may take seconds) runs beside the loop in one worker, in utterance order,
and posts its result back as an event: a hang-up, a keypad digit or a timer is never queued behind it.

Actions that need Asterisk, the audit log or the gate go to the :class:`CallControl` the gate call implements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, Protocol

from audiosocket.events import EventSink
from audiosocket.speech.base import Hints
from audiosocket.speech.guard import SpeechFailure
from controller.calls.turns import LegIO, TurnListener
from controller.conversation.events import (
    AuditRecord,
    AuditWritten,
    BridgeVisitorAndResident,
    CallAction,
    CallResident,
    CancelTimer,
    DialResident,
    EndCall,
    ErrorOccurred,
    Event,
    Fallback,
    GateOpened,
    Hangup,
    Leg,
    LegHungUp,
    NotifyResident,
    OpenGate,
    PlaybackFinished,
    Say,
    StartTimer,
    Timer,
    TimerFired,
    UtteranceHeard,
    WriteAudit,
)
from controller.conversation.phases import Conversation
from controller.conversation.reading import dialog_facts
from controller.conversation.state import DialogState
from controller.conversation.understanding import Understanding
from controller.records.store import ConversationStore

log = logging.getLogger(__name__)

__all__ = ["CallControl", "CallRunner", "LegIO"]


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

    def notify_resident(self, action: NotifyResident) -> None:
        """Send the apartment a note in the background (nothing waits for it)."""

    def leg_lost(self, leg: Leg, reason: str) -> None:
        """A leg's media connection closed (the gate call decides what that means and tells the runner)."""


class CallRunner:
    def __init__(
        self,
        call_id: str,
        conversation: Conversation,
        control: CallControl,
        events: EventSink,
        store: ConversationStore,
        understanding: Understanding,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self._conversation = conversation
        self._understanding = understanding
        self._control = control
        self._events = events
        self._store = store
        self._clock = clock
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._to_understand: asyncio.Queue[UtteranceHeard] = asyncio.Queue()
        self._legs: dict[Leg, LegIO] = {}
        self._listeners: dict[Leg, asyncio.Task[Any]] = {}
        self._timers: dict[Timer, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._gone: set[Leg] = set()
        self._ended = False
        self.state: DialogState = conversation.start(call_id)

    def post(self, event: Event) -> None:
        self._inbox.put_nowait(event)

    def leg_gone(self, leg: Leg) -> None:
        """A caller hung up (the gate call reports it, once): tell the conversation, stop talking to them."""
        if leg not in self._gone:
            self._gone.add(leg)
            io = self._legs.get(leg)
            if io is not None:
                io.media.stop_speaking()  # nobody is listening: do not finish prompts before ending
            self.post(LegHungUp(leg=leg))

    def attach(self, leg: Leg, io: LegIO) -> None:
        """Start listening to a leg's media; its events reach the conversation from now on."""
        self._gone.discard(leg)  # a new resident leg (another dial) can hang up in its turn
        self._legs[leg] = io
        listener = TurnListener(
            leg,
            io,
            post=self.post,
            lost=self._control.leg_lost,
            emit=self._emit,
            apologise=self._apologise,
            judge=self._judge_pause,
            hints=self._hints,
            choose=self._choose_heard,
        )
        self._listeners[leg] = self._spawn(listener.run(), f"listen-{leg}")

    def _judge_pause(self, leg: Leg, text: str) -> bool | None:
        return self._conversation.judge_pause(self.state, leg, text)

    def _hints(self, leg: Leg) -> Hints | None:
        hearing = self._conversation.hearing(self.state, leg)
        if not hearing.prompt and hearing.alternatives <= 1 and not hearing.checked:
            return None
        return Hints(hearing.prompt, hearing.alternatives, hearing.phrases, hearing.checked)

    def _choose_heard(self, leg: Leg, texts: tuple[str, ...]) -> str:
        return self._conversation.choose_heard(self.state, leg, texts)

    async def detach(self, leg: Leg) -> None:
        """Stop listening to a leg whose media we remove on purpose (the callers then talk directly)."""
        io = self._legs.pop(leg, None)
        listener = self._listeners.pop(leg, None)
        if listener is not None:
            listener.cancel()
        if io is not None:
            await io.media.aclose()

    async def run(self, first: Event) -> None:
        """Feed the conversation until it ends the call (EndCall) or the gate call cancels this.

        `first` (CallStarted) goes before anything posted earlier: a hang-up during set-up, or a leg's event from
        a listener attached before this runs, must not reach the conversation before the call has started.
        """
        self._spawn(self._understand_in_order(), "understand")
        try:
            await self._feed(first)
            while not self._ended:
                await self._feed(await self._inbox.get())
        finally:
            await self._cancel_all()

    async def _feed(self, event: Event) -> None:
        if isinstance(event, UtteranceHeard) and event.leg is Leg.GATE and event.understood is None:
            self._to_understand.put_nowait(event)
            return
        started = self._clock()
        self.state, actions = self._conversation.handle(self.state, event)
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

    async def _understand_in_order(self) -> None:
        """Read the visitor's words with the configured backend (rules, or an LLM that falls back to them)."""
        while True:
            event = await self._to_understand.get()
            started = self._clock()
            context = dialog_facts(self._conversation.context(self.state), self.state)
            try:
                understood = await self._understanding.understand(event.text, context)
            except Exception as error:  # a backend must fall back by itself; if it still fails, end politely
                log.exception("call %s: understanding failed", self.call_id)
                self.post(ErrorOccurred(f"understanding failed: {type(error).__name__}"))
                continue
            ms = round((self._clock() - started) * 1000, 3)
            self._emit(event.leg, "understood", ms=ms, intent=str(understood.intent))
            self.post(replace(event, understood=understood))  # the same utterance, now read

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
            case NotifyResident():
                self._control.notify_resident(action)
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

    def _apologise(self, leg: Leg, io: LegIO) -> None:
        """Recognition failed this once: "Desculpe, pode repetir?" from the prompt cache."""
        self._emit(leg, "say", text="(fallback)", cause="stt")
        self._spawn(self._say_apology(leg, io), "say-fallback")

    async def _say_apology(self, leg: Leg, io: LegIO) -> None:
        result = await io.media.say(io.speech.fallback_audio(io.rate))
        # The conversation waits for the caller again from here: told nothing, it would never start its
        # silence timer, and a caller who then says nothing would be left in silence for good.
        self.post(PlaybackFinished(leg=leg, played_ms=result.played_ms, interrupted=result.interrupted))

    async def _after_speech(self, leg: Leg) -> None:
        """Let a leg finish what it is saying (a goodbye must be heard before the hang-up)."""
        io = self._legs.get(leg)
        if io is None:
            return
        pending = [task for task in io.speaking if not task.done()]
        io.speaking = pending
        if pending:
            # wait, not gather: a timer cancelled while it waits here must not cancel (cut) the prompts themselves
            await asyncio.wait(pending)

    def _start_timer(self, timer: Timer, seconds: float) -> None:
        self._cancel_timer(timer)

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

    # Plumbing --------------------------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
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
