"""The audit log in one SQLite file: the embedded default (PostgreSQL: controller/records/audit_pg.py).

A write returns only once its transaction is committed with ``PRAGMA synchronous=FULL`` (one transaction per
record), so a returned write survives a crash or power loss. SQLite runs on one thread of its own, so the event
loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from controller.conversation.events import AuditRecord
from controller.records.audit import (
    COLUMNS,
    AuditEntry,
    AuditError,
    AuditPage,
    AuditSearch,
    entry_of,
    iso,
    keep_purging,
    log,
    search_where,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    site TEXT NOT NULL DEFAULT '',
    gate TEXT NOT NULL,
    call_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    how TEXT NOT NULL,
    visitor_name TEXT NOT NULL,
    intent TEXT NOT NULL,
    apartment TEXT NOT NULL,
    block TEXT,
    resident TEXT NOT NULL,
    gate_channel TEXT,
    resident_channel TEXT,
    rung TEXT NOT NULL DEFAULT '',
    preauth TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else None


class SqliteAuditLog:
    """The audit log in one SQLite file (created with its folder on first use)."""

    def __init__(
        self,
        path: Path,
        *,
        gate: str,
        retention_days: int,
        clock: Callable[[], datetime] = _utc_now,
        readonly: bool = False,
    ) -> None:
        self.path = path
        self.gate = gate
        self.retention = timedelta(days=retention_days)
        self._clock = clock
        self._readonly = readonly
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self._db: sqlite3.Connection | None = None
        self.last_failure: str | None = None  # why the last decision could not be written (None: it was)

    async def open(self) -> None:
        """Connect now (else the first call does): start-up reports an unusable path early."""
        await self._run(self._connection)

    async def write(
        self,
        record: AuditRecord,
        *,
        gate_channel: str | None = None,
        resident_channel: str | None = None,
        site: str = "",
        gate: str = "",
    ) -> None:
        entry = entry_of(record, iso(self._clock()), site, gate or self.gate, gate_channel, resident_channel)
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({placeholders})"

        def insert() -> None:
            db = self._connection()
            with db:  # one transaction per record: committed (and synced) when this block ends
                db.execute(sql, astuple(entry))

        try:
            await self._run(insert)
        except AuditError as error:
            self.last_failure = str(error)
            raise
        self.last_failure = None

    async def check_writable(self) -> None:
        """Raise AuditError unless a decision could be written now: the write lock is taken and a write rolled
        back (nothing kept; a lock held elsewhere fails after 0.25 s, not the writes' 5 s), and the last
        decision's write did not fail (a full disk shows only when writing)."""

        def probe() -> None:
            db = self._connection()
            db.execute("PRAGMA busy_timeout = 250")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:  # a write that is rolled back: a read-only file or file system refuses it
                    version = db.execute("PRAGMA user_version").fetchone()[0]
                    db.execute(f"PRAGMA user_version = {int(version)}")
                finally:
                    db.execute("ROLLBACK")
            finally:
                db.execute("PRAGMA busy_timeout = 5000")

        await self._run(probe)
        if self.last_failure is not None:
            raise AuditError(f"the last decision could not be written: {self.last_failure}")

    async def purge(self) -> int:
        cutoff = iso(self._clock() - self.retention)

        def delete() -> int:
            db = self._connection()
            with db:
                return db.execute("DELETE FROM decisions WHERE time < ?", (cutoff,)).rowcount

        removed = await self._run(delete)
        if removed:
            log.info("audit log: %d record(s) older than %s deleted", removed, cutoff)
        return removed

    async def keep_purging(self, every_s: float = 86400.0) -> None:
        await keep_purging(self, every_s)

    async def query(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        found = await self.search(AuditSearch(since=since), limit)
        return list(reversed(found.entries))

    async def search(self, search: AuditSearch, limit: int | None = None) -> AuditPage:
        """The records `search` matches, newest first (at most `limit` of them), and how many match in all."""
        where, arguments = search_where(search)
        order = " ORDER BY time DESC, id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")

        def select() -> AuditPage:
            db = self._connection()
            sql = f"SELECT {self._columns(db)} FROM decisions WHERE {where}{order}"
            db.execute("BEGIN")  # one read snapshot: the count and the rows see the same records
            try:
                total = db.execute(f"SELECT COUNT(*) FROM decisions WHERE {where}", arguments).fetchone()[0]
                rows = db.execute(sql, arguments).fetchall()
            finally:
                db.rollback()
            return AuditPage([AuditEntry(*row) for row in rows], int(total))

        return await self._run(select)

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        try:
            await self._run(close)
        finally:
            self._thread.shutdown(wait=False)

    # On the audit thread -------------------------------------------------------------------------------------

    async def _run(self, work: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return work()
            except (sqlite3.Error, OSError) as error:
                self._drop()
                raise AuditError(f"audit log {self.path}: {error}") from error

        return await asyncio.get_running_loop().run_in_executor(self._thread, guarded)

    def _connection(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if self._readonly:
            if not self.path.is_file():
                raise sqlite3.OperationalError("no such file")
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0)
        db.create_function("casefold", 1, _casefold, deterministic=True)
        try:
            db.execute("PRAGMA synchronous=FULL")
            if not self._readonly:
                db.executescript(_SCHEMA)
                _add_columns(db)
        except sqlite3.Error:
            db.close()
            raise
        self._db = db
        return db

    def _columns(self, db: sqlite3.Connection) -> str:
        """The SELECT list: a file no service of this version opened yet lacks the newer columns (read-only)."""
        present = _table_columns(db)
        return ", ".join(name if name in present else f"'' AS {name}" for name in COLUMNS)

    def _drop(self) -> None:
        """Forget a connection after an error, so the next call reconnects (the disk may be back)."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None


def _table_columns(db: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in db.execute("PRAGMA table_info(decisions)")}


_ADDED = ("site", "rung", "preauth")  # columns newer than the first schema: older files get them, empty in old records


def _add_columns(db: sqlite3.Connection) -> None:
    present = _table_columns(db)
    with db:
        for name in _ADDED:
            if name not in present:
                db.execute(f"ALTER TABLE decisions ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
