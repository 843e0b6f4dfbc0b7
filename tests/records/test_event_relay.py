"""The per-call events of several instances through a real redis-server: each hears the others', never its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest

from controller.ops.live import LiveCalls
from controller.ops.pages import calls_page
from controller.records.event_relay import RedisEventRelay
from tests.support.poll import eventually
from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = RedisServer()
    server.start()
    yield server.url
    server.stop()


async def test_each_instance_hears_the_others_events_and_not_its_own(redis_url: str) -> None:
    first, second = RedisEventRelay(redis_url, instance="a"), RedisEventRelay(redis_url, instance="b")
    heard_by_first: list[dict[str, Any]] = []
    heard_by_second: list[dict[str, Any]] = []
    first.subscribe(heard_by_first.append)
    second.subscribe(heard_by_second.append)
    first.start()
    second.start()
    async with asyncio.timeout(10):
        await first.subscribed.wait()
        await second.subscribed.wait()
    first.publish({"call_id": "c1", "event": "stasis_start", "leg": "gate", "site": "jardins", "caller": "1000"})
    first.publish({"call_id": "c1", "event": "transcript", "leg": "gate", "text": "Entrega para o 101."})

    async def both() -> bool:
        return len(heard_by_second) >= 2

    await eventually(both, within=10, every=0.02)
    assert [e["event"] for e in heard_by_second] == ["stasis_start", "transcript"]
    assert heard_by_second[0]["instance"] == "a" and heard_by_second[0]["site"] == "jardins"
    assert heard_by_first == [], "an instance's own events reach its console directly, not through Redis"
    await first.aclose()
    await second.aclose()


async def test_another_instance_s_call_shows_on_the_console_without_actions(redis_url: str) -> None:
    first, second = RedisEventRelay(redis_url, instance="a"), RedisEventRelay(redis_url, instance="b")
    live = LiveCalls()
    second.subscribe(live.on_event)
    first.start()
    second.start()
    async with asyncio.timeout(10):
        await second.subscribed.wait()
    first.publish({"call_id": "c9", "event": "stasis_start", "leg": "gate", "ts": "2026-12-04T12:00:00.000+00:00"})

    async def shown() -> bool:
        return bool(live.calls())

    await eventually(shown, within=10, every=0.02)
    page = calls_page(live.calls(), csrf="t", user="portaria", seq=0, zone=UTC)
    assert 'data-call="c9"' in page and "outra instância" in page and "/console/calls/c9/hangup" not in page
    await first.aclose()
    await second.aclose()


async def test_publishing_never_waits_for_a_redis_that_is_away() -> None:
    relay = RedisEventRelay("redis://127.0.0.1:9/0", instance="a")
    relay.start()
    for n in range(2100):
        relay.publish({"call_id": f"c{n}", "event": "say", "leg": "gate", "text": "Olá"})
    assert relay.dropped == 100, "the oldest beyond the bound are dropped and counted"
    await relay.aclose()
