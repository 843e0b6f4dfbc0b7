"""The resident phase of real gate calls against the real Asterisk.

A simulated visitor speaks committed fixtures through the real media and Whisper; the language model is a local
fake at its HTTP boundary (tests/support/fake_llm.py) so the visitor phase reliably reaches CallResident.
Residents are dialplan phones (context resident-sim): they answer and press keys or speak, never answer, or are
busy. Every scenario ends with nothing of ours left in Asterisk. Timeouts are guards, never assertions.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.resident_bed import (
    CALL_GUARD_S,
    GateCallHandle,
    audit_rows,
    ended,
    gate_side,
    nothing_of_ours_left,
    portaria,
    resident,
    until_dialled,
    visitor_calls,
    webhook,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

RENATA, CARLOS = "Renata Souza", "Carlos Souza"
DENIED = "Desculpe, a entrada não foi autorizada. Até logo."


def _names(watcher: EventWatcher, call: GateCallHandle) -> list[str]:
    return [e["event"] for e in watcher.for_call(call.call_id)]


# Yes: the gate opens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["dtmf-1", "say-resident-sim"], ids=["dtmf", "voice"])
async def test_resident_says_yes_and_the_gate_opens_by_dtmf(
    make_settings: SettingsFactory, tmp_path: Path, behaviour: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with portaria(make_settings, tmp_path, (RENATA, resident(behaviour, tag)), gate_dtmf="#") as (
        service,
        watcher,
        _,
    ):
        async with gate_side(service.settings) as side:
            call = await visitor_calls(service, watcher)
            await side.subscribe(call.visitor_channel)
            dial = await until_dialled(watcher, call)
            assert dial["endpoint"] == resident(behaviour, tag)
            await watcher.wait_for("resident_answered", call_id=call.call_id, timeout=30)
            await watcher.wait_for("audit_written", call_id=call.call_id, timeout=40)
            await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=15)
            await side.wait_dtmf(call.visitor_channel, "#")  # the intercom side got the door code
            await ended(service, watcher, call)
        names = _names(watcher, call)
        assert names.index("audit_written") < names.index("gate_opened")
        [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
        assert row["decision"] == "authorised"
        assert row["how"] == ("dtmf" if behaviour.startswith("dtmf") else "voice")
        assert (row["visitor_name"], row["intent"], row["apartment"], row["resident"]) == (
            "João",
            "entrega",
            "101",
            RENATA,
        )
        assert row["gate_channel"] == call.gate_channel
        assert row["resident_channel"].startswith(f"portaria-resident-{call.call_id}")


async def test_resident_presses_1_and_the_http_opener_calls_the_webhook(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with webhook() as hook:
        async with portaria(
            make_settings,
            tmp_path,
            (RENATA, resident("dtmf-1", tag)),
            gate_opener="http",
            gate_http_preset="webhook",
            gate_http_url=hook.url,
        ) as (service, watcher, _):
            call = await visitor_calls(service, watcher)
            await until_dialled(watcher, call)
            await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=60)
            await ended(service, watcher, call)
    [request] = hook.requests
    assert request["method"] == "POST"
    assert request["body"]["event"] == "open_gate"
    assert request["body"]["call_id"] == call.call_id
    assert request["body"]["apartment"] == "101"
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["how"]) == ("authorised", "dtmf")


# No: the gate stays shut --------------------------------------------------------------------------------------


# The voice "no" is the Kokoro one (tests/fixtures/audio/make_call_fixtures.py): the espeak "não" sits at the edge
# of what Whisper base hears, and was heard as "Deu um autorivo." on 2 x AMD EPYC.
@pytest.mark.parametrize("behaviour", ["dtmf-2", "say-resident-k-nao"], ids=["dtmf", "voice"])
async def test_resident_says_no_and_the_visitor_is_told(
    make_settings: SettingsFactory, tmp_path: Path, behaviour: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with portaria(make_settings, tmp_path, (RENATA, resident(behaviour, tag))) as (service, watcher, _):
        async with gate_side(service.settings) as side:
            call = await visitor_calls(service, watcher)
            await side.subscribe(call.visitor_channel)
            await until_dialled(watcher, call)
            told = await watcher.wait_for("say", call_id=call.call_id, leg="gate", text=DENIED, timeout=60)
            assert told["protected"] is True
            await ended(service, watcher, call)
            assert side.dtmf(call.visitor_channel) == ""
        assert not watcher.find("gate_opened", call_id=call.call_id)
        [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
        assert row["decision"] == "denied"
        assert row["how"] == ("dtmf" if behaviour.startswith("dtmf") else "voice")


# 3: visitor and resident talk ---------------------------------------------------------------------------------


async def test_resident_presses_3_and_talks_with_the_visitor(make_settings: SettingsFactory, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    async with portaria(make_settings, tmp_path, (RENATA, resident("dtmf-3", tag))) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        await until_dialled(watcher, call)
        bridged = await watcher.wait_for("callers_bridged", call_id=call.call_id, timeout=60)
        bridge = await service.ari.get(f"bridges/{bridged['bridge']}")
        members = set(bridge["channels"])
        resident_channel = next(c for c in members if c.startswith(f"portaria-resident-{call.call_id}"))
        assert members == {call.gate_channel, resident_channel}, "only the two callers: our media legs left"
        await service.ari.delete(f"channels/{resident_channel}")  # the resident hangs up
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert row["decision"] == "talked"
    assert not watcher.find("gate_opened", call_id=call.call_id)


# Nobody answers, busy -----------------------------------------------------------------------------------------


async def test_no_answer_on_every_attempt_goes_to_the_next_resident_then_the_concierge(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    concierge = resident("dtmf-9", f"{tag}c")
    async with portaria(
        make_settings,
        tmp_path,
        (RENATA, resident("noanswer", f"{tag}r")),
        (CARLOS, resident("noanswer", f"{tag}k")),
        ring_timeout_s=3,
        call_attempts=1,
        concierge_endpoint=concierge,
    ) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        await until_dialled(watcher, call)
        fallback = await watcher.wait_for("fallback", call_id=call.call_id, timeout=60)
        assert fallback["reason"] == "no_answer"
        dials = watcher.find("resident_dial", call_id=call.call_id)
        assert [d["endpoint"] for d in dials] == [resident("noanswer", f"{tag}r"), resident("noanswer", f"{tag}k")]
        unavailable = watcher.find("resident_unavailable", call_id=call.call_id)
        assert [u["reason"] for u in unavailable] == ["no_answer", "no_answer"]
        await watcher.wait_for("call_end", call_id=call.call_id, timeout=30)

        # The visitor is in the dialplan's hand-over context, dialling the concierge; our bridges and media are gone.
        async def handed_over() -> bool:
            channels = await service.ari.get("channels")
            return any(f"+{tag}c@resident-sim" in c["name"] for c in channels)

        await eventually(handed_over)
        gate = await service.ari.get(f"channels/{call.gate_channel}")
        assert gate["dialplan"]["context"] == "portaria-fallback"
        bridges = await service.ari.get("bridges")
        assert not [b for b in bridges if call.call_id in b["id"]]

        async def media_gone() -> bool:  # hung up before call_end; Asterisk lists a channel until it is destroyed
            return not [c for c in await service.ari.get("channels") if call.call_id in c["id"]]

        await eventually(media_gone, within=5)
        await service.ari.delete(f"channels/{call.gate_channel}")
        await nothing_of_ours_left(service, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert row["decision"] == "no_answer"


async def test_a_busy_resident_is_reported_busy_and_the_next_one_is_called(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with portaria(
        make_settings,
        tmp_path,
        (RENATA, resident("busy", f"{tag}r")),
        (CARLOS, resident("dtmf-2", f"{tag}k")),
        call_attempts=1,
    ) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        await until_dialled(watcher, call)
        busy = await watcher.wait_for("resident_unavailable", call_id=call.call_id, timeout=30)
        assert busy["reason"] == "busy", busy
        second = await watcher.wait_for(
            "resident_dial", call_id=call.call_id, endpoint=resident("dtmf-2", f"{tag}k"), timeout=30
        )
        assert second["attempt"] == 1
        await watcher.wait_for("resident_answered", call_id=call.call_id, timeout=30)
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["resident"]) == ("denied", CARLOS)


# Hang-ups and failures ----------------------------------------------------------------------------------------


async def test_visitor_hangs_up_while_the_resident_phone_rings(make_settings: SettingsFactory, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    async with portaria(make_settings, tmp_path, (RENATA, resident("noanswer", tag)), ring_timeout_s=60) as (
        service,
        watcher,
        _,
    ):
        call = await visitor_calls(service, watcher)
        dial = await until_dialled(watcher, call)
        assert dial["timeout_s"] == 60

        async def ringing() -> bool:
            channels = await service.ari.get("channels")
            return any(c["id"].startswith(f"portaria-resident-{call.call_id}") for c in channels)

        await eventually(ringing)
        await service.ari.delete(f"channels/{call.visitor_channel}")  # the visitor hangs up at the gate
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert row["decision"] == "abandoned"


async def test_an_unwritable_audit_store_keeps_the_gate_shut(make_settings: SettingsFactory, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file where the audit directory should be")
    async with webhook() as hook:
        async with portaria(
            make_settings,
            tmp_path,
            (RENATA, resident("dtmf-1", tag)),
            audit_db=blocker / "audit.sqlite3",
        ) as (service, watcher, _):
            async with gate_side(service.settings) as side:
                call = await visitor_calls(service, watcher)
                await side.subscribe(call.visitor_channel)
                await until_dialled(watcher, call)
                failed = await watcher.wait_for("audit_failed", call_id=call.call_id, timeout=60)
                assert failed["decision"] == "authorised"
                told = await watcher.wait_for("say", call_id=call.call_id, leg="gate", protected=True, timeout=15)
                assert told["text"].startswith("Desculpe, tive um problema e não posso liberar a entrada")
                await ended(service, watcher, call)
                assert side.dtmf(call.visitor_channel) == ""
        assert not watcher.find("gate_opened", call_id=call.call_id)
        assert not hook.requests


# Concurrency --------------------------------------------------------------------------------------------------


async def test_two_gate_calls_at_once_do_not_interfere(make_settings: SettingsFactory, tmp_path: Path) -> None:
    """Two visitors for 101 at the same time, both rung to Renata's (simulated) phone, which says yes each time:
    each call has its own resident channel, bridges, media, audit row, and door code on its own gate."""
    tag = uuid.uuid4().hex[:8]
    async with portaria(make_settings, tmp_path, (RENATA, resident("dtmf-1", tag))) as (service, watcher, _):
        async with gate_side(service.settings) as side:
            calls = list(await asyncio.gather(visitor_calls(service, watcher), visitor_calls(service, watcher)))
            for call in calls:
                await side.subscribe(call.visitor_channel)
            assert calls[0].call_id != calls[1].call_id
            for call in calls:
                await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
            for call in calls:
                await side.wait_dtmf(call.visitor_channel, "#")
                await ended(service, watcher, call)
            for call in calls:
                assert side.dtmf(call.visitor_channel) == "#", "each gate got its own door code, once"
        residents = {e["call_id"]: e for e in watcher.events if e["event"] == "resident_answered"}
        assert set(residents) == {c.call_id for c in calls}
        for call in calls:
            [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
            assert row["decision"] == "authorised"
            assert row["gate_channel"] == call.gate_channel
