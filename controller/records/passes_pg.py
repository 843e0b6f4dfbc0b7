"""Pre-authorisations in PostgreSQL (PORTARIA_DATABASE_URL), shared by several Portaria instances.

The same table as in the SQLite file (controller/records/passes_store.py) and the same rules: one transaction
per change, a revoke marks a pass and never deletes it, a live keypad code is unique within its site (checked
under a lock on the site, so two instances cannot hand out the same code at once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from controller.conversation.passes import Pass
from controller.records.passes_sql import PassSql, schema
from controller.records.passes_store import (
    CODE_IN_USE,
    PassEntry,
    PassError,
    checked,
    iso,
    row_pass,
)
from controller.records.pg import PgLink

SCHEMA = schema("BIGSERIAL PRIMARY KEY")
_SQL = PassSql.using("%s")

Db = psycopg.AsyncConnection[tuple[object, ...]]


class PostgresPasses:
    def __init__(
        self, url: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC), timeout_s: float = 5.0
    ) -> None:
        self._clock = clock
        self._link = PgLink(url, SCHEMA, PassError, what="passes", timeout_s=timeout_s)

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
        visitor_name, granted_by, apartment, start, end = checked(
            apartment, visitor_name, granted_by, valid_from, valid_until, code
        )
        granted_at = iso(self._clock())

        async def insert(db: Db) -> int | None:
            if code is not None:
                await db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"passes:{site}",))
                taken = await db.execute(_SQL.code_taken, (site, code, granted_at))
                if await taken.fetchone():
                    return None
            cursor = await db.execute(
                _SQL.insert + " RETURNING id",
                (site, apartment, block, visitor_name, granted_by, granted_at, start, end, code),
            )
            row = await cursor.fetchone()
            return int(str(row[0])) if row else 0

        number = await self._link.run(insert)
        if number is None:
            raise PassError(CODE_IN_USE)
        return Pass(str(number), apartment, block, visitor_name, granted_by, granted_at, start, end, code)

    async def revoke(self, number: int) -> bool:
        now = iso(self._clock())

        async def update(db: Db) -> bool:
            cursor = await db.execute(_SQL.revoke, (now, number))
            return cursor.rowcount == 1

        return await self._link.run(update)

    async def valid(self, site: str, at: datetime) -> tuple[Pass, ...]:
        moment = iso(at)

        async def select(db: Db) -> tuple[Pass, ...]:
            cursor = await db.execute(_SQL.valid, (site, moment, moment))
            return tuple(row_pass(row) for row in await cursor.fetchall())

        return await self._link.run(select)

    async def listing(self, site: str | None = None, *, since: datetime | None = None) -> list[PassEntry]:
        moment = iso(since or self._clock())

        async def select(db: Db) -> list[PassEntry]:
            if site is None:
                cursor = await db.execute(_SQL.listing, (moment,))
            else:
                cursor = await db.execute(_SQL.listing_of_site, (moment, site))
            return [PassEntry(str(row[0]), row_pass(row[2:]), _text(row[1])) for row in await cursor.fetchall()]

        return await self._link.run(select)

    async def aclose(self) -> None:
        await self._link.aclose()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
