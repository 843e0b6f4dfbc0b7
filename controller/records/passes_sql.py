"""The passes table and its statements, written once for both stores: SQLite (`?` parameters) and PostgreSQL
(`%s`). Times are ISO 8601 text in UTC, so comparing them as text orders them in time on both."""

from __future__ import annotations

from dataclasses import dataclass

PASS_COLUMNS = "id, apartment, block, visitor_name, granted_by, granted_at, valid_from, valid_until, code"
_INSERTED = "site, apartment, block, visitor_name, granted_by, granted_at, valid_from, valid_until, code"


def schema(id_column: str) -> str:
    """The table and its index; `id_column` is the database's auto-numbered key."""
    return f"""
CREATE TABLE IF NOT EXISTS passes (
    id {id_column},
    site TEXT NOT NULL,
    apartment TEXT NOT NULL,
    block TEXT,
    visitor_name TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    code TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS passes_window ON passes (site, valid_until);
"""


@dataclass(frozen=True, slots=True)
class PassSql:
    code_taken: str  # (site, code, now): a live pass of the site already has the code
    insert: str  # the nine _INSERTED values
    revoke: str  # (now, id)
    valid: str  # (site, moment, moment)
    listing: str  # (since,)
    listing_of_site: str  # (since, site)

    @classmethod
    def using(cls, mark: str) -> PassSql:
        """The statements with `mark` as each parameter's placeholder."""
        listing = f"SELECT site, revoked_at, {PASS_COLUMNS} FROM passes WHERE valid_until > {mark}"
        return cls(
            code_taken=f"SELECT 1 FROM passes WHERE site = {mark} AND code = {mark} AND revoked_at IS NULL"
            f" AND valid_until > {mark}",
            insert=f"INSERT INTO passes ({_INSERTED}) VALUES ({', '.join([mark] * 9)})",
            revoke=f"UPDATE passes SET revoked_at = {mark} WHERE id = {mark} AND revoked_at IS NULL",
            valid=f"SELECT {PASS_COLUMNS} FROM passes WHERE site = {mark} AND revoked_at IS NULL"
            f" AND valid_from <= {mark} AND valid_until > {mark} ORDER BY id",
            listing=listing + " ORDER BY id DESC",
            listing_of_site=listing + f" AND site = {mark} ORDER BY id DESC",
        )
