"""The passes table in a real SQLite file: what is stored, what is valid when, and what is refused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.records.audit_sqlite import SqliteAuditLog
from controller.records.passes_store import PassError, SqlitePasses
from controller.tools.passes_cli import main as passes_main

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def book(path: Path) -> SqlitePasses:
    return SqlitePasses(path, clock=lambda: NOW)


async def test_a_pass_is_valid_in_its_window_for_its_site_until_revoked(tmp_path: Path) -> None:
    passes = book(tmp_path / "audit.sqlite3")
    granted = await passes.add(
        site="jardins",
        apartment="1203",
        visitor_name=" Rosângela Alves ",
        granted_by="Kátia Regina",
        valid_from=NOW - HOUR,
        valid_until=NOW + 6 * HOUR,
    )
    assert (granted.visitor_name, granted.granted_at) == ("Rosângela Alves", "2026-12-04T12:00:00.000+00:00")
    assert await passes.valid("jardins", NOW) == (granted,)
    assert await passes.valid("apoena", NOW) == (), "another site's pass is not this site's"
    assert await passes.valid("jardins", NOW + 6 * HOUR) == (), "the window's end is outside it"
    assert await passes.valid("jardins", NOW - 2 * HOUR) == ()
    assert await passes.revoke(int(granted.id)) and not await passes.revoke(int(granted.id))
    assert await passes.valid("jardins", NOW) == ()
    [entry] = await passes.listing()
    assert entry.site == "jardins" and entry.revoked_at == "2026-12-04T12:00:00.000+00:00"
    await passes.aclose()
    with sqlite3.connect(tmp_path / "audit.sqlite3") as other:  # committed: another reader sees it
        assert other.execute("SELECT visitor_name FROM passes").fetchall() == [("Rosângela Alves",)]


async def test_the_passes_share_the_audit_file_without_disturbing_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    audit = SqliteAuditLog(path, gate="portao", retention_days=90)
    await audit.open()
    passes = book(path)
    await passes.add(
        site="default",
        apartment="101",
        visitor_name="Ana",
        granted_by="Renata Souza",
        valid_from=NOW,
        valid_until=NOW + HOUR,
    )
    await audit.check_writable()
    assert await audit.query() == [] and len(await passes.listing()) == 1
    await passes.aclose()
    await audit.aclose()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"visitor_name": "  "}, "needs the visitor's name"),
        ({"granted_by": ""}, "who gives it"),
        ({"valid_until": NOW - HOUR}, "the window ends before it starts"),
        ({"valid_from": datetime(2026, 12, 4, 8, 0)}, "a time without a zone is ambiguous"),
        ({"code": "1234"}, "a keypad code is 6 to 10 digits"),
        ({"code": "12345a"}, "a keypad code is 6 to 10 digits"),
    ],
)
async def test_a_bad_pass_is_refused_and_nothing_stored(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    passes = book(tmp_path / "audit.sqlite3")
    values: dict[str, object] = {
        "site": "default",
        "apartment": "101",
        "visitor_name": "Ana",
        "granted_by": "Renata Souza",
        "valid_from": NOW,
        "valid_until": NOW + HOUR,
        **changes,
    }
    with pytest.raises(PassError, match=message):
        await passes.add(**values)  # type: ignore[arg-type]
    assert await passes.listing() == []
    await passes.aclose()


async def test_a_keypad_code_in_use_by_a_live_pass_of_the_site_is_refused(tmp_path: Path) -> None:
    passes = book(tmp_path / "audit.sqlite3")
    first = await passes.add(
        site="default",
        apartment="101",
        visitor_name="Ana",
        granted_by="Renata Souza",
        valid_from=NOW,
        valid_until=NOW + HOUR,
        code="482913",
    )
    with pytest.raises(PassError, match="already in use"):
        await passes.add(
            site="default",
            apartment="102",
            visitor_name="Bia",
            granted_by="José Almeida",
            valid_from=NOW,
            valid_until=NOW + HOUR,
            code="482913",
        )
    await passes.add(
        site="apoena",
        apartment="102",
        visitor_name="Bia",
        granted_by="José Almeida",
        valid_from=NOW,
        valid_until=NOW + HOUR,
        code="482913",
    )  # another site: its own codes
    await passes.revoke(int(first.id))
    await passes.add(
        site="default",
        apartment="102",
        visitor_name="Bia",
        granted_by="José Almeida",
        valid_from=NOW,
        valid_until=NOW + HOUR,
        code="482913",
    )  # free again once revoked
    await passes.aclose()


async def test_an_unusable_file_is_a_pass_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("this is not SQLite, just text " * 100)
    passes = book(tmp_path / "not-a-db")
    with pytest.raises(PassError, match="passes in"):
        await passes.valid("default", NOW)
    await passes.aclose()


def test_the_passes_command_adds_lists_and_revokes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "audit.sqlite3")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    add = [
        "--db",
        db,
        "add",
        "--apartment",
        "1203",
        "--name",
        "Rosângela Alves",
        "--by",
        "Kátia Regina",
        "--from",
        f"{tomorrow}T08:00",
        "--until",
        f"{tomorrow}T18:00",
        "--code",
        "482913",
    ]
    assert passes_main(add) == 0
    assert capsys.readouterr().out == "pass 1 registered: Rosângela Alves for 1203\n"
    assert passes_main(["--db", db, "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["id", "site", "apartment", "visitor", "by", "from", "until", "code", "state"]
    assert f"{tomorrow} 08:00" in row and "Rosângela Alves" in row and row.split()[-2:] == ["yes", "valid"]
    with sqlite3.connect(db) as other:  # 08:00 in São Paulo (UTC-3) is 11:00 UTC
        assert other.execute("SELECT valid_from FROM passes").fetchone() == (f"{tomorrow}T11:00:00.000+00:00",)
    assert passes_main(["--db", db, "revoke", "1"]) == 0 and passes_main(["--db", db, "revoke", "1"]) == 1
    assert "no pass 1 to revoke" in capsys.readouterr().err
    assert passes_main([*add[:-2], "--code", "12"]) == 2
    assert "a keypad code is 6 to 10 digits" in capsys.readouterr().err
    assert passes_main(["--db", db, "--zone", "Mars/Olympus", "list"]) == 2
