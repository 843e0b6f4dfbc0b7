"""The residents directory file: read it, and reload it while Portaria runs (keeping the last good one)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from controller.conversation.directory import Directory, DirectoryError, parse_directory

log = logging.getLogger(__name__)


def load_directory(path: Path) -> Directory:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DirectoryError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise DirectoryError(f"{path}: is not UTF-8 text") from None
    try:
        return parse_directory(text, str(path))
    except DirectoryError as error:
        if str(error).startswith(str(path)):
            raise
        raise DirectoryError(f"{path}: {error}") from None


class LiveDirectory:
    """The current directory of a file that administrators edit while Portaria runs.

    :meth:`current` looks at the file's modification time and size at most every `check_every_s` and reloads when
    they change. A file that no longer loads is logged (with the reason) and the last good directory stays in use,
    so a half-saved edit never leaves the gate without residents. The first load must succeed.
    """

    def __init__(
        self,
        path: Path,
        *,
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_reload: Callable[[Directory], None] | None = None,
    ) -> None:
        """`on_reload` hears of each new directory (not of the first load, nor of a broken file)."""
        self._path = path
        self._on_reload = on_reload
        self._check_every_s = check_every_s
        self._clock = clock
        self._signature = self._stat()
        self._directory = load_directory(path)
        self._checked_at = clock()
        self._problem: str | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def problem(self) -> str | None:
        """Why the file did not load the last time it was read (what `check` says of it), or None if it loaded."""
        return self._problem

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def current(self) -> Directory:
        now = self._clock()
        if now - self._checked_at < self._check_every_s:
            return self._directory
        self._checked_at = now
        signature = self._stat()
        if signature == self._signature:
            return self._directory
        self._signature = signature
        self._load()
        return self._directory

    def reload(self) -> bool:
        """Read the file now, changed or not; False when it does not load (the last good directory stays)."""
        self._checked_at, self._signature = self._clock(), self._stat()
        return self._load()

    def _load(self) -> bool:
        try:
            self._directory = load_directory(self._path)
        except DirectoryError as error:
            self._problem = str(error)
            log.error("residents directory not reloaded, keeping the last good one: %s", error)
            return False
        self._problem = None
        count = len(self._directory.apartments)
        log.info("residents directory reloaded from %s (%d apartments)", self._path, count)
        if self._on_reload is not None:
            self._on_reload(self._directory)
        return True
