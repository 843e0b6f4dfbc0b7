"""A real SIP intercom at the gate: sipp calls Asterisk's pjsip `gate`-style endpoints with RTP in G.711 and G.722
and keypad digits in each DTMF mode (tests/support/sip.py; endpoints in tests/asterisk/pjsip-test.conf)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from controller.ari.client import AriError
from controller.tools.scoring import normalize
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.resident_bed import audit_rows, resident, running, sample_with_phones
from tests.support.rtp_listen import RtpListener, inband_digits
from tests.support.rtp_pcap import Impairment
from tests.support.sip import Intercom, SipGate, open_ear
from tests.support.testbed import REPO, Testbed

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

APP = "portaria-sip"  # from-gate-sip hands the intercoms' calls to this app
FIXTURES = REPO / "tests" / "fixtures" / "audio"


@asynccontextmanager
async def intercom_call(
    testbed: Testbed,
    service: Service,
    watcher: EventWatcher,
    intercom: Intercom,
    *,
    gate: SipGate | None = None,
    ear: RtpListener | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """Place the intercom's call; yields (call id, gate channel id) once it is in Stasis. On the way out the
    channel is hung up (BYE to sipp), and sipp must then have seen its whole scenario go through."""
    sipp = await (gate or SipGate(testbed, FIXTURES)).call(intercom, ear=ear)
    try:
        start = await watcher.wait_for("stasis_start", timeout=20)
        yield start["call_id"], start["channel"]
        with contextlib.suppress(AriError):  # the concierge may have ended the call already
            await service.ari.delete(f"channels/{start['channel']}")
        _, errors = await asyncio.wait_for(sipp.communicate(), 30)
        assert sipp.returncode == 0, errors.decode(errors="replace")[-2000:]
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()


def native_format(testbed: Testbed, channel_name: str) -> str:
    shown = testbed.cli(f"core show channel {channel_name}")
    match = re.search(r"NativeFormats:\s*\(([^)]*)\)", shown)
    assert match is not None, shown
    return match.group(1)


@pytest.mark.parametrize(("codec", "media_format"), [("ulaw", "slin"), ("alaw", "slin"), ("g722", "slin16")])
async def test_a_sip_intercom_call_in_each_codec_is_heard_and_answered(
    testbed: Testbed, make_settings: SettingsFactory, codec: str, media_format: str
) -> None:
    settings = make_settings(ari_app=APP, media_format=media_format)
    async with running(settings) as (service, watcher):
        intercom = Intercom(f"sipgate-{codec}", codec, utterance="visitor-k-entrega-101")
        async with intercom_call(testbed, service, watcher, intercom) as (call_id, channel_id):
            channel = await service.ari.get(f"channels/{channel_id}")
            assert channel["name"].startswith(f"PJSIP/sipgate-{codec}-")
            assert native_format(testbed, channel["name"]) == codec
            connected = await watcher.wait_for("media_connected", call_id=call_id, leg="gate")
            assert connected["format"] == media_format  # G.722 is a 16 kHz leg end to end when asked
            heard = await watcher.wait_for("transcript", call_id=call_id, timeout=60)
            assert "entrega" in normalize(heard["text"]), heard["text"]
            reply = await watcher.wait_for("dialog_turn", call_id=call_id, input="UtteranceHeard", timeout=30)
            assert "Say" in reply["actions"], reply


@pytest.mark.parametrize("mode", ["rfc4733", "info", "inband"])
async def test_keypad_digits_arrive_in_each_dtmf_mode(
    testbed: Testbed, make_settings: SettingsFactory, mode: str
) -> None:
    async with running(make_settings(ari_app=APP)) as (service, watcher):
        endpoint = {"rfc4733": "sipgate-ulaw", "info": "sipgate-info", "inband": "sipgate-inband"}[mode]
        intercom = Intercom(endpoint, "ulaw", digits="101", dtmf=mode, lead_s=3.0)
        async with intercom_call(testbed, service, watcher, intercom) as (call_id, _):

            def keyed() -> str:
                return "".join(e["digit"] for e in watcher.find("dtmf", call_id=call_id))

            async def three_keys() -> bool:
                return len(keyed()) >= 3

            await eventually(three_keys, within=40)
            assert keyed() == "101"
            assert all(e["via"] == "ari" for e in watcher.find("dtmf", call_id=call_id))


async def test_a_whole_visit_over_a_street_side_network_ends_with_the_right_decision(
    testbed: Testbed, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """20 +- 15 ms of jitter, 2 % loss and the reordering they make, on the intercom's RTP (in the pcap's send
    times: this kernel has no netem); the gate endpoint's adaptive jitter buffer is on (from-gate-sip)."""
    tag = uuid.uuid4().hex[:8]
    settings = make_settings(
        ari_app=APP,
        directory=sample_with_phones(tmp_path / "directory.json", {"101": resident("dtmf-1", tag)}),
        audit_db=tmp_path / "audit.sqlite3",
    )
    async with running(settings) as (service, watcher):
        gate = SipGate(testbed, FIXTURES)
        intercom = Intercom("sipgate-ulaw", utterance="visitor-k-entrega-101", impairment=Impairment())
        async with intercom_call(testbed, service, watcher, intercom, gate=gate) as (call_id, _):
            assert gate.sent is not None and gate.sent.lost > 0 and gate.sent.reordered > 0
            heard = await watcher.wait_for("transcript", call_id=call_id, timeout=60)
            assert "entrega" in normalize(heard["text"]), heard["text"]
            await watcher.wait_for("resident_answered", call_id=call_id, timeout=60)
            await watcher.wait_for("gate_opened", call_id=call_id, timeout=60)
        [row] = audit_rows(tmp_path / "audit.sqlite3", call_id)
        assert (row["decision"], row["apartment"]) == ("authorised", "101")


