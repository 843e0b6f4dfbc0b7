"""The caller-side timing of the test phone's frame log: prompts, turn latency, barge-in cut, pacing."""

from __future__ import annotations

import numpy as np
import pytest

from controller.tools.phone_audio import FRAME_BYTES
from controller.tools.phone_timing import (
    Heard,
    barge_in_cut,
    pacing,
    prompts,
    reply_after,
    speech_span,
    talked_over,
    voiced,
)

F = 0.02


def frames(start: float, seconds: float, *, loud: bool, step: float = F) -> list[Heard]:
    return [Heard(round(start + i * step, 6), loud) for i in range(round(seconds / step))]


def test_voiced_tells_speech_from_line_noise() -> None:
    rng = np.random.default_rng(1)
    speech = (np.sin(np.arange(FRAME_BYTES // 2) / 3) * 8000).astype("<i2").tobytes()
    noise = (rng.normal(0, 20, FRAME_BYTES // 2)).astype("<i2").tobytes()
    assert voiced(speech)
    assert not voiced(noise)
    assert not voiced(bytes(FRAME_BYTES))


def test_short_pauses_stay_inside_a_prompt_and_long_ones_split_it() -> None:
    log = [
        *frames(1.0, 1.0, loud=True),
        *frames(2.0, 0.3, loud=False),  # a pause between clauses
        *frames(2.3, 0.5, loud=True),
        *frames(2.8, 1.0, loud=False),  # the turn is over
        *frames(3.8, 0.4, loud=True),
    ]
    found = prompts(log)
    assert [(p.start, round(p.end, 3)) for p in found] == [(1.0, 2.8), (3.8, 4.2)]
    assert len(found[0].arrivals) == 90  # trailing silence is not part of it


def test_a_bridge_that_sends_nothing_between_prompts_splits_them_too() -> None:
    found = prompts([*frames(0.0, 0.4, loud=True), *frames(1.5, 0.2, loud=True)])
    assert [p.start for p in found] == [0.0, 1.5]


def test_turn_latency_is_from_the_end_of_the_callers_last_word_to_the_reply() -> None:
    sent = [*frames(5.0, 0.3, loud=False), *frames(5.3, 2.0, loud=True), *frames(7.3, 1.0, loud=False)]
    span = speech_span(sent)
    assert span is not None
    assert span == pytest.approx((5.3, 7.3))
    heard = prompts([*frames(1.0, 3.0, loud=True), *frames(8.2, 1.5, loud=True)])
    reply = reply_after(span[1], heard)
    assert reply is not None
    assert reply.start - span[1] == pytest.approx(0.9)
    assert talked_over(span, heard) == []
    assert speech_span(frames(0, 1, loud=False)) is None


def test_a_reply_inside_a_hesitant_utterance_is_counted_as_talked_over() -> None:
    heard = prompts([*frames(1.0, 2.0, loud=True), *frames(6.0, 1.0, loud=True), *frames(9.5, 1.0, loud=True)])
    assert [p.start for p in talked_over((4.0, 8.0), heard)] == [6.0]
    reply = reply_after(8.0, heard)
    assert reply is not None
    assert reply.start == 9.5


def test_barge_in_cut_is_from_the_first_word_to_the_end_of_the_prompt_talked_over() -> None:
    heard = prompts(frames(1.0, 4.0, loud=True)[:60])  # the greeting was cut 1.2 s in
    cut = barge_in_cut(1.8, heard)
    assert cut == pytest.approx(0.4)
    assert barge_in_cut(0.5, heard) is None  # nothing was playing when the caller spoke


def test_pacing_reports_late_frames_and_the_worst_gap() -> None:
    steady = prompts(frames(0.0, 2.0, loud=True))[0]
    assert pacing(steady).on_time == 1.0
    assert pacing(steady).delivered == pytest.approx(1.0)
    bumpy = [*frames(0.0, 1.0, loud=True), *frames(1.1, 1.0, loud=True)]  # one 120 ms hole
    result = pacing(prompts(bumpy)[0])
    assert result.frames == 100
    assert result.worst_gap_s == pytest.approx(0.12)
    assert result.on_time == pytest.approx(98 / 99)
    assert result.delivered == pytest.approx(2.0 / 2.1)
