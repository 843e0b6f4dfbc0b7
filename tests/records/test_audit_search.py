"""The decisions search in SQL, on a real SQLite file: days in a zone (inclusive), exact apartment, names in any
case with LIKE's wildcards taken literally, newest first, the limit and the total."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from controller.conversation import AuditRecord, Decision, How, Intent
from controller.records.audit import AuditSearch, like_pattern
from controller.records.audit_sqlite import SqliteAuditLog

BRASILIA = timezone(timedelta(hours=-3))
# (call id, UTC time, apartment, visitor, resident)
RECORDS = (
    ("late-on-the-1st", datetime(2026, 12, 2, 2, 30, tzinfo=UTC), "101", "João Silva", "Renata Souza"),  # 23:30 local
    ("early-on-the-2nd", datetime(2026, 12, 2, 3, 0, tzinfo=UTC), "1010", "Maria_Lima", "Carlos Souza"),  # 00:00
    ("on-the-3rd", datetime(2026, 12, 3, 15, 0, tzinfo=UTC), "10", "100% Entregas", "Renata Souza"),
    ("end-of-the-3rd", datetime(2026, 12, 4, 2, 59, 59, tzinfo=UTC), "101", "Ana\\Paula", "JOSÉ ALMEIDA"),  # 23:59
    ("on-the-4th", datetime(2026, 12, 4, 12, 0, tzinfo=UTC), "101", "Pedro", "Renata Souza"),
)


class Clock:
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest_asyncio.fixture
async def audit(tmp_path: Path) -> AsyncIterator[SqliteAuditLog]:
    clock = Clock()
    log = SqliteAuditLog(tmp_path / "audit.sqlite3", gate="portao", retention_days=3650, clock=clock)
    for call_id, at, apartment, visitor, resident in RECORDS:
        clock.now = at
        await log.write(
            AuditRecord(call_id, Decision.AUTHORISED, How.DTMF, visitor, Intent.VISITA, apartment, None, resident)
        )
    yield log
    await log.aclose()


async def found(audit: SqliteAuditLog, search: AuditSearch, limit: int | None = None) -> list[str]:
    return [entry.call_id for entry in (await audit.search(search, limit)).entries]


async def test_days_are_whole_local_days_and_both_ends_count(audit: SqliteAuditLog) -> None:
    first, third = date(2026, 12, 1), date(2026, 12, 3)
    assert await found(audit, AuditSearch(day_to=first, zone=BRASILIA)) == ["late-on-the-1st"]
    assert await found(audit, AuditSearch(day_from=date(2026, 12, 2), day_to=third, zone=BRASILIA)) == [
        "end-of-the-3rd",
        "on-the-3rd",
        "early-on-the-2nd",
    ]
    assert await found(audit, AuditSearch(day_from=first, day_to=first, zone=UTC)) == []  # in UTC, the 2nd
    assert await found(audit, AuditSearch(day_from=date(2026, 12, 4), zone=BRASILIA)) == ["on-the-4th"]
    assert await found(audit, AuditSearch(day_to=date.max)) == [r[0] for r in reversed(RECORDS)]


async def test_the_apartment_is_matched_exactly(audit: SqliteAuditLog) -> None:
    assert await found(audit, AuditSearch(apartment="101")) == ["on-the-4th", "end-of-the-3rd", "late-on-the-1st"]
    assert await found(audit, AuditSearch(apartment="10")) == ["on-the-3rd"]
    assert await found(audit, AuditSearch(apartment="1")) == []


async def test_names_match_anywhere_in_any_case_on_both_names(audit: SqliteAuditLog) -> None:
    assert await found(audit, AuditSearch(name="silva")) == ["late-on-the-1st"]
    assert await found(audit, AuditSearch(name="joão")) == ["late-on-the-1st"]
    assert await found(audit, AuditSearch(name="JOÃO")) == ["late-on-the-1st"]  # beyond ASCII too
    assert await found(audit, AuditSearch(name="josé")) == ["end-of-the-3rd"]  # the resident's name
    assert await found(audit, AuditSearch(name="souza", apartment="1010")) == ["early-on-the-2nd"]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        ("%", ["on-the-3rd"]),
        ("_", ["early-on-the-2nd"]),
        ("\\", ["end-of-the-3rd"]),
        ("a_s", []),
        ("ri%", []),
        ("maria_l", ["early-on-the-2nd"]),
        ("100%", ["on-the-3rd"]),
        ("a\\p", ["end-of-the-3rd"]),
    ],
)
async def test_like_wildcards_and_the_escape_are_literal(
    audit: SqliteAuditLog, needle: str, expected: list[str]
) -> None:
    assert await found(audit, AuditSearch(name=needle)) == expected


def test_the_like_pattern_escapes_its_escape_first() -> None:
    assert like_pattern("a\\%_b") == "%a\\\\\\%\\_b%"


async def test_the_limit_keeps_the_newest_and_the_total_counts_every_match(audit: SqliteAuditLog) -> None:
    page = await audit.search(AuditSearch(name="renata"), limit=2)
    assert [e.call_id for e in page.entries] == ["on-the-4th", "on-the-3rd"] and page.total == 3
    assert (await audit.search(AuditSearch(name="ninguém"), limit=2)).total == 0
    since = await audit.query(since=datetime(2026, 12, 4, tzinfo=UTC))  # the audit command: oldest first
    assert [e.call_id for e in since] == ["end-of-the-3rd", "on-the-4th"]


async def test_a_read_only_log_searches_too(audit: SqliteAuditLog) -> None:
    reader = SqliteAuditLog(audit.path, gate="", retention_days=1, readonly=True)
    try:
        assert (await reader.search(AuditSearch(name="JOÃO"))).total == 1
    finally:
        await reader.aclose()
