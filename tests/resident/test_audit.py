"""The SQLite audit log on real files: durable writes, typed errors on unwritable paths, retention, the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.__main__ import main as controller_main
from controller.conversation import AuditRecord, Decision, How, Intent
from controller.records.audit import COLUMNS, AuditEntry, AuditError
from controller.records.audit_sqlite import SqliteAuditLog
from controller.tools.audit_cli import main as audit_main

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def record(decision: Decision = Decision.AUTHORISED, call_id: str = "call-1") -> AuditRecord:
    return AuditRecord(call_id, decision, How.VOICE, "João", Intent.ENTREGA, "101", None, "Renata Souza")


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def audit_log(path: Path, clock: Clock | None = None, *, readonly: bool = False) -> SqliteAuditLog:
    return SqliteAuditLog(path, gate="portao-1", retention_days=90, clock=clock or Clock(), readonly=readonly)


async def test_a_written_record_is_in_the_file_for_any_other_reader(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit.sqlite3"
    audit = audit_log(path)
    rung = ("PJSIP/101:no_answer", "PJSIP/renata-celular:answered")
    await audit.write(replace(record(), rung=rung), gate_channel="1700.1", resident_channel="1700.2", site="jardins")
    with sqlite3.connect(path) as other:  # a separate connection sees it at once: committed
        rows = other.execute(f"SELECT {', '.join(COLUMNS)} FROM decisions").fetchall()
        assert other.execute("PRAGMA synchronous").fetchone() is not None
    assert [AuditEntry(*row) for row in rows] == [
        AuditEntry(
            "2026-11-25T14:00:00.000+00:00",
            "jardins",
            "portao-1",
            "call-1",
            "authorised",
            "voice",
            "João",
            "entrega",
            "101",
            None,
            "Renata Souza",
            "1700.1",
            "1700.2",
            "PJSIP/101:no_answer, PJSIP/renata-celular:answered",
            "",
        )
    ]
    await audit.aclose()


async def test_writes_use_full_synchronous_mode(tmp_path: Path) -> None:
    audit = audit_log(tmp_path / "a.sqlite3")
    await audit.open()
    assert await audit._sqlite.run(lambda db: db.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL
    await audit.aclose()


@pytest.mark.parametrize("layout", ["parent_is_a_file", "path_is_a_directory"])
async def test_an_unwritable_path_raises_audit_error(tmp_path: Path, layout: str) -> None:
    if layout == "parent_is_a_file":
        (tmp_path / "plain").write_text("not a folder")
        path = tmp_path / "plain" / "audit.sqlite3"
    else:
        path = tmp_path / "audit.sqlite3"
        path.mkdir()
    audit = audit_log(path)
    with pytest.raises(AuditError, match="audit log"):
        await audit.write(record())
    with pytest.raises(AuditError):
        await audit.open()
    await audit.aclose()


async def test_a_read_only_database_refuses_the_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    writer = audit_log(path)
    await writer.write(record())
    await writer.aclose()
    reader = audit_log(path, readonly=True)
    with pytest.raises(AuditError, match="readonly"):
        await reader.write(record(call_id="call-2"))
    assert [entry.call_id for entry in await reader.query()] == ["call-1"]
    await reader.aclose()


async def test_the_log_recovers_when_the_path_becomes_usable(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("in the way")
    audit = audit_log(tmp_path / "var" / "audit.sqlite3")
    with pytest.raises(AuditError):
        await audit.write(record())
    (tmp_path / "var").unlink()
    await audit.write(record())
    assert len(await audit.query()) == 1
    await audit.aclose()


async def test_purge_deletes_only_records_older_than_the_retention(tmp_path: Path) -> None:
    clock = Clock(NOW - timedelta(days=91))
    audit = audit_log(tmp_path / "audit.sqlite3", clock)
    await audit.write(record(call_id="old"))
    clock.now = NOW - timedelta(days=89)
    await audit.write(record(call_id="recent"))
    clock.now = NOW
    await audit.write(record(call_id="today"))
    assert await audit.purge() == 1
    assert [entry.call_id for entry in await audit.query()] == ["recent", "today"]
    assert await audit.purge() == 0
    await audit.aclose()


async def test_query_since_and_limit(tmp_path: Path) -> None:
    clock = Clock()
    audit = audit_log(tmp_path / "audit.sqlite3", clock)
    for day in range(5):
        clock.now = NOW + timedelta(days=day)
        await audit.write(record(call_id=f"day-{day}"))
    assert [entry.call_id for entry in await audit.query(limit=2)] == ["day-3", "day-4"]
    since = NOW + timedelta(days=2)
    assert [entry.call_id for entry in await audit.query(since=since)] == ["day-2", "day-3", "day-4"]
    await audit.aclose()


async def _fill(path: Path) -> None:
    clock = Clock()
    audit = audit_log(path, clock)
    for day, decision in enumerate((Decision.AUTHORISED, Decision.DENIED, Decision.NO_ANSWER)):
        clock.now = NOW + timedelta(days=day)
        await audit.write(record(decision, call_id=f"call-{day}"))
    await audit.aclose()


async def test_cli_lists_and_exports_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.sqlite3"
    await _fill(path)  # the CLI runs its own event loop: call it from a thread
    code = await asyncio.to_thread(audit_main, ["--db", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0].split()[:3] == ["time", "gate", "decision"] and len(out) == 4
    assert "no_answer" in out[-1]
    code = await asyncio.to_thread(
        audit_main, ["--db", str(path), "--csv", "-", "--since", "2026-11-26", "--limit", "5"]
    )
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 0 and rows[0] == list(COLUMNS)
    assert [row[COLUMNS.index("decision")] for row in rows[1:]] == ["denied", "no_answer"]
    assert rows[1][COLUMNS.index("block")] == ""
    target = tmp_path / "export.csv"
    code = await asyncio.to_thread(controller_main, ["audit", "--db", str(path), "--csv", str(target)])
    assert code == 0 and len(target.read_text(encoding="utf-8").splitlines()) == 4


def test_cli_on_a_missing_database_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_main(["--db", str(tmp_path / "none.sqlite3")]) == 1
    assert "audit log" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()


def test_cli_rejects_a_bad_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        audit_main(["--since", "ontem"])
    assert exit_info.value.code == 2 and "not a date" in capsys.readouterr().err


async def test_a_database_locked_by_another_writer_refuses_the_write_after_the_busy_wait(tmp_path: Path) -> None:
    """Another process holding the write lock (a backup tool, a stuck sqlite3 shell): a clear error, no hang."""
    path = tmp_path / "audit.sqlite3"
    audit = audit_log(path)
    await audit.open()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        async with asyncio.timeout(30):  # a guard: the connection's busy timeout (5 s) ends the wait first
            with pytest.raises(AuditError, match="locked"):
                await audit.write(record())
    finally:
        other.execute("ROLLBACK")
        other.close()
    await audit.write(record(call_id="call-2"))  # the lock gone, the log writes again
    assert [entry.call_id for entry in await audit.query()] == ["call-2"]
    await audit.aclose()


async def test_a_full_database_refuses_the_write_and_keeps_what_it_had(tmp_path: Path) -> None:
    """SQLITE_FULL, made real by capping the file at the pages it already has (as a full disk does)."""
    audit = audit_log(tmp_path / "audit.sqlite3")
    await audit.write(record())

    def cap(connection: sqlite3.Connection) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    await audit._sqlite.run(cap)
    with pytest.raises(AuditError, match="full"):
        for number in range(200):  # the free space left in the last pages fills up first
            await audit.write(record(call_id=f"call-{number + 2}-" + "x" * 200))
    assert "call-1" in [entry.call_id for entry in await audit.query()]
    await audit.aclose()


async def test_the_writability_check_sees_a_lock_a_read_only_file_and_a_failed_write(tmp_path: Path) -> None:
    """What /readyz asks: could a decision be written now? Without writing one."""
    path = tmp_path / "audit.sqlite3"
    audit = audit_log(path)
    await audit.check_writable()  # a fresh log: creatable and writable
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        async with asyncio.timeout(4):  # its own short busy wait, not the writes' 5 s
            with pytest.raises(AuditError, match="locked"):
                await audit.check_writable()
    finally:
        other.execute("ROLLBACK")
        other.close()
    await audit.check_writable()
    assert await audit.query() == []  # the check wrote nothing

    def cap(connection: sqlite3.Connection) -> None:
        connection.execute(f"PRAGMA max_page_count = {connection.execute('PRAGMA page_count').fetchone()[0]}")

    await audit._sqlite.run(cap)
    with pytest.raises(AuditError, match="full"):
        for number in range(200):
            await audit.write(record(call_id=f"call-{number}-" + "x" * 200))
    with pytest.raises(AuditError, match="last decision could not be written"):
        await audit.check_writable()
    await audit.aclose()
    reader = audit_log(path, readonly=True)
    with pytest.raises(AuditError, match="readonly"):
        await reader.check_writable()
    await reader.aclose()


OLD_SCHEMA = """CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, gate TEXT NOT NULL,
call_id TEXT NOT NULL, decision TEXT NOT NULL, how TEXT NOT NULL, visitor_name TEXT NOT NULL, intent TEXT NOT NULL,
apartment TEXT NOT NULL, block TEXT, resident TEXT NOT NULL, gate_channel TEXT, resident_channel TEXT);
INSERT INTO decisions VALUES (1, '2026-11-25T13:00:00.000+00:00', 'portao', 'old-1', 'authorised', 'voice', 'Ana',
'visita', '101', NULL, 'Renata Souza', NULL, NULL);"""


async def test_a_file_from_before_sites_is_read_as_it_is_and_takes_new_records_with_their_site(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SCHEMA)
    reader = audit_log(path, readonly=True)  # the audit command on a file no new service has opened
    assert [(entry.call_id, entry.site) for entry in await reader.query()] == [("old-1", "")]
    await reader.aclose()
    audit = audit_log(path)
    await audit.write(record(), site="jardins", gate="social")
    assert [(e.call_id, e.site, e.gate) for e in await audit.query()] == [
        ("old-1", "", "portao"),
        ("call-1", "jardins", "social"),
    ]
    await audit.aclose()
