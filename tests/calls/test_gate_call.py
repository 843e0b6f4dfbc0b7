"""GateCall with the fake Asterisk and the real AudioSocket server and media: set-up, events, teardown.

The resident side (dialling, answering, hand-over) is in test_resident_call.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from controller.calls.deps import CallDeps
from controller.calls.stasis import StasisApp
from tests.calls.bed import GREETING, GUARD_S, gate_bed
from tests.calls.fake_asterisk import FakeChannel
from tests.calls.fakes import settle
from tests.support.poll import eventually

GATE = "gate-1"


async def test_a_call_is_answered_bridged_and_the_greeting_reaches_the_caller() -> None:
    async with gate_bed() as bed:
        call, gate = await bed.greeted(GATE)
        media_channel, bridge = f"portaria-media-{call.id}-gate", f"portaria-{call.id}-gate"
        assert bed.ari.methods()[:4] == ["answer", "create_bridge", "external_media", "add_to_bridge"]
        assert bed.ari.called("answer") == [(GATE,)]
        assert bed.ari.called("add_to_bridge") == [(bridge, [GATE, media_channel])]
        [request] = [r for r in bed.ari.requests if r.method == "external_media"]
        assert request.kwargs["host"] == f"127.0.0.1:{bed.server.port}" and request.kwargs["media_format"] == "slin"
        assert bed.ari.live_bridges == {bridge: [GATE, media_channel]}
        assert bed.events.named("say", call_id=call.id)[0]["text"] == GREETING
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)


async def test_the_caller_hanging_up_ends_the_call_and_teardown_removes_everything_it_made() -> None:
    async with gate_bed() as bed:
        call = bed.call(GATE)
        await bed.media(call)
        await bed.turn(call, "PlaybackFinished")
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
        assert bed.ari.leftovers() == ([], [])
        assert f"portaria-media-{call.id}-gate" in {args[0] for args in bed.ari.called("hang_up")}
        assert (GATE,) not in bed.ari.called("hang_up")  # it was gone already
        assert bed.turns(call).count("LegHungUp") == 1  # though Asterisk said so three times, and the media too
        [hangup] = bed.events.named("hangup", call_id=call.id)
        assert hangup["via"] == "ChannelHangupRequest"
        assert bed.events.named("call_end", call_id=call.id)


async def test_malformed_foreign_and_unhandled_events_do_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    async with gate_bed() as bed:
        call = bed.call(GATE)
        await bed.media(call)
        await bed.turn(call, "PlaybackFinished")
        bed.ari.emit("ChannelDtmfReceived", GATE, digit="12")  # malformed: dropped where it is parsed
        bed.ari.emit("ChannelHangupRequest")  # no channel at all
        bed.ari.emit("ChannelVarset", GATE, variable="X", value="1")  # ours, of a kind we do not act on
        bed.ari.emit("ChannelHangupRequest", "someone-else", cause=16)  # another call's channel
        bed.ari.emit("ChannelDtmfReceived", "someone-else", digit="9")
        await bed.ari.drained()
        with caplog.at_level(logging.ERROR, logger="controller.calls.gate_call"):
            call.call.deliver("not an event")  # type: ignore[arg-type]  # a bug upstream: must not deafen the call
            bed.ari.caller_presses(GATE, "7")
            await bed.turn(call, "DtmfReceived")
        assert "cannot handle ARI event str" in caplog.text
        assert len(bed.dropped) == 2
        assert "LegHungUp" not in bed.turns(call)
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
        assert bed.turns(call).count("DtmfReceived") == 1
        assert bed.ari.leftovers() == ([], [])


async def test_a_keypad_digit_reaches_the_conversation_once_though_the_media_carries_a_copy() -> None:
    async with gate_bed() as bed:
        call = bed.call(GATE)
        gate = await bed.media(call)
        await bed.turn(call, "PlaybackFinished")
        gate.press("5")  # the bridge forwards the digit to the AudioSocket too
        await gate.speak("alo", ms=120)  # frames after the digit's: once heard, the digit frame was read
        await bed.turn(call, "SpeechStarted")
        bed.ari.caller_presses(GATE, "5")
        await bed.turn(call, "DtmfReceived")
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
        assert bed.turns(call).count("DtmfReceived") == 1
        assert [e["via"] for e in bed.events.named("dtmf", call_id=call.id)] == ["ari"]
        assert bed.events.named("audio_in", call_id=call.id)[0]["frames"] >= 7  # the digit and the speech arrived


async def test_an_ari_error_when_answering_ends_the_call_with_an_error_and_still_tears_down() -> None:
    async with gate_bed() as bed:
        bed.ari.fail("answer", 500)
        call = bed.call(GATE)
        await bed.ended(call)  # no exception: the error is an event
        [error] = bed.events.named("error", call_id=call.id)
        assert error["stage"] == "call_control" and error["status"] == 500
        assert bed.ari.methods() == ["answer", "hang_up"]
        assert GATE not in bed.ari.live_channels
        assert bed.events.named("call_end", call_id=call.id)


async def test_an_ari_error_while_bridging_still_removes_the_bridge_and_media_channel() -> None:
    async with gate_bed() as bed:
        bed.ari.fail("add_to_bridge", 422)
        call = bed.call(GATE)
        await bed.ended(call)
        assert bed.events.named("error", call_id=call.id)[0]["status"] == 422
        assert bed.ari.called("destroy_bridge") == [(f"portaria-{call.id}-gate",)]
        assert bed.ari.leftovers() == ([], []) and GATE not in bed.ari.live_channels


async def test_media_that_never_connects_times_out_and_tears_down() -> None:
    async with gate_bed(config={"setup_timeout_s": 0.2}) as bed:
        bed.ari.connect_media = False
        call = bed.call(GATE)
        await bed.ended(call)
        assert bed.events.named("error", call_id=call.id)[0]["stage"] == "call_setup"
        assert bed.ari.leftovers() == ([], []) and GATE not in bed.ari.live_channels
        assert not bed.events.named("dialog_turn", call_id=call.id)  # no conversation without media


async def test_a_media_channel_whose_stasis_start_was_lost_is_found_in_asterisk_and_the_call_goes_on() -> None:
    async with gate_bed() as bed:
        bed.ari.media_stasis_start = False  # it fell in an events-websocket gap: a reconnect does not re-send it
        call, gate = await bed.greeted(GATE)
        media_channel = f"portaria-media-{call.id}-gate"
        assert (media_channel,) in bed.ari.called("channel")
        assert bed.ari.live_bridges == {f"portaria-{call.id}-gate": [GATE, media_channel]}
        assert not bed.events.named("error", call_id=call.id)
        bed.ari.caller_hangs_up(GATE)
        await bed.ended(call)
        assert bed.ari.leftovers() == ([], [])


async def test_a_media_channel_that_neither_enters_the_app_nor_exists_ends_the_call_after_the_timeout() -> None:
    async with gate_bed(config={"setup_timeout_s": 0.3}) as bed:
        bed.ari.media_stasis_start = False
        bed.ari.fail("channel", 404)
        call = bed.call(GATE)
        await bed.ended(call)
        assert bed.events.named("error", call_id=call.id)[0]["stage"] == "call_setup"
        assert not bed.ari.called("add_to_bridge")
        assert bed.ari.leftovers() == ([], []) and GATE not in bed.ari.live_channels


async def test_a_caller_who_hangs_up_during_set_up_ends_the_call_cleanly() -> None:
    async with gate_bed() as bed:
        holder: list[object] = []

        async def visitor_leaves(*_: object) -> None:
            running = bed.calls[0]
            bed.ari.caller_hangs_up(GATE)  # just after the bridge is made, before the media has connected
            await asyncio.wait_for(running.call.hung_up.wait(), GUARD_S)
            holder.append(running)

        bed.ari.after("add_to_bridge", visitor_leaves)
        call = bed.call(GATE)
        await bed.ended(call)  # the runner used to raise IllegalTransition (LegHungUp before CallStarted)
        assert holder and bed.turns(call)[:2] == ["CallStarted", "LegHungUp"]
        assert bed.ari.leftovers() == ([], [])


async def test_the_stasis_app_starts_a_call_for_the_gate_and_forgets_it_at_the_end() -> None:
    async with gate_bed() as bed:
        app = StasisApp(bed.ari, lambda gate: bed.deps, "portaria")
        bed.ari.listener = app.handle
        bed.ari.caller_dials_in("visitor-x", args=("other",))  # not for us: ignored
        bed.ari.caller_dials_in("visitor-9")
        async with asyncio.timeout(GUARD_S):
            connected = await bed.events.wait_for("media_connected")
            gate = bed.ari.media[f"portaria-media-{connected['call_id']}-gate"]
            await gate.wait_heard(GREETING)
        assert app.active_calls == 1
        assert [e["channel"] for e in bed.events.named("stasis_start")] == ["visitor-9"]
        bed.ari.caller_hangs_up("visitor-9")
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("call_end", call_id=connected["call_id"])
        await settle()
        assert app.active_calls == 0
        assert bed.ari.leftovers() == ([], [])
        await app.shutdown()


async def test_each_gate_key_gets_its_own_deps_and_an_unknown_gate_is_handed_to_a_person() -> None:
    """With a sites file, a gate nobody configured must not leave its caller in silence: the fallback context."""
    async with gate_bed() as bed:
        asked: list[str] = []

        def deps_for(gate: str) -> CallDeps | None:
            asked.append(gate)
            return replace(bed.deps, site="jardins", gate=gate) if gate in ("4001", "") else None

        app = StasisApp(bed.ari, deps_for, "portaria", fallback_context="central")
        bed.ari.listener = app.handle
        bed.ari.caller_dials_in("visitor-a", args=("gate", "4001"))
        bed.ari.caller_dials_in("visitor-b", args=("gate", "9999"))
        async with asyncio.timeout(GUARD_S):
            started = await bed.events.wait_for("stasis_start", channel="visitor-a")

            async def handed_over() -> bool:
                return bool(bed.ari.called("continue_in_dialplan"))

            await eventually(handed_over, within=GUARD_S, every=0.01)
        assert asked == ["4001", "9999"]
        assert (started["site"], started["gate"]) == ("jardins", "4001")
        assert bed.ari.called("continue_in_dialplan") == [("visitor-b", "central", "s", 1)]
        assert app.active_calls == 1 and not bed.events.named("stasis_start", channel="visitor-b")
        bed.ari.caller_hangs_up("visitor-a")
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("call_end", call_id=started["call_id"])
        await app.shutdown()


async def test_after_a_reconnect_the_app_ends_calls_that_ended_meanwhile_and_takes_visitors_who_called() -> None:
    """Events of the websocket's gap are lost: a caller who hung up then, and one who dialled in then."""
    async with gate_bed() as bed:
        app = StasisApp(bed.ari, lambda gate: bed.deps, "portaria")
        bed.ari.listener = app.handle
        bed.ari.caller_dials_in("visitor-1")
        async with asyncio.timeout(GUARD_S):
            first = await bed.events.wait_for("media_connected")
        bed.ari.live_channels.pop("visitor-1")  # hung up while the socket was down: no event reached us
        bed.ari.caller_in_stasis("visitor-2")  # dialled in meanwhile: its StasisStart was lost
        await app.on_connect(reconnected=True)
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("call_end", call_id=first["call_id"])
            second = await bed.events.wait_for("stasis_start", channel="visitor-2")
            await bed.events.wait_for("media_connected", call_id=second["call_id"])
        assert app.active_calls == 1
        await app.on_connect(reconnected=True)  # nothing missed this time: the call goes on, no second copy
        assert app.active_calls == 1
        bed.ari.caller_hangs_up("visitor-2")
        async with asyncio.timeout(GUARD_S):
            await bed.events.wait_for("call_end", call_id=second["call_id"])
        await settle()
        assert app.active_calls == 0
        await app.shutdown()


async def test_a_resident_channel_whose_call_no_longer_waits_is_hung_up_not_left_in_stasis() -> None:
    """Its StasisStart (or, after a reconnect, its presence in our app) names a call that is not running."""
    async with gate_bed() as bed:
        app = StasisApp(bed.ari, lambda gate: bed.deps, "portaria")
        bed.ari.listener = app.handle
        bed.ari.caller_dials_in("portaria-resident-gone-1", args=("resident", "gone"))
        bed.ari.live_channels["portaria-resident-gone-2"] = FakeChannel("portaria-resident-gone-2")  # answered in a gap
        await settle()
        await app.on_connect(reconnected=True)
        await settle()
        hung_up = [args[0] for args in bed.ari.called("hang_up")]
        assert sorted(hung_up) == ["portaria-resident-gone-1", "portaria-resident-gone-2"]
        assert not bed.events.named("stasis_start")
        assert app.active_calls == 0
        await app.shutdown()
