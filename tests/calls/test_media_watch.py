"""Silent media (asterisk/asterisk#2089): Asterisk hears the caller talking but no audio of theirs reaches us.

The watch's rule alone, then a whole call with the fake Asterisk and the real AudioSocket server and media.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.calls.media_watch import SilenceWatch
from controller.conversation import resident_prompts
from tests.calls.bed import GUARD_S, gate_bed

GATE = "gate-1"
WINDOW_S = 0.3


def test_talking_with_no_frame_for_the_whole_window_is_silent_media() -> None:
    watch = SilenceWatch(2.0)
    assert watch.talking(10.0, frames_in=50) == 2.0
    assert watch.talking(10.5, frames_in=50) is None  # a check is already pending
    assert watch.due_in(11.0, frames_in=50) == 1.0  # early: check again later
    assert watch.due_in(12.0, frames_in=50) == 0.0


def test_a_frame_arriving_after_the_talking_began_clears_the_watch_until_the_next_talking() -> None:
    watch = SilenceWatch(2.0)
    watch.talking(10.0, frames_in=50)
    assert watch.due_in(12.0, frames_in=51) is None
    assert watch.due_in(20.0, frames_in=51) is None  # nobody talking: a quiet leg is not a broken one
    assert watch.talking(30.0, frames_in=51) == 2.0
    assert watch.due_in(32.0, frames_in=51) == 0.0


async def test_a_caller_heard_talking_while_no_audio_arrives_is_handed_over_after_the_window() -> None:
    async with gate_bed(concierge="PJSIP/portaria", config={"media_silence_s": WINDOW_S}) as bed:
        call, gate = await bed.greeted(GATE)
        assert ("set_variable", (GATE, "TALK_DETECT(set)", "")) in [(r.method, r.args) for r in bed.ari.requests]
        bed.ari.emit("ChannelTalkingStarted", GATE)  # and the media stays quiet: the #2089 case
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("fallback", call_id=call.id)
            await gate.wait_heard(resident_prompts.error(True))
        [silent] = bed.events.named("media_silent", call_id=call.id)
        assert silent["leg"] == "gate" and silent["window_s"] == WINDOW_S
        assert "ErrorOccurred" in bed.turns(call)
        await bed.ended(call)
        assert bed.ari.called("continue_in_dialplan") == [(GATE, "portaria-fallback", "s", 1)]
        assert bed.ari.leftovers() == ([], [])
        assert not bed.opener.opened


async def test_a_caller_whose_audio_arrives_is_not_taken_for_silent_media() -> None:
    async with gate_bed(concierge="PJSIP/portaria", config={"media_silence_s": WINDOW_S}) as bed:
        call, gate = await bed.greeted(GATE)
        bed.ari.emit("ChannelTalkingStarted", GATE)
        await gate.speak("bom dia")
        await bed.turn(call, "UtteranceHeard")
        await asyncio.sleep(WINDOW_S * 3)
        assert not bed.events.named("media_silent", call_id=call.id)
        assert not bed.events.named("fallback", call_id=call.id)
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_with_the_watch_off_no_talk_detection_is_asked_of_asterisk() -> None:
    async with gate_bed(config={"media_silence_s": 0}) as bed:
        call, gate = await bed.greeted(GATE)
        bed.ari.emit("ChannelTalkingStarted", GATE)
        await asyncio.sleep(WINDOW_S * 2)
        assert not bed.ari.called("set_variable")
        assert not bed.events.named("media_silent", call_id=call.id)
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_talk_detection_refused_by_asterisk_leaves_the_call_working_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with gate_bed(config={"media_silence_s": WINDOW_S}) as bed:
        bed.ari.fail("set_variable", 500, when=lambda channel, name, value: name == "TALK_DETECT(set)")
        call, gate = await bed.greeted(GATE)
        await gate.speak("bom dia")
        await bed.turn(call, "UtteranceHeard")
        assert "no talk detection on the gate leg" in caplog.text
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
        assert bed.ari.leftovers() == ([], [])
