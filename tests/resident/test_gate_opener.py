"""Gate openers against a local aiohttp server that plays each intercom, with a real digest challenge."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from controller.conversation import Intent, VisitorRequest
from controller.records.gate_opener import (
    DtmfGateOpener,
    GateContext,
    GateOpenError,
    HttpGateOpener,
    NoGateOpener,
)
from controller.settings import SettingsError, load_settings
from controller.wiring import gate_opener as build_gate_opener

USER, PASSWORD, REALM = "admin", "s3cr3t-Porta!", "intercom"
CONTEXT = GateContext.from_request(
    VisitorRequest("call-7", Intent.ENTREGA, "João", "101", "A", "Renata Souza"), gate_channel="1700000000.42"
)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class Intercom:
    """Accepts one method and path; answers 401 + a digest challenge, then checks the response hash."""

    method: str
    path: str
    auth: str = "digest"  # digest | basic | bearer | none
    reply: str = "OK"
    seen: list[web.Request] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    authorised: int = 0
    challenged: int = 0
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        self.bodies.append(await request.text())
        if request.method != self.method or request.path_qs != self.path:
            return web.Response(status=404)
        if not self._authorised(request):
            self.challenged += 1
            challenge = f'Digest realm="{REALM}", qop="auth", nonce="{self.nonce}", algorithm=MD5'
            header = {"digest": challenge, "basic": f'Basic realm="{REALM}"'}.get(self.auth, "Bearer")
            return web.Response(status=401, headers={"WWW-Authenticate": header})
        self.authorised += 1
        return web.Response(text=self.reply)

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "bearer":
            return header == "Bearer tok-123"
        if self.auth == "basic":
            return header == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header[len("Digest ") :]))
        if fields.get("username") != USER or fields.get("nonce") != self.nonce or fields.get("uri") != self.path:
            return False
        ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"{request.method}:{fields['uri']}")
        expected = _md5(f"{ha1}:{self.nonce}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{ha2}")
        return fields.get("response") == expected


async def _serve(intercom: Intercom) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", intercom.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def _opener(preset: str, url: str, **env: object) -> HttpGateOpener:
    settings = load_settings(
        gate_opener="http",
        gate_http_preset=preset,
        gate_http_url=url,
        gate_http_user=USER,
        gate_http_password=PASSWORD,
        gate_door=env.pop("door", 1),
        gate_timeout_s=env.pop("timeout", 2.0),
        **env,
    )
    opener = build_gate_opener(settings, send_dtmf=_no_dtmf)
    assert isinstance(opener, HttpGateOpener)
    return opener


async def _no_dtmf(channel: str, digits: str) -> None:
    raise AssertionError("no DTMF expected")


CASES = [  # preset, method, path and query, door
    ("hikvision", "PUT", "/ISAPI/AccessControl/RemoteControl/door/2", 2),
    ("intelbras", "GET", "/cgi-bin/accessControl.cgi?action=openDoor&channel=1", 1),
    ("dahua", "GET", "/cgi-bin/accessControl.cgi?action=openDoor&channel=3", 3),
    ("2n", "GET", "/api/switch/ctrl?switch=1&action=trigger", 1),
]


@pytest.mark.parametrize(("preset", "method", "path", "door"), CASES, ids=[case[0] for case in CASES])
async def test_each_preset_arrives_authenticated_by_digest(preset: str, method: str, path: str, door: int) -> None:
    intercom = Intercom(method, path, reply='{"success": true}' if preset == "2n" else "OK")
    async for url in _serve(intercom):
        opener = _opener(preset, url, door=door)
        await opener.open(CONTEXT)
        await opener.aclose()
    assert intercom.challenged == 1 and intercom.authorised == 1
    if preset == "hikvision":
        assert intercom.bodies[-1] == "<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>"
        assert intercom.seen[-1].headers["Content-Type"] == "application/xml"


@pytest.mark.parametrize(("preset", "method", "path", "door"), CASES[:2], ids=["hikvision", "intelbras"])
async def test_a_wrong_password_fails_without_leaking_it(
    preset: str, method: str, path: str, door: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    intercom = Intercom(method, path)
    async for url in _serve(intercom):
        settings = load_settings(
            gate_opener="http",
            gate_http_preset=preset,
            gate_http_url=url,
            gate_http_user=USER,
            gate_http_password="wrong-" + PASSWORD,
            gate_door=door,
        )
        opener = build_gate_opener(settings, _no_dtmf)
        with pytest.raises(GateOpenError) as error:
            await opener.open(CONTEXT)
        await opener.aclose()
    assert "401" in str(error.value)
    assert PASSWORD not in str(error.value) and PASSWORD not in repr(error.value.__cause__)
    assert intercom.authorised == 0 and intercom.challenged >= 1
    assert PASSWORD not in caplog.text


async def test_2n_with_basic_auth_and_a_refusal() -> None:
    intercom = Intercom(
        "GET",
        "/api/switch/ctrl?switch=1&action=trigger",
        auth="basic",
        reply='{"success": false, "error": {"code": 14}}',
    )
    async for url in _serve(intercom):
        opener = _opener("2n", url, gate_http_auth="basic")
        with pytest.raises(GateOpenError, match="refused"):
            await opener.open(CONTEXT)
        await opener.aclose()
    assert intercom.authorised == 1


async def test_webhook_posts_the_call_with_a_bearer_token() -> None:
    intercom = Intercom("POST", "/hooks/gate", auth="bearer")
    async for url in _serve(intercom):
        settings = load_settings(
            gate_opener="http", gate_http_preset="webhook", gate_http_url=url + "/hooks/gate", gate_http_token="tok-123"
        )
        opener = build_gate_opener(settings, _no_dtmf)
        await opener.open(CONTEXT)
        await opener.aclose()
    assert intercom.authorised == 1 and intercom.seen[-1].headers["Content-Type"] == "application/json"
    assert json.loads(intercom.bodies[-1]) == {
        "event": "open_gate",
        "door": 1,
        "call_id": "call-7",
        "apartment": "101",
        "block": "A",
        "resident": "Renata Souza",
        "visitor_name": "João",
        "intent": "entrega",
    }


async def test_an_unreachable_or_slow_intercom_is_a_gate_open_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    opener = _opener("intelbras", url, timeout=0.2)
    with pytest.raises(GateOpenError, match="no answer"):
        await opener.open(CONTEXT)
    await opener.aclose()
    await server.close()
    opener = _opener("intelbras", url)  # nothing listens there any more
    with pytest.raises(GateOpenError, match="failed"):
        await opener.open(CONTEXT)
    await opener.aclose()


async def test_dtmf_opener_sends_the_code_on_the_gate_channel() -> None:
    sent: list[tuple[str, str]] = []

    async def send(channel: str, digits: str) -> None:
        sent.append((channel, digits))

    opener = build_gate_opener(load_settings(gate_opener="dtmf", gate_dtmf="*1#"), send)
    await opener.open(CONTEXT)
    assert sent == [("1700000000.42", "*1#")]


async def test_dtmf_opener_failures() -> None:
    async def broken(channel: str, digits: str) -> None:
        raise ConnectionError("ari down")

    async def stuck(channel: str, digits: str) -> None:
        await asyncio.sleep(5)

    with pytest.raises(GateOpenError, match="ConnectionError"):
        await DtmfGateOpener(broken, "#", 1.0).open(CONTEXT)
    with pytest.raises(GateOpenError, match="no answer"):
        await DtmfGateOpener(stuck, "#", 0.05).open(CONTEXT)
    with pytest.raises(GateOpenError, match="no gate channel"):
        await DtmfGateOpener(broken, "#", 1.0).open(GateContext("c", None, "101", None, "R", "J", "visita"))


async def test_none_opener_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    opener = build_gate_opener(load_settings(gate_opener="none"), _no_dtmf)
    assert isinstance(opener, NoGateOpener)
    await opener.open(CONTEXT)
    assert "call-7" in caplog.text


def test_factory_names_missing_settings() -> None:
    with pytest.raises(SettingsError, match="PORTARIA_GATE_HTTP_URL"):
        build_gate_opener(load_settings(gate_opener="http"), _no_dtmf)
    with pytest.raises(SettingsError, match="PORTARIA_GATE_HTTP_PASSWORD"):
        build_gate_opener(load_settings(gate_opener="http", gate_http_url="http://10.0.0.5"), _no_dtmf)
    webhook = load_settings(gate_opener="http", gate_http_preset="webhook", gate_http_url="http://10.0.0.5/h")
    assert isinstance(build_gate_opener(webhook, _no_dtmf), HttpGateOpener)  # a token is optional


def test_settings_never_echo_the_password() -> None:
    settings = load_settings(gate_http_password=PASSWORD, gate_http_token="tok-123")
    assert PASSWORD not in repr(settings) and "tok-123" not in repr(settings)
