"""Turn detection: where the caller's utterance starts and ends, as a pure state machine fed timestamps.

Nothing here reads a clock or awaits. The media leg feeds every inbound frame with its arrival time and the
VAD's verdict (:meth:`Endpointer.feed`), and calls :meth:`Endpointer.tick` when :meth:`Endpointer.deadline`
comes, because silence is measured on the wall clock: Asterisk sends no frames at all while nobody talks.

States (hysteresis, as in Pipecat's VAD analyser)::

    QUIET --voiced frame--> STARTING --voiced >= min_speech--> SPEAKING --silence >= early--> STOPPING
      ^                        |                                  ^                              |
      |   silence >= blip_gap  |                                  +--------voiced frame----------+
      +------(blip dropped)----+                                         (SpeechResumed)          |
      +------------------------------ silence >= silence_ms, or length >= max ---------------------+
                                               (UtteranceEnded)

Latency is won at STOPPING: :class:`EarlyUtterance` carries the audio after ``early_ms`` of silence, so the
recogniser can start while the rest of the silence threshold runs. :class:`SpeechResumed` tells the runner to
discard that early result; :class:`UtteranceEnded` confirms the turn (its audio is the early audio plus whatever
came after, identical when nothing did).

Meaning moves the end. When someone judges the pauses (``judged = True``: the call's turn listener), each
:class:`EarlyUtterance` is answered with :meth:`Endpointer.judge_pause` once its audio is recognised, and until
then the turn waits (up to ``hold_ms``): the reply needs that transcript anyway, so waiting for it costs nothing.
What already answers the question ("sim", "cento e três") ends the turn after ``complete_ms`` of silence (at once
if that has passed); a phrase cut mid-way ("vim visitar a...") waits ``hold_ms``, so a hesitant caller gets one
answer, not two; no opinion keeps ``silence_ms``. A verdict holds for its pause only: speech that resumes is
judged again at its next pause.

A caller sets their own pace. Once they have paused longer than ``silence_ms`` inside a turn and gone on, a pause
without a "complete" verdict waits for the longest such pause plus ``hesitant_margin_ms`` (up to ``hold_ms``):
"Vim visitar a Renata... (1 s) ...do cento e um" is one request from someone who pauses a second between
phrases, and answering at the first pause that sounds whole gave them two answers.

The utterance audio starts ``pre_roll_ms`` before the first voiced frame (the first syllable's onset is often
unvoiced and the VAD is late), wall-clock gaps between frames are filled with silence so the recogniser hears
the pause, and it ends ``early_ms`` after the last voiced frame.

Barge-in: while an interruptible prompt plays (``feed(..., barge_in=True)``), :class:`BargeIn` fires once the
caller has ``barge_in_min_ms`` of *voiced* audio: a short echo of our own prompt or a door slam does not stop us.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class EndpointingConfig:
    silence_ms: int = 700
    early_ms: int = 120
    pre_roll_ms: int = 300
    min_speech_ms: int = 100
    max_utterance_ms: int = 15000
    barge_in_min_ms: int = 140
    blip_gap_ms: int = 150
    complete_ms: int = 350  # silence that ends a pause judged complete (0: judgements do not shorten it)
    hold_ms: int = 1500  # silence that ends a pause judged mid-phrase (0: judgements do not lengthen it)
    hesitant_margin_ms: int = 300  # beyond the longest pause the caller went on after (0: pauses do not adapt)

    def __post_init__(self) -> None:
        if self.silence_ms <= 0 or self.min_speech_ms < 0 or self.max_utterance_ms <= 0:
            raise ValueError("silence_ms and max_utterance_ms must be positive, min_speech_ms not negative")
        if self.early_ms < 0 or self.pre_roll_ms < 0 or self.barge_in_min_ms < 0 or self.blip_gap_ms <= 0:
            raise ValueError("early_ms, pre_roll_ms and barge_in_min_ms must not be negative")
        if self.complete_ms < 0 or self.hold_ms < 0 or self.hesitant_margin_ms < 0:
            raise ValueError("complete_ms, hold_ms and hesitant_margin_ms must not be negative")


class TurnState(Enum):
    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class UtteranceStarted:
    """Speech confirmed (``min_speech_ms`` voiced); `onset` is when its first voiced frame began."""

    onset: float
    at: float


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The caller talks over an interruptible prompt: stop it."""

    voiced_ms: int
    at: float


