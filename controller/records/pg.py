"""One PostgreSQL connection for a store (the audit log, the passes), shared by its requests in turn.

Each request runs in a transaction, under a timeout; a request that fails or times out drops the connection
(its state is unknown) and the next one connects again, so a restarted or unreachable database costs the
requests made meanwhile, not the service. The schema is created at the first connection, under an advisory
lock: two instances starting at once must not race each other's CREATE TABLE. Messages name the host and the
database, never the password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg

T = TypeVar("T")

_SCHEMA_LOCK = 0x504F5254  # "PORT": the advisory lock every Portaria instance takes to create its tables


def where(url: str) -> str:
    """host:port/database of `url`, for messages (no user, no password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


class PgLink:
    def __init__(
        self, url: str, schema: str, error: Callable[[str], Exception], *, what: str, timeout_s: float = 5.0
    ) -> None:
        self._url = url
        self._schema = schema
        self._error = error
        self._what = what
        self._timeout_s = timeout_s
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return where(self._url)

    async def run(self, work: Callable[[psycopg.AsyncConnection[tuple[object, ...]]], Awaitable[T]]) -> T:
        """`work` in one transaction (committed when it returns); the store's error when anything fails."""
        async with self._lock:
            try:
                async with asyncio.timeout(self._timeout_s):
                    connection = await self._connect()
                    async with connection.transaction():
                        return await work(connection)
            except (psycopg.Error, OSError, TimeoutError) as error:
                await self._drop()
                detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                if isinstance(error, TimeoutError):
                    detail = f"no answer within {self._timeout_s:g} s"
                raise self._error(f"{self._what} at {self.where}: {detail}") from None

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        connection = await psycopg.AsyncConnection.connect(self._url, connect_timeout=max(1, int(self._timeout_s)))
        try:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                await connection.execute(self._schema)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except psycopg.Error:
                pass

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()
