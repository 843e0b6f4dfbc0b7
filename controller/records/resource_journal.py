"""What this instance has made in Asterisk and not removed yet, on disk: so a restart can clean after a crash.

A process killed mid-call (SIGKILL, OOM, a power cut of the host) cannot tear its calls down: their mixing
bridges stay in Asterisk for good, the resident's phone may keep ringing, and the visitor stays in our Stasis app
in silence. Each call therefore notes, before asking Asterisk, every bridge and channel it creates and the
caller it answers; notes a removal once done; and notes its end. At start-up, :meth:`leftovers` lists what calls
without an end left behind, and the service removes it (and hands any visitor still there to the concierge).

One JSON object per line, appended and flushed at once (the kernel keeps written lines across a SIGKILL):
``{"call": id, "op": "+", "kind": "bridge"|"channel"|"caller", "id": ...}``, ``{"call": id, "op": "-", "id":
...}`` and ``{"call": id, "op": "end"}``. The file is emptied whenever no call is open, so it stays small. A line
torn by the crash is skipped (and logged): it can only be the last one.
"""

from __future__ import annotations

import fcntl
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

log = logging.getLogger(__name__)

Kind = Literal["bridge", "channel", "caller"]


@dataclass(frozen=True, slots=True)
class Leftover:
    call_id: str
    kind: Kind
    id: str


class JournalBusy(Exception):
    """Another live process holds this journal: sweeping it would tear down that instance's calls."""


class ResourceJournal:
    """The journal at `path` (None: in memory only, nothing survives a crash)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._open: dict[str, dict[str, Kind]] = {}  # call -> resource id -> kind
        self._file: IO[str] | None = None

    def leftovers(self) -> list[Leftover]:
        """Claim the journal (an exclusive lock, held until close) and list what an earlier run left: the
        resources of calls that never ended. JournalBusy when a live instance holds it."""
        if self._path is None:
            return []
        if self._file is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                handle = self._path.open("a+", encoding="utf-8", buffering=1)
            except OSError as error:  # calls matter more than the clean-up after a crash: go on, loudly
                log.error("resource journal %s unusable, a crash will leave calls behind: %s", self._path, error)
                self._path = None
                return []
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise JournalBusy(
                    f"{self._path} is in use by another running Portaria: give each instance its own "
                    "PORTARIA_RESOURCE_JOURNAL"
                ) from None
            self._file = handle
        self._file.seek(0)
        text = self._file.read()
        calls: dict[str, dict[str, Kind]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            try:
                entry = json.loads(line)
                call, op = str(entry["call"]), entry["op"]
                if op == "+":
                    calls.setdefault(call, {})[str(entry["id"])] = entry["kind"]
                elif op == "-":
                    calls.get(call, {}).pop(str(entry["id"]), None)
                elif op == "end":
                    calls.pop(call, None)
            except (ValueError, KeyError, TypeError):
                log.warning("resource journal %s: line %d unreadable, skipped: %.80r", self._path, number, line)
        return [Leftover(call, kind, resource) for call, made in calls.items() for resource, kind in made.items()]

    def start(self) -> None:
        """Begin this run's journal (after the leftovers were dealt with): the earlier content is dropped."""
        if self._path is None:
            return
        self.leftovers()  # claims the file if nobody did yet
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()

    def created(self, call_id: str, kind: Kind, resource: str) -> None:
        self._open.setdefault(call_id, {})[resource] = kind
        self._write({"call": call_id, "op": "+", "kind": kind, "id": resource})

    def removed(self, call_id: str, resource: str) -> None:
        if self._open.get(call_id, {}).pop(resource, None) is not None:
            self._write({"call": call_id, "op": "-", "id": resource})

    def ended(self, call_id: str) -> None:
        """The call is over. A bridge or channel whose removal failed (Asterisk unreachable) keeps the call open
        for the next start's sweep; a caller still noted simply hung up by themselves."""
        made = self._open.get(call_id)
        if made is None or any(kind != "caller" for kind in made.values()):
            return
        del self._open[call_id]
        if self._open or self._file is None:
            self._write({"call": call_id, "op": "end"})
        else:  # nothing open any more: start the file afresh instead of letting it grow
            self._file.seek(0)
            self._file.truncate()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, entry: dict[str, str]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(entry) + "\n")
        except OSError as error:  # a full disk must not break the call; the next start just cleans less
            log.error("resource journal %s: cannot write: %s", self._path, error)
