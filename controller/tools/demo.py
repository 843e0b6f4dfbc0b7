"""`python -m controller demo`: one whole gate call on the embedded Asterisk, ending with the gate opened.

Needs the test bed's Asterisk (``./portaria demo`` provisions and starts it). The demo plays every part:

- a simulated visitor calls the gate and asks, in one breath, for apartment 101 (a committed recording;
  tests/fixtures/audio/make_fixtures.py made it), then, in case the sentence was misheard, keys 101#;
- the concierge (this service, on your settings: offline Whisper and the configured voice) rings 101;
- apartment 101's phone is a simulated resident (the test bed's ``resident-sim`` context) who answers,
  listens to the question and says "sim";
- the gate opener is an HTTP webhook the demo serves on 127.0.0.1, so "gate opened" means a request arrived;
- the decision goes to the audit log (PORTARIA_AUDIT_DB), shown at the end with a timeline of the call.

Every per-call event is printed as it happens. Exit status 0 only when the webhook opened the gate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.records.audit_sqlite import SqliteAuditLog
from controller.settings import Settings, load_settings
from controller.tools.demo_timeline import render, timeline
from controller.tools.simulator import SimulatedVisitor, call_gate
from controller.wiring import Service

APARTMENT = "101"


def _describe(event: dict[str, Any]) -> str:
    name = event["event"]
    details = {k: v for k, v in event.items() if k not in ("call_id", "leg", "event", "mono", "ts")}
    if name == "say" and "text" in details:
        return f"Portaria: «{details['text']}»"
    if name == "transcript":
        return f"{'Morador' if event['leg'] == 'resident' else 'Visitante'} (reconhecido): «{details.get('text', '')}»"
    return f"{name} {json.dumps(details, ensure_ascii=False)}" if details else name


class Webhook:
    """The demo's gate: a loopback HTTP server that counts the opening requests."""

    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []
        self.event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/portao", self._open)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/portao"

    async def _open(self, request: web.Request) -> web.Response:
        self.opened.append(await request.json())
        self.event.set()
        return web.json_response({"ok": True})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def demo_directory(settings: Settings, folder: Path, resident: str, tag: str, listen_s: int | None = None) -> Path:
    """The configured directory with apartment 101's phone replaced by the simulated resident, who listens
    `listen_s` seconds (the test bed's default when None) before answering."""
    phone = f"{resident}+{tag}" + (f"+{listen_s}" if listen_s is not None else "")
    entries = json.loads(settings.directory.read_text(encoding="utf-8"))
    found = False
    for entry in entries:
        if str(entry.get("apartment_number")) == APARTMENT and not entry.get("block"):
            entry["voip_number"] = f"Local/{phone}@resident-sim/n"
            entry["residents"] = [r if isinstance(r, str) else r["name"] for r in entry["residents"]]
            found = True
    if not found:
        raise SystemExit(f"demo: the directory {settings.directory} has no apartment {APARTMENT}")
    path = folder / "demo-directory.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller demo", description=__doc__.split("\n")[0])
    parser.add_argument("--utterance", default="visitor-demo", help="WAV in tests/fixtures/audio the visitor says")
    parser.add_argument("--lead", type=int, default=3, help="seconds the visitor listens before speaking")
    parser.add_argument("--dtmf", default="101#", help="keys the visitor presses after speaking ('' for none)")
    parser.add_argument("--resident", default="say-resident-sim", help="the resident's behaviour (or dtmf-1)")
    parser.add_argument("--max-seconds", type=float, default=75.0, help="hang up after this long")
    return parser


async def run_demo(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    webhook = Webhook()
    await webhook.start()
    tag = f"demo-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="portaria-demo-") as folder:
        base = load_settings()
        settings = load_settings(
            **{
                **base.model_dump(exclude_unset=True),
                "directory": demo_directory(base, Path(folder), args.resident, tag),
                "gate_opener": "http",
                "gate_http_preset": "webhook",
                "gate_http_url": webhook.url,
            }
        )
        try:
            return await _call(settings, webhook, args, tag)
        finally:
            await webhook.stop()


async def _call(settings: Settings, webhook: Webhook, args: argparse.Namespace, tag: str) -> int:
    service = Service(settings)
    await service.start()
    ended = asyncio.Event()
    start = time.monotonic()
    seen: list[dict[str, Any]] = []

    def show(event: dict[str, Any]) -> None:
        seen.append(event)
        print(f"[{time.monotonic() - start:6.2f}s] {event['leg']:>8} {_describe(event)}", flush=True)
        if event["event"] == "call_end":
            ended.set()

    service.events.subscribe(show)
    try:
        await service.wait_connected()
        visitor = SimulatedVisitor(args.utterance, tag, lead_s=args.lead, dtmf=args.dtmf)
        channel = await call_gate(service.ari, visitor)
        try:
            await asyncio.wait_for(ended.wait(), args.max_seconds)
        except TimeoutError:
            print(f"demo: hanging up after {args.max_seconds:.0f} s", flush=True)
            await service.asterisk.hang_up(channel["id"])
            await asyncio.wait_for(ended.wait(), 10)
    finally:
        await service.stop()
    call_ids = {event["call_id"] for event in seen if event["event"] == "call_end"}
    for call_id in call_ids:
        print(render(timeline(seen, call_id)))
    await _show_audit(settings.audit_db)
    if webhook.opened:
        print(f"\nPortão aberto pelo webhook da demonstração: {json.dumps(webhook.opened[0], ensure_ascii=False)}")
        return 0
    print("\ndemo: o portão não foi aberto (veja os eventos acima)")
    return 1


async def _show_audit(path: Path) -> None:
    log = SqliteAuditLog(path, gate="demo", retention_days=365, readonly=True)
    try:
        entries = await log.query(limit=1)
    finally:
        await log.aclose()
    for entry in entries:
        print(
            f"\nRegistro de auditoria ({path}): {entry.time} {entry.decision} por {entry.how}, "
            f"apartamento {entry.apartment}, visitante {entry.visitor_name or '—'}"
        )
