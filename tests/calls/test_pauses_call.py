"""A hesitant visitor gets one answer: the pauses of a gate call judged on their words and on the caller's own
pace (GateCall with the fake Asterisk, the real AudioSocket media and endpointing, PhraseSTT)."""

from __future__ import annotations

import asyncio

from tests.calls.bed import GREETING, GUARD_S, gate_bed

GATE = "gate-1"
PAUSE_S = 0.4  # twice the bed's 200 ms end-of-turn silence
PHRASES = ("vim visitar a", "renata", "do cento e um")


async def test_a_request_said_in_phrases_with_pauses_longer_than_the_silence_is_one_turn() -> None:
    """"vim visitar a..." holds the pause (mid-phrase); "... renata" reads as a whole request with no opinion on
    its pause, but this caller already paused 0.4 s and went on, so it waits that long and a margin more."""
    async with gate_bed() as bed:
        call = bed.call(GATE)
        gate = await bed.media(call)
        async with asyncio.timeout(GUARD_S):
            await gate.wait_heard(GREETING)
            for phrase in PHRASES:
                await gate.speak(phrase)
                await asyncio.sleep(PAUSE_S)
            await bed.turn(call, "UtteranceHeard")
            await asyncio.sleep(1.0)  # a second turn would have been heard by now
        heard = bed.events.named("transcript", call_id=call.id, leg="gate")
        assert [h["text"] for h in heard] == [" ".join(PHRASES)]
        assert bed.turns(call).count("UtteranceHeard") == 1
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
