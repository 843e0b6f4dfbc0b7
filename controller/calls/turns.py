"""Turn assembly: one leg's media events become conversation events, through the leg's recognition stream.

    UtteranceStarted --------------------------------------------------> SpeechStarted
    EarlyUtterance(pcm)   push what is new, flush: recognition starts while endpointing confirms the silence;
                          its result is judged (`judge`): an answer ends the turn sooner, a cut phrase later
    SpeechResumed         the speaker went on: the next flush (or the end) recognises the whole turn again
    UtteranceEnded(pcm)   finish the stream ------------------------------> UtteranceHeard(text) | NothingHeard
    LegClosed ------------------------------------------------------------> the call control is told (leg lost)

When no speech resumed since the early flush, the end of the turn adds only trailing silence, so it is not pushed
and the stream returns the early result: that is where most of the turn latency is won. Judging that result
while the caller is still silent wins more: "sim" after "Posso liberar?" ends the turn after a short silence
instead of the full one, and "vim visitar a..." waits for the name. Recognition failures
come as one :class:`~audiosocket.speech.guard.SpeechFailure`: the caller hears "pode repetir?", or, when the
guard gives up, the conversation gets ErrorOccurred and hands the visitor over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from audiosocket.media_leg import (
    EarlyUtterance,
    LegClosed,
    MediaLeg,
    SpeechResumed,
    UtteranceEnded,
    UtteranceStarted,
)
from audiosocket.speech.base import Hints, RecognitionStream, Transcript
from audiosocket.speech.guard import CallSpeech, SpeechFailure
from controller.conversation.events import ErrorOccurred, Event, Leg, NothingHeard, SpeechStarted, UtteranceHeard

log = logging.getLogger(__name__)


@dataclass
class LegIO:
    """One leg's media and speech, as the runner uses them."""

    media: MediaLeg
    speech: CallSpeech
    speaking: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def rate(self) -> int:
        return self.media.sample_rate


@dataclass
class _Turn:
    stream: RecognitionStream
    fed: int = 0  # bytes of the utterance already pushed
    flushed: bool = False
    resumed: bool = False  # speech came back after the last flush
    judging: asyncio.Task[None] | None = None  # waits for the early result, then judges its pause

    def stop_judging(self) -> None:
        if self.judging is not None:
            self.judging.cancel()
            self.judging = None


class TurnListener:
    """Reads one leg's media events until the leg closes; `post` feeds the conversation."""

    def __init__(
        self,
        leg: Leg,
        io: LegIO,
        *,
        post: Callable[[Event], None],
        lost: Callable[[Leg, str], None],
        emit: Callable[..., None],
        apologise: Callable[[Leg, LegIO], None],
        judge: Callable[[Leg, str], bool | None] = lambda leg, text: None,
        hints: Callable[[Leg], Hints | None] = lambda leg: None,
        choose: Callable[[Leg, tuple[str, ...]], str] = lambda leg, texts: texts[0],
    ) -> None:
        self._leg = leg
        self._io = io
        self._post = post
        self._lost = lost
        self._emit = emit
        self._apologise = apologise
        self._judge = judge
        self._hints = hints
        self._choose = choose
        self._turn: _Turn | None = None

    async def run(self) -> None:
        self._io.media.expect_verdicts()
        try:
            async for event in self._io.media:
                match event:
                    case UtteranceStarted():
                        self._post(SpeechStarted(self._leg))
                    case EarlyUtterance(pcm=pcm):
                        turn = self._current()
                        self._push(turn, pcm)
                        turn.stream.flush()
                        turn.flushed, turn.resumed = True, False
                        turn.stop_judging()
                        turn.judging = asyncio.create_task(self._judge_pause(turn, event))
                    case SpeechResumed():
                        if self._turn is not None:
                            self._turn.resumed = True
                            self._turn.stop_judging()
                    case UtteranceEnded(pcm=pcm):
                        turn = self._current()
                        turn.stop_judging()
                        if not turn.flushed or turn.resumed:
                            self._push(turn, pcm)
                        self._turn = None
                        await self._finish(turn)
                    case LegClosed(reason=reason):
                        self._lost(self._leg, reason)
                        return
        finally:
            if self._turn is not None:
                self._turn.stop_judging()
                await self._turn.stream.aclose()

    def _current(self) -> _Turn:
        if self._turn is None:
            self._turn = _Turn(self._io.speech.stream(self._io.rate, self._hints(self._leg)))
        return self._turn

    async def _judge_pause(self, turn: _Turn, early: EarlyUtterance) -> None:
        """Judge the pause `early` began on what its flush heard. Always answered (the leg waits for it), with
        None when there is nothing to judge; the leg ignores a verdict once speech resumed."""
        transcript = await turn.stream.early()
        if turn.resumed or self._turn is not turn:
            return
        verdict = None
        if transcript is not None:
            try:
                verdict = self._judge(self._leg, transcript.text)
            except Exception:  # a bug in judging costs this pause its shortcut, never the turn
                log.exception("judging a pause on the %s leg failed", self._leg)
        self._emit(self._leg, "pause_judged", complete=verdict)
        self._io.media.judge_pause(early, verdict)

    @staticmethod
    def _push(turn: _Turn, pcm: bytes) -> None:
        if len(pcm) > turn.fed:
            turn.stream.push_frame(pcm[turn.fed :])
            turn.fed = len(pcm)

    async def _finish(self, turn: _Turn) -> None:
        early = turn.flushed and not turn.resumed
        try:
            transcript: Transcript = await turn.stream.finish()
        except SpeechFailure as failure:
            if failure.give_up:
                self._post(ErrorOccurred(f"speech recognition failed {failure.consecutive} times"))
            else:
                self._apologise(self._leg, self._io)
            return
        finally:
            await turn.stream.aclose()
        text = transcript.text
        if transcript.alternatives:
            try:
                text = self._choose(self._leg, (transcript.text, *transcript.alternatives))
            except Exception:  # a bug in choosing costs the turn its alternatives, never the turn
                log.exception("choosing among hypotheses on the %s leg failed", self._leg)
        # A hypothesis the recogniser ranked lower keeps its own (lower) confidence: the dialog reads a doubtful
        # request back before ringing, so a name found only this way is confirmed by the visitor.
        confidence = transcript.confidence_of(text)
        fields = {"best": transcript.text} if text != transcript.text else {}
        self._emit(self._leg, "transcript", text=text, early=early, confidence=confidence, **fields)
        if text.strip():
            self._post(UtteranceHeard(text, leg=self._leg, confidence=confidence))
        else:
            self._post(NothingHeard(self._leg))
