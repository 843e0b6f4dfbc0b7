"""Latency samples from the per-call events (pure): what the ``report`` command summarises and the console's
charts draw. Each sample carries the wall time (``ts``) of the event that completed it.

Every stage is reduced to samples in milliseconds, grouped per leg, and summarised as count, min, p50, p90, p95,
p99 and max (percentiles interpolate linearly between the closest ranks, like numpy's default; with one sample
every percentile is that sample). Stages and the events they come from:

=================  =================================================================================================
endpointing        ``speech_end.endpointing_delay_ms``: last voiced frame to "the turn is over"
stt                ``stt_done.latency_ms``: recognition, from when it was asked for (early or at the end of turn)
understanding      ``understood.ms`` (the understanding backend: rules, or a model) plus ``dialog_turn.ms`` for the
                   ``UtteranceHeard`` input that follows (the dialog deciding what to say)
tts_first_audio    ``tts_first_audio.latency_ms`` (0 when the phrase came from the prompt cache)
playout_start      ``say`` to the first frame of that prompt leaving us (see "first frame" below)
turn               end of the visitor's speech as Asterisk sent it (``speech_end.mono - endpointing_delay_ms``)
                   to the first frame of the next reply on the same call and leg
resident_ring      resident dialled (``resident_dial``) to answered (``resident_answered``; its ``ring_ms``
                   field when present)
resident_no_answer the same, when nobody answered (``resident_unavailable``)
call               ``call_end.duration_ms``
=================  =================================================================================================

"First frame" of a prompt: the later of its ``playout_start`` (the playout's turn came) and its
``tts_first_audio`` (synthesis produced audio); the frame itself leaves on the next 20 ms slot of the leg's grid,
so the figure is at most 20 ms early. Prompts are matched to ``say`` events in order (playout is FIFO); a
barge-in drops the prompts still queued. A visitor turn followed by another before any reply counts as
unanswered (an empty transcript, say), not as a latency.

Errors: ``error`` events (by stage and message), every ``*_failed`` event, and ``playout_underrun`` counts.

The prototype ("AudioSocket-Simple") wrote one log per call, ``logs/<call id>.log``, lines like
``2025-05-03 14:20:01.123 | INFO | TRANSCRIPTION_COMPLETE | {"source": "visitor", "duration_ms": 812.4, ...}``.
Such files (or a directory of them) are read too, and their stage names, plus the stage names a per-stage
JSON log of it would use, are mapped by :data:`PROTOTYPE_STAGES`; names mapped to ``None`` are not latencies.
Unknown names in a prototype log that carry a duration are kept as stages of their own.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]

PROTOTYPE_STAGES: dict[str, str | None] = {
    # The prototype's CallLogger events (utils/call_logger.py, utils/log_analyzer.py).
    "silence_detected": "endpointing",
    "transcription_complete": "stt",
    "ai_processing_complete": "understanding",
    "synthesis_complete": "tts_first_audio",  # it synthesized whole phrases before playing: synthesis = first audio
    "call_ended": "call",
    "speech_ended": None,  # utterance length, not a wait
    "intent_extraction_complete": None,  # one LLM round trip inside ai_processing: kept as llm_<stage>
    # Plausible per-stage names of a JSON stage log (``{"stage": "stt", "duration_ms": 812}``).
    "vad_silence": "endpointing",
    "silence": "endpointing",
    "stt": "stt",
    "transcription": "stt",
    "llm_intent": "understanding",
    "llm_name": "understanding",
    "llm_apartment": "understanding",
    "llm": "understanding",
    "ai": "understanding",
    "tts": "tts_first_audio",
    "synthesis": "tts_first_audio",
    "playback_start": "playout_start",
    "audio_send": "playout_start",
    "amqp_call": "resident_ring",
    "resident_call": "resident_ring",
    "turn_latency": "turn",
    "total_call": "call",
    "call_duration": "call",
}
_DURATION_FIELDS = ("duration_ms", "latency_ms", "total_duration_ms", "elapsed_ms", "ms")
_RING_STARTS = frozenset({"resident_dial", "resident_ringing", "resident_originate"})
_RING_ENDS = {"resident_answered": "resident_ring", "resident_unavailable": "resident_no_answer"}


@dataclass(frozen=True, slots=True)
class Sample:
    call_id: str
    leg: str
    stage: str
    ms: float
    ts: str = ""  # wall time (ISO 8601) of the event that completed the sample; "" when it had none


@dataclass(frozen=True, slots=True)
class Stats:
    count: int
    min: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        ordered = sorted(values)
        if not ordered:
            return cls(0, None, None, None, None, None, None)
        p50, p90, p95, p99 = (round(percentile(ordered, q), 3) for q in (50, 90, 95, 99))
        return cls(len(ordered), round(ordered[0], 3), p50, p90, p95, p99, round(ordered[-1], 3))


@dataclass(slots=True)
class Errors:
    errors: Counter[str] = field(default_factory=Counter)
    """``error`` events by "stage: message"."""
    failed: Counter[str] = field(default_factory=Counter)
    """``*_failed`` events by name."""
    underruns: int = 0
    unanswered_turns: int = 0


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, interpolating between the closest ranks."""
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# Samples ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prompt:
    said: float
    expects_audio: bool
    started: float | None = None
    reply: bool = False


