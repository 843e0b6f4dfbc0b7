"""GateCall's resident side with the fake Asterisk and the real AudioSocket media: the visitor asks (spoken through
the media), the resident is dialled, answers or not, and everything the call made is gone at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.conversation.events import Decision
from tests.calls.bed import GUARD_S, Bed, RunningCall, gate_bed, write_directory
from tests.calls.fake_asterisk import Ring

GATE = "gate-1"


def said(bed: Bed, call: RunningCall, leg: str) -> list[str]:
    return [e["text"] for e in bed.events.named("say", call_id=call.id, leg=leg)]


async def test_an_answering_resident_gets_a_media_leg_and_a_yes_by_keypad_opens_the_gate() -> None:
    async with gate_bed() as bed:
        call = bed.call(GATE)
        gate = await bed.visitor_asks_for_renata(call)
        resident = await bed.media(call, "resident")
        await bed.turn(call, "ResidentAnswered")
        channel = f"portaria-resident-{call.id}-1"
        [originate] = [r for r in bed.ari.requests if r.method == "originate"]
        assert originate.args == (channel, "PJSIP/101")
        assert originate.kwargs["app_args"] == f"resident,{call.id}"
        assert bed.ari.live_bridges[f"portaria-{call.id}-resident"] == [channel, f"portaria-media-{call.id}-resident"]
        async with asyncio.timeout(GUARD_S):
            await resident.wait_heard(said(bed, call, "resident")[0])  # the question, through the resident's media
        bed.ari.caller_presses(channel, "1")
        await bed.ended(call)

        [(record, gate_channel, resident_channel)] = bed.audit.written
        assert record.decision is Decision.AUTHORISED and (gate_channel, resident_channel) == (GATE, channel)
        assert [context.apartment for context in bed.opener.opened] == ["101"]
        assert bed.turns(call).index("AuditWritten") < bed.turns(call).index("GateOpened")
        assert gate.texts() == said(bed, call, "gate")  # every prompt reached the visitor, none was cut
        assert bed.ari.leftovers() == ([], []) and GATE not in bed.ari.live_channels
        assert sorted(e["leg"] for e in bed.events.named("audio_in", call_id=call.id)) == ["gate", "resident"]


@pytest.mark.parametrize("trouble", ["audit", "gate"])
async def test_a_yes_is_recorded_before_the_gate_opens_and_their_failures_are_handled(trouble: str) -> None:
    async with gate_bed() as bed:
        bed.audit.broken = trouble == "audit"  # no record, no opening
        bed.opener.failures = 1 if trouble == "gate" else 0  # the first try fails, the second opens
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.turn(call, "ResidentAnswered")
        bed.ari.caller_presses(f"portaria-resident-{call.id}-1", "1")
        await bed.ended(call)
        if trouble == "audit":
            assert bed.events.named("audit_failed", call_id=call.id) and bed.opener.opened == []
            assert said(bed, call, "gate")[-1].startswith("Desculpe, tive um problema e não posso liberar")
        else:
            assert [e["attempt"] for e in bed.events.named("gate_open_failed", call_id=call.id)] == [1]
            assert [e["attempt"] for e in bed.events.named("gate_opened", call_id=call.id)] == [2]
            assert len(bed.opener.opened) == 2 and bed.opener.opened[0].gate_channel == GATE
        assert bed.ari.leftovers() == ([], [])


async def test_a_busy_resident_behind_a_local_channel_is_busy_not_failed(tmp_path: Path) -> None:
    endpoint = "Local/101@residents"
    async with gate_bed(write_directory(tmp_path / "dir.json", endpoint)) as bed:
        bed.ari.endpoints[endpoint] = Ring("busy")
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.ended(call)  # busy twice: no answer, the visitor is told
        first, second = bed.events.named("resident_unavailable", call_id=call.id)
        assert (first["reason"], first["cause"], first["dialstatus"]) == ("busy", 0, "BUSY")
        assert second["reason"] == "busy"
        assert [args[:2] for args in bed.ari.called("originate")] == [
            (f"portaria-resident-{call.id}-1", endpoint),
            (f"portaria-resident-{call.id}-2", endpoint),
        ]
        assert bed.turns(call).count("ResidentUnavailable") == 2 and "ResidentAnswered" not in bed.turns(call)
        assert [record.decision for record, _, _ in bed.audit.written] == [Decision.NO_ANSWER]
        assert bed.ari.leftovers() == ([], [])


async def test_an_originate_refused_by_asterisk_is_a_failed_dial() -> None:
    async with gate_bed() as bed:
        bed.ari.fail("originate", 500)
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.ended(call)
        unavailable = bed.events.named("resident_unavailable", call_id=call.id)
        assert [(e["reason"], e["status"]) for e in unavailable] == [("failed", 500), ("failed", 500)]
        assert bed.turns(call).count("ResidentRinging") == 0  # never rang
        assert bed.ari.leftovers() == ([], [])


async def test_a_hand_over_returns_the_caller_to_the_dialplan_without_hanging_up() -> None:
    async with gate_bed(concierge="PJSIP/portaria") as bed:
        call = bed.call(GATE)
        gate = await bed.media(call)
        await bed.turn(call, "PlaybackFinished")
        await gate.speak("quero falar com o porteiro")
        await bed.ended(call)
        handed = [args for args in bed.ari.called("set_variable") if args[1] == "PORTARIA_CONCIERGE"]
        assert handed == [(GATE, "PORTARIA_CONCIERGE", "PJSIP/portaria")]
        assert bed.ari.called("continue_in_dialplan") == [(GATE, "portaria-fallback", "s", 1)]
        assert (GATE,) not in bed.ari.called("hang_up")
        assert GATE in bed.ari.live_channels and not bed.ari.live_channels[GATE].in_stasis  # with the dialplan now
        assert bed.ari.leftovers() == ([], [])
        assert gate.texts()[-1] == said(bed, call, "gate")[-1]  # the hand-over was announced before it happened
        [fallback] = bed.events.named("fallback", call_id=call.id)
        assert (fallback["reason"], fallback["to"]) == ("visitor_asked", "PJSIP/portaria")


async def test_a_resident_whose_media_cannot_be_set_up_is_an_unavailable_dial_not_a_stuck_call() -> None:
    """The dial answered, but bridging the resident's media failed: the conversation waited in DIALING forever
    (the lost leg reached it as LegHungUp, which DIALING ignores: a dial's end must be ResidentUnavailable)."""
    async with gate_bed() as bed:
        bed.ari.fail("add_to_bridge", 500, when=lambda bridge, channels: "-resident" in bridge)
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.ended(call)
        assert bed.events.named("error", call_id=call.id, leg="resident")[0]["stage"] == "resident_media"
        assert "ResidentUnavailable" in bed.turns(call) and "ResidentAnswered" not in bed.turns(call)
        assert bed.ari.leftovers() == ([], [])


async def test_after_a_failed_resident_media_set_up_the_retry_can_still_reach_the_resident() -> None:
    async with gate_bed() as bed:
        failures = iter([True])
        bed.ari.fail(
            "add_to_bridge", 500, when=lambda bridge, _: bridge.endswith("-resident") and next(failures, False)
        )
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.turn(call, "ResidentUnavailable")  # the first attempt's media failed: dialled again

        def settled() -> bool:
            turns = bed.turns(call)
            return "ResidentAnswered" in turns or turns.count("ResidentUnavailable") >= 2

        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_until(settled)
        assert "ResidentAnswered" in bed.turns(call)


async def test_an_endpoint_that_cannot_be_dialled_is_a_failed_dial_not_a_stuck_call(tmp_path: Path) -> None:
    """`sip:@host` has no number to put in the template: resolving it raises, and the dial task used to die with
    only a log line, leaving the call in DIALING for good."""
    async with gate_bed(write_directory(tmp_path / "dir.json", "sip:@gateway.example")) as bed:
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.ended(call)
        unavailable = bed.events.named("resident_unavailable", call_id=call.id)
        assert unavailable and all(e["reason"] == "failed" for e in unavailable)
        assert bed.ari.called("originate") == []  # nothing was dialled
        assert [record.decision for record, _, _ in bed.audit.written] == [Decision.NO_ANSWER]
        assert bed.ari.leftovers() == ([], [])


async def test_a_call_ended_while_asterisk_creates_the_resident_bridge_still_destroys_it() -> None:
    """Asterisk made the bridge, its reply had not come back when the call ended (the CI saw it after an Asterisk
    restart): the bridge was recorded only on the reply, so teardown left it behind."""
    async with gate_bed(config={"end_grace_s": 0.2, "setup_timeout_s": 0.3}) as bed:
        hold = asyncio.Event()

        async def reply_lost(bridge_id: str) -> None:
            if not bridge_id.endswith("-resident"):
                bed.ari.after("create_bridge", reply_lost)  # the gate's bridge: wait for the resident's
                return
            bed.ari.caller_hangs_up(GATE)
            await hold.wait()  # the reply never comes back

        bed.ari.after("create_bridge", reply_lost)
        call = bed.call(GATE)
        await bed.visitor_asks_for_renata(call)
        await bed.ended(call)
        assert f"portaria-{call.id}-resident" in {args[0] for args in bed.ari.called("destroy_bridge")}
        assert bed.ari.leftovers() == ([], [])


async def test_a_visitor_who_hangs_up_as_they_are_handed_over_is_a_hang_up_not_an_error() -> None:
    """Seen in the 8-call soak: the channel gone between the decision to hand over and the dialplan."""
    async with gate_bed(concierge="PJSIP/portaria") as bed:
        bed.ari.fail("set_variable", 404, when=lambda channel, name, value: name == "PORTARIA_CONCIERGE")
        call = bed.call(GATE)
        gate = await bed.media(call)
        await bed.turn(call, "PlaybackFinished")
        await gate.speak("quero falar com o porteiro")
        await bed.ended(call)
        assert not bed.events.named("error", call_id=call.id)
        assert [e["via"] for e in bed.events.named("hangup", call_id=call.id)][-1] == "hand_over"
        assert bed.ari.leftovers()[1] == []
