"""Turn detection as a pure state machine: timestamps in, events out, no clock and no event loop."""

from __future__ import annotations

import pytest

from audiosocket.endpointing import (
    BargeIn,
    BlipDropped,
    EarlyUtterance,
    Endpointer,
    EndpointingConfig,
    SpeechResumed,
    TurnEvent,
    TurnState,
    UtteranceEnded,
    UtteranceStarted,
)

RATE = 8000
FRAME = 0.02


def frame(value: int) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (RATE // 50)


class Caller:
    """Feeds an Endpointer 20 ms frames on a timeline, as a media leg would; collects what it says."""

    def __init__(self, config: EndpointingConfig | None = None, start: float = 100.0) -> None:
        self.ep = Endpointer(config or EndpointingConfig(), RATE)
        self.now = start
        self.events: list[TurnEvent] = []

    def talk(self, ms: int, value: int = 1000, barge_in: bool = False) -> None:
        for _ in range(ms // 20):
            self.now = round(self.now + FRAME, 6)
            self.events += self.ep.feed(self.now, True, frame(value), barge_in=barge_in)

    def noise(self, ms: int, value: int = 7) -> None:
        for _ in range(ms // 20):
            self.now = round(self.now + FRAME, 6)
            self.events += self.ep.feed(self.now, False, frame(value))

    def wait(self, ms: int) -> None:
        """Wall-clock time with no frames at all; ticks whenever the endpointer asks."""
        end = round(self.now + ms / 1000, 6)
        while (deadline := self.ep.deadline()) is not None and deadline <= end + 1e-9:
            self.now = max(self.now, deadline)
            self.events += self.ep.tick(self.now)
        self.now = end

    def of(self, kind: type[TurnEvent]) -> list[TurnEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def test_one_utterance_in_frameless_silence() -> None:
    caller = Caller()
    caller.talk(1000)
    last_voice = caller.now
    caller.wait(2000)
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded)
    assert ended.duration_ms == 1000
    assert ended.at == pytest.approx(last_voice + 0.7)
    assert ended.delay_ms == 700
    assert not ended.truncated and not ended.barged_in
    assert caller.ep.state is TurnState.QUIET and caller.ep.deadline() is None


def test_utterance_ends_in_continuous_non_speech_frames_too() -> None:
    caller = Caller()
    caller.noise(1000)
    caller.talk(600)
    caller.noise(1000)
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded) and ended.duration_ms == 600 and ended.delay_ms == 700


def test_utterance_audio_has_pre_roll_and_a_short_tail() -> None:
    caller = Caller()
    caller.noise(1000, value=3)
    caller.talk(500, value=1000)
    caller.noise(1000, value=5)
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded)
    samples = [int.from_bytes(ended.pcm[i : i + 2], "little", signed=True) for i in range(0, len(ended.pcm), 2)]
    assert samples[: 280 * 8] == [3] * 280 * 8  # ~300 ms of pre-roll before the first voiced frame
    assert samples.count(1000) == 500 * 8
    tail = EndpointingConfig().early_ms
    assert samples[-tail * 8 :] == [5] * tail * 8  # early_ms of tail
    assert len(samples) == (280 + 500 + tail) * 8


def test_pre_roll_never_reaches_across_a_wall_clock_gap() -> None:
    caller = Caller()
    caller.noise(300, value=3)
    caller.wait(5000)
    caller.talk(400)
    caller.wait(1000)
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded)
    assert len(ended.pcm) == (400 + 0) * 16  # the old noise is 5 s stale: no pre-roll, no tail frames


def test_pauses_without_frames_are_kept_as_silence_in_the_audio() -> None:
    caller = Caller()
    caller.talk(400)
    caller.wait(300)
    caller.talk(400)
    caller.wait(1000)
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded)
    assert ended.duration_ms == 1100
    assert len(ended.pcm) == (400 + 300 + 400) * 16


def test_early_utterance_then_resumed_then_confirmed() -> None:
    caller = Caller()
    caller.talk(600)
    caller.wait(300)  # > early_ms, < silence_ms
    caller.talk(400)
    caller.wait(1000)
    assert caller.kinds() == [
        "UtteranceStarted",
        "EarlyUtterance",
        "SpeechResumed",
        "EarlyUtterance",
        "UtteranceEnded",
    ]
    first_early, second_early = caller.of(EarlyUtterance)
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(first_early, EarlyUtterance) and isinstance(second_early, EarlyUtterance)
    assert isinstance(ended, UtteranceEnded)
    assert first_early.duration_ms == 600 and ended.duration_ms == 1300
    assert second_early.pcm == ended.pcm  # the early recognition is valid for the confirmed turn
    assert first_early.at == pytest.approx(100 + 0.6 + EndpointingConfig().early_ms / 1000)


