"""The audit log of gate decisions: written durably *before* the gate opens, kept only as long as needed.

:class:`AuditLog` is the interface the call runner uses, :class:`AuditStore` what the service and the console
use; the records live in one SQLite file (:mod:`controller.records.audit_sqlite`, the embedded default) or in
PostgreSQL (:mod:`controller.records.audit_pg`, shared by several instances). A write returns only once the
record is durably stored; any failure raises :class:`AuditError`, which the runner reports as
``AuditWritten(ok=False)`` and the gate stays shut.

Retention (LGPD): records older than ``retention_days`` are deleted by ``purge()``, which the service calls at
start-up and then daily (:func:`keep_purging`).
"""

from __future__ import annotations

import asyncio
import csv
import logging
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol, TextIO

from controller.conversation.events import AuditRecord

log = logging.getLogger(__name__)


class AuditError(Exception):
    """The audit log cannot be written (or read): no gate opens on a decision that is not recorded."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored record: the conversation's :class:`AuditRecord` plus when, where and on which channels."""

    time: str  # UTC, ISO 8601 with milliseconds: sorts as text
    site: str  # the condominium (sites file; "default" without one, "" in records older than sites)
    gate: str
    call_id: str
    decision: str
    how: str
    visitor_name: str
    intent: str
    apartment: str
    block: str | None
    resident: str
    gate_channel: str | None
    resident_channel: str | None
    rung: str  # every dial of the resident phase, in order: "PJSIP/101:no_answer, PJSIP/102:answered"
    preauth: str  # the pass that stood for the resident's yes: "#12 de Kátia Regina em <when>" ("": none)


COLUMNS = tuple(field.name for field in fields(AuditEntry))
ADDED_COLUMNS = ("site", "rung", "preauth")  # newer than the first schema: older tables get them, empty in old rows


def schema(id_column: str) -> str:
    """The decisions table (one column per AuditEntry field) and its index; `id_column` is the database's
    auto-numbered key."""
    optional = {field.name for field in fields(AuditEntry) if "None" in str(field.type)}
    columns = [f"    id {id_column}"]
    for name in COLUMNS:
        kind = "TEXT" if name in optional else "TEXT NOT NULL DEFAULT ''" if name in ADDED_COLUMNS else "TEXT NOT NULL"
        columns.append(f"    {name} {kind}")
    body = ",\n".join(columns)
    index = "CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);"
    return f"CREATE TABLE IF NOT EXISTS decisions (\n{body}\n);\n{index}\n"


def write_csv(entries: list[AuditEntry], out: TextIO) -> None:
    """Every column of every entry, with a header row (the `audit` command's and the console's export)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow(["" if getattr(entry, name) is None else getattr(entry, name) for name in COLUMNS])


@dataclass(frozen=True, slots=True)
class AuditSearch:
    """Which decisions to find; every criterion is optional and they all apply together."""

    day_from: date | None = None  # inclusive: from the start of this day in `zone`
    day_to: date | None = None  # inclusive: up to the end of this day in `zone`
    apartment: str = ""  # exact
    name: str = ""  # a piece of the visitor's or the resident's name, in any case
    since: datetime | None = None  # an instant (the audit command's --since)
    zone: tzinfo = UTC  # where days begin and end: the zone the times are shown in


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]  # newest first, at most the limit asked for
    total: int  # how many records the search matches in all


LIKE_ESCAPE = "\\"


def like_pattern(text: str) -> str:
    """A LIKE pattern (ESCAPE LIKE_ESCAPE) finding `text` anywhere, with its %, _ and escape taken literally."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return f"%{text}%"


def search_where(search: AuditSearch, *, mark: str = "?", fold: str = "casefold") -> tuple[str, tuple[str, ...]]:
    """The WHERE clause of `search` and its arguments (`mark`: the driver's placeholder). Names are compared
    folded by the database's `fold` function: SQLite's connection gets casefold() (its own LIKE ignores case for
    ASCII letters only: 'JOÃO' would miss 'João'); PostgreSQL's lower() folds any letter in a UTF-8 locale."""
    clauses, arguments = ["1 = 1"], list[str]()
    starts = [moment for moment in (search.since, _day_start(search.day_from, search.zone)) if moment is not None]
    if starts:
        clauses.append(f"time >= {mark}")
        arguments.append(iso(max(starts)))
    if search.day_to is not None and search.day_to < date.max:
        clauses.append(f"time < {mark}")
        arguments.append(iso(datetime.combine(search.day_to + timedelta(days=1), time.min, tzinfo=search.zone)))
    if search.apartment:
        clauses.append(f"apartment = {mark}")
        arguments.append(search.apartment)
    if search.name:
        like = f"LIKE {mark} ESCAPE '{LIKE_ESCAPE}'"
        clauses.append(f"({fold}(visitor_name) {like} OR {fold}(resident) {like})")
        name = search.name.casefold() if fold == "casefold" else search.name.lower()
        arguments += [like_pattern(name)] * 2
    return " AND ".join(clauses), tuple(arguments)


def _day_start(day: date | None, zone: tzinfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=zone)


class AuditLog(Protocol):
    async def write(
        self,
        record: AuditRecord,
        *,
        gate_channel: str | None = None,
        resident_channel: str | None = None,
        site: str = "",
        gate: str = "",
    ) -> None:
        """Store `record` durably, from `gate` of `site` (this log's own gate name when ""); raise AuditError
        when it cannot be stored."""

    async def purge(self) -> int:
        """Delete records older than the retention; returns how many went."""

    async def query(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Records from `since` (UTC), oldest first; with `limit`, only the most recent ones."""

    async def aclose(self) -> None: ...


class AuditStore(AuditLog, Protocol):
    """What the service and the console use of the audit log, in SQLite or PostgreSQL."""

    async def open(self) -> None:
        """Connect now, so start-up reports an unusable store early."""

    async def check_writable(self) -> None:
        """AuditError unless a decision could be written now."""

    async def search(self, search: AuditSearch, limit: int | None = None) -> AuditPage: ...

    async def keep_purging(self, every_s: float = 86400.0) -> None: ...


async def keep_purging(audit: AuditLog, every_s: float) -> None:
    """Purge now and then every `every_s` until cancelled; a failing purge is logged and retried later."""
    while True:
        try:
            await audit.purge()
        except AuditError as error:
            log.error("audit log purge failed: %s", error)
        await asyncio.sleep(every_s)


def entry_of(
    record: AuditRecord, moment: str, site: str, gate: str, gate_channel: str | None, resident_channel: str | None
) -> AuditEntry:
    return AuditEntry(
        moment,
        site,
        gate,
        record.call_id,
        record.decision.value,
        record.how.value,
        record.visitor_name,
        record.intent.value,
        record.apartment,
        record.block,
        record.resident,
        gate_channel,
        resident_channel,
        ", ".join(record.rung),
        record.preauthorisation,
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
