"""An apartment's ring list against the real Asterisk: phones in order, each for its own ring time, or all at once.

The phones are the test bed's dialplan residents (context resident-sim): ``noanswer`` rings until it is stopped,
``dtmf-1`` answers at once and presses 1 after 6 s. The visitor's request goes through the real media and
Whisper, read by the local fake model (tests/support/fake_llm.py), as in test_resident.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SettingsFactory
from tests.support.poll import eventually
from tests.support.resident_bed import (
    CALL_GUARD_S,
    audit_rows,
    ended,
    portaria,
    resident,
    until_dialled,
    visitor_calls,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

UNUSED = ("Renata Souza", "PJSIP/unused")  # portaria()'s own directory, replaced by the ring list's


def ring_list(path: Path, phones: list[dict[str, Any]], *, ring_all: bool = False) -> Path:
    entry = {
        "apartment_number": "101",
        "residents": ["Renata Souza"],
        "voip_number": "PJSIP/nobody-here",
        "phones": phones,
        "ring_all": ring_all,
    }
    path.write_text(json.dumps([entry], ensure_ascii=False), encoding="utf-8")
    return path


async def test_the_first_phone_rings_out_for_its_own_time_and_the_second_answers(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    first, second = resident("noanswer", f"f{tag}"), resident("dtmf-1", f"s{tag}")
    phones = [{"endpoint": first, "ring_s": 4}, {"endpoint": second, "ring_s": 30, "name": "Carlos Souza"}]
    directory = ring_list(tmp_path / "ring.json", phones)
    async with portaria(make_settings, tmp_path, UNUSED, directory=directory, ring_timeout_s=60) as (
        service,
        watcher,
        _,
    ):
        call = await visitor_calls(service, watcher)
        dial = await until_dialled(watcher, call)
        assert (dial["endpoint"], dial["timeout_s"]) == (first, 4)
        missed = await watcher.wait_for("resident_unavailable", call_id=call.call_id, timeout=20)
        assert (missed["endpoint"], missed["reason"]) == (first, "no_answer")
        assert 3000 <= missed["ring_ms"] < 20000, "rang for its own 4 s, not the 60 s of the settings"
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
        dials = watcher.find("resident_dial", call_id=call.call_id)
        assert [(d["endpoint"], d["timeout_s"]) for d in dials] == [(first, 4), (second, 30)], "each once"
        answered = watcher.find("resident_answered", call_id=call.call_id)
        assert [(a["endpoint"], a["resident"]) for a in answered] == [(second, "Carlos Souza")]
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["resident"]) == ("authorised", "Carlos Souza")
    assert row["rung"] == f"{first}:no_answer, {second}:answered"


async def test_ring_all_stops_the_other_phones_when_the_first_answers(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    ringing, answering = resident("noanswer", f"r{tag}"), resident("dtmf-1", f"a{tag}")
    directory = ring_list(tmp_path / "ring.json", [{"endpoint": ringing}, {"endpoint": answering}], ring_all=True)
    async with portaria(make_settings, tmp_path, UNUSED, directory=directory) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        await until_dialled(watcher, call)
        answered = await watcher.wait_for("resident_answered", call_id=call.call_id, timeout=30)
        assert answered["endpoint"] == answering
        dials = watcher.find("resident_dial", call_id=call.call_id)
        assert sorted(d["endpoint"] for d in dials) == sorted([ringing, answering]), "both rang at once"
        stopped = f"portaria-resident-{call.call_id}-1"  # the first phone's channel

        async def other_phone_stopped() -> bool:
            present = {channel["id"] for channel in await service.ari.get("channels")}
            return stopped not in present and f"{stopped};2" not in present

        await eventually(other_phone_stopped, within=5)
        assert not watcher.find("call_end", call_id=call.call_id), "stopped while the call goes on"
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["how"]) == ("authorised", "dtmf")
    assert row["rung"] == f"{answering}:answered"
