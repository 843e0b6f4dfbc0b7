"""One SQLite connection on a thread of its own, so the event loop never waits on the disk.

The audit log and the passes share this: work runs on the thread with the connection (opened on first use by the
owner's `connect`, which also creates the schema); an SQLite or OS error drops the connection, so the next call
reconnects (the disk may be back), and reaches the caller as the owner's error type with the file named.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SqliteThread:
    def __init__(
        self,
        path: Path,
        connect: Callable[[], sqlite3.Connection],
        error: Callable[[str], Exception],
        *,
        name: str,
        what: str,
    ) -> None:
        """`what` names the data in errors ("audit log", "passes in"): the message is "<what> <path>: <cause>"."""
        self.path = path
        self._connect = connect
        self._error = error
        self._what = what
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def guarded() -> T:
            try:
                if self._db is None:
                    self._db = self._connect()
                return work(self._db)
            except (sqlite3.Error, OSError) as cause:
                self._drop()
                raise self._error(f"{self._what} {self.path}: {cause}") from cause

        return await asyncio.get_running_loop().run_in_executor(self._thread, guarded)

    async def aclose(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._drop)
        finally:
            self._thread.shutdown(wait=False)

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