@dataclass(slots=True)
class _Leg:
    """One call leg's timeline: pairs each visitor turn with its reply, and each prompt with its first frame.

    A prompt is a ``say``, then its ``playout_start`` and ``tts_first_audio`` in either order (synthesis runs
    while an earlier prompt still plays). Cached fallback audio (``say`` "(fallback)", or after ``say_failed``)
    has no synthesis event: its first frame is its playout start.
    """

    speech_ended: float | None = None
    awaiting_reply: bool = False
    reply_claimed: bool = False
    unstarted: deque[_Prompt] = field(default_factory=deque)
    without_audio: deque[_Prompt] = field(default_factory=deque)
    audio: deque[float] = field(default_factory=deque)

    def speech_end(self, at: float) -> bool:
        """A visitor turn ended at `at`; True if the previous one never got a reply."""
        unanswered = self.awaiting_reply
        self.speech_ended, self.awaiting_reply, self.reply_claimed = at, True, False
        return unanswered

    def say(self, at: float, *, expects_audio: bool) -> None:
        self.unstarted.append(_Prompt(at, expects_audio))

    def say_failed(self, at: float) -> None:
        """Synthesis failed before any audio: that prompt never gets a first frame; cached fallback audio follows."""
        if self.without_audio and self.without_audio.pop().reply:
            self.reply_claimed = False
        self.say(at, expects_audio=False)

    def barge_in(self) -> None:
        self.unstarted.clear()
        self.without_audio.clear()
        self.audio.clear()

    def playout_start(self, at: float) -> list[tuple[float, float, bool]]:
        prompt = self.unstarted.popleft() if self.unstarted else _Prompt(at, expects_audio=False)
        prompt.started = at
        ended = self.speech_ended
        if self.awaiting_reply and not self.reply_claimed and ended is not None and prompt.said >= ended:
            prompt.reply, self.reply_claimed = True, True
        if not prompt.expects_audio:
            return [self._first_frame(prompt, at)]
        self.without_audio.append(prompt)
        return self._pair()

    def first_audio(self, at: float) -> list[tuple[float, float, bool]]:
        self.audio.append(at)
        return self._pair()

    def _pair(self) -> list[tuple[float, float, bool]]:
        done = []
        while self.without_audio and self.audio:
            prompt, audio = self.without_audio.popleft(), self.audio.popleft()
            assert prompt.started is not None
            done.append(self._first_frame(prompt, max(prompt.started, audio)))
        return done

    def _first_frame(self, prompt: _Prompt, at: float) -> tuple[float, float, bool]:
        """(playout start ms, turn ms or NaN, whether it was a reply)."""
        turn = math.nan
        if prompt.reply and self.speech_ended is not None:
            turn = (at - self.speech_ended) * 1000
            self.awaiting_reply = False
        return (at - prompt.said) * 1000, turn, prompt.reply


