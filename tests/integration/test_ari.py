"""Our ARI client against the real Asterisk: typed errors, no leaked credentials, reconnection."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from controller.ari.client import AriAuthError, AriClient, AriConflict, AriConnectionError, AriError, AriNotFound
from controller.wiring import Service
from tests.support.calls import EventWatcher, a_new_call_is_answered
from tests.support.testbed import Testbed, run_testbed

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="module")]  # one shared service


async def test_errors_carry_the_http_status_and_never_the_password(testbed: Testbed) -> None:
    async with AriClient(testbed.ari_url, "portaria", testbed.ari_password, "portaria-test") as ari:
        with pytest.raises(AriNotFound) as missing:
            await ari.get("channels/does-not-exist")
        assert missing.value.status == 404
        assert await ari.delete_quietly("bridges/does-not-exist") is False
        bridge = f"test-{uuid.uuid4().hex[:8]}"
        await ari.post("bridges", type="mixing", bridgeId=bridge)
        try:
            with pytest.raises(AriConflict) as conflict:
                await ari.post("bridges", type="mixing", bridgeId=bridge)
            assert conflict.value.status == 409
            with pytest.raises(AriError) as bad:
                await ari.post(f"bridges/{bridge}/addChannel", channel="nope")
            assert bad.value.status == 400
            assert "Channel not found" in str(bad.value)
        finally:
            assert await ari.delete_quietly(f"bridges/{bridge}") is True
    async with AriClient(testbed.ari_url, "portaria", "wrong-secret-123", "portaria-test") as ari:
        with pytest.raises(AriAuthError) as refused:
            await ari.get("asterisk/info")
        assert refused.value.status == 401
        assert "wrong-secret-123" not in str(refused.value)
        with pytest.raises(AriAuthError):
            await ari.run_events(lambda event: asyncio.sleep(0))
    async with AriClient("http://127.0.0.1:1", "portaria", "wrong-secret-123", "portaria-test") as ari:
        with pytest.raises(AriConnectionError) as unreachable:
            await ari.get("asterisk/info")
        assert isinstance(unreachable.value, ConnectionError)
        assert "wrong-secret-123" not in str(unreachable.value)


@pytest.mark.restarts_asterisk
async def test_the_service_reconnects_after_asterisk_restarts(service: Service, watcher: EventWatcher) -> None:
    service.connected.clear()
    run_testbed("stop")
    run_testbed("start")
    async with asyncio.timeout(30):
        await service.connected.wait()
    await a_new_call_is_answered(service, watcher)