def test_early_signal_can_be_disabled() -> None:
    caller = Caller(EndpointingConfig(early_ms=0))
    caller.talk(400)
    caller.wait(1000)
    assert caller.kinds() == ["UtteranceStarted", "UtteranceEnded"]


@pytest.mark.parametrize("silence_ms", [300, 500, 700, 1200])
def test_silence_threshold_is_a_setting(silence_ms: int) -> None:
    caller = Caller(EndpointingConfig(silence_ms=silence_ms))
    caller.talk(400)
    caller.wait(silence_ms - 20)
    assert not caller.of(UtteranceEnded)
    caller.wait(20)
    ended = caller.of(UtteranceEnded)
    assert len(ended) == 1 and isinstance(ended[0], UtteranceEnded) and ended[0].delay_ms == silence_ms


def test_a_pause_shorter_than_the_threshold_keeps_one_turn() -> None:
    caller = Caller()
    for _ in range(4):
        caller.talk(300)
        caller.wait(600)
    caller.wait(1000)
    assert len(caller.of(UtteranceEnded)) == 1


def test_blips_shorter_than_min_speech_are_dropped() -> None:
    caller = Caller()
    caller.talk(60)
    caller.wait(500)
    caller.talk(40)
    caller.noise(400)
    assert caller.kinds() == ["BlipDropped", "BlipDropped"]
    assert caller.ep.state is TurnState.QUIET


def test_voiced_frames_need_not_be_contiguous_to_start_speech() -> None:
    caller = Caller()
    for _ in range(3):
        caller.talk(40)
        caller.noise(40)
    assert caller.kinds() == ["UtteranceStarted"]
    started = caller.events[0]
    assert isinstance(started, UtteranceStarted) and started.onset == pytest.approx(100.0)


def test_max_utterance_length_cuts_a_turn_that_never_ends() -> None:
    caller = Caller(EndpointingConfig(max_utterance_ms=3000))
    caller.talk(7000)
    ended = [e for e in caller.events if isinstance(e, UtteranceEnded)]
    assert len(ended) == 2 and all(e.truncated for e in ended)
    assert ended[0].duration_ms == pytest.approx(2980, abs=20)


def test_barge_in_needs_min_voiced_duration_while_a_prompt_plays() -> None:
    caller = Caller(EndpointingConfig(barge_in_min_ms=140))
    caller.talk(120, barge_in=True)
    assert not caller.of(BargeIn)
    caller.talk(20, barge_in=True)
    assert len(caller.of(BargeIn)) == 1
    caller.talk(500, barge_in=True)
    assert len(caller.of(BargeIn)) == 1  # once per utterance
    caller.wait(1000)
    ended = caller.of(UtteranceEnded)[0]
    assert isinstance(ended, UtteranceEnded) and ended.barged_in and ended.duration_ms == 640


def test_echo_bursts_shorter_than_the_guard_do_not_barge_in() -> None:
    caller = Caller(EndpointingConfig(barge_in_min_ms=140))
    for _ in range(10):
        caller.talk(80, barge_in=True)
        caller.noise(200)
    assert not caller.of(BargeIn)


def test_no_barge_in_when_nothing_interruptible_plays() -> None:
    caller = Caller()
    caller.talk(1000, barge_in=False)
    assert not caller.of(BargeIn)


def test_resumed_speech_after_early_counts_as_the_same_turn_for_barge_in() -> None:
    caller = Caller()
    caller.talk(300)
    caller.wait(300)
    caller.talk(300, barge_in=True)
    assert caller.of(SpeechResumed) and caller.of(BargeIn)


