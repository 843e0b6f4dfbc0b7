"""The operations endpoints against the real Asterisk: /metrics moves with a real call, /readyz goes
503 when Asterisk stops and back to 200 when it returns."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from pathlib import Path
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


async def _drain(notify: socket.socket, heard: set[bytes], both: asyncio.Event) -> None:
    notify.setblocking(False)
    loop = asyncio.get_running_loop()
    while True:
        heard.add(await loop.sock_recv(notify, 100))
        if {b"READY=1", b"WATCHDOG=1"} <= heard:
            both.set()


@pytest.mark.restarts_asterisk
async def test_metrics_move_with_a_call_and_readiness_follows_asterisk(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under a systemd unit with Type=notify and WatchdogSec=: READY=1 once connected, then the pings.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "600000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    heard: set[bytes] = set()
    both = asyncio.Event()
    draining = asyncio.create_task(_drain(notify, heard, both))  # systemd keeps reading; so does this test
    service = Service(make_settings(console_bind="127.0.0.1:0"))
    await service.start()
    try:
        await service.wait_connected()
        await asyncio.wait_for(both.wait(), 10)
        assert service.ops is not None
        base = f"http://127.0.0.1:{service.ops.port}"
        async with aiohttp.ClientSession() as http:
            assert await _get(http, f"{base}/healthz") == (200, {"alive": True})
            status, ready = await _get(http, f"{base}/readyz")
            assert status == 200 and ready["ready"], ready
            assert set(ready["checks"]) == {"ari", "audiosocket", "speech", "audit"}
            # Another writer holding the audit log's lock (a backup tool, a stuck shell): no decision could be
            # written, so not ready; and ready again once it lets go.
            other = sqlite3.connect(service.settings.audit_db, isolation_level=None)
            try:
                other.execute("BEGIN EXCLUSIVE")
                status, ready = await _get(http, f"{base}/readyz")
                assert status == 503 and not ready["checks"]["audit"]["ok"], ready
                assert "locked" in ready["checks"]["audit"]["detail"] and ready["checks"]["ari"]["ok"]
            finally:
                other.close()
            assert (await _get(http, f"{base}/readyz"))[0] == 200

            watcher = EventWatcher(service)
            try:
                visitor = SimulatedVisitor("visitor-hello", f"t-{uuid.uuid4().hex[:8]}", lead_s=3)
                channel = await call_gate(service.ari, visitor)
                start = await watcher.wait_for("stasis_start", channel=channel["id"], timeout=15)
                await watcher.wait_for("stt_done", call_id=start["call_id"], timeout=60)
                during = _values((await _get(http, f"{base}/metrics"))[1])
                assert during["portaria_calls_active"] == 1
                assert during["portaria_stt_seconds_count"] >= 1
                # The greeting at least: synthesized, or said from the prompt cache (counted apart).
                assert during["portaria_tts_first_audio_seconds_count"] + during["portaria_tts_cached_total"] >= 1
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
        draining.cancel()
        notify.close()
