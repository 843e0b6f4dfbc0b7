"""`Service`: what `python -m controller` runs and what the integration tests and the demo start in-process.

ARI client + events websocket, the co-hosted AudioSocket server, the per-call event log, the speech engines
with their prompt cache, the residents directory and the conversation store. Start and stop are paired; stop
hands live callers back to the dialplan and closes everything it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from audiosocket.frame_clock import FrameClock
from audiosocket.server import AudioSocketServer
from audiosocket.vad import SileroModel
from audiosocket.vad_pool import VadPool
from controller.ari.asterisk import Asterisk
from controller.ari.client import AriAppReplaced, AriClient
from controller.calls.deps import FALLBACK_CONTEXT, CallConfig, CallDeps
from controller.calls.recovery import sweep
from controller.calls.runner import CallRunner
from controller.calls.stasis import StasisApp
from controller.conversation import prompts, resident_prompts
from controller.conversation.directory import Directory
from controller.conversation.knowable import directory_phrases
from controller.ops.console import DirectoryFile
from controller.ops.http import OpsServer
from controller.ops.metrics import CallMetrics
from controller.ops.readiness import readiness_checks
from controller.ops.systemd import SystemdNotifier
from controller.records.audit import AuditError
from controller.records.call_log import JsonlEventLog
from controller.records.event_relay import RedisEventRelay
from controller.records.resource_journal import ResourceJournal
from controller.records.sites_file import SitesError
from controller.settings import ENV_PREFIX, Settings, SettingsError
from controller.wiring.console import operator_console
from controller.wiring.media import open_leg_vad, speech_engines
from controller.wiring.parts import audit_log, call_config, call_limit, conversation_store, pass_store, understanding
from controller.wiring.sites import build_sites, environment

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings, *, runner: type[CallRunner] = CallRunner) -> None:
        """`runner` runs each call's conversation (a media test may put a script in its place)."""
        self.settings = settings
        self._runner = runner
        password = settings.require_ari().get_secret_value()
        host, port = settings.bind_host_port
        self.events = JsonlEventLog(settings.events_file)
        self.media = AudioSocketServer(host, port)
        self.frame_clock = FrameClock()  # one 20 ms pass writes every leg's frame (docs/media.md)
        self.ari = AriClient(
            settings.ari_base, settings.ari_user, password, settings.ari_app, timeout=settings.ari_timeout_s
        )
        self.asterisk = Asterisk(self.ari)
        self.speech = speech_engines(settings)
        self.store = conversation_store(settings)
        silero = SileroModel()  # one network for every leg's VAD: each leg keeps only its state
        self.vads = VadPool(lambda: open_leg_vad(settings, silero))
        self.understanding = understanding(settings)  # PORTARIA_UNDERSTANDING=llm imports CrewAI here
        self.audit = audit_log(settings)
        self.passes = pass_store(settings)  # beside the decisions they lead to
        self.journal = ResourceJournal(settings.resource_journal)
        try:
            self.sites = build_sites(settings, self.asterisk.send_dtmf, environment(), on_reload=self._prewarm)
        except SitesError as error:
            raise SettingsError(f"{ENV_PREFIX}SITES: {error}") from None
        self.directory = next(iter(self.sites.sites().values())).directory  # the console's (one site for now)
        self._purging: asyncio.Task[None] | None = None
        self.call_limit = call_limit(settings)
        self.app = StasisApp(
            self.asterisk,
            self._call_deps,
            self.ari.app,
            fallback_context=FALLBACK_CONTEXT,
            max_calls=self.call_limit,
            queue_wait_s=settings.queue_wait_s,
        )
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._events_task: asyncio.Task[None] | None = None
        self._config: CallConfig | None = None
        self.ari_reconnects = 0
        self.audit_usable = False
        self.systemd = SystemdNotifier(os.environ)
        self._watchdog: asyncio.Task[None] | None = None
        self.metrics = CallMetrics(
            {
                "portaria_audiosocket_refused": ("AudioSocket connections refused.", lambda: self.media.refused),
                "portaria_ari_reconnects": (
                    "Times the ARI events socket was reconnected.",
                    lambda: self.ari_reconnects,
                ),
                "portaria_calls_waiting": (
                    "Visitors whose intercom rings until a conversation place frees.",
                    lambda: self.app.waiting_calls,
                ),
            }
        )
        self.events.subscribe(self.metrics.observe)
        console = settings.console_host_port
        checks = readiness_checks(
            self.connected,
            self.ari,
            self.media,
            self.speech,
            audit_usable=lambda: self.audit_usable,
            audit_writable=self.audit.check_writable,
        )
        # With Redis, every instance's events reach every console (records/event_relay.py).
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else ""
        self.relay = RedisEventRelay(redis_url) if redis_url else None
        if self.relay is not None:
            self.events.subscribe(self.relay.publish)
        self.ops: OpsServer | None = None
        if console:
            pages = operator_console(
                settings, self._all_events, self.audit, self.app, self.directory, self.passes, self._directories
            )
            self.ops = OpsServer(*console, self.metrics, checks, pages.routes if pages else None)

    def _directories(self) -> dict[str, DirectoryFile]:
        """Each site's directory, for the console (the sites file may have been reloaded since the last look)."""
        return {site_id: site.directory for site_id, site in self.sites.sites().items()}

    def _all_events(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """This instance's events, and the other instances' when they come through Redis."""
        self.events.subscribe(listener)
        if self.relay is not None:
            self.relay.subscribe(listener)

    def _prewarm(self, directory: Directory, voice: str | None = None) -> None:
        """Synthesize the directory's names and apartments in the background, in its site's voice (nothing to do
        for uncached voices)."""
        speech = self.speech.in_voice(voice)
        if speech.cache is not None:
            speech.prewarm(directory_phrases(directory))

    def _call_deps(self, gate: str) -> CallDeps | None:
        """What a call from gate `gate` uses: its site's directory, settings and opener; None: no such gate."""
        assert self._config is not None
        site = self.sites.site_for(gate)
        if site is None:
            return None
        return CallDeps(
            ari=self.asterisk,
            media=self.media,
            events=self.events,
            config=site.config(self._config),
            site=site.id,
            gate=gate or self.settings.gate_name,
            speech=self.speech.in_voice(site.voice),
            directory=site.directory,
            store=self.store,
            vads=self.vads,
            understanding=self.understanding,
            audit=self.audit,
            opener=site.opener,
            passes=self.passes,
            notifier=site.notifier,
            frame_clock=self.frame_clock,
            runner=self._runner,
            journal=self.journal,
        )

    async def start(self) -> None:
        self.events.open()
        await self.media.start()
        fixed = [*prompts.fixed_phrases(), *resident_prompts.fixed_phrases()]
        if self.speech.cache is None:  # espeak, Azure: the dialog's fixed prompts in memory, a few ms each
            await self.speech.start(fixed)
        else:  # a slow voice with a clause cache: only the greeting and the apology hold up the start
            await self.speech.start()
            by_voice: dict[str | None, list[str]] = {}
            for site in self.sites.sites().values():  # each site's greeting and names in its own voice
                wanted = by_voice.setdefault(site.voice, [*fixed])
                wanted += [*([site.greeting] if site.greeting else []), *directory_phrases(site.directory.current())]
            for voice, phrases in by_voice.items():
                self.speech.in_voice(voice).prewarm(phrases)
        await self.vads.warm()
        try:
            await self.audit.open()  # an unusable audit path is reported now, not at the first decision
            self.audit_usable = True
        except AuditError as error:
            # Calls still work (visitors reach residents, who can talk to them); no decision can open the gate.
            log.error("audit log unusable, the gate will not open until it is fixed: %s", error)
        self._purging = asyncio.create_task(self.audit.keep_purging(), name="audit-purge")
        self._config = call_config(self.settings, self.media.port)
        log.info("up to %s conversations at once", self.call_limit or "any number of")
        self.journal.leftovers()  # claim it now: a second instance on the same journal must not even start
        await self.ari.open()
        self._events_task = asyncio.create_task(self._run_events(), name="ari-events")
        if self.relay is not None:
            self.relay.start()
        if self.ops is not None:
            await self.ops.start()
        self._watchdog = asyncio.create_task(self.systemd.keep_alive(), name="systemd-watchdog")

    async def _run_events(self) -> None:
        config = self._config
        assert config is not None

        async def on_connect(reconnected: bool) -> None:
            self.ari_reconnects += reconnected
            if not reconnected:  # before any call: what a crashed run of ours left goes first
                await sweep(
                    self.asterisk,
                    self.journal,
                    concierge_endpoint=self.settings.concierge_endpoint.strip(),
                    fallback_context=config.fallback_context,
                )
                self.journal.start()
            await self.app.on_connect(reconnected)
            self.connected.set()
            if not reconnected:
                self.systemd.notify("READY=1")  # Type=notify: started once calls can be taken

        try:
            await self.ari.run_events(self.app.handle, on_connect=on_connect, stop=self._stop)
        except AriAppReplaced as error:
            self.connected.clear()  # not ready: /readyz says so, and run_until ends the service
            log.error("%s", error)
            raise

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
        self.systemd.notify("STOPPING=1")
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.ops is not None:
            await self.ops.stop()
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
        if self.relay is not None:
            await self.relay.aclose()
        await self.vads.aclose()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purging
        await self.audit.aclose()
        await self.passes.aclose()
        built = self.sites.built()
        for opener in {id(site.opener): site.opener for site in built}.values():
            await opener.aclose()
        for notifier in {id(site.notifier): site.notifier for site in built if site.notifier}.values():
            await notifier.aclose()  # after the last notes on their way
        self.speech.close()
        self.journal.close()
        self.events.close()
        log.info("stopped")
