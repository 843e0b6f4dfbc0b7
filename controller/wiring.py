"""The composition root: the settings become plain configs here, and every long-lived object is built here.

Nothing below this module reads :class:`~controller.settings.Settings`: the media layer gets a
:class:`~audiosocket.media_leg.LegConfig` and a :class:`~audiosocket.speech.factory.SpeechConfig`, the
conversation a :class:`~controller.conversation.dialog.DialogPolicy`, a call a
:class:`~controller.calls.gate_call.CallConfig`. The functions are also what the tools (chat, check, demo) use,
so a tool and the service never build the same thing two ways.

`Service` is what `python -m controller` runs and what the integration tests and the demo start in-process:
ARI client + events websocket, the co-hosted AudioSocket server, the per-call event log, the speech engines
with their prompt cache, the residents directory and the conversation store. Start and stop are paired; stop
hands live callers back to the dialplan and closes everything it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from audiosocket.endpointing import EndpointingConfig
from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import LegConfig
from audiosocket.server import AudioSocketServer
from audiosocket.speech.azure import AzureConfig
from audiosocket.speech.factory import SpeechConfig, SpeechEngines, build_speech
from audiosocket.speech.guard import GuardLimits
from audiosocket.speech.install_model import KOKORO_MODEL, read_kokoro_stamp
from audiosocket.speech.kokoro import KokoroOptions
from audiosocket.speech.whisper import WhisperOptions
from audiosocket.vad import Vad, open_vad
from audiosocket.vad_pool import VadPool
from controller.ari.asterisk import Asterisk
from controller.ari.client import AriAppReplaced, AriClient
from controller.calls.gate_call import CallConfig, CallDeps
from controller.calls.recovery import sweep
from controller.calls.runner import CallRunner
from controller.calls.stasis import StasisApp
from controller.conversation import prompts
from controller.conversation.dialog import DialogPolicy
from controller.conversation.directory import Directory
from controller.conversation.knowable import directory_phrases
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.understanding import Understanding
from controller.ops.auth import LoginGuard, SessionSigner
from controller.ops.console import Console
from controller.ops.http import OpsServer
from controller.ops.live import LiveCalls
from controller.ops.metrics import CallMetrics
from controller.ops.readiness import readiness_checks
from controller.records.audit import AuditError, AuditLog, SqliteAuditLog
from controller.records.call_log import JsonlEventLog
from controller.records.directory_file import LiveDirectory
from controller.records.gate_opener import (
    PRESETS,
    Auth,
    DtmfGateOpener,
    GateOpener,
    HttpGateOpener,
    NoGateOpener,
    SendDtmf,
)
from controller.records.resource_journal import ResourceJournal
from controller.records.store import ConversationStore, MemoryStore, RedisStore
from controller.settings import ENV_PREFIX, Settings, SettingsError, SttEngine, TtsEngine, UnderstandingEngine
from controller.understanding.fallback import WithFallback
from controller.understanding.llm import LlmConfig, LlmSetupError, LlmUnderstanding

log = logging.getLogger(__name__)


# Settings -> plain configs ---------------------------------------------------------------------------------


def dialog_policy(settings: Settings, *, concierge_available: bool | None = None) -> DialogPolicy:
    """The conversation's policy; a concierge is available when PORTARIA_CONCIERGE_ENDPOINT is set."""
    if concierge_available is None:
        concierge_available = bool(settings.concierge_endpoint.strip())
    return DialogPolicy(
        greeting=settings.greeting,
        max_turns_without_progress=settings.max_turns_without_progress,
        silence_timeout_s=settings.reprompt_after_s,
        dtmf_gap_s=settings.dtmf_gap_s,
        concierge_available=concierge_available,
        call_attempts=settings.call_attempts,
        ring_timeout_s=settings.ring_timeout_s,
        reassure_every_s=settings.reassure_every_s,
        resident_silence_s=settings.reprompt_after_s,
    )


def leg_config(settings: Settings) -> LegConfig:
    return LegConfig(
        sample_rate=settings.media_format.sample_rate,
        endpointing=EndpointingConfig(
            silence_ms=settings.silence_ms,
            early_ms=settings.early_end_ms,
            pre_roll_ms=settings.pre_roll_ms,
            min_speech_ms=settings.min_speech_ms,
            max_utterance_ms=settings.max_utterance_ms,
            barge_in_min_ms=settings.barge_in_min_ms,
        ),
        barge_in=settings.barge_in,
        idle_silence=settings.playout_idle_silence,
    )


