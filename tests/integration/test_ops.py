"""The operations endpoints against the real Asterisk: /metrics moves with a real call, /readyz goes
503 when Asterisk stops and back to 200 when it returns."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.tools.simulator import SimulatedVisitor, call_gate
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher
from tests.support.testbed import run_testbed

pytestmark = pytest.mark.asterisk


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        body = await (response.json() if response.content_type == "application/json" else response.text())
        return response.status, body


def _values(text: str) -> dict[str, float]:
    return {
        sample.name + "".join(f"{{{v}}}" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.restarts_asterisk
async def test_metrics_move_with_a_call_and_readiness_follows_asterisk(make_settings: SettingsFactory) -> None:
    service = Service(make_settings(console_bind="127.0.0.1:0"))
    await service.start()
    try:
        await service.wait_connected()
        assert service.ops is not None
        base = f"http://127.0.0.1:{service.ops.port}"
        async with aiohttp.ClientSession() as http:
            assert await _get(http, f"{base}/healthz") == (200, {"alive": True})
            status, ready = await _get(http, f"{base}/readyz")
            assert status == 200 and ready["ready"], ready
            assert set(ready["checks"]) == {"ari", "audiosocket", "speech", "audit"}

            watcher = EventWatcher(service)
            try:
                visitor = SimulatedVisitor("visitor-hello", f"t-{uuid.uuid4().hex[:8]}", lead_s=3)
                channel = await call_gate(service.ari, visitor)
                start = await watcher.wait_for("stasis_start", channel=channel["id"], timeout=15)
                await watcher.wait_for("stt_done", call_id=start["call_id"], timeout=60)
                during = _values((await _get(http, f"{base}/metrics"))[1])
                assert during["portaria_calls_active"] == 1
                assert during["portaria_stt_seconds_count"] >= 1
                assert during["portaria_tts_first_audio_seconds_count"] >= 1  # the greeting at least
                await service.asterisk.hang_up(channel["id"])
                await watcher.wait_for("call_end", call_id=start["call_id"], timeout=15)
            finally:
                watcher.close()
            after = _values((await _get(http, f"{base}/metrics"))[1])
            assert after["portaria_calls_active"] == 0 and after["portaria_calls_total"] >= 1
            assert start["call_id"] not in (await _get(http, f"{base}/metrics"))[1]  # no per-call labels

            run_testbed("stop")
            try:
                status, ready = await _get(http, f"{base}/readyz")
                assert status == 503 and not ready["checks"]["ari"]["ok"], ready
                assert ready["checks"]["audiosocket"]["ok"] and ready["checks"]["audit"]["ok"]
            finally:
                service.connected.clear()  # from here, set again only by the reconnection
                run_testbed("start")
            async with asyncio.timeout(30):
                await service.connected.wait()
            status, ready = await _get(http, f"{base}/readyz")
            assert status == 200, ready
            reconnected = _values((await _get(http, f"{base}/metrics"))[1])
            assert reconnected["portaria_ari_reconnects"] >= 1
    finally:
        await service.stop()
