"""The audit log in a real PostgreSQL: what SQLite does, plus two instances at once and a database that goes away."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from controller.conversation.events import AuditRecord, Decision, How
from controller.conversation.understanding import Intent
from controller.records.audit import AuditEntry, AuditError, AuditSearch
from controller.records.audit_pg import PostgresAuditLog
from tests.support.postgres_server import PASSWORD, PostgresServer

NOW = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def record(call_id: str = "call-1", visitor: str = "João", decision: Decision = Decision.AUTHORISED) -> AuditRecord:
    return AuditRecord(call_id, decision, How.VOICE, visitor, Intent.ENTREGA, "101", None, "Renata Souza")


def audit(url: str, now: datetime = NOW, gate: str = "portao") -> PostgresAuditLog:
    return PostgresAuditLog(url, gate=gate, retention_days=90, clock=lambda: now)


async def test_a_record_is_written_with_every_column_and_read_back(database_url: str) -> None:
    log = audit(database_url)
    await log.open()
    rung = ("PJSIP/101:no_answer", "PJSIP/cel:answered")
    await log.write(replace(record(), rung=rung, preauthorisation="#3 de Renata"), gate_channel="1.1", site="jardins")
    assert await log.query() == [
        AuditEntry(
            "2026-12-04T14:00:00.000+00:00",
            "jardins",
            "portao",
            "call-1",
            "authorised",
            "voice",
            "João",
            "entrega",
            "101",
            None,
            "Renata Souza",
            "1.1",
            None,
            "PJSIP/101:no_answer, PJSIP/cel:answered",
            "#3 de Renata",
        )
    ]
    await log.check_writable()
    assert len(await log.query()) == 1, "the writability probe leaves nothing behind"
    await log.aclose()


async def test_search_folds_accents_and_case_and_purge_keeps_the_retention(database_url: str) -> None:
    log = audit(database_url, NOW - timedelta(days=100))
    await log.write(record("old", "Maria"))
    await log.aclose()
    log = audit(database_url)
    await log.write(record("a", "JOÃO"))
    await log.write(record("b", "Ana_Paula"))
    page = await log.search(AuditSearch(name="joão"))
    assert [e.call_id for e in page.entries] == ["a"] and page.total == 1
    assert [e.call_id for e in (await log.search(AuditSearch(name="_"))).entries] == ["b"], "LIKE's _ is literal"
    assert await log.purge() == 1
    assert [e.call_id for e in await log.query()] == ["a", "b"]
    await log.aclose()


async def test_two_instances_write_to_one_log_at_once(database_url: str) -> None:
    first, second = audit(database_url, gate="portao-a"), audit(database_url, gate="portao-b")
    await asyncio.gather(
        *(first.write(record(f"a{n}")) for n in range(10)), *(second.write(record(f"b{n}")) for n in range(10))
    )
    entries = await first.query()
    assert sorted(e.call_id for e in entries) == sorted([f"a{n}" for n in range(10)] + [f"b{n}" for n in range(10)])
    assert {e.gate for e in entries} == {"portao-a", "portao-b"}
    await first.aclose()
    await second.aclose()


async def test_a_wrong_password_is_an_audit_error_that_never_shows_it(postgres: PostgresServer) -> None:
    log = audit(postgres.url.replace(PASSWORD, "not-the-password"))
    with pytest.raises(AuditError) as caught:
        await log.write(record())
    assert "not-the-password" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert str(caught.value).startswith(f"audit log at 127.0.0.1:{postgres.port}/portaria: ")
    assert log.last_failure is not None
    await log.aclose()


async def test_a_database_that_restarts_fails_the_writes_meanwhile_and_then_serves_again() -> None:
    server = PostgresServer()
    server.start()
    try:
        log = audit(server.url)
        await log.write(record("before"))
        await asyncio.to_thread(server.stop)
        with pytest.raises(AuditError):
            await log.write(record("while-down"))
        await asyncio.to_thread(server.start)
        await log.write(record("after"))
        assert [e.call_id for e in await log.query()] == ["before", "after"]
        assert log.last_failure is None
        await log.aclose()
    finally:
        await asyncio.to_thread(server.remove)
