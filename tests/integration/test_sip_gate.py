"""A real SIP intercom at the gate: sipp calls Asterisk's pjsip `gate`-style endpoints with RTP in G.711 and G.722
and keypad digits in each DTMF mode (tests/support/sip.py; endpoints in tests/asterisk/pjsip-test.conf)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from controller.tools.scoring import normalize
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.resident_bed import running
from tests.support.sip import Intercom, SipGate
from tests.support.testbed import REPO, Testbed

pytestmark = [pytest.mark.asterisk]

APP = "portaria-sip"  # from-gate-sip hands the intercoms' calls to this app
FIXTURES = REPO / "tests" / "fixtures" / "audio"


@asynccontextmanager
async def intercom_call(
    testbed: Testbed, service: Service, watcher: EventWatcher, intercom: Intercom
) -> AsyncIterator[tuple[str, str]]:
    """Place the intercom's call; yields (call id, gate channel id) once it is in Stasis. On the way out the
    channel is hung up (BYE to sipp), and sipp must then have seen its whole scenario go through."""
    sipp = await SipGate(testbed, FIXTURES).call(intercom)
    try:
        start = await watcher.wait_for("stasis_start", timeout=20)
        yield start["call_id"], start["channel"]
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
