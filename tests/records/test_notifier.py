"""Notes to residents against a real local HTTP receiver: delivered, refused, slow, and finished at shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from controller.records.notifier import WebhookNotifier


@asynccontextmanager
async def receiver(status: int = 200, delay_s: float = 0.0) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        got.append({"body": json.loads(await request.text()), "auth": request.headers.get("Authorization")})
        return web.json_response({"ok": status < 300}, status=status)

    app = web.Application()
    app.router.add_post("/notes", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/notes?key=do-not-log", got
    finally:
        await runner.cleanup()


async def test_a_note_reaches_the_receiver_with_its_token_and_is_reported() -> None:
    async with receiver() as (url, got):
        notifier = WebhookNotifier(url, token="t-123")
        reports: list[tuple[bool, str]] = []
        notifier.send(
            {"event": "delivery_nobody_home", "apartment": "101", "visitor": "João"}, lambda *r: reports.append(r)
        )
        await notifier.aclose()  # waits for the note on its way
    assert got == [
        {"body": {"event": "delivery_nobody_home", "apartment": "101", "visitor": "João"}, "auth": "Bearer t-123"}
    ]
    assert reports == [(True, f"HTTP 200 from {url.split('?')[0]}")]
    assert "do-not-log" not in reports[0][1]


async def test_a_refusing_or_silent_receiver_is_reported_not_raised() -> None:
    async with receiver(status=503) as (url, _):
        notifier = WebhookNotifier(url)
        reports: list[tuple[bool, str]] = []
        notifier.send({"n": 1}, lambda *r: reports.append(r))
        await notifier.aclose()
    assert reports == [(False, f"HTTP 503 from {url.split('?')[0]}")]
    async with receiver(delay_s=2.0) as (url, _):
        notifier = WebhookNotifier(url, timeout_s=0.2)
        reports = []
        notifier.send({"n": 2}, lambda *r: reports.append(r))
        await notifier.aclose()
    assert reports == [(False, f"no answer from {url.split('?')[0]} within 0.2 s")]
    notifier = WebhookNotifier("http://127.0.0.1:9/notes")
    reports = []
    notifier.send({"n": 3}, lambda *r: reports.append(r))
    await notifier.aclose()
    assert reports == [(False, "request to http://127.0.0.1:9/notes failed (ClientConnectorError)")]
