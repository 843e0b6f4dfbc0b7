"""The audit log in one SQLite file: the embedded default (PostgreSQL: controller/records/audit_pg.py).

A write returns only once its transaction is committed with ``PRAGMA synchronous=FULL`` (one transaction per
record), so a returned write survives a crash or power loss. SQLite runs on one thread of its own
(controller/records/sqlite_thread.py), so the event loop never waits on the disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller.conversation.events import AuditRecord
from controller.records.audit import (
    ADDED_COLUMNS,
    COLUMNS,
    AuditEntry,
    AuditError,
    AuditPage,
    AuditSearch,
    entry_of,
    iso,
    keep_purging,
    log,
    schema,
    search_where,
)
from controller.records.sqlite_thread import SqliteThread

_SCHEMA = schema("INTEGER PRIMARY KEY AUTOINCREMENT")


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
        self._sqlite = SqliteThread(path, self._connect, AuditError, name="audit", what="audit log")
        self.last_failure: str | None = None  # why the last decision could not be written (None: it was)

    async def open(self) -> None:
        """Connect now (else the first call does): start-up reports an unusable path early."""
        await self._sqlite.run(lambda db: None)

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

        def insert(db: sqlite3.Connection) -> None:
            with db:  # one transaction per record: committed (and synced) when this block ends
                db.execute(sql, astuple(entry))

        try:
            await self._sqlite.run(insert)
        except AuditError as error:
            self.last_failure = str(error)
            raise
        self.last_failure = None

    async def check_writable(self) -> None:
        """Raise AuditError unless a decision could be written now: the write lock is taken and a write rolled
        back (nothing kept; a lock held elsewhere fails after 0.25 s, not the writes' 5 s), and the last
        decision's write did not fail (a full disk shows only when writing)."""

        def probe(db: sqlite3.Connection) -> None:
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

        await self._sqlite.run(probe)
        if self.last_failure is not None:
            raise AuditError(f"the last decision could not be written: {self.last_failure}")

    async def purge(self) -> int:
        cutoff = iso(self._clock() - self.retention)

        def delete(db: sqlite3.Connection) -> int:
            with db:
                return db.execute("DELETE FROM decisions WHERE time < ?", (cutoff,)).rowcount

        removed = await self._sqlite.run(delete)
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

        def select(db: sqlite3.Connection) -> AuditPage:
            sql = f"SELECT {self._columns(db)} FROM decisions WHERE {where}{order}"
            db.execute("BEGIN")  # one read snapshot: the count and the rows see the same records
            try:
                total = db.execute(f"SELECT COUNT(*) FROM decisions WHERE {where}", arguments).fetchone()[0]
                rows = db.execute(sql, arguments).fetchall()
            finally:
                db.rollback()
            return AuditPage([AuditEntry(*row) for row in rows], int(total))

        return await self._sqlite.run(select)

    async def aclose(self) -> None:
        await self._sqlite.aclose()

    # On the audit thread -------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
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
        return db

    def _columns(self, db: sqlite3.Connection) -> str:
        """The SELECT list: a file no service of this version opened yet lacks the newer columns (read-only)."""
        present = _table_columns(db)
        return ", ".join(name if name in present else f"'' AS {name}" for name in COLUMNS)


def _table_columns(db: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in db.execute("PRAGMA table_info(decisions)")}




def _add_columns(db: sqlite3.Connection) -> None:
    present = _table_columns(db)
    with db:
        for name in ADDED_COLUMNS:
            if name not in present:
                db.execute(f"ALTER TABLE decisions ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
