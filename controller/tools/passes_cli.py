"""`python -m controller passes`: register, list and revoke pre-authorised visitors.

    passes add --apartment 1203 --name "Rosângela Alves" --by "Kátia Regina" \\
               --from 2026-12-07T08:00 --until 2026-12-07T18:00 [--code 482913] [--block A] [--site jardins]
    passes list [--site jardins]
    passes revoke 12

Times without a zone are read in --zone (default America/Sao_Paulo), as the resident gave them; listings show
them there too. The passes are kept beside the decisions: in PORTARIA_DATABASE_URL, else PORTARIA_AUDIT_DB.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.records.passes_store import PassEntry, PassError, PassStore, SqlitePasses
from controller.settings import SettingsError, load_settings
from controller.wiring.parts import pass_store
from controller.wiring.sites import DEFAULT_SITE

_SHOWN = ("id", "site", "apartment", "visitor", "by", "from", "until", "code", "state")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller passes", description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file (default: PORTARIA_DATABASE_URL, else PORTARIA_AUDIT_DB)")
    parser.add_argument("--zone", default="America/Sao_Paulo", help="zone of times given without one")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="register a visitor for an apartment and a time window")
    add.add_argument("--apartment", required=True)
    add.add_argument("--block")
    add.add_argument("--name", required=True, help="the visitor's name, as they will say it")
    add.add_argument("--by", required=True, help="the resident (or operator) who authorises")
    add.add_argument("--from", dest="start", required=True, help="YYYY-MM-DDTHH:MM")
    add.add_argument("--until", dest="end", required=True, help="YYYY-MM-DDTHH:MM")
    add.add_argument("--code", help="a keypad code of 6 to 10 digits (then the name alone does not open)")
    add.add_argument("--site", default=DEFAULT_SITE, help="the site id (sites file), default: the one site")
    listing = commands.add_parser("list", help="passes whose window has not ended")
    listing.add_argument("--site")
    revoke = commands.add_parser("revoke", help="revoke a pass (it stays on record)")
    revoke.add_argument("id", type=int)
    return parser


def _moment(text: str, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PassError(f"not a time: {text!r} (use YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def write_table(entries: list[PassEntry], zone: ZoneInfo, out: TextIO) -> None:
    def local(iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    rows = [list(_SHOWN)]
    for entry in entries:
        granted = entry.granted
        where = f"{granted.apartment} {granted.block}" if granted.block else granted.apartment
        state = "revoked" if entry.revoked_at else "valid"
        rows.append(
            [
                granted.id,
                entry.site,
                where,
                granted.visitor_name,
                granted.granted_by,
                local(granted.valid_from),
                local(granted.valid_until),
                "yes" if granted.code else "",
                state,
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(_SHOWN))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n")


async def _run(args: argparse.Namespace, passes: PassStore, zone: ZoneInfo, out: TextIO) -> int:
    try:
        if args.command == "add":
            granted = await passes.add(
                site=args.site,
                apartment=args.apartment,
                block=args.block,
                visitor_name=args.name,
                granted_by=args.by,
                valid_from=_moment(args.start, zone),
                valid_until=_moment(args.end, zone),
                code=args.code,
            )
            out.write(f"pass {granted.id} registered: {granted.visitor_name} for {granted.apartment}\n")
        elif args.command == "list":
            write_table(await passes.listing(args.site), zone, out)
        elif not await passes.revoke(args.id):
            print(f"portaria: no pass {args.id} to revoke (or it already was)", file=sys.stderr)
            return 1
        else:
            out.write(f"pass {args.id} revoked\n")
    finally:
        await passes.aclose()
    return 0


def main(argv: list[str], out: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        zone = ZoneInfo(args.zone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"portaria: unknown time zone {args.zone!r}", file=sys.stderr)
        return 2
    try:
        passes: PassStore = SqlitePasses(args.db) if args.db else pass_store(load_settings())
        return asyncio.run(_run(args, passes, zone, out or sys.stdout))
    except (SettingsError, PassError) as error:
        print(f"portaria: {error}", file=sys.stderr)
        return 2
