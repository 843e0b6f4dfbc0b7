"""Fixtures for tests against the real Asterisk: a Portaria service running in the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from controller.settings import Settings, load_settings
from controller.wiring import Service
from tests.support.calls import EventWatcher
from tests.support.testbed import REPO, Testbed

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(testbed: Testbed, tmp_path: Path) -> SettingsFactory:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ari_url": testbed.ari_url,
            "ari_password": testbed.ari_password,
            "audiosocket_bind": "127.0.0.1:0",
            "events_file": tmp_path / "events.jsonl",
            "directory": REPO / "data" / "apartamentos.json",
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
async def service(make_settings: SettingsFactory) -> AsyncIterator[Service]:
    running = Service(make_settings())
    await running.start()
    await running.wait_connected()
    yield running
    await running.stop()


@pytest.fixture
async def watcher(service: Service) -> AsyncIterator[EventWatcher]:
    watching = EventWatcher(service)
    yield watching
    watching.close()
