"""The one settings model. Nothing else in Portaria reads the environment.

Values come from `PORTARIA_*` environment variables, then from a `.env` file in the working directory.
:func:`load_settings` turns validation failures into :class:`SettingsError`, whose message names each bad
setting by its environment variable and never echoes a secret's value.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PORTARIA_"


class SettingsError(Exception):
    """One or more settings are missing or wrong; the message is meant for the person running Portaria."""


class MediaFormat(StrEnum):
    SLIN = "slin"
    SLIN16 = "slin16"

    @property
    def sample_rate(self) -> int:
        return 16000 if self is MediaFormat.SLIN16 else 8000


class SttEngine(StrEnum):
    WHISPER = "whisper"
    AZURE = "azure"


class TtsEngine(StrEnum):
    ESPEAK = "espeak"
    AZURE = "azure"
    KOKORO = "kokoro"


# The voice packs the Kokoro wheels ship (audiosocket.speech.kokoro.VOICES; Settings may not import the media layer).
KokoroVoice = Literal["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]


class UnderstandingEngine(StrEnum):
    RULES = "rules"
    LLM = "llm"


def _split_host_port(value: str, setting: str) -> tuple[str, int]:
    """Parse host:port; port 0 (any free port, for tests) is accepted."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{setting} must look like host:port, e.g. 127.0.0.1:9092")
    return host.strip("[]"), int(port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    ari_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8088"), description="Base URL of Asterisk's HTTP server (without /ari)."
    )
    ari_user: str = Field(default="portaria", min_length=1, description="ARI user from ari.conf.")
    ari_password: SecretStr | None = Field(default=None, description="ARI password from ari.conf (required to run).")
    ari_app: str = Field(default="portaria", pattern=r"^[A-Za-z0-9_.-]+$", description="Stasis application name.")
    ari_timeout_s: float = Field(default=5.0, gt=0, description="Timeout of each ARI REST request.")

    audiosocket_bind: str = Field(
        default="127.0.0.1:9092", description="host:port where the AudioSocket server listens."
    )
    console_bind: str = Field(
        default="",
        description="host:port for /healthz, /readyz, /metrics and the console (empty: off). Keep it on loopback or "
        "a management network: the endpoints other than the console have no login.",
    )
    console_user: str = Field(default="portaria", min_length=1, description="The operator console's user name.")
    console_password: SecretStr | None = Field(
        default=None,
        description="The operator console's password (the console at /console is off without it; at least 12 "
        "characters).",
    )
    console_session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs console sessions (at least 16 characters); unset: a random one per start, "
        "so a restart logs everyone out.",
    )
    audiosocket_advertise: str = Field(
        default="", description="host:port Asterisk dials for externalMedia (defaults to the bind address)."
    )
    media_format: MediaFormat = Field(default=MediaFormat.SLIN, description="slin (8 kHz) or slin16 (16 kHz).")
    media_silence_s: float = Field(
        default=3.0,
        ge=0,
        description="A caller Asterisk hears talking (TALK_DETECT) while no audio of theirs reaches the "
        "AudioSocket server for this long: the leg is broken and the visitor is handed over. 0: off "
        "(the talk detector leaves the audio untouched, docs/reliability.md).",
    )
    # Turn detection and barge-in (audiosocket/endpointing.py; defaults measured in docs/media.md).
    vad_engine: Literal["silero", "webrtc"] = Field(
        default="silero", description="Voice activity detector: silero (robust in street noise) or webrtc (cheapest)."
    )
    vad_silero_threshold: float = Field(
        default=0.6, ge=0.05, le=0.95, description="Silero speech probability that starts speech."
    )
    vad_webrtc_mode: int = Field(default=3, ge=0, le=3, description="webrtcvad aggressiveness, 0 (lax) to 3 (strict).")
    silence_ms: int = Field(
        default=700, ge=100, le=5000, description="Silence (wall clock) that ends the caller's turn, in ms."
    )
    early_end_ms: int = Field(
        default=120, ge=0, le=2000, description="Silence after which recognition starts early (0 = off), in ms."
    )
    answer_silence_ms: int = Field(
        default=350,
        ge=0,
        le=5000,
        description="Silence that ends a turn whose words already answer the question (a yes or no, an apartment "
        "of the building), in ms (0 = off: the usual silence).",
    )
    unfinished_silence_ms: int = Field(
        default=1500,
        ge=0,
        le=5000,
        description="Silence that ends a turn whose words stop mid-phrase ('vim visitar a...'), in ms "
        "(0 = off: the usual silence).",
    )
    hesitant_margin_ms: int = Field(
        default=300,
        ge=0,
        le=2000,
        description="A caller who already paused longer than silence_ms in this turn and went on is waited for "
        "that long plus this much at their next pause (up to unfinished_silence_ms; a whole answer still ends "
        "it after answer_silence_ms), in ms (0 = off).",
    )
    pre_roll_ms: int = Field(
        default=300, ge=0, le=2000, description="Audio kept before speech onset so the first syllable is not cut."
    )
    min_speech_ms: int = Field(
        default=100, ge=0, le=2000, description="Voiced audio needed to start a turn; shorter bursts are ignored."
    )
    max_utterance_ms: int = Field(
        default=15000, ge=1000, le=120000, description="Longest utterance; a turn is cut there."
    )
    barge_in: bool = Field(default=True, description="Let the caller interrupt prompts by talking.")
    playout_idle_silence: bool = Field(
        default=True, description="Send silence frames between prompts (keeps Asterisk's timing exact)."
    )
    barge_in_min_ms: int = Field(
        default=140, ge=0, le=2000, description="Voiced audio needed to interrupt a prompt (echo guard), in ms."
    )

    directory: Path = Field(default=Path("data/apartamentos.json"), description="Residents directory (JSON).")
    sites: Path | None = Field(
        default=None,
        description="Sites file (TOML) for many gates and condominiums: each gate's directory, greeting, "
        "voice, concierge and opener (docs/sites.md). Unset: one site, these single-gate settings.",
    )
    greeting: str = Field(
        default="Condomínio Apoena, em que posso ajudar?", min_length=1, description="First words the visitor hears."
    )
    # Conversation (controller/conversation/, docs/conversation.md).
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL for conversation state (redis://[:password@]host:port/db); unset keeps it in memory.",
    )
    state_ttl_s: float = Field(
        default=3600.0, gt=0, description="How long a conversation's state is kept after its last change (seconds)."
    )
    max_turns_without_progress: int = Field(
        default=3, ge=1, description="Visitor turns in a row that get nowhere before handing over to a person."
    )
    reprompt_after_s: float = Field(
        default=8.0, gt=0, description="Visitor's silence after a question before the concierge asks again (seconds)."
    )
    dtmf_gap_s: float = Field(
        default=3.0, gt=0, description="Pause after the last keypad digit that ends an apartment number (seconds)."
    )
    # Resident phase, audit log and gate opener (controller/conversation/resident.py, docs/resident.md).
    ring_timeout_s: float = Field(default=25.0, gt=0, le=300, description="How long a resident's phone rings (s).")
    call_attempts: int = Field(
        default=2, ge=1, le=10, description="Dials per resident phone before the apartment's next one."
    )
    reassure_every_s: float = Field(
        default=6.0, gt=0, le=60, description="While a resident is called, the visitor hears something this often (s)."
    )
    caller_id: str = Field(default="Portaria", min_length=1, description="Caller ID residents see on our calls.")
    concierge_endpoint: str = Field(
        default="", description="Concierge to hand visitors over to, e.g. PJSIP/concierge (empty: none; end politely)."
    )
    max_calls: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Conversations at once; the next visitors' intercoms ring until a place frees (0: 2 per CPU "
        "core with Whisper, the measured knee; no limit with Azure recognition).",
    )
    queue_wait_s: float = Field(
        default=15.0,
        ge=0,
        le=120,
        description="Longest ring for a visitor waiting for a place; then the concierge, or over the limit "
        "without one (s).",
    )
    endpoint_template: str = Field(
        default="PJSIP/{number}",
        description="Dial string for directory numbers without a technology: a plain 101 or a sip:101@host URI "
        "becomes this with {number} = 101; PJSIP/101 or Local/... stay as they are.",
    )
    gate_name: str = Field(default="portao", min_length=1, description="This gate's name in the audit log.")
    audit_db: Path = Field(default=Path("var/audit.sqlite3"), description="SQLite file of the decisions audit log.")
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL for the audit log and pre-authorisations, shared by several instances "
        "(postgresql://user:password@host:5432/db); unset: SQLite in PORTARIA_AUDIT_DB.",
    )
    resource_journal: Path = Field(
        default=Path("var/asterisk-resources.jsonl"),
        description="What this instance made in Asterisk and not yet removed; after a crash the next start "
        "removes it and hands waiting visitors to the concierge. One file per instance.",
    )
    audit_retention_days: int = Field(
        default=90, ge=1, description="Audit records older than this are deleted (at start-up and daily; LGPD)."
    )
    gate_opener: Literal["none", "dtmf", "http"] = Field(
        default="dtmf",
        description="How the gate opens: dtmf (digits on the intercom's call), http (the intercom's API) or none.",
    )
    gate_dtmf: str = Field(
        default="#", pattern=r"^[0-9A-Da-d*#]{1,20}$", description="Digits that open the gate on the intercom call."
    )
    gate_http_preset: Literal["hikvision", "intelbras", "dahua", "2n", "webhook"] = Field(
        default="hikvision", description="HTTP opener request: hikvision, intelbras, dahua, 2n or webhook."
    )
    gate_http_url: str = Field(
        default="", description="Base URL of the intercom (http://192.168.0.50) or the webhook's full URL."
    )
    gate_http_auth: Literal["auto", "digest", "basic", "none"] = Field(
        default="auto", description="HTTP opener authentication (auto: the preset's, digest for intercoms)."
    )
    gate_http_user: str = Field(default="", description="HTTP opener user name.")
    gate_http_password: SecretStr | None = Field(default=None, description="HTTP opener password.")
    gate_http_token: SecretStr | None = Field(default=None, description="Bearer token for the webhook preset.")
    gate_door: int = Field(default=1, ge=1, le=64, description="Door / relay / channel number the opener triggers.")
    gate_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Timeout of one gate opening try (s).")
    delivery_policy: Literal["portaria", "zelador", "voltar", "armario"] = Field(
        default="portaria",
        description="A delivery nobody answers for: portaria (hand the courier to the concierge), zelador (leave "
        "it with the caretaker), voltar (come back later) or armario (the parcel locker).",
    )
    notify_url: str = Field(
        default="", description="Webhook that gets a JSON note when a delivery came and nobody answered (empty: none)."
    )
    notify_token: SecretStr | None = Field(default=None, description="Bearer token sent to PORTARIA_NOTIFY_URL.")
    understanding: UnderstandingEngine = Field(
        default=UnderstandingEngine.RULES,
        description="How visitor utterances are read: rules (offline, deterministic) or llm (CrewAI, needs the "
        "llm extra; the rules take over when it is late or fails).",
    )
    llm_model: str = Field(
        default="openai/gpt-4o-mini",
        min_length=1,
        description="CrewAI model string, provider/model: openai/gpt-4o-mini, azure/<deployment>, ollama/llama3.1...",
    )
    llm_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="OpenAI-compatible endpoint for the model (e.g. http://127.0.0.1:11434/v1); unset uses the "
        "provider's default.",
    )
    llm_api_key: SecretStr | None = Field(default=None, description="API key for the model's provider.")
    llm_timeout_s: float = Field(
        default=2.5, gt=0, le=30, description="Longest wait for the model's reading of one utterance (seconds)."
    )
    events_file: Path = Field(
        default=Path("var/events.jsonl"), description="Per-call structured events, one JSON object per line."
    )
    log_level: Annotated[
        str, Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log level: DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO"

    stt_engine: SttEngine = Field(default=SttEngine.WHISPER, description="Speech-to-text: whisper (offline) or azure.")
    tts_engine: TtsEngine = Field(
        default=TtsEngine.KOKORO,
        description="Text-to-speech: kokoro (offline, Kokoro-82M: understood, ~0.5 s a new clause, cached), espeak "
        "(offline, instant, robotic) or azure. espeak stays behind kokoro and azure as the fallback voice.",
    )
    whisper_model: Path = Field(
        default=Path("models/whisper-base"),
        description="CTranslate2 Whisper model directory (made by `python -m audiosocket.speech.install_model`; "
        "larger models such as small or medium recognise pt-BR better if you can fetch them).",
    )
    whisper_compute_type: str = Field(
        default="int8", description="CTranslate2 compute type (int8, int8_float32, float32)."
    )
    whisper_threads: int = Field(default=2, ge=1, le=64, description="CPU threads per Whisper recognition.")
    whisper_beam_size: int = Field(default=5, ge=1, le=10, description="Whisper beam size (1 = greedy, faster).")
    whisper_short_input: bool = Field(
        default=False,
        description="Encode only the utterance (+1 s) instead of Whisper's 30 s window: ~3x faster, "
        "less accurate on our fixtures (docs/speech.md); for slow machines or larger models.",
    )
    whisper_window_s: int = Field(
        default=30,
        ge=5,
        le=30,
        description="Seconds of audio Whisper's encoder sees when the utterance fits in them with a second to "
        "spare (30 = Whisper's own window). 15 halves recognition time and hears names less well "
        "(docs/speech.md).",
    )
    whisper_directory_window_s: int = Field(
        default=15,
        ge=5,
        le=30,
        description="The same for the visitor's turns whose answer the directory checks (the request, who, which "
        "apartment): 15 hears the building's names and apartments as well as 30, in half the time. Yes/no "
        "answers and the resident's leg always get PORTARIA_WHISPER_WINDOW_S.",
    )
    whisper_piece_s: float = Field(
        default=3.0,
        ge=0,
        le=15,
        description="On those turns, keep what was recognised at a pause of the speaker's when they go on, if it "
        "covered this many seconds, and recognise only the rest at the end (at least 0.5 s more than this); "
        "0 = recognise the turn whole (docs/speech.md).",
    )
    directory_hints: bool = Field(
        default=True,
        description="Tell Whisper the building's names and apartments when the visitor answers who or which "
        "apartment, and let the directory choose among its 5 best hypotheses (docs/speech.md).",
    )
    speech_workers: int = Field(
        default=2, ge=1, le=32, description="Threads for blocking speech work (Whisper, Azure SDK calls)."
    )
    espeak_voice: str = Field(default="pt-br", min_length=1, description="espeak-ng voice (e.g. pt-br, pt-br+m3).")
    espeak_speed: int = Field(default=160, ge=80, le=450, description="espeak-ng speed in words per minute.")
    kokoro_model: Path = Field(
        default=Path("models/kokoro"),
        description="Kokoro-82M model directory (made by `python -m audiosocket.speech.install_model`).",
    )
    kokoro_voice: KokoroVoice = Field(
        default="jm_kumo",
        description="Kokoro voice pack: jm_kumo (male), jf_alpha, jf_gongitsune, jf_nezumi or jf_tebukuro (female); "
        "docs/speech.md has each one's intelligibility.",
    )
    kokoro_speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Kokoro speaking rate (1.0 = as trained).")
    kokoro_threads: int = Field(
        default=2, ge=1, le=16, description="onnxruntime threads per Kokoro inference (syntheses take turns)."
    )
    tts_cache_dir: Path | None = Field(
        default=Path("var/tts-cache"),
        description="Where synthesized Kokoro clauses are kept across restarts; empty or 'off' keeps them in "
        "memory only.",
    )
    tts_cache_max_mb: int = Field(
        default=256, ge=1, description="Size bound of tts_cache_dir in MB; least recently used clauses go first."
    )
    azure_speech_key: SecretStr | None = Field(
        default=None, description="Azure Speech resource key (needed when an engine is azure)."
    )
    azure_speech_region: str = Field(default="", description="Azure Speech resource region, e.g. brazilsouth.")
    azure_speech_language: str = Field(default="pt-BR", description="Azure recognition language.")
    azure_speech_voice: str = Field(default="pt-BR-AntonioNeural", description="Azure neural voice for synthesis.")
    stt_timeout_s: float = Field(default=8.0, gt=0, description="Longest wait for one recognition, retry included.")
    tts_timeout_s: float = Field(
        default=3.0, gt=0, description="Longest wait for the first synthesized audio, and between later chunks."
    )
    speech_max_failures: int = Field(
        default=3, ge=1, description="Consecutive speech failures on a leg before the call takes the fallback path."
    )

    @field_validator("tts_cache_dir", mode="before")
    @classmethod
    def _cache_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none", "false", "0"):
            return None
        return value

    @field_validator("console_password", "console_session_secret", mode="before")
    @classmethod
    def _long_enough(cls, value: object, info: object) -> object:
        # The message says only what is wrong (the error names the setting): a secret never appears in it.
        name = str(getattr(info, "field_name", ""))
        least = 12 if name == "console_password" else 16
        if isinstance(value, str | SecretStr):
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text == "":
                return None
            if len(text) < least:
                raise ValueError(f"must be at least {least} characters")
        return value

    @field_validator("audiosocket_bind", "audiosocket_advertise", "console_bind")
    @classmethod
    def _host_port(cls, value: str, info: object) -> str:
        if value:
            _split_host_port(value, ENV_PREFIX + str(getattr(info, "field_name", "")).upper())
        return value

    @property
    def bind_host_port(self) -> tuple[str, int]:
        return _split_host_port(self.audiosocket_bind, "PORTARIA_AUDIOSOCKET_BIND")

    @property
    def console_host_port(self) -> tuple[str, int] | None:
        return _split_host_port(self.console_bind, "PORTARIA_CONSOLE_BIND") if self.console_bind else None

    @property
    def advertise_address(self) -> str:
        """What Asterisk dials; a wildcard bind address cannot be dialled, so it falls back to loopback."""
        if self.audiosocket_advertise:
            return self.audiosocket_advertise
        host, port = self.bind_host_port
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"{host}:{port}"

    def require_ari(self) -> SecretStr:
        """The ARI password, or SettingsError: only commands that talk to Asterisk need it."""
        if self.ari_password is None or not self.ari_password.get_secret_value():
            raise SettingsError(f"{ENV_PREFIX}ARI_PASSWORD is not set (the password of the ARI user in ari.conf)")
        return self.ari_password

    @property
    def ari_base(self) -> str:
        return str(self.ari_url).rstrip("/")


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in item["loc"]).upper()
        if item["type"] == "missing":
            lines.append(f"{name} is not set")
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, or raise SettingsError naming every bad setting (secrets never echoed)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
