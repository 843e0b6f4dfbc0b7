"""Opening the gate, the pluggable way: DTMF on the intercom's call, an HTTP request to the intercom, or nothing.

:class:`GateOpener` makes one try per :meth:`~GateOpener.open` and raises :class:`GateOpenError` when it fails;
the conversation asks for a second try (``OpenGate(attempt=2)``), so no opener retries by itself. Every try has
a timeout. Credentials come from the settings (``SecretStr``) and appear in no log line and no error message.

HTTP presets (``PORTARIA_GATE_HTTP_PRESET``), from the vendors' documentation:

- ``hikvision``: ISAPI ``PUT /ISAPI/AccessControl/RemoteControl/door/{door}`` with
  ``<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>``, digest authentication;
- ``intelbras`` and ``dahua``: ``GET /cgi-bin/accessControl.cgi?action=openDoor&channel={door}``, digest;
- ``2n``: 2N HTTP API ``GET /api/switch/ctrl?switch={door}&action=trigger``, digest (or basic if configured so);
- ``webhook``: ``POST`` a JSON body (call, apartment, resident, visitor, door) to the URL as given, with
  ``Authorization: Bearer <PORTARIA_GATE_HTTP_TOKEN>`` when a token is set.

DTMF: the digits reach the intercom in the gate channel's ``dtmf_mode`` (asterisk-conf/pjsip.conf): ``rfc4733``
(RTP events, RFC 2833's successor) or ``info`` (SIP INFO). Many intercoms only act on SIP INFO; set the mode their
manual asks for on the intercom's endpoint. ARI's ``POST /channels/{id}/dtmf`` sends in whichever mode is set.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiohttp

from controller.conversation.events import VisitorRequest

log = logging.getLogger(__name__)

SendDtmf = Callable[[str, str], Awaitable[None]]
"""``send_dtmf(channel_id, digits)``: the runner's ARI call ``POST channels/{id}/dtmf?dtmf=digits``."""

Auth = Literal["digest", "basic", "bearer", "none"]


class GateOpenError(Exception):
    """One try to open the gate failed; the message is safe to log (it never holds a credential)."""


@dataclass(frozen=True, slots=True)
class GateContext:
    """What an opener may need to know about the call whose visitor is let in."""

    call_id: str
    gate_channel: str | None  # the intercom's Asterisk channel id
    apartment: str
    block: str | None
    resident: str | None  # None: the visitor asked for the apartment, not for someone in it
    visitor_name: str | None
    intent: str

    @classmethod
    def from_request(cls, request: VisitorRequest, gate_channel: str | None) -> GateContext:
        return cls(
            request.call_id,
            gate_channel,
            request.apartment,
            request.block,
            request.resident,
            request.visitor_name,
            request.intent.value,
        )


class GateOpener(Protocol):
    async def open(self, context: GateContext) -> None:
        """One try; GateOpenError when the gate was (probably) not opened."""

    async def aclose(self) -> None: ...


class NoGateOpener:
    """Opens nothing, only logs: for a gate opened by other means, or a demo."""

    async def open(self, context: GateContext) -> None:
        log.info("call %s: gate opening requested (no gate opener configured)", context.call_id)

    async def aclose(self) -> None:
        return None


class DtmfGateOpener:
    """Sends the intercom's door code as DTMF on the visitor's own call (the gate channel)."""

    def __init__(self, send_dtmf: SendDtmf, digits: str, timeout_s: float) -> None:
        self._send_dtmf = send_dtmf
        self._digits = digits
        self._timeout_s = timeout_s

    async def open(self, context: GateContext) -> None:
        if not context.gate_channel:
            raise GateOpenError("dtmf: no gate channel to send the door code on")
        try:
            await asyncio.wait_for(self._send_dtmf(context.gate_channel, self._digits), self._timeout_s)
        except TimeoutError:
            raise GateOpenError(f"dtmf: no answer from Asterisk within {self._timeout_s:g} s") from None
        except Exception as error:
            raise GateOpenError(f"dtmf: sending to {context.gate_channel} failed ({type(error).__name__})") from None

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class HttpPreset:
    method: str
    path: str  # appended to the base URL; {door} is replaced
    body: str | None = None
    content_type: str | None = None
    auth: Auth = "digest"


PRESETS: dict[str, HttpPreset] = {
    "hikvision": HttpPreset(
        "PUT",
        "/ISAPI/AccessControl/RemoteControl/door/{door}",
        "<RemoteControlDoor><cmd>open</cmd></RemoteControlDoor>",
        "application/xml",
    ),
    "intelbras": HttpPreset("GET", "/cgi-bin/accessControl.cgi?action=openDoor&channel={door}"),
    "dahua": HttpPreset("GET", "/cgi-bin/accessControl.cgi?action=openDoor&channel={door}"),
    "2n": HttpPreset("GET", "/api/switch/ctrl?switch={door}&action=trigger"),
    "webhook": HttpPreset("POST", "", content_type="application/json", auth="bearer"),
}


