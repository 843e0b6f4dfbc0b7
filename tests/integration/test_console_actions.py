"""The console's buttons against real calls on the Asterisk test bed: the operator hangs up one call and hands
another to the concierge, over the console's own HTTP with the session's CSRF token; neither opens the gate and
nothing of ours is left. The same buttons in a browser, and their refusal without the token, are in
test_console_browser.py."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import SettingsFactory
from tests.support.net import free_port
from tests.support.poll import eventually
from tests.support.resident_bed import (
    CALL_GUARD_S,
    nothing_of_ours_left,
    resident,
    running,
    until_dialled,
    visitor_calls,
    webhook,
    webhook_gate,
)

pytestmark = pytest.mark.asterisk

PASSWORD = "senha-do-operador-42"


async def _press(http: aiohttp.ClientSession, base: str, call_id: str, action: str) -> int:
    """What the call page's button does: a POST with the token the page carries."""
    page = await (await http.get(f"{base}/console/calls/{call_id}")).text()
    assert f"/console/calls/{call_id}/{action}" in page  # the button is there
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    async with http.post(f"{base}/console/calls/{call_id}/{action}", data={"csrf": token},
                         allow_redirects=False) as response:
        return response.status


async def test_the_operator_hangs_up_one_call_and_hands_another_to_the_concierge(
    make_settings: SettingsFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tag = uuid.uuid4().hex[:8]
    concierge = resident("noanswer", f"{tag}c")
    port = free_port()
    async with webhook() as hook:
        settings = webhook_gate(
            make_settings, tmp_path, {"101": resident("noanswer", f"{tag}r")}, hook.url,
            console_bind=f"127.0.0.1:{port}", console_password=PASSWORD, concierge_endpoint=concierge,
        )
        base = f"http://127.0.0.1:{port}"
        async with running(settings) as (service, watcher), aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            login = await http.post(f"{base}/console/login", data={"user": "portaria", "password": PASSWORD},
                                    allow_redirects=False)
            assert login.status == 303
            caplog.set_level(logging.WARNING, logger="controller.ops.console")

            # Hang up: the resident's phone is ringing (it never answers) when the operator ends the call.
            call = await visitor_calls(service, watcher)
            await until_dialled(watcher, call)
            assert await _press(http, base, call.call_id, "hangup") == 303
            await watcher.wait_for("call_end", call_id=call.call_id, timeout=CALL_GUARD_S)
            assert not watcher.find("fallback", call_id=call.call_id)
            await nothing_of_ours_left(service, call)  # the visitor, the resident's phone, the bridges: all gone
            assert f"asked to hangup call {call.call_id}" in caplog.text

            # Hand over: the visitor leaves our app for the dialplan, which rings the concierge.
            call = await visitor_calls(service, watcher)
            await until_dialled(watcher, call)
            assert await _press(http, base, call.call_id, "handover") == 303
            handed = await watcher.wait_for("fallback", call_id=call.call_id, timeout=CALL_GUARD_S)
            assert (handed["reason"], handed["to"]) == ("operator", concierge)
            await watcher.wait_for("call_end", call_id=call.call_id, timeout=CALL_GUARD_S)

            async def concierge_rings() -> bool:
                return any(f"{tag}c" in channel["name"] for channel in await service.ari.get("channels"))

            await eventually(concierge_rings, within=15)
            await service.asterisk.hang_up(call.visitor_channel)
            await nothing_of_ours_left(service, call)

            # An ended call offers no button.
            page = await (await http.get(f"{base}/console/calls/{call.call_id}")).text()
            assert "/hangup" not in page
            metrics = await (await http.get(f"{base}/metrics")).text()
            assert 'portaria_handovers_total{reason="operator"} 1.0' in metrics
    assert hook.requests == []  # neither call opened the gate
