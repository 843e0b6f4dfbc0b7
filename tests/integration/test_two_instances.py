"""Two controllers sharing one Redis and one PostgreSQL, against the real Asterisk: one log of both, and one
killed instance costs only its own calls.

Each instance serves its own Asterisk: instance A runs as its own process (``python -m controller run``, so it
can be killed with SIGKILL) on the second test bed Asterisk, instance B in the test's event loop on the first.
Both keep conversation state in one real redis-server, relay their calls' events through it (each console shows
the other's calls), and write decisions to one real PostgreSQL. Visitors speak the Kokoro clips; the offline
rules read them (no language model).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.ari.client import AriClient
from controller.records.audit_pg import PostgresAuditLog
from tests.integration.conftest import SettingsFactory
from tests.support.calls import events_file
from tests.support.poll import eventually
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.resident_bed import (
    CALL_GUARD_S,
    GATE_CONTEXTS,
    ended,
    resident,
    running,
    sample_with_phones,
    until_dialled,
    visitor_calls,
)
from tests.support.testbed import REPO, Testbed

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

A, B = "portaria-multi-a", "portaria-multi-b"


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(Redis URL, PostgreSQL URL), real servers of this test."""
    redis, postgres = RedisServer(), PostgresServer()
    redis.start()
    try:
        postgres.start()
        try:
            yield redis.url, postgres.url
        finally:
            postgres.remove()
    finally:
        redis.stop()


async def _event(path: Path, name: str, **match: Any) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def seen() -> bool:
        found[:] = [e for e in events_file(path) if e["event"] == name and all(e.get(k) == v for k, v in match.items())]
        return bool(found)

    await eventually(seen, within=CALL_GUARD_S)
    return found[0]


async def test_two_instances_share_one_log_and_a_killed_one_leaves_the_other_s_calls_untouched(
    testbed: Testbed,
    second_testbed: Testbed,
    make_settings: SettingsFactory,
    tmp_path: Path,
    shared: tuple[str, str],
) -> None:
    redis_url, database_url = shared
    tag = uuid.uuid4().hex[:8]
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a_phones = {"101": resident("dtmf-1", f"a1{tag}"), "202": resident("noanswer", f"a2{tag}")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTARIA_")} | {
        "PORTARIA_ARI_URL": second_testbed.ari_url,
        "PORTARIA_ARI_PASSWORD": second_testbed.ari_password,
        "PORTARIA_ARI_APP": A,
        "PORTARIA_AUDIOSOCKET_BIND": "127.0.0.1:0",
        "PORTARIA_DIRECTORY": str(sample_with_phones(a_dir / "directory.json", a_phones)),
        "PORTARIA_EVENTS_FILE": str(a_dir / "events.jsonl"),
        "PORTARIA_RESOURCE_JOURNAL": str(a_dir / "resources.jsonl"),
        "PORTARIA_GATE_NAME": "portao-a",
        "PORTARIA_REDIS_URL": redis_url,
        "PORTARIA_DATABASE_URL": database_url,
        "PORTARIA_RING_TIMEOUT_S": "60",
        "PORTARIA_STT_TIMEOUT_S": "30",
        "PORTARIA_TTS_TIMEOUT_S": "30",
    }
    first = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "run",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    settings = make_settings(
        ari_app=B,
        directory=sample_with_phones(b_dir / "directory.json", {"101": resident("dtmf-1", f"b1{tag}")}),
        events_file=b_dir / "events.jsonl",
        resource_journal=b_dir / "resources.jsonl",
        audit_db=b_dir / "audit.sqlite3",
        gate_name="portao-b",
        redis_url=redis_url,
        database_url=database_url,
    )
    assert testbed.ari_url != second_testbed.ari_url
    a_asterisk = AriClient(second_testbed.ari_url, "portaria", second_testbed.ari_password, A)
    await a_asterisk.open()
    try:
        async with running(settings) as (service, watcher):

            async def a_ready() -> bool:
                return A in [app["name"] for app in await a_asterisk.get("applications")]

            await eventually(a_ready, within=CALL_GUARD_S)

            tags: list[str] = []

            def starts() -> list[dict[str, Any]]:
                return [e for e in events_file(a_dir / "events.jsonl") if e["event"] == "stasis_start"]

            async def call_a(clip: str) -> str:
                tags.append(f"a{uuid.uuid4().hex[:6]}")
                before = len(starts())
                await a_asterisk.post(
                    "channels",
                    endpoint=f"Local/{clip}+{tags[-1]}+3+10+noise-1s@visitor-sim2/n",
                    extension="s",
                    context=GATE_CONTEXTS[A],
                    priority=1,
                    callerId="Interfone <1000>",
                    timeout=30,
                )

                async def started() -> bool:
                    return len(starts()) > before

                await eventually(started, within=CALL_GUARD_S)
                return str(starts()[before]["call_id"])

            # A lets a first courier in (101 answers and presses 1), and is ringing 202 for a second one.
            through_redis: list[dict[str, Any]] = []
            assert service.relay is not None
            service.relay.subscribe(through_redis.append)
            done_on_a = await call_a("visitor-k-entrega-101")
            await _event(a_dir / "events.jsonl", "gate_opened", call_id=done_on_a)

            async def relayed() -> bool:  # what B's console would show of A's call
                return any(e["call_id"] == done_on_a and e["event"] == "gate_opened" for e in through_redis)

            await eventually(relayed, within=10)
            assert {e["instance"] for e in through_redis} != {service.relay.instance}
            await _event(a_dir / "events.jsonl", "call_end", call_id=done_on_a)
            ringing_on_a = await call_a("visitor-k-entrega-202")
            dial = await _event(a_dir / "events.jsonl", "resident_dial", call_id=ringing_on_a)
            assert dial["endpoint"] == a_phones["202"]

            # B takes a call of its own; A dies while B's resident is being rung.
            on_b = await visitor_calls(service, watcher, first="visitor-k-entrega-101")
            await until_dialled(watcher, on_b)
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), 10)
            await watcher.wait_for("gate_opened", call_id=on_b.call_id, timeout=CALL_GUARD_S)
            await ended(service, watcher, on_b)
            assert not watcher.find("error", call_id=on_b.call_id), "nothing went wrong on B's call"
            # What the killed instance left in its Asterisk (a restart would sweep it: test_recovery.py) goes
            # with that test bed when the test ends.
    finally:
        await a_asterisk.close()
        if first.returncode is None:
            first.send_signal(signal.SIGKILL)
            await first.wait()
    log = PostgresAuditLog(database_url, gate="", retention_days=1)
    rows = {entry.call_id: entry for entry in await log.query()}
    await log.aclose()
    assert (rows[done_on_a].gate, rows[done_on_a].decision) == ("portao-a", "authorised")
    assert (rows[on_b.call_id].gate, rows[on_b.call_id].decision) == ("portao-b", "authorised")
    assert ringing_on_a not in rows, "the killed instance's call in progress had decided nothing"
    assert not (b_dir / "audit.sqlite3").exists(), "B wrote to the shared database, not to a file"
