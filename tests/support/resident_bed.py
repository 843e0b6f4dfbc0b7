"""The resident phase against the real Asterisk: a Portaria service of its own, a visitor who speaks
committed fixtures, residents simulated in the dialplan, and listeners on the gate side.

- The service runs on its own Stasis app (``portaria-resident``, entered through ``from-gate-resident``), so
  these tests and the other integration tests never take each other's app.
- The visitor's words go through the real AudioSocket, VAD and Whisper; only the language model, a cloud
  service, is replaced at its HTTP boundary (:mod:`tests.support.fake_llm`): a turn with nothing known yet is
  read as "João, a delivery for Renata in 101" (what the default visitor says), any later turn as a yes.
- The gate side: the visitor's Local ``;2`` half is watched through a second ARI app of the test (DTMF the
  opener sends arrives there as ChannelDtmfReceived), and an HTTP opener's request reaches :class:`Webhook`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.ari.client import AriClient
from controller.settings import Settings
from controller.wiring import Service
from tests.support.calls import EventWatcher
from tests.support.fake_llm import FakeLlm, Reply, answer, serving
from tests.support.poll import eventually
from tests.support.testbed import REPO

APP = "portaria-resident"
# The resident tests of the other test bed group (marked `beside`, tests/conftest.py) run at the same time as
# these, on an app of their own: `portaria` serves on it.
BESIDE_APP = "portaria-beside"
# The dialplan context that hands a visitor's call to each app (tests/asterisk/extensions-test.conf).
GATE_CONTEXTS = {
    APP: "from-gate-resident",
    BESIDE_APP: "from-gate-beside",
    "portaria-sites": "from-gate-sites",
    "portaria-multi-a": "from-gate-multi-a",
    "portaria-multi-b": "from-gate-multi-b",
}
CALL_GUARD_S = 90.0  # a whole call: greeting, two visitor turns, ringing, the resident's answer


def visitor_reading(turn: dict[str, Any]) -> Reply:
    """The model's reading of a visitor turn: the whole request first, then a yes to the confirmation."""
    if not turn.get("already_known"):
        return answer(intent="entrega", visitor_name="João", apartment="101", resident="Renata")
    return answer(affirmation="sim")


def resident(behaviour: str, tag: str) -> str:
    """A simulated resident phone (tests/asterisk/extensions-test.conf, context resident-sim)."""
    return f"Local/{behaviour}+{tag}@resident-sim/n"


def write_directory(path: Path, *residents: tuple[str, str]) -> Path:
    """Apartment 101 with these (name, endpoint) residents, each rung on their own endpoint."""
    people = [{"name": name, "endpoint": endpoint} for name, endpoint in residents]
    apartments = [
        {"apartment_number": "101", "residents": people, "voip_number": residents[0][1]},
        {"apartment_number": "102", "residents": ["José Almeida"], "voip_number": "PJSIP/102"},
    ]
    path.write_text(json.dumps(apartments, ensure_ascii=False), encoding="utf-8")
    return path


def sample_with_phones(path: Path, phones: dict[str, str]) -> Path:
    """The sample directory with each apartment's phone replaced: `phones` by apartment, nobody for the rest."""
    entries = json.loads((REPO / "data" / "apartamentos.json").read_text(encoding="utf-8"))
    for entry in entries:
        entry["voip_number"] = phones.get(entry["apartment_number"], "PJSIP/nobody-here")
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


def webhook_gate(
    build: Callable[..., Settings], folder: Path, phones: dict[str, str], opener_url: str, **overrides: Any
) -> Settings:
    """A service on this bed's app: the sample directory with `phones`, its audit in `folder`, the gate opened
    by an HTTP webhook at `opener_url`."""
    return build(
        ari_app=APP,
        directory=sample_with_phones(folder / "directory.json", phones),
        audit_db=folder / "audit.sqlite3",
        gate_opener="http",
        gate_http_preset="webhook",
        gate_http_url=opener_url,
        **overrides,
    )


def audit_rows(db: Path, call_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM decisions WHERE call_id = ? ORDER BY id", (call_id,)).fetchall()
    return [dict(row) for row in rows]


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Service, EventWatcher]]:
    service = Service(settings)
    await service.start()
    try:
        await service.wait_connected()
        watcher = EventWatcher(service)
        try:
            yield service, watcher
        finally:
            watcher.close()
    finally:
        await service.stop()