DOOR_CODE = "*73#"


@pytest.mark.parametrize("mode", ["rfc4733", "info", "inband"])
async def test_the_door_code_reaches_the_intercom_in_its_dtmf_mode(
    testbed: Testbed, make_settings: SettingsFactory, tmp_path: Path, mode: str
) -> None:
    """The gate opener's digits (`PORTARIA_GATE_OPENER=dtmf`) as the intercom receives them, after the
    resident's yes and not before: RFC 4733 events in the RTP Asterisk sends it, SIP INFO requests, or tones in
    that audio, by the endpoint's `dtmf_mode`."""
    tag = uuid.uuid4().hex[:8]
    settings = make_settings(
        ari_app=APP,
        directory=sample_with_phones(tmp_path / "directory.json", {"101": resident("dtmf-1", tag)}),
        audit_db=tmp_path / "audit.sqlite3",
        gate_opener="dtmf",
        gate_dtmf=DOOR_CODE,
    )
    endpoint = {"rfc4733": "sipgate-ulaw", "info": "sipgate-info", "inband": "sipgate-inband"}[mode]
    intercom = Intercom(endpoint, utterance="visitor-k-entrega-101", door_info=len(DOOR_CODE) * (mode == "info"))
    gate, ear = SipGate(testbed, FIXTURES), await open_ear()
    try:
        async with running(settings) as (service, watcher):
            async with intercom_call(testbed, service, watcher, intercom, gate=gate, ear=ear) as (call_id, _):
                yes = await watcher.wait_for("dtmf", call_id=call_id, leg="resident", timeout=90)
                await watcher.wait_for("gate_opened", call_id=call_id, timeout=30)

                def door_code(since: float, until: float = math.inf) -> str:
                    if mode == "rfc4733":
                        return ear.events(since, until)
                    return inband_digits(ear.audio(since, until)) if mode == "inband" else ""

                async def heard() -> bool:
                    return DOOR_CODE in door_code(yes["mono"]) or mode == "info"

                await eventually(heard, within=15)
                assert door_code(yes["mono"]) == DOOR_CODE * (mode != "info")
                assert door_code(-math.inf, yes["mono"]) == ""
                assert len(ear.audio()) > 8000 * 3  # it heard the concierge too: the RTP really came here
    finally:
        ear.close()
    # sipp answered exactly the code's INFO requests before the BYE (it exits non-zero otherwise)
    assert gate.info_digits() == DOOR_CODE * (mode == "info")
    [row] = audit_rows(tmp_path / "audit.sqlite3", call_id)
    assert row["decision"] == "authorised"


async def test_past_the_call_limit_a_sip_intercom_hears_ringing_until_a_place_frees(
    testbed: Testbed, make_settings: SettingsFactory
) -> None:
    """PORTARIA_MAX_CALLS=1: the second intercom is not answered but gets 180 Ringing (its own SIP trace says so;
    Asterisk still shows the channel in state Ring), and the first call's end gives it the place: answered,
    greeted."""
    settings = make_settings(ari_app=APP, max_calls=1, queue_wait_s=60)
    async with running(settings) as (service, watcher):
        first_gate, second_gate = SipGate(testbed, FIXTURES), SipGate(testbed, FIXTURES)
        calls = [await first_gate.call(Intercom("sipgate-ulaw", "ulaw", lead_s=0.2))]
        try:
            first = await watcher.wait_for("stasis_start", timeout=20)
            await watcher.wait_for("media_connected", call_id=first["call_id"], timeout=20)
            calls.append(await second_gate.call(Intercom("sipgate-alaw", "alaw", lead_s=0.2)))
            queued = await watcher.wait_for("call_queued", timeout=20)

            work = second_gate.work
            assert work is not None

            async def ringing() -> bool:
                return "SIP/2.0 180 Ringing" in (work / "messages.log").read_text(errors="replace")  # noqa: ASYNC240

            await eventually(ringing, within=10)  # what the intercom itself received, while it waits
            assert str((await service.ari.get(f"channels/{queued['channel']}"))["state"]) == "Ring"  # not answered
            assert not watcher.find("stasis_start", call_id=queued["call_id"])
            await asyncio.sleep(1)  # as below: the first intercom waits for our BYE by now
            await service.ari.delete(f"channels/{first['channel']}")

            await watcher.wait_for("stasis_start", call_id=queued["call_id"], timeout=20)
            await watcher.wait_for("media_connected", call_id=queued["call_id"], timeout=20)
            said = await watcher.wait_for("say", call_id=queued["call_id"], timeout=20)
            assert said["text"] == settings.greeting
            assert str((await service.ari.get(f"channels/{queued['channel']}"))["state"]) == "Up"
            [left] = watcher.find("queue_left", call_id=queued["call_id"])
            assert left["outcome"] == "admitted"
            await asyncio.sleep(1)  # its scenario past the lead-in, waiting for our BYE (one sooner aborts sipp)
            await service.ari.delete(f"channels/{queued['channel']}")
            await watcher.wait_for("call_end", call_id=queued["call_id"], timeout=20)
            for sipp in calls:
                _, errors = await asyncio.wait_for(sipp.communicate(), 30)
                assert sipp.returncode == 0, errors.decode(errors="replace")[-2000:]
            trace = (work / "messages.log").read_text(errors="replace")
            ringing_at, answered_at = trace.find("SIP/2.0 180 Ringing"), trace.find("SIP/2.0 200 OK")
            assert 0 <= ringing_at < answered_at, trace[-3000:]
        finally:
            for sipp in calls:
                if sipp.returncode is None:
                    sipp.kill()
                    await sipp.wait()