@dataclass(frozen=True, slots=True)
class EarlyUtterance:
    """Speech has probably ended (``early_ms`` of silence): start recognising `pcm` now."""

    pcm: bytes
    sample_rate: int
    duration_ms: int
    at: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech came back after an :class:`EarlyUtterance`: discard its recognition."""

    at: float


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """The turn is over. `duration_ms` spans first to last voiced frame; `pcm` adds pre-roll and a short tail.

    `delay_ms` is the endpointing delay (end of the last voiced frame to this event). `truncated` means the
    utterance hit ``max_utterance_ms``; `barged_in` that it interrupted a prompt.
    """

    pcm: bytes
    sample_rate: int
    duration_ms: int
    delay_ms: int
    at: float
    truncated: bool = False
    barged_in: bool = False


@dataclass(frozen=True, slots=True)
class BlipDropped:
    """A voiced burst shorter than ``min_speech_ms`` (a cough, a click, a car horn) was ignored."""

    voiced_ms: int
    at: float


TurnEvent = UtteranceStarted | BargeIn | EarlyUtterance | SpeechResumed | UtteranceEnded | BlipDropped


class Endpointer:
    """One leg's turn detector. Feed it frames in arrival order; act on the events it returns."""

    def __init__(self, config: EndpointingConfig, sample_rate: int) -> None:
        self.config = config
        self.sample_rate = sample_rate
        self._bytes_per_s = sample_rate * 2
        self._state = TurnState.QUIET
        # Recent frames (end time, pcm) for the pre-roll, kept in every state.
        self._recent: deque[tuple[float, bytes]] = deque()
        self._recent_bytes = 0
        self._audio = bytearray()
        self._audio_end = 0.0  # arrival time of the last frame appended to _audio
        self._voice_end_bytes = 0  # len(_audio) right after the last voiced frame
        self._onset = 0.0
        self._last_voice = 0.0
        self._voiced_s = 0.0
        self._barged = False
        self._longest_pause_s = 0.0  # the longest pause of this turn the caller went on after
        self._pause_ms: int | None = None  # this pause's silence threshold, when not silence_ms
        self._early_at: float | None = None  # the EarlyUtterance of the current pause, which a verdict names
        self.judged = False  # every EarlyUtterance gets a judge_pause: wait for it (up to hold_ms)

    @property
    def state(self) -> TurnState:
        return self._state

    def deadline(self) -> float | None:
        """When :meth:`tick` would next change something (None: only a frame can)."""
        cfg = self.config
        match self._state:
            case TurnState.QUIET:
                return None
            case TurnState.STARTING:
                return self._last_voice + cfg.blip_gap_ms / 1000
            case TurnState.SPEAKING if 0 < cfg.early_ms < cfg.silence_ms:
                end = self._last_voice + cfg.early_ms / 1000
            case _:
                end = self._last_voice + self._silence_ms() / 1000
        return min(end, self._onset + cfg.max_utterance_ms / 1000)

    def tick(self, now: float) -> list[TurnEvent]:
        """The wall clock moved on without frames: end blips, send the early audio, end the turn."""
        events: list[TurnEvent] = []
        self._check(now, events)
        return events

    def judge_pause(self, now: float, complete: bool | None, early_at: float) -> list[TurnEvent]:
        """The verdict on the pause that `EarlyUtterance(at=early_at)` began: what was said answers the question
        (True: end after ``complete_ms``), stops mid-phrase (False: after ``hold_ms``) or no opinion (None:
        ``silence_ms``). Ignored once that pause is over (speech resumed, or the turn ended)."""
        events: list[TurnEvent] = []
        if self._state is not TurnState.STOPPING or early_at != self._early_at:
            return events
        cfg = self.config
        if complete is True and cfg.complete_ms:
            self._pause_ms = cfg.complete_ms
        elif complete is False and cfg.hold_ms:
            self._pause_ms = cfg.hold_ms
        else:
            self._pause_ms = None
        self._check(now, events)
        return events

    def feed(self, now: float, is_speech: bool, pcm: bytes, *, barge_in: bool = False) -> list[TurnEvent]:
        """One inbound frame that arrived at `now` (its audio ended then). `barge_in`: an interruptible prompt
        is playing."""
        events: list[TurnEvent] = []
        frame_s = len(pcm) / self._bytes_per_s
        # Timers first, as of when this frame's audio began: a gap without frames may have ended the turn.
        self._check(now - frame_s if is_speech else now, events)
        self._remember(now, pcm)
        if self._state is TurnState.QUIET:
            if not is_speech:
                return events
            self._start(now, frame_s)
        else:
            self._append(now, pcm)
        if is_speech:
            self._voiced(now, frame_s, events)
        if barge_in and not self._barged and self._state is not TurnState.QUIET:
            if self._voiced_s * 1000 >= self.config.barge_in_min_ms - EPSILON:
                self._barged = True
                events.append(BargeIn(round(self._voiced_s * 1000), now))
        self._check(now, events)
        return events

    def _voiced(self, now: float, frame_s: float, events: list[TurnEvent]) -> None:
        if self._state is TurnState.STOPPING:
            self._longest_pause_s = max(self._longest_pause_s, now - frame_s - self._last_voice)
        self._last_voice = now
        self._voiced_s += frame_s
        self._voice_end_bytes = len(self._audio)
        if self._state is TurnState.STARTING and self._voiced_s * 1000 >= self.config.min_speech_ms - EPSILON:
            self._state = TurnState.SPEAKING
            events.append(UtteranceStarted(self._onset, now))
        elif self._state is TurnState.STOPPING:
            self._state = TurnState.SPEAKING
            self._pause_ms = None
            events.append(SpeechResumed(now))

    def _check(self, now: float, events: list[TurnEvent]) -> None:
        cfg = self.config
        if self._state is TurnState.QUIET:
            return
        silence = now - self._last_voice + EPSILON
        if self._state is TurnState.STARTING:
            if silence * 1000 >= cfg.blip_gap_ms:
                events.append(BlipDropped(round(self._voiced_s * 1000), now))
                self._reset()
            return
        if (now - self._onset + EPSILON) * 1000 >= cfg.max_utterance_ms:
            events.append(self._end(now, truncated=True))
            return
        if silence * 1000 >= self._silence_ms():
            events.append(self._end(now, truncated=False))
            return
        if self._state is TurnState.SPEAKING and 0 < cfg.early_ms < cfg.silence_ms and silence * 1000 >= cfg.early_ms:
            self._state = TurnState.STOPPING
            self._early_at = now
            if self.judged:
                self._pause_ms = max(cfg.silence_ms, cfg.hold_ms)  # until the verdict
            pcm = self._utterance_pcm()
            events.append(EarlyUtterance(pcm, self.sample_rate, self._duration_ms(), now))

    def _start(self, now: float, frame_s: float) -> None:
        self._state = TurnState.STARTING
        self._onset = now - frame_s
        self._voiced_s = 0.0
        self._barged = False
        self._longest_pause_s = 0.0
        self._audio = bytearray()
        self._audio_end = 0.0
        for end, pcm in self._recent:
            self._append(end, pcm)

    def _remember(self, now: float, pcm: bytes) -> None:
        limit = self.config.pre_roll_ms / 1000
        self._recent.append((now, pcm))
        self._recent_bytes += len(pcm)
        # Keep pre_roll_ms of audio, and nothing older than that on the wall clock (frames stop in silence).
        while self._recent and (
            self._recent_bytes - len(self._recent[0][1]) >= limit * self._bytes_per_s
            or self._recent[0][0] < now - limit - EPSILON
        ):
            self._recent_bytes -= len(self._recent.popleft()[1])

    def _append(self, end: float, pcm: bytes) -> None:
        frame_s = len(pcm) / self._bytes_per_s
        if self._audio:
            gap = end - frame_s - self._audio_end
            if gap > frame_s:  # frames missing on the wall clock: the caller paused; keep the pause
                gap = min(gap, self._silence_ms() / 1000)
                self._audio += bytes(round(gap * self.sample_rate) * 2)
        self._audio += pcm
        self._audio_end = end

    def _silence_ms(self) -> int:
        if self._pause_ms is not None:
            return self._pause_ms
        cfg = self.config
        if not cfg.hesitant_margin_ms or self._longest_pause_s * 1000 <= cfg.silence_ms:
            return cfg.silence_ms
        paced = round(self._longest_pause_s * 1000) + cfg.hesitant_margin_ms
        return max(cfg.silence_ms, min(cfg.hold_ms, paced))

    def _utterance_pcm(self) -> bytes:
        tail = int(self.config.early_ms / 1000 * self.sample_rate) * 2
        return bytes(self._audio[: self._voice_end_bytes + tail])

    def _duration_ms(self) -> int:
        return round((self._last_voice - self._onset) * 1000)

    def _end(self, now: float, *, truncated: bool) -> UtteranceEnded:
        ended = UtteranceEnded(
            self._utterance_pcm(),
            self.sample_rate,
            self._duration_ms(),
            round((now - self._last_voice) * 1000),
            now,
            truncated,
            self._barged,
        )
        self._reset()
        return ended

    def _reset(self) -> None:
        self._state = TurnState.QUIET
        self._audio = bytearray()
        self._voice_end_bytes = 0
        self._voiced_s = 0.0
        self._barged = False
        self._longest_pause_s = 0.0
        self._pause_ms = None