async def open_leg_vad(settings: Settings) -> Vad:
    """The VAD the settings choose, at the legs' rate, built off the event loop."""
    return await open_vad(
        settings.vad_engine,
        settings.media_format.sample_rate,
        webrtc_mode=settings.vad_webrtc_mode,
        silero_threshold=settings.vad_silero_threshold,
    )


def azure_problems(settings: Settings) -> list[str]:
    """What is missing for the Azure engines the settings select (empty when Azure is not selected or complete)."""
    users = [
        name
        for name, used in (
            ("speech-to-text", settings.stt_engine is SttEngine.AZURE),
            ("text-to-speech", settings.tts_engine is TtsEngine.AZURE),
        )
        if used
    ]
    if not users:
        return []
    selected = f"Azure is selected for {' and '.join(users)}"
    problems = []
    if settings.azure_speech_key is None or not settings.azure_speech_key.get_secret_value().strip():
        problems.append(f"{ENV_PREFIX}AZURE_SPEECH_KEY is not set ({selected})")
    if not settings.azure_speech_region.strip():
        problems.append(f"{ENV_PREFIX}AZURE_SPEECH_REGION is not set, e.g. brazilsouth ({selected})")
    return problems


def speech_problems(settings: Settings) -> list[str]:
    """Everything `check` should report about speech: Azure credentials, the Whisper and Kokoro models' presence."""
    problems = azure_problems(settings)
    if settings.stt_engine is SttEngine.WHISPER and not (settings.whisper_model / "model.bin").is_file():
        problems.append(
            f"{ENV_PREFIX}WHISPER_MODEL: no model.bin in {settings.whisper_model} "
            "(run `python -m audiosocket.speech.install_model`)"
        )
    if settings.tts_engine is TtsEngine.KOKORO and not kokoro_installed(settings.kokoro_model):
        problems.append(
            f"{ENV_PREFIX}KOKORO_MODEL: no assembled Kokoro model in {settings.kokoro_model} "
            "(run `python -m audiosocket.speech.install_model`)"
        )
    return problems


def kokoro_installed(model_dir: Path) -> bool:
    """The installer's files and stamp are there (the sha256 itself is checked when the engine loads)."""
    return (model_dir / KOKORO_MODEL).is_file() and bool(read_kokoro_stamp(model_dir).get("sha256"))


def speech_config(settings: Settings, *, sample_rates: Iterable[int] | None = None) -> SpeechConfig:
    """The speech engines' config; SettingsError naming the missing setting (never the key) if Azure is incomplete."""
    problems = azure_problems(settings)
    if problems:
        raise SettingsError("; ".join(problems))
    azure = None
    if SttEngine.AZURE is settings.stt_engine or TtsEngine.AZURE is settings.tts_engine:
        assert settings.azure_speech_key is not None  # azure_problems said so otherwise
        azure = AzureConfig(
            key=settings.azure_speech_key,
            region=settings.azure_speech_region,
            language=settings.azure_speech_language,
            voice=settings.azure_speech_voice,
            session_timeout_s=settings.stt_timeout_s,
        )
    return SpeechConfig(
        stt="azure" if settings.stt_engine is SttEngine.AZURE else "whisper",
        tts=settings.tts_engine.value,
        whisper_model=settings.whisper_model,
        whisper=WhisperOptions(
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_threads,
            beam_size=settings.whisper_beam_size,
            short_input=settings.whisper_short_input,
        ),
        espeak_voice=settings.espeak_voice,
        espeak_speed=settings.espeak_speed,
        kokoro_model=settings.kokoro_model,
        kokoro=KokoroOptions(
            voice=settings.kokoro_voice, speed=settings.kokoro_speed, threads=settings.kokoro_threads,
            espeak_voice=settings.espeak_voice,
        ),
        tts_cache_dir=settings.tts_cache_dir,
        tts_cache_max_bytes=settings.tts_cache_max_mb * 1024 * 1024,
        azure=azure,
        limits=GuardLimits(
            stt_timeout_s=settings.stt_timeout_s,
            tts_timeout_s=settings.tts_timeout_s,
            max_consecutive_failures=settings.speech_max_failures,
        ),
        workers=settings.speech_workers,
        phrases=(settings.greeting,),
        sample_rates=tuple(sample_rates) if sample_rates else (settings.media_format.sample_rate,),
    )


