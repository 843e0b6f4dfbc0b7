"""Where pre-authorisations live: a `passes` table in the audit log's SQLite file (PORTARIA_AUDIT_DB).

The same file as the decisions they lead to: both are the condominium's record of who let whom in, kept
together and backed up together. Writes are one transaction each with ``synchronous=FULL``; reads and writes
run on a thread of their own, so the event loop never waits on the disk. A pass is never deleted by a revoke:
it is marked revoked, so the audit row that names it can still be traced to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from controller.conversation.passes import CODE_DIGITS, Pass
from controller.records.passes_sql import PassSql, schema
from controller.records.sqlite_thread import SqliteThread

_SCHEMA = schema("INTEGER PRIMARY KEY AUTOINCREMENT")
_SQL = PassSql.using("?")


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
        self._sqlite = SqliteThread(path, self._connect, PassError, name="passes", what="passes in")

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

        def insert(db: sqlite3.Connection) -> int:
            with db:
                if code is not None:
                    taken = db.execute(_SQL.code_taken, (site, code, granted_at)).fetchone()
                    if taken:
                        raise PassError(CODE_IN_USE)
                cursor = db.execute(
                    _SQL.insert, (site, apartment, block, visitor_name, granted_by, granted_at, start, end, code)
                )
                return int(cursor.lastrowid or 0)

        number = await self._sqlite.run(insert)
        return Pass(str(number), apartment, block, visitor_name, granted_by, granted_at, start, end, code)

    async def revoke(self, number: int) -> bool:
        """Mark pass `number` revoked; False when there is no such pass or it already was."""
        now = iso(self._clock())

        def update(db: sqlite3.Connection) -> bool:
            with db:
                cursor = db.execute(_SQL.revoke, (now, number))
                return cursor.rowcount == 1

        return await self._sqlite.run(update)

    async def valid(self, site: str, at: datetime) -> tuple[Pass, ...]:
        moment = iso(at)

        def select(db: sqlite3.Connection) -> tuple[Pass, ...]:
            rows = db.execute(_SQL.valid, (site, moment, moment))
            return tuple(row_pass(row) for row in rows)

        return await self._sqlite.run(select)

    async def listing(self, site: str | None = None, *, since: datetime | None = None) -> list[PassEntry]:
        """Passes (of `site`, or all) whose window has not ended by `since` (default: now), newest first."""
        moment = iso(since or self._clock())

        def select(db: sqlite3.Connection) -> list[PassEntry]:
            if site is None:
                rows = db.execute(_SQL.listing, (moment,))
            else:
                rows = db.execute(_SQL.listing_of_site, (moment, site))
            return [PassEntry(row[0], row_pass(row[2:]), row[1]) for row in rows]

        return await self._sqlite.run(select)

    async def aclose(self) -> None:
        await self._sqlite.aclose()

    def _connect(self) -> sqlite3.Connection:  # on the passes thread
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0)
        try:
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db


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
