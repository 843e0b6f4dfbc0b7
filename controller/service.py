"""The composition root: builds every long-lived object from the settings and wires them together.

`Service` is what `python -m controller` runs and what the integration tests and the demo start in-process:
ARI client + events websocket, the co-hosted AudioSocket server, the per-call event log, the speech engines
with their prompt cache, the residents directory and the conversation store.
Start and stop are paired; stop hands live callers back to the dialplan and closes everything it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import open_settings_vad
from audiosocket.server import AudioSocketServer
from audiosocket.speech.factory import build_speech
from audiosocket.vad import Vad
from audiosocket.vad_pool import VadPool
from controller.app import StasisApp
from controller.ari import AriClient
from controller.audit import AuditError, SqliteAuditLog
from controller.conversation import prompts
from controller.conversation.llm import build_understanding
from controller.directory import LiveDirectory
from controller.events import JsonlEventLog
from controller.gate_call import CallConfig, CallDeps
from controller.gate_opener import build_gate_opener
from controller.settings import Settings
from controller.store import open_store

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        password = settings.require_ari().get_secret_value()
        host, port = settings.bind_host_port
        self.events = JsonlEventLog(settings.events_file)
        self.media = AudioSocketServer(host, port)
        self.frame_clock = FrameClock()  # one 20 ms pass writes every leg's frame (docs/media.md)
        self.ari = AriClient(
            settings.ari_base, settings.ari_user, password, settings.ari_app, timeout=settings.ari_timeout_s
        )
        self.directory = LiveDirectory(settings.directory)
        self.speech = build_speech(settings)
        self.store = open_store(settings)
        self.vads = VadPool(self._build_vad)
        self.understanding = build_understanding(settings)  # PORTARIA_UNDERSTANDING=llm imports CrewAI here
        self.audit = SqliteAuditLog.from_settings(settings)
        self.opener = build_gate_opener(settings, self._send_dtmf)
        self._purging: asyncio.Task[None] | None = None
        self.app = StasisApp(self.ari, self._call_deps)
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._events_task: asyncio.Task[None] | None = None
        self._config: CallConfig | None = None

    def _call_deps(self) -> CallDeps:
        assert self._config is not None
        return CallDeps(
            self.ari,
            self.media,
            self.events,
            self._config,
            self.settings,
            self.speech,
            self.directory,
            self.store,
            self.vads,
            self.understanding,
            self.audit,
            self.opener,
            self.frame_clock,
        )

    async def _send_dtmf(self, channel_id: str, digits: str) -> None:
        await self.ari.post(f"channels/{channel_id}/dtmf", dtmf=digits)

    async def _build_vad(self) -> Vad:
        return await open_settings_vad(self.settings)

    async def start(self) -> None:
        settings = self.settings
        self.events.open()
        await self.media.start()
        rate = settings.media_format.sample_rate
        await self.speech.start(prompts.fixed_phrases())
        await self.vads.warm()
        try:
            await self.audit.open()  # an unusable audit path is reported now, not at the first decision
        except AuditError as error:
            # Calls still work (visitors reach residents, who can talk to them); no decision can open the gate.
            log.error("audit log unusable, the gate will not open until it is fixed: %s", error)
        self._purging = asyncio.create_task(self.audit.keep_purging(), name="audit-purge")
        advertise = settings.advertise_address
        if not settings.audiosocket_advertise:
            advertise = f"{advertise.rsplit(':', 1)[0]}:{self.media.port}"
        self._config = CallConfig(
            app=settings.ari_app,
            media_address=advertise,
            media_format=settings.media_format.value,
            sample_rate=rate,
        )
        await self.ari.open()
        self._events_task = asyncio.create_task(self._run_events(), name="ari-events")

    async def _run_events(self) -> None:
        async def on_connect(reconnected: bool) -> None:
            await self.app.on_connect(reconnected)
            self.connected.set()

        await self.ari.run_events(self.app.handle, on_connect=on_connect, stop=self._stop)

    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait for the events websocket; surfaces a fatal error (e.g. refused credentials) instead of hanging."""
        assert self._events_task is not None
        waiter = asyncio.create_task(self.connected.wait())
        done, _ = await asyncio.wait({waiter, self._events_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._events_task in done:
            waiter.cancel()
            self._events_task.result()
            raise RuntimeError("ARI events loop ended before connecting")
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError(f"ARI events websocket not connected within {timeout} s")

    async def run_until(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set or the events loop fails (e.g. credentials refused)."""
        assert self._events_task is not None
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, self._events_task}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if self._events_task.done():
            self._events_task.result()

    async def stop(self) -> None:
        self._stop.set()
        await self.app.shutdown()
        if self._events_task is not None:
            # Its outcome was already reported by run_until/wait_connected; here we only wait for it to end.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._events_task, 5)
        await self.ari.close()
        await self.media.stop()
        await self.frame_clock.aclose()
        await self.store.aclose()
        await self.vads.aclose()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purging
        await self.audit.aclose()
        await self.opener.aclose()
        self.speech.close()
        self.events.close()
        log.info("stopped")
