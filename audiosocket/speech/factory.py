"""Build the speech engines the settings ask for: called once by the composition root, nothing at import time.

    speech = build_speech(settings)
    await speech.start()                      # load Whisper, synthesize the fixed prompts
    leg_speech = speech.for_call(call_id, "gate", events)
    ...
    speech.close()

When Azure synthesis is chosen, espeak stays behind it as the fallback voice (and fills the prompt cache if Azure
cannot at start-up), so a revoked key or an outage still leaves the call with a voice.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from audiosocket.speech.azure import AzureConfig, AzureSpeech, AzureSTT, AzureTTS
from audiosocket.speech.base import EngineError, SpeechToText, TextToSpeech
from audiosocket.speech.espeak import EspeakTTS
from audiosocket.speech.guard import CallSpeech, EventSink, GuardLimits
from audiosocket.speech.prompts import STANDARD_PHRASES, PromptCache
from audiosocket.speech.whisper import WhisperOptions, WhisperSTT
from controller.settings import ENV_PREFIX, Settings, SttEngine, TtsEngine


def azure_settings_problems(settings: Settings) -> list[str]:
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


def speech_settings_problems(settings: Settings) -> list[str]:
    """Everything `check` should report about speech: Azure credentials, the Whisper model's presence."""
    problems = azure_settings_problems(settings)
    if settings.stt_engine is SttEngine.WHISPER and not (settings.whisper_model / "model.bin").is_file():
        problems.append(
            f"{ENV_PREFIX}WHISPER_MODEL: no model.bin in {settings.whisper_model} "
            "(run `python -m audiosocket.speech.install_model`)"
        )
    return problems


def startup_phrases(settings: Settings) -> list[str]:
    """The phrases cached at start-up: the greeting and the standard ones."""
    return [settings.greeting, *STANDARD_PHRASES]


@dataclass
class SpeechEngines:
    """The shared engines, their executor and the prompt cache; `for_call` gives one leg its guarded view."""

    stt: SpeechToText
    tts: TextToSpeech
    fallback_tts: TextToSpeech | None
    prompts: PromptCache
    limits: GuardLimits
    executor: ThreadPoolExecutor
    whisper: WhisperSTT | None = None
    phrases: list[str] = field(default_factory=list)
    sample_rates: tuple[int, ...] = (8000,)

    async def start(self, extra_phrases: Iterable[str] = ()) -> list[str]:
        """Load the model and fill the prompt cache; returns non-fatal problems (logged by the cache).

        Raises EngineError when the recognizer cannot load or the fallback phrase cannot be synthesized at all:
        a call that could not even apologise must not be answered.
        """
        if self.whisper is not None:
            await self.whisper.load()
        phrases = [*self.phrases, *extra_phrases]
        timeout = self.limits.tts_timeout_s * 4
        problems = await self.prompts.warm(phrases, self.sample_rates, timeout_s=timeout)
        if problems and self.fallback_tts is not None:
            backup = PromptCache(self.fallback_tts)
            await backup.warm(phrases, self.sample_rates, timeout_s=timeout)
            self.prompts.adopt(backup)
        if any((phrase, rate) not in self.prompts for phrase in STANDARD_PHRASES for rate in self.sample_rates):
            raise EngineError("cannot synthesize the fixed prompts: " + "; ".join(problems))
        return problems

    def for_call(self, call_id: str, leg: str, events: EventSink | None = None) -> CallSpeech:
        return CallSpeech(
            self.stt, self.tts, self.prompts, self.limits,
            fallback_tts=self.fallback_tts, events=events, call_id=call_id, leg=leg,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def build_speech(settings: Settings, *, sample_rates: Iterable[int] | None = None) -> SpeechEngines:
    """The engines `settings` select; raises EngineError naming the missing setting if Azure is incomplete."""
    problems = azure_settings_problems(settings)
    if problems:
        raise EngineError("; ".join(problems))
    executor = ThreadPoolExecutor(max_workers=settings.speech_workers, thread_name_prefix="speech")
    espeak = EspeakTTS(voice=settings.espeak_voice, words_per_minute=settings.espeak_speed)
    azure: AzureSpeech | None = None
    if SttEngine.AZURE is settings.stt_engine or TtsEngine.AZURE is settings.tts_engine:
        assert settings.azure_speech_key is not None
        azure = AzureSpeech(
            AzureConfig(
                key=settings.azure_speech_key,
                region=settings.azure_speech_region,
                language=settings.azure_speech_language,
                voice=settings.azure_speech_voice,
                session_timeout_s=settings.stt_timeout_s,
            ),
            executor,
        )
    whisper: WhisperSTT | None = None
    stt: SpeechToText
    if settings.stt_engine is SttEngine.AZURE:
        assert azure is not None
        stt = AzureSTT(azure)
    else:
        whisper = WhisperSTT(
            settings.whisper_model,
            executor,
            WhisperOptions(
                compute_type=settings.whisper_compute_type,
                cpu_threads=settings.whisper_threads,
                beam_size=settings.whisper_beam_size,
                short_input=settings.whisper_short_input,
            ),
        )
        stt = whisper
    tts: TextToSpeech = espeak
    fallback_tts: TextToSpeech | None = None
    if settings.tts_engine is TtsEngine.AZURE:
        assert azure is not None
        tts, fallback_tts = AzureTTS(azure), espeak
    rates = tuple(sorted(set(sample_rates))) if sample_rates else (settings.media_format.sample_rate,)
    return SpeechEngines(
        stt=stt,
        tts=tts,
        fallback_tts=fallback_tts,
        prompts=PromptCache(tts),
        limits=GuardLimits(
            stt_timeout_s=settings.stt_timeout_s,
            tts_timeout_s=settings.tts_timeout_s,
            max_consecutive_failures=settings.speech_max_failures,
        ),
        executor=executor,
        whisper=whisper,
        phrases=startup_phrases(settings),
        sample_rates=rates,
    )
