"""Build the speech engines a :class:`SpeechConfig` asks for: called once by the composition root, nothing at import.

    speech = build_speech(config)
    await speech.start()                      # load Whisper, synthesize the fixed prompts
    leg_speech = speech.for_call(call_id, "gate", events)
    ...
    speech.close()

When Azure or Kokoro synthesis is chosen, espeak stays behind it as the fallback voice (and fills the prompt
cache if the engine cannot at start-up), so a revoked key, an outage or a missing model still leaves the call
with a voice. Kokoro is wrapped in a :class:`CachedTTS` (clauses from memory and, with `tts_cache_dir`, from
disk); :meth:`SpeechEngines.prewarm` fills that cache in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
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
from audiosocket.speech.kokoro import KokoroOptions, KokoroTTS
from audiosocket.speech.prompt_cache import STANDARD_PHRASES, PromptCache
from audiosocket.speech.tts_cache import DEFAULT_MAX_BYTES, CachedTTS, DiskCache
from audiosocket.speech.whisper import WhisperOptions, WhisperSTT

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    """Which engines, and how. `azure` is required when either engine is ``azure``."""

    stt: Literal["whisper", "azure"] = "whisper"
    tts: Literal["espeak", "azure", "kokoro"] = "espeak"
    whisper_model: Path = Path("models/whisper-base")
    whisper: WhisperOptions = WhisperOptions()
    espeak_voice: str = "pt-br"
    espeak_speed: int = 160
    kokoro_model: Path = Path("models/kokoro")
    kokoro: KokoroOptions = KokoroOptions()
    tts_cache_dir: Path | None = None  # None: Kokoro's clause cache stays in memory
    tts_cache_max_bytes: int = DEFAULT_MAX_BYTES
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
    kokoro: KokoroTTS | None = None
    cache: CachedTTS | None = None
    voice: str = ""  # "": the configured voice; else the Kokoro voice pack of this view (:meth:`in_voice`)
    _prewarming: set[asyncio.Task[int]] = field(default_factory=set)
    _voices: dict[str, SpeechEngines] = field(default_factory=dict)
    _root: SpeechEngines | None = None  # the engines a voice view was made from

    async def start(self, extra_phrases: Iterable[str] = ()) -> list[str]:
        """Load the model and fill the prompt cache; returns non-fatal problems (logged by the cache).

        Raises EngineError when the recognizer cannot load or the fallback phrase cannot be synthesized at all:
        a call that could not even apologise must not be answered.
        """
        if self.whisper is not None:
            await self.whisper.load()
        problems = []
        if self.kokoro is not None:
            try:
                await self.kokoro.load()
            except EngineError as error:  # the fallback voice takes every call; loud, not fatal
                problems.append(f"Kokoro unavailable, espeak speaks instead: {error}")
                log.error("speech: %s", problems[-1])
        if self.cache is not None and self.cache.disk is not None:
            await asyncio.to_thread(self.cache.disk.prune)
        phrases = [*self.phrases, *extra_phrases]
        timeout = self.limits.tts_timeout_s * 4
        problems += await self.prompts.warm(phrases, self.sample_rates, timeout_s=timeout)
        if problems and self.fallback_tts is not None:
            backup = PromptCache(self.fallback_tts)
            await backup.warm(phrases, self.sample_rates, timeout_s=timeout)
            self.prompts.adopt(backup)
        if any((phrase, rate) not in self.prompts for phrase in STANDARD_PHRASES for rate in self.sample_rates):
            raise EngineError("cannot synthesize the fixed prompts: " + "; ".join(problems))
        return problems

    def in_voice(self, voice: str | None) -> SpeechEngines:
        """The engines speaking with Kokoro voice pack `voice` (a condominium's own voice): the same recogniser,
        model and executor, a clause cache and prompt cache of its own. The view's fixed prompts are synthesized
        in the background when it is first asked for; until then the configured voice's copies are played, so a
        call never waits for them. None, the configured voice, or an engine other than Kokoro: these engines."""
        if self._root is not None:  # a view: voices are the engines' own, not a view's
            return self._root.in_voice(voice)
        if not voice or self.kokoro is None or voice == self.kokoro.options.voice:
            return self
        known = self._voices.get(voice)
        if known is not None:
            return known
        speaking = self.kokoro.in_voice(voice)
        disk = self.cache.disk if self.cache is not None else None
        cache = CachedTTS(speaking, speaking.cache_id, disk, background=speaking.low_priority)
        view = dataclasses.replace(
            self, tts=cache, prompts=PromptCache(cache, behind=self.prompts), cache=cache, voice=voice, _root=self
        )
        self._voices[voice] = view
        with contextlib.suppress(RuntimeError):  # no running loop (a tool): the configured voice's prompts serve
            view._warm_prompts()
        return view

    def _warm_prompts(self) -> None:
        phrases = [*self.phrases]
        timeout = self.limits.tts_timeout_s * 4
        task = asyncio.get_running_loop().create_task(self._warm(phrases, timeout), name=f"tts-voice-{self.voice}")
        self._prewarming.add(task)
        task.add_done_callback(self._prewarm_done)

    async def _warm(self, phrases: list[str], phrase_limit_s: float) -> int:
        # Into the clause cache at low priority first: the prompt cache synthesizes through the live path, whose
        # one-thread executor a call's own replies would then wait behind, clause by clause, until this ends.
        if self.cache is not None:
            await self.cache.prewarm(phrases, self.sample_rates)
        problems = await self.prompts.warm(phrases, self.sample_rates, timeout_s=phrase_limit_s)
        for problem in problems:
            log.warning("speech: voice %s: %s", self.voice, problem)
        return len(phrases) - len(problems)

    def for_call(self, call_id: str, leg: str, events: EventSink | None = None) -> CallSpeech:
        return CallSpeech(
            self.stt, self.tts, self.prompts, self.limits,
            fallback_tts=self.fallback_tts, events=events, call_id=call_id, leg=leg,
        )

    def prewarm(self, phrases: Iterable[str]) -> asyncio.Task[int]:
        """Synthesize `phrases` into the clause cache in the background, at every leg rate; call after start().

        One clause at a time, at low priority (a live synthesis stops a prewarm inference and goes first), so
        live calls are not starved. The task's result is the number of clauses made; with an engine that has no
        cache (espeak, Azure) it is 0 at once. Tasks still running at close() are cancelled.
        """
        wanted = list(phrases)
        if self.cache is None:
            return asyncio.ensure_future(_nothing())
        task = asyncio.create_task(self.cache.prewarm(wanted, self.sample_rates), name="tts-prewarm")
        self._prewarming.add(task)
        task.add_done_callback(self._prewarm_done)
        return task

    def _prewarm_done(self, task: asyncio.Task[int]) -> None:
        self._prewarming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("speech: prewarming failed: %s", task.exception())

    def close(self) -> None:
        if self._root is not None:
            return  # a view: the engines it shares are closed with the ones it came from
        for task in list(self._prewarming):
            task.cancel()
        if self.kokoro is not None:
            self.kokoro.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _nothing() -> int:
    return 0


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
    kokoro: KokoroTTS | None = None
    cache: CachedTTS | None = None
    if config.tts == "azure":
        assert azure is not None
        tts, fallback_tts = AzureTTS(azure), espeak
    elif config.tts == "kokoro":
        kokoro = KokoroTTS(config.kokoro_model, config.kokoro)
        disk = DiskCache(config.tts_cache_dir, max_bytes=config.tts_cache_max_bytes) if config.tts_cache_dir else None
        cache = CachedTTS(kokoro, kokoro.cache_id, disk, background=kokoro.low_priority)
        tts, fallback_tts = cache, espeak
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
        kokoro=kokoro,
        cache=cache,
    )