def test_blip_then_speech_starts_a_fresh_candidate() -> None:
    caller = Caller()
    caller.talk(40)
    caller.noise(200)
    caller.talk(300)
    caller.wait(1000)
    assert caller.kinds() == ["BlipDropped", "UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]
    assert isinstance(caller.events[0], BlipDropped)


def test_frames_of_other_sizes_and_16k() -> None:
    ep = Endpointer(EndpointingConfig(), 16000)
    now = 0.0
    events: list[TurnEvent] = []
    for _ in range(30):  # 30 ms frames
        now += 0.03
        events += ep.feed(now, True, bytes(960))
    events += ep.tick(now + 0.7)
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(ended) == 1 and ended[0].duration_ms == 900 and ended[0].sample_rate == 16000


@pytest.mark.parametrize(
    "bad",
    [
        {"silence_ms": 0},
        {"max_utterance_ms": 0},
        {"early_ms": -1},
        {"pre_roll_ms": -5},
        {"blip_gap_ms": 0},
        {"complete_ms": -1},
        {"hold_ms": -1},
        {"hesitant_margin_ms": -1},
    ],
)
def test_config_is_validated(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        EndpointingConfig(**bad)


def pause_judged(complete: bool | None, config: EndpointingConfig | None = None) -> tuple[Caller, float]:
    """A judged endpointer: 400 ms of speech, the early event, its verdict at 250 ms of silence; (caller, last
    voice)."""
    caller = Caller(config)
    caller.ep.judged = True
    caller.talk(400)
    last_voice = caller.now
    caller.wait(250)
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance"]
    caller.events += caller.ep.judge_pause(caller.now, complete, early_at(caller))
    return caller, last_voice


def early_at(caller: Caller) -> float:
    return caller.of(EarlyUtterance)[-1].at


def test_a_pause_judged_complete_ends_the_turn_after_the_short_silence() -> None:
    caller, last_voice = pause_judged(True)
    assert not caller.of(UtteranceEnded)
    assert caller.ep.deadline() == pytest.approx(last_voice + 0.35)
    caller.wait(100)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 350
    early = caller.of(EarlyUtterance)[0]
    assert isinstance(early, EarlyUtterance) and early.pcm == ended.pcm  # the early recognition stands


def test_a_judged_turn_waits_for_its_verdict_then_ends_at_once_if_the_silence_is_over() -> None:
    """The reply needs the early transcript anyway: waiting past silence_ms for it costs nothing."""
    caller = Caller()
    caller.ep.judged = True
    caller.talk(400)
    caller.wait(900)  # the early recognition took 700 ms: past silence_ms, the turn is still open
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance"]
    caller.events += caller.ep.judge_pause(caller.now, None, early_at(caller))
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 900


def test_a_verdict_that_never_comes_ends_the_turn_after_hold_ms() -> None:
    caller = Caller()
    caller.ep.judged = True
    caller.talk(400)
    caller.wait(1480)
    assert not caller.of(UtteranceEnded)
    caller.wait(40)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 1500


def test_a_pause_judged_mid_phrase_waits_hold_ms_and_keeps_one_turn() -> None:
    caller, _ = pause_judged(False)
    caller.wait(1000)  # 1.25 s of silence: past silence_ms, inside hold_ms
    assert not caller.of(UtteranceEnded)
    caller.talk(600)  # "... a Beatriz"
    caller.wait(300)
    caller.events += caller.ep.judge_pause(caller.now, True, early_at(caller))  # the second pause: complete
    caller.wait(2000)
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance", "SpeechResumed", "EarlyUtterance", "UtteranceEnded"]
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 350
    assert ended.duration_ms == 400 + 1250 + 600
    assert len(ended.pcm) == (400 + 1250 + 600) * 16  # the held pause is in the audio, whole (no tail frames)


def test_a_held_pause_still_ends_after_hold_ms() -> None:
    caller, _ = pause_judged(False)
    caller.wait(1300)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 1500


def test_no_opinion_ends_at_silence_ms() -> None:
    caller, _ = pause_judged(None)
    caller.wait(440)
    assert not caller.of(UtteranceEnded)
    caller.wait(20)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 700


def test_a_verdict_on_an_earlier_pause_is_ignored() -> None:
    caller = Caller()
    caller.ep.judged = True
    caller.talk(400)
    caller.wait(250)
    first = early_at(caller)
    caller.talk(400)  # speech resumed before the first pause was judged
    caller.wait(250)
    assert caller.ep.judge_pause(caller.now, True, first) == []  # that pause is over
    caller.wait(500)
    assert not caller.of(UtteranceEnded)  # still waiting for the verdict on this pause
    caller.events += caller.ep.judge_pause(caller.now, True, early_at(caller))
    assert len(caller.of(UtteranceEnded)) == 1


def test_resumed_speech_forgets_the_verdict() -> None:
    caller, _ = pause_judged(True)
    caller.talk(400)
    caller.wait(300)
    caller.events += caller.ep.judge_pause(caller.now, None, early_at(caller))
    caller.wait(200)
    assert not caller.of(UtteranceEnded)  # 500 ms: the short silence was the first pause's, not this one's
    caller.wait(300)
    assert len(caller.of(UtteranceEnded)) == 1


def test_a_verdict_outside_a_pause_is_ignored() -> None:
    caller = Caller()
    assert caller.ep.judge_pause(caller.now, True, caller.now) == []
    caller.talk(400)
    assert caller.ep.judge_pause(caller.now, True, caller.now) == []  # still talking
    caller.wait(1000)
    assert caller.ep.judge_pause(caller.now, False, early_at(caller)) == [] and caller.ep.state is TurnState.QUIET


def test_verdicts_can_be_disabled() -> None:
    caller, _ = pause_judged(True, EndpointingConfig(complete_ms=0, hold_ms=0))
    caller.wait(300)
    assert not caller.of(UtteranceEnded)
    caller.wait(200)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 700


def hesitated(config: EndpointingConfig | None = None, pause_ms: int = 1000) -> Caller:
    """A judged endpointer: "Vim visitar a..." (judged mid-phrase), a `pause_ms` pause, "Renata.", and now a
    pause with no opinion on it (a resident, no apartment)."""
    caller = Caller(config)
    caller.ep.judged = True
    caller.talk(600)
    caller.wait(250)
    caller.events += caller.ep.judge_pause(caller.now, False, early_at(caller))
    caller.wait(pause_ms - 250)
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance"]
    caller.talk(600)
    caller.wait(250)
    caller.events += caller.ep.judge_pause(caller.now, None, early_at(caller))
    return caller


def test_a_caller_who_paused_a_second_and_went_on_is_waited_for_that_long_at_the_next_pause() -> None:
    caller = hesitated()
    caller.wait(850)  # 1.1 s of silence: past silence_ms, inside the caller's own pause plus the margin
    assert not caller.of(UtteranceEnded)
    caller.talk(600)  # "... do cento e um"
    assert caller.kinds() == ["UtteranceStarted", "EarlyUtterance", "SpeechResumed", "EarlyUtterance", "SpeechResumed"]
    caller.wait(250)
    caller.events += caller.ep.judge_pause(caller.now, None, early_at(caller))
    caller.wait(2000)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 1100 + 300  # the longest pause + the margin
    assert ended.duration_ms == 600 + 1000 + 600 + 1100 + 600


def test_a_whole_answer_still_ends_a_hesitant_turn_after_the_short_silence() -> None:
    caller = hesitated()
    caller.talk(600)
    caller.wait(250)
    caller.events += caller.ep.judge_pause(caller.now, True, early_at(caller))
    caller.wait(1000)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == 350


@pytest.mark.parametrize(
    ("config", "pause_ms", "delay_ms"),
    [
        (EndpointingConfig(), 600, 700),  # pauses shorter than silence_ms change nothing
        (EndpointingConfig(hesitant_margin_ms=0), 1000, 700),  # off
        (EndpointingConfig(), 1400, 1500),  # never past hold_ms
        (EndpointingConfig(hesitant_margin_ms=100), 1000, 1100),
    ],
)
def test_the_wait_after_a_hesitation_is_bounded(config: EndpointingConfig, pause_ms: int, delay_ms: int) -> None:
    caller = hesitated(config, pause_ms)
    caller.wait(3000)
    [ended] = caller.of(UtteranceEnded)
    assert isinstance(ended, UtteranceEnded) and ended.delay_ms == delay_ms


def test_the_next_turn_starts_at_the_usual_pace() -> None:
    caller = hesitated()
    caller.wait(3000)
    assert len(caller.of(UtteranceEnded)) == 1
    caller.talk(400)
    caller.wait(250)
    caller.events += caller.ep.judge_pause(caller.now, None, early_at(caller))
    caller.wait(1000)
    ended = caller.of(UtteranceEnded)
    assert len(ended) == 2 and isinstance(ended[1], UtteranceEnded) and ended[1].delay_ms == 700
