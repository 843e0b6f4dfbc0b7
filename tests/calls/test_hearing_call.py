"""A call tells the recogniser what the building makes likely, and lets the directory choose among its hypotheses
(controller/conversation/hearing.py): GateCall with the fake Asterisk, the real AudioSocket media and PhraseSTT."""

from __future__ import annotations

import asyncio

from audiosocket.speech.base import Hints
from tests.calls.bed import GREETING, GUARD_S, Bed, RunningCall, gate_bed
from tests.calls.fake_asterisk import FakeAudioSocketClient

GATE = "gate-1"
MISHEARD = "sou o joao tenho uma entrega pra rebeca do sento e hum"
MEANT = "sou o joao tenho uma entrega pra renata do cento e um"


async def misheard_request(bed: Bed) -> tuple[RunningCall, FakeAudioSocketClient]:
    """A call whose visitor, after the greeting, is heard as MISHEARD first and MEANT second."""
    bed.stt.alternatives[MISHEARD] = (MEANT,)
    call = bed.call(GATE)
    gate = await bed.media(call)
    async with asyncio.timeout(GUARD_S):
        await gate.wait_heard(GREETING)
        await gate.speak(MISHEARD)
    return call, gate


async def test_the_first_request_is_heard_with_the_directory_and_its_second_hypothesis_rings_the_resident() -> None:
    async with gate_bed() as bed:
        call, gate = await misheard_request(bed)
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("resident_dial", call_id=call.id)
        hints = bed.stt.hints[0]
        assert hints is not None and hints.alternatives > 1 and hints.checked
        assert hints.prompt.startswith("Moradores:") and "Renata Souza" in hints.prompt
        [heard] = bed.events.named("transcript", call_id=call.id, leg="gate")
        assert (heard["text"], heard["best"]) == (MEANT, MISHEARD)
        assert bed.events.named("resident_dial", call_id=call.id)[0]["endpoint"] == "PJSIP/101"
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_without_directory_hints_the_recogniser_is_told_nothing_and_its_best_hypothesis_stands() -> None:
    """Nothing but that the directory checks the answer (Whisper may use its shorter window there)."""
    async with gate_bed(policy={"directory_hints": False}) as bed:
        call, gate = await misheard_request(bed)
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("dialog_turn", call_id=call.id, input="UtteranceHeard")
        assert bed.stt.hints == [Hints(checked=True)]
        [heard] = bed.events.named("transcript", call_id=call.id, leg="gate")
        assert heard["text"] == MISHEARD and "best" not in heard
        assert not bed.events.named("resident_dial", call_id=call.id)
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_a_hypothesis_chosen_with_less_confidence_is_read_back_before_the_resident_is_rung() -> None:
    """The directory found Renata only in the recogniser's second guess, a doubtful one: the visitor confirms."""
    async with gate_bed() as bed:
        bed.stt.alternative_confidence = 0.3
        call, gate = await misheard_request(bed)
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("dialog_turn", call_id=call.id, input="UtteranceHeard")
            [heard] = bed.events.named("transcript", call_id=call.id, leg="gate")
            assert (heard["text"], heard["confidence"]) == (MEANT, 0.3)
            read_back = bed.events.named("say", call_id=call.id, leg="gate")[-1]["text"]
            assert "Renata" in read_back and not bed.events.named("resident_dial", call_id=call.id)
            await gate.wait_heard(read_back)
            asked = len(bed.stt.hints)
            await gate.speak("sim")
            await bed.events.wait_for("resident_dial", call_id=call.id)
        # The visitor's yes is not a turn the directory checks: it gets the recogniser's full accuracy.
        assert bed.stt.hints[asked:] and all(h is None or not h.checked for h in bed.stt.hints[asked:])
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_what_the_resident_says_is_never_heard_the_quicker_way() -> None:
    """The resident's yes opens the gate: every recognition on that leg gets the recogniser's full accuracy."""
    async with gate_bed() as bed:
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        resident = await bed.media(call, "resident")
        await bed.turn(call, "ResidentAnswered")
        asked = len(bed.stt.hints)
        async with asyncio.timeout(GUARD_S):
            question = [e["text"] for e in bed.events.named("say", call_id=call.id, leg="resident")][0]
            await resident.wait_heard(question)
            await resident.speak("sim")
        await bed.ended(call)
        assert [context.apartment for context in bed.opener.opened] == ["101"]
        assert bed.stt.hints[asked:] and all(h is None or not h.checked for h in bed.stt.hints[asked:])
