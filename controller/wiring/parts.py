"""Settings -> the call's configs and the long-lived parts around it: dialog policy, understanding, stores, gate
opener (the operator console: `console`)."""

from __future__ import annotations

import logging
import os

from controller.calls.deps import CallConfig
from controller.conversation.dialog import DialogPolicy
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.understanding import Understanding
from controller.records.audit import AuditStore
from controller.records.audit_pg import PostgresAuditLog
from controller.records.audit_sqlite import SqliteAuditLog
from controller.records.gate_opener import PRESETS, GateOpener, OpenerSpec, SendDtmf, build_opener
from controller.records.passes_pg import PostgresPasses
from controller.records.passes_store import PassStore, SqlitePasses
from controller.records.store import ConversationStore, MemoryStore, RedisStore
from controller.settings import ENV_PREFIX, Settings, SettingsError, SttEngine, UnderstandingEngine
from controller.understanding.fallback import WithFallback
from controller.understanding.llm import LlmConfig, LlmSetupError, LlmUnderstanding
from controller.wiring.media import leg_config

log = logging.getLogger(__name__)

CALLS_PER_CORE = 2  # with Whisper base: the knee measured on 2 cores is 4 conversations (docs/performance.md)


def call_limit(settings: Settings, cpus: int | None = None) -> int:
    """Conversations at once (0: no limit). By default Whisper's share of the CPU sets it; Azure recognises
    elsewhere, so without a measured figure nothing here limits it."""
    if settings.max_calls:
        return settings.max_calls
    if settings.stt_engine is not SttEngine.WHISPER:
        return 0
    return CALLS_PER_CORE * (cpus if cpus is not None else len(os.sched_getaffinity(0)))


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
        directory_hints=settings.directory_hints,
    )


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


def audit_log(settings: Settings) -> AuditStore:
    """PostgreSQL when PORTARIA_DATABASE_URL is set (several instances, one log), else the SQLite file."""
    if settings.database_url is not None and settings.database_url.get_secret_value():
        url = settings.database_url.get_secret_value()
        return PostgresAuditLog(url, gate=settings.gate_name, retention_days=settings.audit_retention_days)
    return SqliteAuditLog(settings.audit_db, gate=settings.gate_name, retention_days=settings.audit_retention_days)


def pass_store(settings: Settings) -> PassStore:
    """Where pre-authorisations live: beside the audit log, in PostgreSQL or in its SQLite file."""
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return PostgresPasses(settings.database_url.get_secret_value())
    return SqlitePasses(settings.audit_db)


def conversation_store(settings: Settings) -> ConversationStore:
    """The store the settings ask for (Redis when PORTARIA_REDIS_URL is set)."""
    if settings.redis_url is not None and settings.redis_url.get_secret_value():
        return RedisStore(settings.redis_url.get_secret_value(), settings.state_ttl_s)
    return MemoryStore(settings.state_ttl_s)


def opener_spec(settings: Settings) -> OpenerSpec:
    """The one-site default's opener, from the PORTARIA_GATE_* settings."""
    password = settings.gate_http_password.get_secret_value() if settings.gate_http_password else ""
    token = settings.gate_http_token.get_secret_value() if settings.gate_http_token else ""
    return OpenerSpec(
        kind=settings.gate_opener,
        dtmf=settings.gate_dtmf,
        preset=settings.gate_http_preset,
        url=settings.gate_http_url,
        auth=settings.gate_http_auth,
        user=settings.gate_http_user,
        password=password,
        token=token,
        door=settings.gate_door,
        timeout_s=settings.gate_timeout_s,
    )


def gate_opener(settings: Settings, send_dtmf: SendDtmf) -> GateOpener:
    """The opener PORTARIA_GATE_OPENER chooses; SettingsError when what it needs is missing."""
    spec = opener_spec(settings)
    if spec.kind == "http" and not spec.url:
        raise SettingsError(f"{ENV_PREFIX}GATE_HTTP_URL is not set (the intercom's address, or the webhook URL)")
    try:
        return build_opener(spec, send_dtmf)
    except ValueError:
        raise SettingsError(
            f"{ENV_PREFIX}GATE_HTTP_USER and {ENV_PREFIX}GATE_HTTP_PASSWORD are needed for {spec.preset} "
            f"({spec.auth if spec.auth != 'auto' else PRESETS[spec.preset].auth} authentication)"
        ) from None


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
