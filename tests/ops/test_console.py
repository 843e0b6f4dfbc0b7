"""The operator console over real HTTP (the service's own aiohttp server on 127.0.0.1, a real SQLite audit log):
login, the live calls page and its event stream, the actions and their CSRF check, the decisions log.

The console against a real call, in a real browser, is tests/integration/test_console_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.conversation.events import AuditRecord, Decision, How
from controller.conversation.understanding import Intent
from controller.ops.auth import LoginGuard, SessionSigner
from controller.ops.console import COOKIE, Console
from controller.ops.http import OpsServer
from controller.ops.live import LiveCalls
from controller.ops.metrics import CallMetrics
from controller.records.audit_sqlite import SqliteAuditLog
from controller.records.directory_file import LiveDirectory
from controller.records.passes_store import SqlitePasses

PASSWORD = "senha-do-operador-42"
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
SECRET = b"segredo-das-sessoes-0123456789"


@dataclass
class Actions:
    running: set[str] = field(default_factory=set)
    done: list[tuple[str, str]] = field(default_factory=list)

    async def hang_up(self, call_id: str) -> bool:
        self.done.append(("hang_up", call_id))
        return call_id in self.running

    async def hand_over(self, call_id: str) -> bool:
        self.done.append(("hand_over", call_id))
        return call_id in self.running


@dataclass
class Bed:
    url: str
    live: LiveCalls
    actions: Actions
    audit: SqliteAuditLog
    http: aiohttp.ClientSession
    directory: LiveDirectory
    logged: list[dict[str, Any]]  # what the charts page reads as the events log
    passes: SqlitePasses

    async def login(self, password: str = PASSWORD) -> aiohttp.ClientResponse:
        return await self.http.post(
            f"{self.url}/console/login", data={"user": "portaria", "password": password}, allow_redirects=False
        )

    async def csrf(self, path: str = "/console") -> str:
        page = await (await self.http.get(self.url + path)).text()
        return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


DIRECTORY = [
    {"apartment_number": "101", "residents": ["Renata Souza", {"name": "Carlos Souza", "nicknames": ["Cacá"],
                                                                "endpoint": "PJSIP/carlos-celular"}],
     "voip_number": "PJSIP/101"},
    {"apartment_number": "202", "block": "B", "residents": ["Maria <Lima>"], "voip_number": "PJSIP/202"},
]


@asynccontextmanager
async def serving(pages: Console) -> AsyncIterator[str]:
    server = OpsServer("127.0.0.1", 0, CallMetrics(), {}, pages.routes)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


@asynccontextmanager
async def console(
    tmp_path: Path,
    settings: list[tuple[str, str, str]] | None = None,
    *,
    hands_over: bool = True,
    extra_site: tuple[str, Path] | None = None,
) -> AsyncIterator[Bed]:
    """A console on files of `tmp_path`; `extra_site`: a second site (id, its directory) as a sites file gives."""
    live, actions = LiveCalls(), Actions()
    logged: list[dict[str, Any]] = []
    audit = SqliteAuditLog(tmp_path / "audit.sqlite3", gate="portao", retention_days=30)
    passes = SqlitePasses(tmp_path / "audit.sqlite3", clock=lambda: NOW)
    directory_file = tmp_path / "apartamentos.json"
    directory_file.write_text(json.dumps(DIRECTORY), encoding="utf-8")
    directory = LiveDirectory(directory_file, check_every_s=3600)
    pages = Console(
        user="portaria", password=PASSWORD, signer=SessionSigner(SECRET, time.time), guard=LoginGuard(time.monotonic),
        live=live, audit=audit.search, actions=actions, zone=UTC, directory=directory, settings=settings or [],
        history=lambda: list(logged), clock=lambda: NOW, hands_over=hands_over, passes=passes,
        sites=(lambda: {"default": directory, extra_site[0]: LiveDirectory(extra_site[1])}) if extra_site else None,
    )
    try:
        async with serving(pages) as url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield Bed(url, live, actions, audit, http, directory, logged, passes)
    finally:
        await audit.aclose()
        await passes.aclose()


def call_events(call_id: str) -> list[dict[str, Any]]:
    def ev(name: str, mono: float, leg: str = "gate", **fields: Any) -> dict[str, Any]:
        return {"call_id": call_id, "event": name, "leg": leg, "mono": mono, "ts": "2026-12-02T10:00:00.000+00:00",
                **fields}

    return [
        ev("stasis_start", 1.0, caller="1000"),
        ev("media_connected", 1.2),
        ev("say", 1.3, text="Condomínio Apoena, em que posso ajudar?"),
        ev("transcript", 6.1, text="Entrega para a Renata do 101.", early=True),
        ev("dialog_turn", 6.2, input="UtteranceHeard"),
        ev("resident_dial", 7.0, leg="resident", endpoint="PJSIP/101"),
        ev("resident_answered", 9.0, leg="resident", ring_ms=2000, resident="Renata Souza"),
        ev("transcript", 14.0, leg="resident", text="<script>alert(1)</script> pode subir"),
    ]


async def test_every_page_needs_a_login_and_a_wrong_password_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with console(tmp_path) as bed:
        for path in (
            "/console", "/console/audit", "/console/audit.csv", "/console/calls/x", "/console/directory",
            "/console/settings", "/console/charts",
        ):
            response = await bed.http.get(bed.url + path, allow_redirects=False)
            assert (response.status, response.headers["Location"]) == (303, "/console/login"), path
        assert (await bed.http.get(bed.url + "/console/events")).status == 401
        with caplog.at_level(logging.WARNING):
            refused = await bed.login("senha-errada-000")
        assert refused.status == 401 and "incorretos" in await refused.text()
        assert "bad login" in caplog.text and "senha-errada" not in caplog.text
        assert (await bed.http.get(bed.url + "/console", allow_redirects=False)).status == 303
        accepted = await bed.login()
        assert accepted.status == 303 and accepted.cookies[COOKIE]["httponly"]
        assert accepted.cookies[COOKIE]["samesite"] == "Strict"
        page = await bed.http.get(bed.url + "/console")
        assert page.status == 200 and "Chamadas em andamento" in await page.text()


async def test_bad_logins_are_rate_limited(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        statuses = [(await bed.login("senha-errada-000")).status for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert (await bed.login()).status == 429  # even the right password, until the failures age out


async def test_a_call_shows_live_with_its_transcript_escaped_and_its_timeline(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        for event in call_events("c1"):
            bed.live.on_event(event)
        page = await (await bed.http.get(bed.url + "/console")).text()
        assert "aguardando decisão" in page and "Renata Souza" in page
        assert "Entrega para a Renata do 101." in page
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
        detail = await (await bed.http.get(bed.url + "/console/calls/c1")).text()
        assert "<svg" in detail and "toque do morador (atendeu)" in detail
        assert (await bed.http.get(bed.url + "/console/calls/nope")).status == 404
        for text in (PASSWORD, SECRET.decode()):
            assert text not in page and text not in detail


async def test_the_event_stream_carries_each_update_as_it_happens(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        async with bed.http.get(bed.url + "/console/events") as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert (await stream.content.readline()).startswith(b": connected")
            for event in call_events("c2"):
                bed.live.on_event(event)
            updates = []
            async with asyncio.timeout(5):
                while len(updates) < 6:
                    line = await stream.content.readline()
                    if line.startswith(b"data: "):
                        updates.append(json.loads(line[6:]))
        assert updates[0] == {"seq": 1, "call_id": "c2", "step": "atendendo", "resident": "", "decision": "",
                              "ended": False, "legs": {}, "line": None}
        assert [u["seq"] for u in updates] == list(range(1, 7))
        lines = [u["line"]["text"] for u in updates if u["line"]]
        assert lines[:2] == ["Condomínio Apoena, em que posso ajudar?", "Entrega para a Renata do 101."]
        # Each leg's state as it changes: the visitor's line up, then the resident's phone ringing, answered.
        assert updates[1]["legs"] == {"gate": "em linha"}
        assert updates[4]["legs"] == {"gate": "em linha", "resident": "tocando"}
        assert updates[5]["legs"] == {"gate": "em linha", "resident": "atendeu"}


async def test_a_page_gets_what_happened_between_its_rendering_and_its_stream(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        events = call_events("c4")
        bed.live.on_event(events[0])
        page = await (await bed.http.get(bed.url + "/console")).text()
        seq = int(page.split('data-seq="', 1)[1].split('"', 1)[0])
        for event in events[1:4]:  # while the browser was still loading the page's script
            bed.live.on_event(event)
        async with bed.http.get(bed.url + "/console/events", params={"after": str(seq)}) as stream:
            texts = []
            async with asyncio.timeout(5):
                while len(texts) < 2:
                    line = await stream.content.readline()
                    if line.startswith(b"data: ") and (update := json.loads(line[6:]))["line"]:
                        texts.append(update["line"]["text"])
        assert texts == ["Condomínio Apoena, em que posso ajudar?", "Entrega para a Renata do 101."]


async def test_an_action_needs_the_sessions_csrf_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with console(tmp_path) as bed:
        bed.actions.running.add("c3")
        for event in call_events("c3"):
            bed.live.on_event(event)
        anonymous = await bed.http.post(f"{bed.url}/console/calls/c3/hangup", data={"csrf": "x"})
        assert anonymous.status == 403
        await bed.login()
        with caplog.at_level(logging.WARNING):
            forged = await bed.http.post(f"{bed.url}/console/calls/c3/hangup", data={"csrf": "forged"})
            missing = await bed.http.post(f"{bed.url}/console/calls/c3/handover")
        assert (forged.status, missing.status) == (403, 403) and "action refused" in caplog.text
        assert bed.actions.done == []
        token = await bed.csrf()
        done = await bed.http.post(f"{bed.url}/console/calls/c3/handover", data={"csrf": token}, allow_redirects=False)
        assert (done.status, done.headers["Location"]) == (303, "/console/calls/c3")
        gone = await bed.http.post(f"{bed.url}/console/calls/zz/hangup", data={"csrf": token})
        assert gone.status == 404
        assert bed.actions.done == [("hand_over", "c3"), ("hang_up", "zz")]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def test_the_decisions_log_filters_and_exports_the_same_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controller.ops.console.AUDIT_LIMIT", 2)  # the page shows 2; the export, every match
    async with console(tmp_path) as bed:
        clock = Clock(datetime(2026, 12, 1, 12, tzinfo=UTC))
        audit = SqliteAuditLog(tmp_path / "audit.sqlite3", gate="portao", retention_days=3650, clock=clock)
        for call_id, day, decision, apartment, visitor in (
            ("a1", 1, Decision.AUTHORISED, "101", "João"), ("a2", 2, Decision.DENIED, "202", "Maria"),
            ("a3", 3, Decision.AUTHORISED, "101", "Pedro"), ("a4", 4, Decision.NO_ANSWER, "101", "Ana"),
        ):
            clock.now = datetime(2026, 12, day, 12, tzinfo=UTC)
            record = AuditRecord(call_id, decision, How.DTMF, visitor, Intent.ENTREGA, apartment, None, "Renata Souza")
            await audit.write(record)
        await audit.aclose()
        await bed.login()

        async def page(**query: str) -> str:
            response = await bed.http.get(bed.url + "/console/audit", params=query)
            assert response.status == 200
            return await response.text()

        everything = await page()
        assert "mostrando 2 de 4" in everything and "Ana" in everything and "Pedro" in everything
        assert "João" not in everything  # newest first: the oldest is past the page's limit
        only = await page(apartment="202")
        assert "Maria" in only and "João" not in only and "mostrando 1 de 1" in only
        by_name = await page(name="JOÃO")
        assert "João" in by_name and "Maria" not in by_name
        days = await page(**{"from": "2026-12-02", "to": "2026-12-03"})
        assert "Maria" in days and "Pedro" in days and "Ana" not in days and "mostrando 2 de 2" in days
        assert 'value="2026-12-02"' in days  # the filters are shown as typed
        exported = await bed.http.get(bed.url + "/console/audit.csv", params={"apartment": "101"})
        rows = (await exported.text()).splitlines()
        assert exported.headers["Content-Type"].startswith("text/csv")
        assert rows[0].startswith("time,site,gate,call_id,decision")
        assert [row.split(",")[3] for row in rows[1:]] == ["a4", "a3", "a1"]  # all three, beyond the page's 2
        dated = await bed.http.get(bed.url + "/console/audit.csv", params={"from": "2026-12-04"})
        assert [row.split(",")[3] for row in (await dated.text()).splitlines()[1:]] == ["a4"]


async def test_a_bad_filter_is_explained_on_the_page(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        for query, message in (
            ({"from": "ontem"}, "Data inválida em “De”"),
            ({"to": "2026-13-01"}, "Data inválida em “Até”"),
            ({"from": "2026-12-05", "to": "2026-12-01"}, "“De” é depois da data “Até”"),
            ({"name": "x" * 500}, "Filtro longo demais"),
        ):
            bad = await bed.http.get(bed.url + "/console/audit", params=query)
            text = await bad.text()
            assert bad.status == 400 and message in text and 'role="alert"' in text, query
            assert "Chamadas" in text  # a whole page, with its navigation, not an error screen
            csv = await bed.http.get(bed.url + "/console/audit.csv", params=query)
            assert csv.status == 400 and message in await csv.text()


async def test_every_page_links_to_every_other(tmp_path: Path) -> None:
    from controller.ops.layout import NAV

    async with console(tmp_path) as bed:
        await bed.login()
        for event in call_events("c5"):
            bed.live.on_event(event)
        for path in [*(path for path, _ in NAV), "/console/calls/c5"]:
            page = await (await bed.http.get(bed.url + path)).text()
            for target, label in NAV:
                current = ' aria-current="page"' if target == path else ""
                assert f'<a href="{target}"{current}>{label}</a>' in page, (path, target)


async def test_logging_out_ends_the_session(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        token = await bed.csrf()
        out = await bed.http.post(f"{bed.url}/console/logout", data={"csrf": token}, allow_redirects=False)
        assert out.status == 303
        assert (await bed.http.get(bed.url + "/console", allow_redirects=False)).status == 303


def test_the_console_is_built_only_with_a_password() -> None:
    from controller.settings import load_settings
    from controller.wiring import operator_console

    no_calls: Any = Actions()
    audit: Any = SqliteAuditLog(Path("/nonexistent/audit.sqlite3"), gate="g", retention_days=1)
    directory: Any = None
    listeners: list[Any] = []
    assert operator_console(load_settings(), listeners.append, audit, no_calls, directory) is None
    assert listeners == []  # no console: nothing follows the events
    built = operator_console(load_settings(console_password=PASSWORD), listeners.append, audit, no_calls, directory)
    assert isinstance(built, Console) and len(listeners) == 1


async def test_a_past_call_no_longer_kept_is_shown_from_the_events_log(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        bed.logged.extend([*call_events("old"), {"call_id": "old", "event": "call_end", "leg": "gate", "mono": 20.0,
                                                  "ts": "2026-12-02T10:00:19.000+00:00"}])
        assert bed.live.get("old") is None  # ended before this start, or pushed out of the kept ones
        page = await (await bed.http.get(bed.url + "/console/calls/old")).text()
        assert "Entrega para a Renata do 101." in page and "toque do morador (atendeu)" in page
        assert "Desligar" not in page  # it has ended: nothing to act on
        assert (await bed.http.get(bed.url + "/console/calls/" + "x" * 200)).status == 404


async def test_a_live_calls_timeline_is_served_alone_for_its_page_to_redraw(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        for event in call_events("c5")[:3]:
            bed.live.on_event(event)
        page = await (await bed.http.get(bed.url + "/console/calls/c5")).text()
        assert "data-timeline-live" in page and "toque do morador" not in page
        for event in call_events("c5")[3:]:
            bed.live.on_event(event)
        response = await bed.http.get(bed.url + "/console/calls/c5/timeline")
        assert response.status == 200 and "toque do morador (atendeu)" in await response.text()
        bed.http.cookie_jar.clear()
        assert (await bed.http.get(bed.url + "/console/calls/c5/timeline", allow_redirects=False)).status in (
            302, 303, 401)


async def test_with_no_concierge_the_hand_over_is_not_offered(tmp_path: Path) -> None:
    async with console(tmp_path, hands_over=False) as bed:
        await bed.login()
        bed.live.on_event(call_events("c6")[0])
        for path in ("/console", "/console/calls/c6"):
            page = await (await bed.http.get(bed.url + path)).text()
            assert "Desligar" in page and "Transferir para a portaria" not in page
