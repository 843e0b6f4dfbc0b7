"""Build the speech engines a :class:`SpeechConfig` asks for: called once by the composition root, nothing at import.

    speech = build_speech(config)
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
from pathlib import Path
from typing import Literal

from audiosocket.events import EventSink
from audiosocket.speech.azure import AzureConfig, AzureSpeech, AzureSTT, AzureTTS
from audiosocket.speech.base import EngineError, SpeechToText, TextToSpeech
from audiosocket.speech.espeak import EspeakTTS
from audiosocket.speech.guard import CallSpeech, GuardLimits
from audiosocket.speech.prompt_cache import STANDARD_PHRASES, PromptCache
from audiosocket.speech.whisper import WhisperOptions, WhisperSTT


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    """Which engines, and how. `azure` is required when either engine is ``azure``."""

    stt: Literal["whisper", "azure"] = "whisper"
    tts: Literal["espeak", "azure"] = "espeak"
    whisper_model: Path = Path("models/whisper-base")
    whisper: WhisperOptions = WhisperOptions()
    espeak_voice: str = "pt-br"
    espeak_speed: int = 160
    azure: AzureConfig | None = None
    limits: GuardLimits = GuardLimits()
    workers: int = 2
    phrases: tuple[str, ...] = ()  # cached at start-up with the standard ones (the greeting)
    sample_rates: tuple[int, ...] = (8000,)


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


def build_speech(config: SpeechConfig) -> SpeechEngines:
    """The engines `config` selects; raises EngineError if Azure is selected without its configuration."""
    if "azure" in (config.stt, config.tts) and config.azure is None:
        raise EngineError("Azure speech is selected but not configured (key and region)")
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="speech")
    espeak = EspeakTTS(voice=config.espeak_voice, words_per_minute=config.espeak_speed)
    azure = AzureSpeech(config.azure, executor) if config.azure is not None else None
    whisper: WhisperSTT | None = None
    stt: SpeechToText
    if config.stt == "azure":
        assert azure is not None
        stt = AzureSTT(azure)
    else:
        whisper = WhisperSTT(config.whisper_model, executor, config.whisper)
        stt = whisper
    tts: TextToSpeech = espeak
    fallback_tts: TextToSpeech | None = None
    if config.tts == "azure":
        assert azure is not None
        tts, fallback_tts = AzureTTS(azure), espeak
    return SpeechEngines(
        stt=stt,
        tts=tts,
        fallback_tts=fallback_tts,
        prompts=PromptCache(tts),
        limits=config.limits,
        executor=executor,
        whisper=whisper,
        phrases=[*config.phrases, *STANDARD_PHRASES],
        sample_rates=tuple(sorted(set(config.sample_rates))),
    )
