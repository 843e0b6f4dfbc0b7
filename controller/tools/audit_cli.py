"""`python -m controller audit`: list the gate decisions, or export them as CSV.

Reads PORTARIA_AUDIT_DB (or --db) read-only, so it is safe while the service runs. Times are UTC.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from controller.records.audit import AuditEntry, AuditError, AuditLog, write_csv
from controller.records.audit_pg import PostgresAuditLog
from controller.records.audit_sqlite import SqliteAuditLog
from controller.settings import SettingsError, load_settings

_SHOWN = ("time", "gate", "decision", "how", "visitor_name", "intent", "apartment", "block", "resident", "call_id")


def _date(text: str) -> datetime:
    """YYYY-MM-DD or an ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller audit", description=__doc__.split("\n")[0])
    parser.add_argument("--since", type=_date, help="only decisions from this date or time on (UTC)")
    parser.add_argument("--limit", type=_positive, help="only the N most recent decisions")
    parser.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-' for standard output)")
    parser.add_argument(
        "--db", type=Path, help="SQLite audit file (default: PORTARIA_DATABASE_URL, else PORTARIA_AUDIT_DB)"
    )
    return parser


def write_table(entries: list[AuditEntry], out: TextIO) -> None:
    rows = [list(_SHOWN)] + [[str(getattr(entry, name) or "") for name in _SHOWN] for entry in entries]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_SHOWN))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")


async def _query(where: Path | str, since: datetime | None, limit: int | None) -> list[AuditEntry]:
    """From the SQLite file at `where` (read-only), or the PostgreSQL at URL `where`."""
    audit: AuditLog = (
        PostgresAuditLog(where, gate="", retention_days=1)
        if isinstance(where, str)
        else SqliteAuditLog(where, gate="", retention_days=1, readonly=True)
    )
    try:
        return await audit.query(since, limit)
    finally:
        await audit.aclose()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        url = settings.database_url.get_secret_value() if settings.database_url else ""
        where: Path | str = args.db or url or settings.audit_db
    except SettingsError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    try:
        entries = asyncio.run(_query(where, args.since, args.limit))
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 1
    if args.csv is None:
        write_table(entries, sys.stdout)
    elif args.csv == "-":
        write_csv(entries, sys.stdout)
    else:
        with open(args.csv, "w", newline="", encoding="utf-8") as out:
            write_csv(entries, out)
        print(f"{len(entries)} decision(s) written to {args.csv}", file=sys.stderr)
    return 0