def speech_engines(settings: Settings, *, sample_rates: Iterable[int] | None = None) -> SpeechEngines:
    return build_speech(speech_config(settings, sample_rates=sample_rates))


def llm_config(settings: Settings) -> LlmConfig:
    return LlmConfig(
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_s,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        base_url=str(settings.llm_base_url) if settings.llm_base_url is not None else None,
    )


def understanding(settings: Settings) -> Understanding:
    """The understanding the settings ask for; call once at start-up (the LLM backend imports CrewAI here).

    Raises SettingsError when the llm extra is not installed or CrewAI refuses the model.
    """
    rules = RuleUnderstanding()
    if settings.understanding is UnderstandingEngine.RULES:
        return rules
    try:
        backend = LlmUnderstanding.create(llm_config(settings))
    except LlmSetupError as error:
        raise SettingsError(f"{ENV_PREFIX}{error}") from None
    log.info("understanding: %s through CrewAI, rules after %.1f s", settings.llm_model, settings.llm_timeout_s)
    return WithFallback(backend, rules, settings.llm_timeout_s)


def audit_log(settings: Settings) -> SqliteAuditLog:
    return SqliteAuditLog(settings.audit_db, gate=settings.gate_name, retention_days=settings.audit_retention_days)


def conversation_store(settings: Settings) -> ConversationStore:
    """The store the settings ask for (Redis when PORTARIA_REDIS_URL is set)."""
    if settings.redis_url is not None and settings.redis_url.get_secret_value():
        return RedisStore(settings.redis_url.get_secret_value(), settings.state_ttl_s)
    return MemoryStore(settings.state_ttl_s)


def gate_opener(settings: Settings, send_dtmf: SendDtmf) -> GateOpener:
    """The opener PORTARIA_GATE_OPENER chooses; SettingsError when what it needs is missing."""
    match settings.gate_opener:
        case "none":
            return NoGateOpener()
        case "dtmf":
            return DtmfGateOpener(send_dtmf, settings.gate_dtmf, settings.gate_timeout_s)
    name = settings.gate_http_preset
    preset = PRESETS[name]
    if not settings.gate_http_url:
        raise SettingsError(f"{ENV_PREFIX}GATE_HTTP_URL is not set (the intercom's address, or the webhook URL)")
    auth: Auth = preset.auth if settings.gate_http_auth == "auto" else settings.gate_http_auth
    password = settings.gate_http_password.get_secret_value() if settings.gate_http_password else ""
    token = settings.gate_http_token.get_secret_value() if settings.gate_http_token else ""
    if auth in ("digest", "basic") and not (settings.gate_http_user and password):
        raise SettingsError(
            f"{ENV_PREFIX}GATE_HTTP_USER and {ENV_PREFIX}GATE_HTTP_PASSWORD are needed for {name} "
            f"({auth} authentication)"
        )
    return HttpGateOpener(
        name,
        preset,
        settings.gate_http_url,
        door=settings.gate_door,
        timeout_s=settings.gate_timeout_s,
        auth=auth,
        user=settings.gate_http_user,
        password=password,
        token=token,
    )


def call_config(settings: Settings, media_port: int) -> CallConfig:
    """What every gate call needs to know; `media_port` is the port the AudioSocket server really listens on."""
    advertise = settings.advertise_address
    if not settings.audiosocket_advertise:
        advertise = f"{advertise.rsplit(':', 1)[0]}:{media_port}"
    return CallConfig(
        app=settings.ari_app,
        media_address=advertise,
        media_format=settings.media_format.value,
        leg=leg_config(settings),
        policy=dialog_policy(settings),
        endpoint_template=settings.endpoint_template,
        caller_id=settings.caller_id,
        concierge_endpoint=settings.concierge_endpoint.strip(),
        media_silence_s=settings.media_silence_s,
    )


