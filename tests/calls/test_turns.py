"""TurnListener: a leg's media events become conversation events through the real guarded recognition stream
(CallSpeech around PhraseSTT, whose recognitions are counted)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from audiosocket.media_leg import EarlyUtterance, LegClosed, LegEvent, SpeechResumed, UtteranceEnded, UtteranceStarted
from audiosocket.speech.guard import GuardLimits
from controller.calls.turns import LegIO, TurnListener
from controller.conversation.events import ErrorOccurred, Event, Leg, NothingHeard, SpeechStarted, UtteranceHeard
from tests.calls.fakes import PHRASES, FakeMediaLeg, PhraseSTT, call_speech, engine_error, settle

GUARD_S = 5.0
HELLO, MORE = "meu nome e joao", "vim visitar o francisco"


def started() -> UtteranceStarted:
    return UtteranceStarted(onset=0.0, at=0.0)


def early(pcm: bytes) -> EarlyUtterance:
    return EarlyUtterance(pcm, 8000, len(pcm) // 16, at=0.0)


def ended(pcm: bytes) -> UtteranceEnded:
    return UtteranceEnded(pcm, 8000, len(pcm) // 16, 200, at=0.0)


@dataclass
class Listened:
    posted: list[Event] = field(default_factory=list)
    lost: list[tuple[Leg, str]] = field(default_factory=list)
    emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    apologies: int = 0

    def transcripts(self) -> list[dict[str, Any]]:
        return [fields for name, fields in self.emitted if name == "transcript"]


async def listen(stt: PhraseSTT, *events: LegEvent, limits: GuardLimits | None = None) -> Listened:
    """Run a listener over `events` (then LegClosed) to its end; what it reported."""
    media = FakeMediaLeg()
    io = LegIO(media, await call_speech(stt, limits=limits))  # type: ignore[arg-type]
    out = Listened()

    def apologise(leg: Leg, io: LegIO) -> None:
        out.apologies += 1

    listener = TurnListener(
        Leg.GATE,
        io,
        post=out.posted.append,
        lost=lambda leg, reason: out.lost.append((leg, reason)),
        emit=lambda leg, name, **fields: out.emitted.append((name, fields)),
        apologise=apologise,
    )
    media.push(*events, LegClosed("test over", at=0.0))
    await asyncio.wait_for(listener.run(), GUARD_S)
    return out


def heard(out: Listened) -> list[Event]:
    return [event for event in out.posted if not isinstance(event, SpeechStarted)]


async def test_a_turn_without_early_flush_is_recognised_once_at_its_end() -> None:
    stt = PhraseSTT()
    pcm = PHRASES.pcm(HELLO, 200)
    out = await listen(stt, started(), ended(pcm))
    assert out.posted == [SpeechStarted(Leg.GATE), UtteranceHeard(HELLO, leg=Leg.GATE, confidence=0.9)]
    assert stt.calls == [pcm]
    assert out.transcripts() == [{"text": HELLO, "early": False, "confidence": 0.9}]


async def test_the_early_result_stands_when_speech_did_not_resume() -> None:
    stt = PhraseSTT()
    pcm = PHRASES.pcm(HELLO, 200)
    out = await listen(stt, started(), early(pcm), ended(pcm + bytes(800)))  # only trailing silence came after
    assert heard(out) == [UtteranceHeard(HELLO, leg=Leg.GATE, confidence=0.9)]
    assert stt.calls == [pcm]  # recognised once, on the early flush; the end re-used it
    assert out.transcripts() == [{"text": HELLO, "early": True, "confidence": 0.9}]


async def test_speech_resumed_after_the_flush_recognises_the_whole_turn_again() -> None:
    stt = PhraseSTT()
    first, rest = PHRASES.pcm(HELLO, 200), PHRASES.pcm(MORE, 200)
    out = await listen(stt, started(), early(first), SpeechResumed(at=0.0), ended(first + rest))
    assert heard(out) == [UtteranceHeard(f"{HELLO} {MORE}", leg=Leg.GATE, confidence=0.9)]
    assert stt.calls[-1] == first + rest and len(stt.calls) == 2
    assert out.transcripts() == [{"text": f"{HELLO} {MORE}", "early": False, "confidence": 0.9}]


async def test_a_second_early_flush_after_resumed_speech_is_the_one_that_stands() -> None:
    stt = PhraseSTT()
    first, rest = PHRASES.pcm(HELLO, 200), PHRASES.pcm(MORE, 200)
    events = (started(), early(first), SpeechResumed(at=0.0), early(first + rest), ended(first + rest))
    out = await listen(stt, *events)
    assert heard(out) == [UtteranceHeard(f"{HELLO} {MORE}", leg=Leg.GATE, confidence=0.9)]
    assert stt.calls == [first, first + rest]  # one per flush; the end re-used the second
    assert out.transcripts()[0]["early"] is True


async def test_two_turns_are_two_utterances() -> None:
    stt = PhraseSTT()
    one, two = PHRASES.pcm(HELLO, 200), PHRASES.pcm(MORE, 200)
    out = await listen(stt, started(), early(one), ended(one), started(), ended(two))
    assert heard(out) == [
        UtteranceHeard(HELLO, leg=Leg.GATE, confidence=0.9),
        UtteranceHeard(MORE, leg=Leg.GATE, confidence=0.9),
    ]
    assert stt.calls == [one, two]  # the second turn starts a new stream: nothing of the first is in it


async def test_no_words_is_nothing_heard() -> None:
    out = await listen(PhraseSTT(), started(), ended(bytes(3200)))
    assert out.posted == [SpeechStarted(Leg.GATE), NothingHeard(Leg.GATE)]


async def test_a_recognition_failure_is_apologised_for_while_the_guard_has_not_given_up() -> None:
    stt = PhraseSTT(engine_error())
    pcm = PHRASES.pcm(HELLO, 200)
    out = await listen(stt, started(), ended(pcm), started(), ended(pcm))
    assert out.apologies == 1
    assert heard(out) == [UtteranceHeard(HELLO, leg=Leg.GATE, confidence=0.9)]  # the next turn is heard as usual


async def test_a_recognition_failure_when_the_guard_gives_up_is_an_error_for_the_conversation() -> None:
    stt = PhraseSTT(engine_error())
    out = await listen(stt, started(), ended(PHRASES.pcm(HELLO, 200)), limits=GuardLimits(max_consecutive_failures=1))
    assert out.apologies == 0
    [error] = heard(out)
    assert isinstance(error, ErrorOccurred) and "failed 1 times" in error.detail


async def test_a_closed_leg_is_reported_as_lost_with_its_reason() -> None:
    out = await listen(PhraseSTT())
    assert out.lost == [(Leg.GATE, "test over")]
    assert out.posted == []


async def test_a_turn_cut_by_the_leg_closing_abandons_its_recognition() -> None:
    stt = PhraseSTT()
    stt.hold = asyncio.Event()  # the early recognition is still running when the leg closes
    out = await listen(stt, started(), early(PHRASES.pcm(HELLO, 200)))
    assert out.lost == [(Leg.GATE, "test over")]
    assert heard(out) == []
    await settle()  # the cancelled recognition task runs its cancellation
    assert stt.calls and stt.cancelled == 1


class Judged:
    """A listener whose pauses are judged by `verdict` (what it got is kept); events are pushed step by step."""

    def __init__(self, stt: PhraseSTT, verdict: bool | None | Exception) -> None:
        self.stt = stt
        self.media = FakeMediaLeg()
        self.judged: list[tuple[Leg, str]] = []
        self.out = Listened()
        self._verdict = verdict
        self._task: asyncio.Task[None] | None = None

    def judge(self, leg: Leg, text: str) -> bool | None:
        self.judged.append((leg, text))
        if isinstance(self._verdict, Exception):
            raise self._verdict
        return self._verdict

    async def start(self) -> None:
        listener = TurnListener(
            Leg.RESIDENT,
            LegIO(self.media, await call_speech(self.stt)),  # type: ignore[arg-type]
            post=self.out.posted.append,
            lost=lambda leg, reason: None,
            emit=lambda leg, name, **fields: self.out.emitted.append((name, fields)),
            apologise=lambda leg, io: None,
            judge=self.judge,
        )
        self._task = asyncio.ensure_future(listener.run())

    async def push(self, *events: LegEvent) -> None:
        self.media.push(*events)
        await settle()

    async def close(self) -> None:
        await self.push(LegClosed("test over", at=0.0))
        assert self._task is not None
        await asyncio.wait_for(self._task, GUARD_S)


async def test_the_early_result_is_judged_and_the_verdict_reaches_the_leg() -> None:
    judged = Judged(PhraseSTT(), True)
    await judged.start()
    pcm = PHRASES.pcm(HELLO, 200)
    await judged.push(started(), early(pcm))
    assert judged.media.expecting_verdicts  # the leg waits for the verdicts this listener gives
    assert judged.judged == [(Leg.RESIDENT, HELLO)] and judged.media.verdicts == [True]
    assert ("pause_judged", {"complete": True}) in judged.out.emitted
    await judged.push(ended(pcm))
    await judged.close()
    assert heard(judged.out) == [UtteranceHeard(HELLO, leg=Leg.RESIDENT, confidence=0.9)]
    assert judged.stt.calls == [pcm]  # judging used the early recognition; it was not run again


async def test_no_opinion_is_told_too_the_leg_waits_for_every_verdict() -> None:
    judged = Judged(PhraseSTT(), None)
    await judged.start()
    await judged.push(started(), early(PHRASES.pcm(HELLO, 200)))
    assert judged.judged and judged.media.verdicts == [None]
    await judged.close()


async def test_speech_that_resumed_before_the_early_result_is_not_judged() -> None:
    stt = PhraseSTT()
    stt.hold = asyncio.Event()
    judged = Judged(stt, True)
    await judged.start()
    first, rest = PHRASES.pcm(HELLO, 200), PHRASES.pcm(MORE, 200)
    await judged.push(started(), early(first), SpeechResumed(at=0.0))
    stt.hold.set()
    await settle()
    assert judged.judged == [] and judged.media.verdicts == []
    await judged.push(ended(first + rest))
    await judged.close()
    assert heard(judged.out) == [UtteranceHeard(f"{HELLO} {MORE}", leg=Leg.RESIDENT, confidence=0.9)]


async def test_a_failing_judge_costs_the_pause_its_verdict_not_the_turn() -> None:
    judged = Judged(PhraseSTT(), RuntimeError("bug in a rule"))
    await judged.start()
    pcm = PHRASES.pcm(HELLO, 200)
    await judged.push(started(), early(pcm))
    assert judged.judged and judged.media.verdicts == [None]  # no opinion: the usual silence
    await judged.push(ended(pcm))
    await judged.close()
    assert heard(judged.out) == [UtteranceHeard(HELLO, leg=Leg.RESIDENT, confidence=0.9)]


async def test_a_failed_early_recognition_is_no_verdict() -> None:
    judged = Judged(PhraseSTT(engine_error()), True)
    await judged.start()
    pcm = PHRASES.pcm(HELLO, 200)
    await judged.push(started(), early(pcm))
    assert judged.judged == [] and judged.media.verdicts == [None]  # nothing to judge; the leg is not kept waiting
    await judged.push(ended(pcm))
    await judged.close()
    assert heard(judged.out) == []  # the failure is the turn's, as without judging: an apology, not words