def collect(events: Iterable[Event], errors: Errors | None = None) -> list[Sample]:
    """Every latency sample in the events; `errors` (if given) receives what went wrong."""
    errors = errors if errors is not None else Errors()
    samples: list[Sample] = []
    legs: dict[tuple[str, str], _Leg] = defaultdict(_Leg)
    ringing: dict[str, float] = {}
    understood: dict[str, float] = {}

    def add(event: Event, stage: str, ms: Any) -> None:
        if isinstance(ms, int | float) and not isinstance(ms, bool) and math.isfinite(ms):
            call, leg, ts = str(event.get("call_id", "")), str(event.get("leg", "")), str(event.get("ts", ""))
            samples.append(Sample(call, leg, stage, float(ms), ts))

    def frames(event: Event, firsts: list[tuple[float, float, bool]]) -> None:
        for playout_ms, turn_ms, _ in firsts:
            add(event, "playout_start", playout_ms)
            add(event, "turn", turn_ms)

    for event in sorted(events, key=_order):
        name = str(event.get("event", ""))
        raw_mono = event.get("mono")
        mono = float(raw_mono) if isinstance(raw_mono, int | float) else None
        key = (str(event.get("call_id", "")), str(event.get("leg", "")))
        match name:
            case "speech_end":
                delay = event.get("endpointing_delay_ms")
                add(event, "endpointing", delay)
                if mono is not None and legs[key].speech_end(mono - float(delay or 0) / 1000):
                    errors.unanswered_turns += 1
            case "stt_done":
                add(event, "stt", event.get("latency_ms"))
            case "understood" if isinstance(event.get("ms"), int | float):
                understood[key[0]] = float(event["ms"])
            case "dialog_turn":
                if event.get("input") == "UtteranceHeard" and isinstance(event.get("ms"), int | float):
                    add(event, "understanding", understood.pop(key[0], 0.0) + float(event["ms"]))
            case "say" if mono is not None:
                legs[key].say(mono, expects_audio=event.get("text") != "(fallback)")
            case "say_failed" if mono is not None:
                errors.failed[name] += 1
                legs[key].say_failed(mono)
            case "tts_first_audio":
                add(event, "tts_first_audio", event.get("latency_ms"))
                if mono is not None:
                    frames(event, legs[key].first_audio(mono))
            case "playout_start" if mono is not None:
                frames(event, legs[key].playout_start(mono))
            case "barge_in":
                legs[key].barge_in()
            case "playout_underrun":
                errors.underruns += 1
            case "call_end":
                add(event, "call", event.get("duration_ms"))
            case "error" | "ERROR":
                where = event.get("stage") or event.get("error_type") or "error"
                errors.errors[f"{where}: {event.get('message', '')}".strip()] += 1
            case _ if name in _RING_STARTS and mono is not None:
                ringing.setdefault(key[0], mono)
            case _ if name in _RING_ENDS:
                started = ringing.pop(key[0], None)
                ring_ms = event.get("ring_ms")
                if ring_ms is None and started is not None and mono is not None:
                    ring_ms = (mono - started) * 1000
                add(event, _RING_ENDS[name], ring_ms)
            case _ if name.lower().endswith("_failed"):
                errors.failed[name] += 1
            case _:
                _prototype(event, name, add)
    return samples


def _prototype(event: Event, name: str, add: Any) -> None:
    lowered = name.lower()
    ms = next((event[f] for f in _DURATION_FIELDS if isinstance(event.get(f), int | float)), None)
    if lowered == "intent_extraction_complete":
        add(event, f"llm_{event.get('stage', 'step')}", ms)
        return
    if lowered in PROTOTYPE_STAGES:
        stage = PROTOTYPE_STAGES[lowered]
        if stage is not None:
            add(event, stage, ms)
        return
    if ms is not None and event.get("source") == "prototype":
        add(event, lowered, ms)


def _order(event: Event) -> tuple[str, float]:
    mono = event.get("mono")
    return str(event.get("call_id", "")), float(mono) if isinstance(mono, int | float) else 0.0
