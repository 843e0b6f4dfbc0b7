"""Where pre-authorisations live: a `passes` table in the audit log's SQLite file (PORTARIA_AUDIT_DB).

The same file as the decisions they lead to: both are the condominium's record of who let whom in, kept
together and backed up together. Writes are one transaction each with ``synchronous=FULL``; reads and writes
run on a thread of their own, so the event loop never waits on the disk. A pass is never deleted by a revoke:
it is marked revoked, so the audit row that names it can still be traced to it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from controller.conversation.passes import CODE_DIGITS, Pass

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    apartment TEXT NOT NULL,
    block TEXT,
    visitor_name TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    code TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS passes_window ON passes (site, valid_until);
"""
PASS_COLUMNS = "id, apartment, block, visitor_name, granted_by, granted_at, valid_from, valid_until, code"


class PassError(Exception):
    """A pass cannot be stored or read, or what was asked is not a valid pass; the message says why."""


@dataclass(frozen=True, slots=True)
class PassEntry:
    """A stored pass with where it belongs and whether it was revoked (for listings)."""

    site: str
    granted: Pass
    revoked_at: str | None


class PassBook(Protocol):
    async def valid(self, site: str, at: datetime) -> tuple[Pass, ...]:
        """The passes of `site` valid at `at`, not revoked."""

    async def aclose(self) -> None: ...


class PassStore(PassBook, Protocol):
    """What the `passes` command and the console manage, in SQLite or PostgreSQL."""

    async def add(
        self,
        *,
        site: str,
        apartment: str,
        visitor_name: str,
        granted_by: str,
        valid_from: datetime,
        valid_until: datetime,
        block: str | None = None,
        code: str | None = None,
    ) -> Pass: ...

    async def revoke(self, number: int) -> bool: ...

    async def listing(self, site: str | None = None, *, since: datetime | None = None) -> list[PassEntry]: ...


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise PassError("a time without a zone is ambiguous: give it in UTC or with its offset")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def checked(
    apartment: str, visitor_name: str, granted_by: str, valid_from: datetime, valid_until: datetime, code: str | None
) -> tuple[str, str, str, str, str]:
    """(visitor, granted_by, apartment, valid_from, valid_until) as stored; PassError for what no pass can be."""
    visitor_name, granted_by, apartment = visitor_name.strip(), granted_by.strip(), apartment.strip()
    if not visitor_name or not granted_by or not apartment:
        raise PassError("a pass needs the visitor's name, the apartment and who gives it")
    start, end = iso(valid_from), iso(valid_until)
    if end <= start:
        raise PassError("the window ends before it starts")
    if code is not None and not (code.isdigit() and CODE_DIGITS[0] <= len(code) <= CODE_DIGITS[1]):
        raise PassError(f"a keypad code is {CODE_DIGITS[0]} to {CODE_DIGITS[1]} digits")
    return visitor_name, granted_by, apartment, start, end


CODE_IN_USE = "that keypad code is already in use by another pass of this site"


class SqlitePasses:
    """The passes in `path` (created with its folder on first use)."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passes")
        self._db: sqlite3.Connection | None = None

    async def add(
        self,
        *,
        site: str,
        apartment: str,
        visitor_name: str,
        granted_by: str,
        valid_from: datetime,
        valid_until: datetime,
        block: str | None = None,
        code: str | None = None,
    ) -> Pass:
        """Register a pass; PassError when it is not a valid one (nothing is stored then)."""
        visitor_name, granted_by, apartment, start, end = checked(
            apartment, visitor_name, granted_by, valid_from, valid_until, code
        )
        granted_at = iso(self._clock())

        def insert() -> int:
            db = self._connection()
            with db:
                if code is not None:
                    taken = db.execute(
                        "SELECT 1 FROM passes WHERE site = ? AND code = ? AND revoked_at IS NULL AND valid_until > ?",
                        (site, code, granted_at),
                    ).fetchone()
                    if taken:
                        raise PassError(CODE_IN_USE)
                cursor = db.execute(
                    "INSERT INTO passes (site, apartment, block, visitor_name, granted_by, granted_at, valid_from,"
                    " valid_until, code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (site, apartment, block, visitor_name, granted_by, granted_at, start, end, code),
                )
                return int(cursor.lastrowid or 0)

        number = await self._run(insert)
        return Pass(str(number), apartment, block, visitor_name, granted_by, granted_at, start, end, code)

    async def revoke(self, number: int) -> bool:
        """Mark pass `number` revoked; False when there is no such pass or it already was."""
        now = iso(self._clock())

        def update() -> bool:
            db = self._connection()
            with db:
                cursor = db.execute(
                    "UPDATE passes SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, number)
                )
                return cursor.rowcount == 1

        return await self._run(update)

    async def valid(self, site: str, at: datetime) -> tuple[Pass, ...]:
        moment = iso(at)

        def select() -> tuple[Pass, ...]:
            rows = self._connection().execute(
                f"SELECT {PASS_COLUMNS} FROM passes WHERE site = ? AND revoked_at IS NULL"
                " AND valid_from <= ? AND valid_until > ? ORDER BY id",
                (site, moment, moment),
            )
            return tuple(row_pass(row) for row in rows)

        return await self._run(select)

    async def listing(self, site: str | None = None, *, since: datetime | None = None) -> list[PassEntry]:
        """Passes (of `site`, or all) whose window has not ended by `since` (default: now), newest first."""
        moment = iso(since or self._clock())

        def select() -> list[PassEntry]:
            sql = f"SELECT site, revoked_at, {PASS_COLUMNS} FROM passes WHERE valid_until > ?"
            arguments: tuple[str, ...] = (moment,)
            if site is not None:
                sql, arguments = sql + " AND site = ?", (moment, site)
            rows = self._connection().execute(sql + " ORDER BY id DESC", arguments)
            return [PassEntry(row[0], row_pass(row[2:]), row[1]) for row in rows]

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

    async def _run(self, work: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return work()
            except (sqlite3.Error, OSError) as error:
                if self._db is not None:
                    self._db.close()
                    self._db = None
                raise PassError(f"passes in {self.path}: {error}") from error

        return await asyncio.get_running_loop().run_in_executor(self._thread, guarded)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0)
            try:
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
            except sqlite3.Error:
                db.close()
                raise
            self._db = db
        return self._db


def row_pass(row: tuple[object, ...] | sqlite3.Row) -> Pass:
    number, apartment, block, visitor, granted_by, granted_at, start, end, code = row
    return Pass(
        str(number),
        str(apartment),
        block if isinstance(block, str) else None,
        str(visitor),
        str(granted_by),
        str(granted_at),
        str(start),
        str(end),
        code if isinstance(code, str) else None,
    )
