"""Pre-authorised visitors against the real Asterisk: inside the pass's window the visitor is let in on the
resident's yes given in advance, recorded with who gave it; outside it the resident is rung as for any visit.

The visitor says the default request of tests/support/resident_bed.py ("sou o João, uma entrega para a Renata
do 101"), read by the local fake model; the pass is João's, for 101, in the audit file the service uses.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.records.audit_pg import PostgresAuditLog
from controller.records.passes_pg import PostgresPasses
from controller.records.passes_store import SqlitePasses
from tests.integration.conftest import SettingsFactory
from tests.support.postgres_server import PostgresServer
from tests.support.resident_bed import (
    CALL_GUARD_S,
    audit_rows,
    ended,
    gate_side,
    portaria,
    resident,
    until_dialled,
    visitor_calls,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # Stasis apps of their own (tests/conftest.py)

RENATA = "Renata Souza"


async def register(db: Path, start: datetime, end: datetime) -> str:
    passes = SqlitePasses(db)
    try:
        granted = await passes.add(
            site="default", apartment="101", visitor_name="João", granted_by=RENATA, valid_from=start, valid_until=end
        )
    finally:
        await passes.aclose()
    return granted.describe()


async def test_inside_the_window_the_pass_opens_the_gate_and_the_audit_names_who_gave_it(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    described = await register(tmp_path / "audit.sqlite3", now - timedelta(hours=1), now + timedelta(hours=8))
    async with portaria(make_settings, tmp_path, (RENATA, resident("dtmf-1", tag)), gate_dtmf="#") as (
        service,
        watcher,
        _,
    ):
        async with gate_side(service.settings) as side:
            call = await visitor_calls(service, watcher)
            await side.subscribe(call.visitor_channel)
            await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
            await side.wait_dtmf(call.visitor_channel, "#")
            await ended(service, watcher, call)
        assert not watcher.find("resident_dial", call_id=call.call_id), "nobody was rung"
        said = [e["text"] for e in watcher.find("say", call_id=call.call_id)]
        assert "A Renata já autorizou a sua entrada. Pode entrar." in said
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["how"], row["resident"]) == ("authorised", "preauthorised", RENATA)
    assert row["preauth"] == described and described.startswith("#1 de Renata Souza em ")


async def test_outside_the_window_the_resident_is_rung(make_settings: SettingsFactory, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await register(tmp_path / "audit.sqlite3", tomorrow, tomorrow + timedelta(hours=8))
    async with portaria(make_settings, tmp_path, (RENATA, resident("dtmf-1", tag))) as (service, watcher, _):
        call = await visitor_calls(service, watcher)
        assert (await until_dialled(watcher, call))["endpoint"] == resident("dtmf-1", tag)
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
        await ended(service, watcher, call)
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["decision"], row["how"], row["preauth"]) == ("authorised", "dtmf", "")


async def test_with_postgresql_the_pass_and_the_decision_live_in_the_shared_database(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """PORTARIA_DATABASE_URL: the call finds the pass there and writes its decision there, not in the file."""
    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        now = datetime.now(UTC)
        passes = PostgresPasses(server.url)
        granted = await passes.add(
            site="default",
            apartment="101",
            visitor_name="João",
            granted_by=RENATA,
            valid_from=now - timedelta(hours=1),
            valid_until=now + timedelta(hours=1),
        )
        await passes.aclose()
        tag = uuid.uuid4().hex[:8]
        async with portaria(make_settings, tmp_path, (RENATA, resident("dtmf-1", tag)), database_url=server.url) as (
            service,
            watcher,
            _,
        ):
            call = await visitor_calls(service, watcher)
            await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=CALL_GUARD_S)
            await ended(service, watcher, call)
        log = PostgresAuditLog(server.url, gate="", retention_days=1)
        [entry] = [e for e in await log.query() if e.call_id == call.call_id]
        await log.aclose()
        assert (entry.decision, entry.how, entry.preauth) == ("authorised", "preauthorised", granted.describe())
        assert not (tmp_path / "audit.sqlite3").exists(), "nothing went to the SQLite file"
    finally:
        await asyncio.to_thread(server.remove)
