"""Settings -> the media layer's configs: a leg's endpointing and VAD, the speech engines, what `check` says of them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from audiosocket.endpointing import EndpointingConfig
from audiosocket.media_leg import LegConfig
from audiosocket.speech.azure import AzureConfig
from audiosocket.speech.factory import SpeechConfig, SpeechEngines, build_speech
from audiosocket.speech.guard import GuardLimits
from audiosocket.speech.install_model import KOKORO_MODEL, read_kokoro_stamp
from audiosocket.speech.kokoro import KokoroOptions
from audiosocket.speech.whisper import WhisperOptions
from audiosocket.vad import SileroModel, Vad, open_vad
from controller.settings import ENV_PREFIX, Settings, SettingsError, SttEngine, TtsEngine


def leg_config(settings: Settings) -> LegConfig:
    return LegConfig(
        sample_rate=settings.media_format.sample_rate,
        endpointing=EndpointingConfig(
            silence_ms=settings.silence_ms,
            early_ms=settings.early_end_ms,
            complete_ms=settings.answer_silence_ms,
            hold_ms=settings.unfinished_silence_ms,
            hesitant_margin_ms=settings.hesitant_margin_ms,
            pre_roll_ms=settings.pre_roll_ms,
            min_speech_ms=settings.min_speech_ms,
            max_utterance_ms=settings.max_utterance_ms,
            barge_in_min_ms=settings.barge_in_min_ms,
        ),
        barge_in=settings.barge_in,
        idle_silence=settings.playout_idle_silence,
    )


async def open_leg_vad(settings: Settings, silero: SileroModel | None = None) -> Vad:
    """The VAD the settings choose, at the legs' rate, built off the event loop (Silero on the shared network)."""
    return await open_vad(
        settings.vad_engine,
        settings.media_format.sample_rate,
        webrtc_mode=settings.vad_webrtc_mode,
        silero_threshold=settings.vad_silero_threshold,
        silero=silero,
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
            window_seconds=settings.whisper_window_s,
            checked_window_seconds=settings.whisper_directory_window_s,
            piece_seconds=settings.whisper_piece_s,
        ),
        espeak_voice=settings.espeak_voice,
        espeak_speed=settings.espeak_speed,
        kokoro_model=settings.kokoro_model,
        kokoro=KokoroOptions(
            voice=settings.kokoro_voice,
            speed=settings.kokoro_speed,
            threads=settings.kokoro_threads,
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
