"""Hostile payloads on the ARI events websocket: our client's boundary (Asterisk cannot be made to send them).

A local aiohttp websocket server stands where Asterisk's /ari/events is: garbage is logged and dropped, an
oversized message costs one reconnect, and the events after it still reach the app in order.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from controller.ari.client import AriClient

GUARD_S = 15.0
OVERSIZED = 5 * 1024 * 1024  # above the client's 4 MiB message limit


async def test_garbage_and_oversized_events_are_dropped_and_logged_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connections = 0

    async def events(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if connections == 1:
            await ws.send_str("this is not json {")
            await ws.send_bytes(b"\x00\x01binary")
            await ws.send_str(json.dumps({"type": "StasisStart", "application": "t", "seq": 1}))
            await ws.send_str(json.dumps({"type": "Padding", "blob": "x" * OVERSIZED}))
            await ws.send_str(json.dumps({"type": "Lost", "seq": 99}))  # after the oversized one: never read
        else:
            await ws.send_str(json.dumps({"type": "StasisStart", "application": "t", "seq": 2}))
        async for message in ws:
            if message.type is WSMsgType.CLOSE:
                break
        return ws

    app = web.Application()
    app.router.add_get("/ari/events", events)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    received: list[Any] = []
    stop = asyncio.Event()

    async def handler(event: Any) -> None:
        received.append(event)
        if event.get("seq") == 2:
            stop.set()

    try:
        async with AriClient(str(server.make_url("")), "u", "secret-pw", "t") as ari:
            async with asyncio.timeout(GUARD_S):
                await ari.run_events(handler, stop=stop)
    finally:
        await server.close()
    assert [event.get("seq") for event in received] == [1, 2]  # garbage never reached the app; the stream went on
    assert connections == 2  # the oversized message cost one reconnect
    assert "non-JSON" in caplog.text and "connection lost" in caplog.text
    assert "secret-pw" not in caplog.text
