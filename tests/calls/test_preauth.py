"""A call's passes: a store that fails or hangs costs the pass (the resident is rung), never the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.calls import preauth
from controller.conversation.passes import Pass
from controller.records.passes_store import PassError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ANA = Pass("1", "101", None, "Ana", "Renata Souza", "t0", "2026-12-04T08:00", "2026-12-04T18:00")


class Book:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.asked: list[tuple[str, datetime]] = []

    async def valid(self, site: str, at: datetime) -> tuple[Pass, ...]:
        self.asked.append((site, at))
        if self.behaviour == "broken":
            raise PassError("passes in var/audit.sqlite3: disk I/O error")
        if self.behaviour == "hangs":
            await asyncio.sleep(60)
        return (ANA,)

    async def aclose(self) -> None:
        return None


async def test_the_site_s_passes_valid_now_are_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[Any, ...]] = []
    book = Book("ok")
    found = await preauth.passes_for(book, "jardins", NOW, lambda *a, **k: events.append((*a, k)))
    assert found == (ANA,) and book.asked == [("jardins", NOW)]
    assert events == [("passes", {"count": 1})]
    assert await preauth.passes_for(None, "jardins", NOW, lambda *a, **k: None) == ()


@pytest.mark.parametrize("behaviour", ["broken", "hangs"])
async def test_a_failing_store_gives_no_pass_and_says_so(monkeypatch: pytest.MonkeyPatch, behaviour: str) -> None:
    monkeypatch.setattr(preauth, "LOOKUP_TIMEOUT_S", 0.05)
    events: list[tuple[Any, ...]] = []
    found = await preauth.passes_for(Book(behaviour), "jardins", NOW, lambda *a, **k: events.append((*a, k)))
    assert found == ()
    [(name, fields)] = events
    assert name == "error" and fields["stage"] == "passes" and fields["message"]