class HttpGateOpener:
    """One HTTP request per try, from a preset; its own session, closed by :meth:`aclose`."""

    def __init__(
        self,
        name: str,
        preset: HttpPreset,
        url: str,
        *,
        door: int,
        timeout_s: float,
        auth: Auth,
        user: str = "",
        password: str = "",
        token: str = "",
    ) -> None:
        self.name = name
        self._preset = preset
        self._url = url.rstrip("/") + preset.path.format(door=door) if preset.path else url
        self._door = door
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._auth = auth
        self._user = user
        self._password = password
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
            if self._auth == "digest":
                middlewares = (aiohttp.DigestAuthMiddleware(self._user, self._password),)
            self._session = aiohttp.ClientSession(timeout=self._timeout, middlewares=middlewares)
        return self._session

    def _request(self, context: GateContext) -> tuple[dict[str, str], str | None]:
        headers: dict[str, str] = {}
        if self._preset.content_type:
            headers["Content-Type"] = self._preset.content_type
        if self._auth == "bearer" and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if self._auth == "basic":
            credentials = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"
        body = self._preset.body
        if self.name == "webhook":
            body = json.dumps(
                {
                    "event": "open_gate",
                    "door": self._door,
                    "call_id": context.call_id,
                    "apartment": context.apartment,
                    "block": context.block,
                    "resident": context.resident,
                    "visitor_name": context.visitor_name,
                    "intent": context.intent,
                },
                ensure_ascii=False,
            )
        return headers, body

    async def open(self, context: GateContext) -> None:
        headers, body = self._request(context)
        try:
            async with self._client().request(self._preset.method, self._url, data=body, headers=headers) as response:
                text = await response.text(errors="replace")
                if response.status >= 300:
                    raise GateOpenError(f"{self.name}: HTTP {response.status} from {self._where}")
        except GateOpenError:
            raise
        except TimeoutError:
            raise GateOpenError(f"{self.name}: no answer from {self._where} within {self._timeout.total:g} s") from None
        except aiohttp.ClientError as error:
            raise GateOpenError(f"{self.name}: request to {self._where} failed ({type(error).__name__})") from None
        if self.name == "2n" and not _success(text):
            raise GateOpenError(f"2n: the intercom refused the switch command ({self._where})")

    @property
    def _where(self) -> str:
        """The URL without its query, and never with credentials."""
        return self._url.split("?", 1)[0]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _success(text: str) -> bool:
    """2N answers 200 with {"success": false, "error": ...} when it refuses."""
    try:
        answer = json.loads(text)
    except ValueError:
        return True
    return not (isinstance(answer, dict) and answer.get("success") is False)


OpenerKind = Literal["none", "dtmf", "http"]


@dataclass(frozen=True, slots=True)
class OpenerSpec:
    """Which opener a gate has and how it is set up: from the settings (the one-site default) or a site of the
    sites file. Plain data, so a reloaded sites file can tell which openers really changed."""

    kind: OpenerKind = "dtmf"
    dtmf: str = "#"
    preset: str = "hikvision"
    url: str = ""
    auth: Literal["auto", "digest", "basic", "none"] = "auto"
    user: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    door: int = 1
    timeout_s: float = 5.0


def build_opener(spec: OpenerSpec, send_dtmf: SendDtmf) -> GateOpener:
    """The opener `spec` describes; ValueError (naming what is missing, never a secret) when it cannot work."""
    if spec.kind == "none":
        return NoGateOpener()
    if spec.kind == "dtmf":
        return DtmfGateOpener(send_dtmf, spec.dtmf, spec.timeout_s)
    preset = PRESETS.get(spec.preset)
    if preset is None:
        raise ValueError(f"unknown HTTP preset {spec.preset!r} (one of {', '.join(PRESETS)})")
    if not spec.url:
        raise ValueError("no URL for the HTTP opener (the intercom's address, or the webhook URL)")
    auth: Auth = preset.auth if spec.auth == "auto" else spec.auth
    if auth in ("digest", "basic") and not (spec.user and spec.password):
        raise ValueError(f"a user and a password are needed for {spec.preset} ({auth} authentication)")
    return HttpGateOpener(
        spec.preset,
        preset,
        spec.url,
        door=spec.door,
        timeout_s=spec.timeout_s,
        auth=auth,
        user=spec.user,
        password=spec.password,
        token=spec.token,
    )
