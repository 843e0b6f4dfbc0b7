"""CallRunner with the real Conversation (sample directory), a FakeControl and FakeMediaLegs behind real CallSpeech."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import pytest

from audiosocket.media_leg import LegClosed, UtteranceEnded, UtteranceStarted
from audiosocket.speech.guard import CallSpeech, GuardLimits
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE
from controller.calls.runner import CallRunner, LegIO
from controller.conversation import Conversation, prompts
from controller.conversation.dialog import Dialog, DialogPolicy
from controller.conversation.events import (
    CallAction,
    CallStarted,
    Decision,
    DtmfReceived,
    EndCall,
    Event,
    Leg,
    Say,
    UtteranceHeard,
)
from controller.conversation.state import DialogState
from controller.records.directory_file import load_directory
from controller.records.store import MemoryStore
from tests.calls.bed import DELIVERY, GREETING, SAMPLE
from tests.calls.fakes import (
    PHRASES,
    EventLog,
    FakeControl,
    FakeMediaLeg,
    PhraseSTT,
    PhraseTTS,
    ScriptedUnderstanding,
    engine_error,
    prompt_cache,
    settle,
)

POLICY = DialogPolicy(greeting=GREETING, silence_timeout_s=30, reassure_every_s=30, dtmf_gap_s=30)
GUARD_S = 5.0


@dataclass
class Harness:
    runner: CallRunner
    control: FakeControl
    events: EventLog
    gate: FakeMediaLeg
    understanding: ScriptedUnderstanding
    stt: PhraseSTT
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.runner.run(CallStarted(at=0.0)))

    def turns(self) -> list[str]:
        return self.events.turns()

    async def turn(self, name: str, count: int = 1) -> None:
        async with asyncio.timeout(GUARD_S):
            await self.events.wait_turn(name, count)

    async def ended(self) -> None:
        assert self.task is not None
        async with asyncio.timeout(GUARD_S):
            await self.task

    def speak(self, text: str) -> None:
        """The visitor says `text` on the gate leg (as the media leg reports a turn)."""
        pcm = PHRASES.pcm(text, 200)
        self.gate.push(UtteranceStarted(onset=0.0, at=0.0), UtteranceEnded(pcm, 8000, 200, 200, 0.0))


@asynccontextmanager
async def running(
    policy: DialogPolicy = POLICY,
    *,
    limits: GuardLimits | None = None,
    start: bool = True,
    hold: bool = False,
    conversation: type[Conversation] = Conversation,
) -> AsyncIterator[Harness]:
    """A runner on the gate leg, started (CallStarted handled) unless `start` is False; `hold`: prompts play until
    released."""
    stt, tts = PhraseSTT(), PhraseTTS()
    cache = await prompt_cache(tts, GREETING)

    def speech() -> CallSpeech:
        return CallSpeech(stt, tts, cache, limits or GuardLimits())

    events, control, understanding = EventLog(), FakeControl(speech), ScriptedUnderstanding()
    runner = CallRunner(
        "call-1", conversation(Dialog(load_directory(SAMPLE), policy)), control, events, MemoryStore(60), understanding
    )
    control.runner = runner
    gate = FakeMediaLeg()
    gate.hold = hold
    runner.attach(Leg.GATE, LegIO(gate, speech()))  # type: ignore[arg-type]
    harness = Harness(runner, control, events, gate, understanding, stt)
    try:
        if start:
            harness.start()
            await harness.turn("CallStarted")
        yield harness
    finally:
        if harness.task is not None and not harness.task.done():
            harness.task.cancel()
        if harness.task is not None:
            await asyncio.gather(harness.task, return_exceptions=True)


async def test_the_greeting_is_said_on_call_started() -> None:
    async with running() as h:
        await h.turn("PlaybackFinished")
        assert h.turns()[:2] == ["CallStarted", "PlaybackFinished"]
        assert h.gate.texts() == [GREETING]
        assert h.events.named("dialog_turn", input="PlaybackFinished")[0]["actions"] == ["StartTimer"]


async def test_an_utterance_is_recognised_understood_and_becomes_a_dialog_turn() -> None:
    async with running() as h:
        h.speak(DELIVERY[0])
        await h.turn("UtteranceHeard")
        assert h.understanding.finished == [DELIVERY[0]]
        turns = h.turns()
        assert turns.index("SpeechStarted") < turns.index("UtteranceHeard")
        assert h.runner.state.visitor_name == "Joao"
        await h.gate.wait_said(2)
        assert "Renata" in h.gate.texts()[1]  # the reply: the confirmation question


async def test_a_slow_understanding_does_not_delay_a_keypad_digit() -> None:
    async with running() as h:
        release = h.understanding.hold[DELIVERY[0]] = asyncio.Event()
        h.speak(DELIVERY[0])
        await asyncio.wait_for(h.understanding.wait_started(), GUARD_S)
        h.runner.post(DtmfReceived("1"))
        await h.turn("DtmfReceived")
        assert "UtteranceHeard" not in h.turns() and h.understanding.finished == []
        release.set()
        await h.turn("UtteranceHeard")
        assert h.turns().index("DtmfReceived") < h.turns().index("UtteranceHeard")


async def test_a_slow_understanding_does_not_delay_a_hang_up() -> None:
    async with running() as h:
        h.understanding.hold[DELIVERY[0]] = asyncio.Event()  # never released
        h.speak(DELIVERY[0])
        await asyncio.wait_for(h.understanding.wait_started(), GUARD_S)
        h.runner.leg_gone(Leg.GATE)
        await h.ended()
        assert "LegHungUp" in h.turns() and "UtteranceHeard" not in h.turns()
        assert h.control.names()[-1] == "end_call"


async def test_understanding_results_are_processed_in_utterance_order() -> None:
    first, second = "meu nome e joao", "vim visitar o francisco do 301"
    async with running() as h:
        release = h.understanding.hold[first] = asyncio.Event()
        h.speak(first)
        h.speak(second)
        async with asyncio.timeout(GUARD_S):
            await h.events.wait_for("transcript", 2)  # both heard
            await h.understanding.wait_started()
        await settle()
        assert h.understanding.started == [first]  # the second waits for the first
        release.set()
        await h.turn("UtteranceHeard", 2)
        assert h.understanding.finished == [first, second]
        visitor = [line.text for line in h.runner.state.transcript if line.speaker == "visitor"]
        assert visitor == [first, second]
        assert h.runner.state.visitor_name == "Joao" and h.runner.state.apartment == "301"


async def test_a_failing_understanding_ends_the_call_politely() -> None:
    async with running() as h:
        h.understanding.fail[DELIVERY[0]] = RuntimeError("model exploded")
        h.speak(DELIVERY[0])
        await h.ended()  # not stuck
        assert "ErrorOccurred" in h.turns()
        assert h.control.calls[-2:] == [("fallback", "internal_error"), ("end_call", None)]
        goodbye = h.gate.prompts[-1]
        assert goodbye.protected and goodbye.text.startswith("Desculpe, tive um problema")


@pytest.mark.parametrize(("concierge", "then"), [(True, "fallback"), (False, "hangup")])
async def test_the_call_ends_only_after_the_goodbye_was_heard(concierge: bool, then: str) -> None:
    async with running(replace(POLICY, concierge_available=concierge)) as h:
        await h.turn("PlaybackFinished")
        h.gate.hold = True
        h.speak("quero falar com o porteiro")
        goodbye = await asyncio.wait_for(h.gate.wait_said(2), GUARD_S)
        assert goodbye.text == prompts.fallback(asked=True, concierge=concierge)
        await settle()
        assert then not in h.control.names() and not h.control.ended.is_set()
        h.gate.release()
        await h.ended()
        assert h.control.names()[-2:] == [then, "end_call"]


class GoodbyeOnNine(Conversation):
    """The real conversation, except that a 9 on the keypad is answered with last words and EndCall alone."""

    def handle(self, state: DialogState, event: Event) -> tuple[DialogState, list[CallAction]]:
        if event == DtmfReceived("9"):
            return state, [Say(Leg.GATE, "Até logo."), EndCall()]
        return super().handle(state, event)


async def test_end_call_itself_waits_for_the_last_words_before_ending_the_call() -> None:
    async with running(conversation=GoodbyeOnNine) as h:
        await h.turn("PlaybackFinished")
        h.gate.hold = True
        h.runner.post(DtmfReceived("9"))
        last = await asyncio.wait_for(h.gate.wait_said(2), GUARD_S)
        assert last.text == "Até logo."
        await settle()
        assert not h.control.ended.is_set()
        h.gate.release()
        await h.ended()
        assert h.control.names() == ["end_call"] and last.done.result().interrupted is False


async def test_a_silence_timer_fires_and_the_visitor_is_asked_again() -> None:
    async with running(replace(POLICY, silence_timeout_s=0.05)) as h:
        await h.turn("TimerFired")
        assert h.turns()[:3] == ["CallStarted", "PlaybackFinished", "TimerFired"]
        await h.gate.wait_said(2)
        assert h.gate.texts()[1].startswith(prompts.still_there())


async def test_the_keypad_pause_timer_completes_a_typed_apartment() -> None:
    async with running(replace(POLICY, dtmf_gap_s=0.05)) as h:
        for digit in "301":
            h.runner.post(DtmfReceived(digit))
        await h.turn("TimerFired")
        assert h.runner.state.apartment == "301"
        assert h.runner.state.transcript[-2].text == "[teclado] 301"


async def test_restarting_a_timer_does_not_cut_the_prompt_it_waits_for() -> None:
    """A timer counts from the end of the prompt playing when it was started; restarting (or cancelling) it
    must not cancel that prompt: the visitor would miss the rest of it and its PlaybackFinished never come."""
    async with running(replace(POLICY, dtmf_gap_s=0.05), hold=True) as h:  # the greeting plays while they type
        await asyncio.wait_for(h.gate.wait_said(1), GUARD_S)
        h.runner.post(DtmfReceived("1"))  # StartTimer(DTMF): waits for the greeting to end
        await h.turn("DtmfReceived")
        h.runner.post(DtmfReceived("0"))  # StartTimer(DTMF) again: the first timer is cancelled
        await h.turn("DtmfReceived", 2)
        await settle()
        assert h.gate.cancelled == 0
        h.gate.release()
        await h.turn("PlaybackFinished")
        await h.turn("TimerFired")
        assert h.runner.state.transcript[-2].text == "[teclado] 10"


@pytest.mark.parametrize("audit_ok", [True, False], ids=["written", "not-written"])
async def test_the_audit_result_reaches_the_conversation_and_only_a_written_yes_opens(audit_ok: bool) -> None:
    async with running() as h:
        h.control.audit_ok = audit_ok
        for count, words in enumerate(DELIVERY, start=1):
            h.runner.post(UtteranceHeard(words))
            await h.turn("UtteranceHeard", count)
        await h.turn("ResidentAnswered")
        question = await asyncio.wait_for(h.control.resident.wait_said(1), GUARD_S)
        assert "Posso liberar?" in question.text
        h.runner.post(DtmfReceived("1", leg=Leg.RESIDENT))
        await h.ended()
        assert "AuditWritten" in h.turns()
        [record] = h.control.args("write_audit")
        assert record.decision is Decision.AUTHORISED and record.resident == "Renata Souza"
        if audit_ok:
            assert h.control.names().index("write_audit") < h.control.names().index("open_gate")
            assert "GateOpened" in h.turns()
        else:
            assert "open_gate" not in h.control.names()
            assert ("fallback", "audit_failed") in h.control.calls


async def test_a_hang_up_reported_twice_reaches_the_conversation_once() -> None:
    async with running() as h:
        await h.turn("PlaybackFinished")
        h.runner.leg_gone(Leg.GATE)
        h.runner.leg_gone(Leg.GATE)
        await h.ended()
        assert h.turns().count("LegHungUp") == 1
        assert h.gate.stops == 1


async def test_a_caller_who_left_before_the_call_started_is_told_after_call_started() -> None:
    """The gate call reports a hang-up that came during set-up right after creating the runner, before run()."""
    async with running(start=False) as h:
        h.runner.leg_gone(Leg.GATE)
        h.start()
        await h.ended()  # with LegHungUp first, the conversation raised IllegalTransition
        assert h.turns()[:2] == ["CallStarted", "LegHungUp"]
        assert h.control.names()[-1] == "end_call"


async def test_a_detached_leg_is_no_longer_listened_to() -> None:
    async with running() as h:
        await h.turn("PlaybackFinished")
        await h.runner.detach(Leg.GATE)
        assert h.gate.closed
        h.gate.push(UtteranceStarted(onset=0.0, at=0.0))
        await settle()
        assert h.gate.unread == 1 and "SpeechStarted" not in h.turns()


async def test_a_failed_recognition_is_apologised_for_and_the_call_goes_on() -> None:
    async with running() as h:
        await h.turn("PlaybackFinished")
        h.stt.failures.append(engine_error())
        h.speak(DELIVERY[0])
        apology = await asyncio.wait_for(h.gate.wait_said(2), GUARD_S)
        assert apology.text == FALLBACK_PHRASE
        assert h.events.named("say", text="(fallback)", cause="stt")
        h.speak(DELIVERY[0])  # asked again, the visitor is heard this time
        await h.turn("UtteranceHeard")
        assert "ErrorOccurred" not in h.turns()


async def test_a_visitor_silent_after_the_apology_is_asked_again() -> None:
    """Found under load (recognition timing out while the websocket dropped): after the apology the call
    waited for good, because the conversation never heard that its silence timer should start again."""
    async with running(replace(POLICY, silence_timeout_s=0.05)) as h:
        await h.turn("PlaybackFinished")
        h.stt.failures.append(engine_error())
        h.speak(DELIVERY[0])
        await asyncio.wait_for(h.gate.wait_said(2), GUARD_S)  # the apology
        await h.turn("TimerFired")
        await asyncio.wait_for(h.gate.wait_said(3), GUARD_S)
        assert h.gate.texts()[2].startswith(prompts.still_there())


async def test_recognition_giving_up_hands_the_visitor_over() -> None:
    async with running(limits=GuardLimits(max_consecutive_failures=1)) as h:
        h.stt.failures.append(engine_error())
        h.speak(DELIVERY[0])
        await h.ended()
        assert "ErrorOccurred" in h.turns()
        assert ("fallback", "internal_error") in h.control.calls


async def test_a_closed_media_leg_is_reported_to_the_call_control() -> None:
    async with running() as h:
        h.gate.push(LegClosed("peer sent hangup", at=0.0))
        await asyncio.wait_for(h.control.lost.wait(), GUARD_S)
        assert h.control.args("leg_lost") == [(Leg.GATE, "peer sent hangup")]