def operator_console(
    settings: Settings, subscribe: Callable[[Callable[[dict[str, Any]], None]], object], audit: AuditLog,
    calls: StasisApp,
) -> Console | None:
    """The console at /console, when a password is set; only then does its view of the calls follow the events."""
    if settings.console_password is None:
        return None
    live = LiveCalls()
    subscribe(live.on_event)
    secret = settings.console_session_secret
    key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    return Console(
        user=settings.console_user,
        password=settings.console_password.get_secret_value(),
        signer=SessionSigner(key, time.time),
        guard=LoginGuard(time.monotonic),
        live=live,
        audit=audit.query,
        actions=calls,
    )


# The service -----------------------------------------------------------------------------------------------


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
        self.directory = LiveDirectory(settings.directory, on_reload=self._prewarm)
        self.speech = speech_engines(settings)
        self.store = conversation_store(settings)
        self.vads = VadPool(lambda: open_leg_vad(settings))
        self.understanding = understanding(settings)  # PORTARIA_UNDERSTANDING=llm imports CrewAI here
        self.audit = audit_log(settings)
        self.journal = ResourceJournal(settings.resource_journal)
        self.opener = gate_opener(settings, self.asterisk.send_dtmf)
        self._purging: asyncio.Task[None] | None = None
        self.app = StasisApp(self.asterisk, self._call_deps, self.ari.app)
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._events_task: asyncio.Task[None] | None = None
        self._config: CallConfig | None = None
        self.ari_reconnects = 0
        self.audit_usable = False
        self.metrics = CallMetrics({
            "portaria_audiosocket_refused": ("AudioSocket connections refused.", lambda: self.media.refused),
            "portaria_ari_reconnects": ("Times the ARI events socket was reconnected.", lambda: self.ari_reconnects),
        })
        self.events.subscribe(self.metrics.observe)
        console = settings.console_host_port
        checks = readiness_checks(
            self.connected, self.ari, self.media, self.speech, audit_usable=lambda: self.audit_usable
        )
        self.ops: OpsServer | None = None
        if console:
            pages = operator_console(settings, self.events.subscribe, self.audit, self.app)
            self.ops = OpsServer(*console, self.metrics, checks, pages.routes if pages else None)

    def _prewarm(self, directory: Directory) -> None:
        """Synthesize the directory's names and apartments in the background (nothing to do for uncached voices)."""
        if self.speech.cache is not None:
            self.speech.prewarm(directory_phrases(directory))

    def _call_deps(self) -> CallDeps:
        assert self._config is not None
        return CallDeps(
            ari=self.asterisk,
            media=self.media,
            events=self.events,
            config=self._config,
            speech=self.speech,
            directory=self.directory,
            store=self.store,
            vads=self.vads,
            understanding=self.understanding,
            audit=self.audit,
            opener=self.opener,
            frame_clock=self.frame_clock,
            runner=self._runner,
            journal=self.journal,
        )

    async def start(self) -> None:
        self.events.open()
        await self.media.start()
        if self.speech.cache is None:  # espeak, Azure: the dialog's fixed prompts in memory, a few ms each
            await self.speech.start(prompts.fixed_phrases())
        else:  # a slow voice with a clause cache: only the greeting and the apology hold up the start
            await self.speech.start()
            self.speech.prewarm([*prompts.fixed_phrases(), *directory_phrases(self.directory.current())])
        await self.vads.warm()
        try:
            await self.audit.open()  # an unusable audit path is reported now, not at the first decision
            self.audit_usable = True
        except AuditError as error:
            # Calls still work (visitors reach residents, who can talk to them); no decision can open the gate.
            log.error("audit log unusable, the gate will not open until it is fixed: %s", error)
        self._purging = asyncio.create_task(self.audit.keep_purging(), name="audit-purge")
        self._config = call_config(self.settings, self.media.port)
        self.journal.leftovers()  # claim it now: a second instance on the same journal must not even start
        await self.ari.open()
        self._events_task = asyncio.create_task(self._run_events(), name="ari-events")
        if self.ops is not None:
            await self.ops.start()

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
        await self.vads.aclose()
        if self._purging is not None:
            self._purging.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._purging
        await self.audit.aclose()
        await self.opener.aclose()
        self.speech.close()
        self.journal.close()
        self.events.close()
        log.info("stopped")
