"""Dependency faults against the real Asterisk: a real redis-server stopped mid-call and started again.

The conversation store is a record, not a dependency: a call goes on, and the gate still opens only on the
resident's yes with its audit row written, while Redis is down; once Redis is back, the next call is stored there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import SettingsFactory
from tests.support.redis_server import RedisServer
from tests.support.resident_bed import (
    audit_rows,
    nothing_of_ours_left,
    running,
    visitor_calls,
    webhook,
    webhook_gate,
)

pytestmark = pytest.mark.asterisk

PHONES = {"101": "Local/say-resident-k-sim+r101+7@resident-sim/n"}  # listens 7 s (the question), says yes
GUARD_S = 60.0


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _stored(server: RedisServer, call_id: str) -> bool:
    with contextlib.closing(redis.Redis.from_url(server.url)) as client:
        return bool(client.exists(f"portaria:conversation:{call_id}"))


async def test_redis_down_mid_call_and_back(
    make_settings: SettingsFactory, tmp_path: Path, redis_server: RedisServer
) -> None:
    async with webhook() as hook:
        settings = webhook_gate(make_settings, tmp_path, PHONES, hook.url, redis_url=redis_server.url)
        async with running(settings) as (service, watcher):
            call = await visitor_calls(service, watcher, first="visitor-demo", second="noise-1s", lead_s=3)
            await watcher.wait_for("resident_dial", call_id=call.call_id, timeout=GUARD_S)
            assert _stored(redis_server, call.call_id)  # the state so far reached Redis
            redis_server.stop()  # the resident answers and says yes while Redis is down
            await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=GUARD_S)
            await watcher.wait_for("call_end", call_id=call.call_id, timeout=GUARD_S)
            await nothing_of_ours_left(service, call)
            assert [row["decision"] for row in audit_rows(tmp_path / "audit.sqlite3", call.call_id)] == ["authorised"]
            assert [r["body"]["call_id"] for r in hook.requests] == [call.call_id]

            redis_server.start()  # back, empty (no persistence): the next call is stored again
            again = await visitor_calls(service, watcher, first="visitor-demo", second="noise-1s", lead_s=3)
            await watcher.wait_for("resident_dial", call_id=again.call_id, timeout=GUARD_S)
            assert _stored(redis_server, again.call_id)
            await service.asterisk.hang_up(again.visitor_channel)
            await watcher.wait_for("call_end", call_id=again.call_id, timeout=GUARD_S)
            await nothing_of_ours_left(service, again)
