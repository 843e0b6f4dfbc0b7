"""The latency report on the events of a real call through the real Asterisk."""

from __future__ import annotations

import json
import uuid

import pytest

from controller.tools.report import build_report, load_events, main
from controller.tools.simulator import SimulatedVisitor, call_gate
from controller.wiring import Service
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.testbed import Testbed

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]  # one shared service


async def test_report_on_a_real_gate_call(
    service: Service, watcher: EventWatcher, testbed: Testbed, capsys: pytest.CaptureFixture[str]
) -> None:
    visitor = SimulatedVisitor("visitor-farmacia", f"t-{uuid.uuid4().hex[:8]}", lead_s=3)
    channel = await call_gate(service.ari, visitor)
    call_id = (await watcher.wait_for("stasis_start", channel=channel["id"]))["call_id"]
    ended = await watcher.wait_for("speech_end", call_id=call_id, timeout=30)
    await watcher.wait_for("transcript", call_id=call_id, timeout=30)

    async def replied() -> bool:  # the reply's first audio (both its playout start and its synthesis) went out
        after = [e["event"] for e in watcher.for_call(call_id) if e["mono"] > ended["mono"]]
        return "playout_start" in after and "tts_first_audio" in after

    await eventually(replied, within=30)
    await service.ari.delete(f"channels/{channel['id']}")
    await watcher.wait_for("call_end", call_id=call_id)

    events = load_events(service.settings.events_file)
    report = build_report(events, call_id=call_id)
    stages = report.stages
    assert report.calls == [call_id]
    assert stages["turn"]["gate"].count >= 1
    assert stages["endpointing"]["gate"].count >= 1
    assert stages["stt"]["gate"].count >= 1
    assert stages["understanding"]["gate"].count >= 1
    assert stages["tts_first_audio"]["gate"].count >= 2  # the cached greeting and the reply
    assert stages["call"]["all"].count == 1
    turn = stages["turn"]["gate"].min
    assert turn is not None and turn > ended["endpointing_delay_ms"]  # the reply follows the end of the turn
    assert not report.errors.errors and not report.errors.failed

    assert main(["--events", str(service.settings.events_file), "--call", call_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calls"] == [call_id]
    assert data["stages"]["turn"]["gate"]["count"] == stages["turn"]["gate"].count
