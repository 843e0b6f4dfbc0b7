"""A resident's real SIP phone: Portaria rings it through pjsip (sipp as the phone, tests/support/sip.py); the
visitor is the dialplan visitor of tests/integration/test_resident.py. Timeouts are guards, never assertions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import SettingsFactory
from tests.support.resident_bed import (
    CALL_GUARD_S,
    audit_rows,
    ended,
    portaria,
    until_dialled,
    visitor_calls,
)
from tests.support.sip import PHONE_ENDPOINT, ResidentPhone, SipGate
from tests.support.testbed import REPO, Testbed

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

RENATA = "Renata Souza"
FIXTURES = REPO / "tests" / "fixtures" / "audio"


async def _phone_done(phone: asyncio.subprocess.Process) -> None:
    """The phone's whole scenario went through (sipp exit 0)."""
    try:
        _, errors = await asyncio.wait_for(phone.communicate(), 60)
    finally:
        if phone.returncode is None:
            phone.kill()
            await phone.wait()
    assert phone.returncode == 0, errors.decode(errors="replace")[-2000:]


@pytest.mark.parametrize(
    ("phone", "how"),
    [(ResidentPhone(digits="1"), "dtmf"), (ResidentPhone(utterance="resident-k-sim"), "voice")],
    ids=["keypad", "voice"],
)
async def test_a_sip_resident_answers_and_authorises(
    testbed: Testbed, make_settings: SettingsFactory, tmp_path: Path, phone: ResidentPhone, how: str
) -> None:
    sip_phone = await SipGate(testbed, FIXTURES).answer(phone)
    async with portaria(make_settings, tmp_path, (RENATA, PHONE_ENDPOINT)) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        dial = await until_dialled(watcher, call)
        assert dial["endpoint"] == PHONE_ENDPOINT
        await watcher.wait_for("resident_answered", call_id=call.call_id, timeout=30)
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=60)
        await ended(service, watcher, call)
    await _phone_done(sip_phone)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["how"], row["resident"]) == ("authorised", how, RENATA)


@pytest.mark.parametrize(("behaviour", "reason"), [("busy", "busy"), ("noanswer", "no_answer")])
async def test_a_busy_or_silent_sip_phone_is_reported_as_such(
    testbed: Testbed, make_settings: SettingsFactory, tmp_path: Path, behaviour: str, reason: str
) -> None:
    sip_phone = await SipGate(testbed, FIXTURES).answer(ResidentPhone(behaviour))
    async with portaria(
        make_settings, tmp_path, (RENATA, PHONE_ENDPOINT), ring_timeout_s=4, call_attempts=1
    ) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        await until_dialled(watcher, call)
        unavailable = await watcher.wait_for("resident_unavailable", call_id=call.call_id, timeout=CALL_GUARD_S)
        assert unavailable["reason"] == reason
        await watcher.wait_for("call_end", call_id=call.call_id, timeout=CALL_GUARD_S)
    await _phone_done(sip_phone)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert row["decision"] == "no_answer"
    assert not [e for e in watcher.find("gate_opened", call_id=call.call_id)]
