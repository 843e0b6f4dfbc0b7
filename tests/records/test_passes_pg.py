"""Pre-authorisations in a real PostgreSQL: the SQLite rules, and two instances handing out codes at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from controller.records.passes_pg import PostgresPasses
from controller.records.passes_store import PassError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def book(url: str) -> PostgresPasses:
    return PostgresPasses(url, clock=lambda: NOW)


async def test_a_pass_is_valid_in_its_window_for_its_site_until_revoked(database_url: str) -> None:
    passes = book(database_url)
    granted = await passes.add(
        site="jardins",
        apartment="1203",
        visitor_name="Rosângela Alves",
        granted_by="Kátia Regina",
        valid_from=NOW - HOUR,
        valid_until=NOW + 6 * HOUR,
        block="A",
    )
    assert await passes.valid("jardins", NOW) == (granted,)
    assert await passes.valid("apoena", NOW) == ()
    assert await passes.valid("jardins", NOW + 6 * HOUR) == ()
    assert await passes.revoke(int(granted.id)) and not await passes.revoke(int(granted.id))
    assert await passes.valid("jardins", NOW) == ()
    [entry] = await passes.listing("jardins")
    assert (entry.site, entry.granted.block, entry.revoked_at) == ("jardins", "A", "2026-12-04T12:00:00.000+00:00")
    with pytest.raises(PassError, match="the window ends before it starts"):
        await passes.add(
            site="jardins", apartment="1", visitor_name="x", granted_by="y", valid_from=NOW, valid_until=NOW
        )
    await passes.aclose()


async def test_two_instances_never_hand_out_one_live_code_twice(database_url: str) -> None:
    first, second = book(database_url), book(database_url)

    async def add(passes: PostgresPasses, apartment: str) -> str:
        try:
            await passes.add(
                site="jardins",
                apartment=apartment,
                visitor_name="Ana",
                granted_by="Renata Souza",
                valid_from=NOW,
                valid_until=NOW + HOUR,
                code="482913",
            )
        except PassError as error:
            return str(error)
        return "added"

    outcomes = await asyncio.gather(*(add(first if n % 2 else second, str(100 + n)) for n in range(8)))
    assert outcomes.count("added") == 1, outcomes
    assert all("already in use" in outcome for outcome in outcomes if outcome != "added")
    await first.aclose()
    await second.aclose()
