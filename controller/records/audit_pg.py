"""The audit log in PostgreSQL (PORTARIA_DATABASE_URL): one log for several Portaria instances.

The same table and columns as the SQLite file (controller/records/audit_sqlite.py). A write returns once its
transaction is committed, which PostgreSQL makes durable before it answers (synchronous_commit, on by default:
keep it so). Several instances write to it at once; each record is its own row, so they never conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime, timedelta

import psycopg

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
    schema,
    search_where,
)
from controller.records.pg import PgLink

SCHEMA = schema("BIGSERIAL PRIMARY KEY")


class PostgresAuditLog:
    def __init__(
        self,
        url: str,
        *,
        gate: str,
        retention_days: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout_s: float = 5.0,
    ) -> None:
        self.gate = gate
        self.retention = timedelta(days=retention_days)
        self._clock = clock
        self._link = PgLink(url, SCHEMA, AuditError, what="audit log", timeout_s=timeout_s)
        self.last_failure: str | None = None

    @property
    def where(self) -> str:
        return self._link.where

    async def open(self) -> None:
        await self._link.run(_nothing)

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
        sql = f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('%s' for _ in COLUMNS)})"

        async def insert(db: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
            await db.execute(sql, astuple(entry))

        try:
            await self._link.run(insert)
        except AuditError as error:
            self.last_failure = str(error)
            raise
        self.last_failure = None

    async def check_writable(self) -> None:
        """AuditError unless a decision could be written now: a row is inserted and rolled back."""

        async def probe(db: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
            async with db.transaction(force_rollback=True):
                await db.execute(
                    "INSERT INTO decisions (time, gate, call_id, decision, how, visitor_name, intent, apartment,"
                    " resident) VALUES ('', '', 'probe', '', '', '', '', '', '')"
                )

        await self._link.run(probe)
        if self.last_failure is not None:
            raise AuditError(f"the last decision could not be written: {self.last_failure}")

    async def purge(self) -> int:
        cutoff = iso(self._clock() - self.retention)

        async def delete(db: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
            cursor = await db.execute("DELETE FROM decisions WHERE time < %s", (cutoff,))
            return cursor.rowcount

        removed = await self._link.run(delete)
        if removed:
            log.info("audit log: %d record(s) older than %s deleted", removed, cutoff)
        return removed

    async def keep_purging(self, every_s: float = 86400.0) -> None:
        await keep_purging(self, every_s)

    async def query(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        found = await self.search(AuditSearch(since=since), limit)
        return list(reversed(found.entries))

    async def search(self, search: AuditSearch, limit: int | None = None) -> AuditPage:
        where, arguments = search_where(search, mark="%s", fold="lower")
        order = " ORDER BY time DESC, id DESC" + (f" LIMIT {int(limit)}" if limit is not None else "")

        async def select(db: psycopg.AsyncConnection[tuple[object, ...]]) -> AuditPage:
            # READ COMMITTED: the count and the page may differ by a record written between them (a console
            # page can live with that; SQLite's one snapshot cannot differ).
            total = await (await db.execute(f"SELECT COUNT(*) FROM decisions WHERE {where}", arguments)).fetchone()
            rows = await (
                await db.execute(f"SELECT {', '.join(COLUMNS)} FROM decisions WHERE {where}{order}", arguments)
            ).fetchall()
            count = int(str(total[0])) if total else 0
            return AuditPage([AuditEntry(*row) for row in rows], count)  # type: ignore[arg-type]  # the columns' types

        return await self._link.run(select)

    async def aclose(self) -> None:
        await self._link.aclose()


async def _nothing(_: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    return None