@dataclass
class GateSide:
    """A second ARI app of the test: events of the channels it subscribes to (the visitor's ;2 half)."""

    ari: AriClient
    app: str
    events: list[dict[str, Any]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    async def subscribe(self, channel_id: str) -> None:
        await self.ari.post(f"applications/{self.app}/subscription", eventSource=f"channel:{channel_id}")

    def dtmf(self, channel_id: str) -> str:
        return "".join(
            str(e.get("digit", ""))
            for e in self.events
            if e["type"] == "ChannelDtmfReceived" and e.get("channel", {}).get("id") == channel_id
        )

    async def wait_dtmf(self, channel_id: str, digits: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while digits not in self.dtmf(channel_id):
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def gate_side(settings: Settings) -> AsyncIterator[GateSide]:
    password = settings.require_ari().get_secret_value()
    app = f"{settings.ari_app}-gate"  # one per service app: the test bed groups watch at the same time
    async with AriClient(settings.ari_base, settings.ari_user, password, app) as ari:
        side = GateSide(ari, app)
        connected = asyncio.Event()
        stop = asyncio.Event()

        async def on_connect(_: bool) -> None:
            connected.set()

        task = asyncio.create_task(ari.run_events(side._on_event, on_connect=on_connect, stop=stop))
        try:
            async with asyncio.timeout(10):
                await connected.wait()
            yield side
        finally:
            stop.set()
            with suppress(Exception):
                await asyncio.wait_for(task, 5)


@dataclass
class Webhook:
    """A local HTTP listener standing for the intercom's webhook: records every request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "body": body,
                "authorization": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"ok": True})


@asynccontextmanager
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    runner = web.AppRunner(web.Application())
    runner.app.router.add_route("*", "/{tail:.*}", hook.handle)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook.port = runner.addresses[0][1]
    try:
        yield hook
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class GateCallHandle:
    tag: str
    gate_channel: str  # the ;1 half, in our Stasis app
    visitor_channel: str  # the ;2 half, running the visitor-sim2 dialplan
    call_id: str


async def visitor_calls(
    service: Service,
    watcher: EventWatcher,
    *,
    first: str = "visitor-k-entrega-101",
    second: str = "noise-1s",
    lead_s: int = 3,
    gap_s: int = 10,
    gate: str = "s",
) -> GateCallHandle:
    """A visitor at the gate who says `first`, then (after `gap_s`) `second`, e.g. the yes to a confirmation.

    By default the whole request in one clear breath, which the fake model reads as it is said (João, a delivery
    for Renata in 101), so the resident is rung at once; then only street noise. `gate`: the extension dialled
    (from-gate-sites makes it the gate's key)."""
    tag = uuid.uuid4().hex[:10]
    gate_channel, visitor_channel = f"rtest-{tag}", f"rtest-{tag}-visitor"
    await service.ari.post(
        "channels",
        endpoint=f"Local/{first}+{tag}+{lead_s}+{gap_s}+{second}@visitor-sim2/n",
        extension=gate,
        context=GATE_CONTEXTS[service.settings.ari_app],
        priority=1,
        callerId="Interfone <1000>",
        timeout=30,
        channelId=gate_channel,
        otherChannelId=visitor_channel,
    )
    try:
        start = await watcher.wait_for("stasis_start", channel=gate_channel, timeout=15)
    except TimeoutError:
        raise NotTaken(gate_channel) from None
    return GateCallHandle(tag, gate_channel, visitor_channel, start["call_id"])


class NotTaken(AssertionError):
    """The visitor's call never became a call of the service (no stasis_start within 15 s)."""

    def __init__(self, gate_channel: str) -> None:
        super().__init__(f"no call started for {gate_channel}")
        self.gate_channel = gate_channel


async def ours_left(service: Service, call: GateCallHandle) -> tuple[list[str], list[str]]:
    channels = await service.ari.get("channels")
    bridges = await service.ari.get("bridges")
    ours_c = [c["id"] for c in channels if call.tag in c["id"] or call.call_id in c["id"] or call.tag in c["name"]]
    ours_b = [b["id"] for b in bridges if call.call_id in b["id"]]
    return ours_c, ours_b


async def nothing_of_ours_left(service: Service, call: GateCallHandle, within: float = 10.0) -> None:
    async def clean() -> bool:
        return not any(await ours_left(service, call))

    try:
        await eventually(clean, within=within)
    except TimeoutError:
        raise AssertionError(f"left behind: {await ours_left(service, call)}") from None


def make_llm() -> FakeLlm:
    return FakeLlm(fallback=visitor_reading)


@asynccontextmanager
async def portaria(
    make_settings: Callable[..., Settings], tmp_path: Path, *residents: tuple[str, str], **overrides: Any
) -> AsyncIterator[tuple[Service, EventWatcher, FakeLlm]]:
    """A service on the `beside` group's app that rings `residents` for apartment 101,
    reads the visitor through the fake model and opens the gate by DTMF."""
    async with serving(make_llm()) as llm:
        values: dict[str, Any] = {
            "ari_app": BESIDE_APP,
            "directory": write_directory(tmp_path / f"dir-{uuid.uuid4().hex[:6]}.json", *residents),
            "audit_db": tmp_path / "audit.sqlite3",
            "understanding": "llm",
            "llm_base_url": llm.base_url,
            "llm_model": "openai/test-model",
            "llm_api_key": "test-key",
            "llm_timeout_s": 10,
            "gate_opener": "dtmf",
        }
        values.update(overrides)
        async with running(make_settings(**values)) as (service, watcher):
            yield service, watcher, llm


async def until_dialled(watcher: EventWatcher, call: GateCallHandle) -> dict[str, Any]:
    """The visitor phase is done: the first resident is being dialled. When it never is, the failure says what
    the call heard and said instead."""
    try:
        return await watcher.wait_for("resident_dial", call_id=call.call_id, timeout=CALL_GUARD_S)
    except TimeoutError:
        shown = ("speech_early_end", "speech_end", "transcript", "say", "error", "leg_closed", "call_end")
        story = [(e["event"], e.get("text", e.get("utterance_ms", e.get("message", ""))))
                 for e in watcher.for_call(call.call_id) if e["event"] in shown]
        raise AssertionError(f"call {call.call_id} never dialled a resident: {story}") from None


async def ended(service: Service, watcher: EventWatcher, call: GateCallHandle) -> None:
    await watcher.wait_for("call_end", call_id=call.call_id, timeout=CALL_GUARD_S)
    await nothing_of_ours_left(service, call)
