"""A second instance on the same ARI app name, against the real Asterisk: no fight over the app.

Asterisk gives the app to the newest websocket and sends the older one ApplicationReplaced. The older service
must stop (loudly, and not ready) instead of reconnecting, which would take the app back and start a fight.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from controller.ari.client import AriAppReplaced
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory

pytestmark = pytest.mark.asterisk


async def test_the_older_instance_stops_and_the_newer_keeps_the_app(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    app = f"portaria-replace-{uuid.uuid4().hex[:6]}"
    older = Service(make_settings(ari_app=app, resource_journal=tmp_path / "older.jsonl"))
    newer = Service(make_settings(ari_app=app, resource_journal=tmp_path / "newer.jsonl"))
    await older.start()
    try:
        await older.wait_connected()
        await newer.start()
        try:
            await newer.wait_connected()
            with pytest.raises(AriAppReplaced, match="PORTARIA_ARI_APP"):
                async with asyncio.timeout(10):
                    await older.run_until(asyncio.Event())
            assert not older.connected.is_set()
            # The older one does not come back for the app: the newer keeps it through a few heartbeats.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(8):
                    await newer.run_until(asyncio.Event())
            assert newer.connected.is_set()
        finally:
            await newer.stop()
    finally:
        await older.stop()
