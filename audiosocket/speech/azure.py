"""Azure Speech: streaming recognition through a push stream and neural synthesis straight to raw PCM.

Recognition: each turn opens a recognizer whose audio input is a ``PushAudioInputStream`` in the leg's format
(16-bit mono at 8 or 16 kHz). Frames are written to it as they arrive, so Azure recognises while the visitor is
still speaking; ``finish()`` closes the stream and waits for the session to stop, which Azure signals once its
last result is final. Synthesis asks for ``Raw8Khz16BitMonoPcm`` / ``Raw16Khz16BitMonoPcm`` and forwards the
``synthesizing`` events' audio as it streams in: no WAV header, no resampling.

The SDK calls back on its own threads; every callback only hands its payload to the event loop with
``call_soon_threadsafe``. Blocking SDK calls (``.get()`` on its futures) run in the shared executor.

The subscription key is a ``SecretStr`` that is unwrapped only to build the SDK's config, and every message an
error carries is scrubbed of it: Azure's error details are passed on, never the key.

The SDK is reached only through the `sdk` object handed in (the real module by default), so tests can replace
the recognizer, synthesizer and push stream with fakes and check our side of the boundary.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from audiosocket.speech.base import EngineError, EngineTimeout, Hints, Transcript

log = logging.getLogger(__name__)

DEFAULT_VOICE = "pt-BR-AntonioNeural"
_OUTPUT_FORMATS = {8000: "Raw8Khz16BitMonoPcm", 16000: "Raw16Khz16BitMonoPcm"}
_RETRYABLE_CODES = {
    "ConnectionFailure", "ServiceTimeout", "ServiceUnavailable", "TooManyRequests", "ServiceError",
    "ServiceRedirectTemporary",
}
_CLOSED = object()


def load_sdk() -> Any:
    """The real SDK module, imported on first use (it loads a large native library)."""
    import azure.cognitiveservices.speech as speechsdk

    return speechsdk


@dataclass(frozen=True, slots=True)
class AzureConfig:
    key: SecretStr
    region: str
    language: str = "pt-BR"
    voice: str = DEFAULT_VOICE
    session_timeout_s: float = 10.0


class AzureSpeech:
    """Shared Azure configuration; hands out :class:`AzureSTT` and :class:`AzureTTS` views of it."""

    def __init__(self, config: AzureConfig, executor: Executor, sdk: Any = None) -> None:
        self._config = config
        self._executor = executor
        self._sdk = sdk if sdk is not None else load_sdk()

    @property
    def sdk(self) -> Any:
        return self._sdk

    @property
    def config(self) -> AzureConfig:
        return self._config

    @property
    def executor(self) -> Executor:
        return self._executor

    def speech_config(self) -> Any:
        config = self._sdk.SpeechConfig(
            subscription=self._config.key.get_secret_value(), region=self._config.region
        )
        config.speech_recognition_language = self._config.language
        config.speech_synthesis_voice_name = self._config.voice
        config.output_format = self._sdk.OutputFormat.Detailed
        return config

    def scrub(self, text: str) -> str:
        """`text` with the subscription key (should Azure ever echo it) blanked out."""
        secret = self._config.key.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def error_from(self, what: str, details: Any) -> EngineError:
        """Map SDK cancellation details (reason, code, error_details) to our error, retryable or not."""
        code = getattr(getattr(details, "code", None), "name", str(getattr(details, "code", "")))
        message = self.scrub(f"Azure {what} cancelled ({code}): {getattr(details, 'error_details', '')}")
        if code == "ServiceTimeout":
            return EngineTimeout(message)
        return EngineError(message, retryable=code in _RETRYABLE_CODES)


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """Hand an SDK callback's payload to the event loop; late callbacks after shutdown are dropped."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        log.debug("Azure callback after the event loop closed, dropped")


def _confidence(result: Any) -> float:
    """Confidence of the best hypothesis from the detailed JSON; 0 when Azure did not say."""
    try:
        best = json.loads(result.json)["NBest"][0]
        return float(best.get("Confidence", 0.0))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return 0.0


class AzureRecognition:
    """One turn of Azure recognition fed through a push stream (a :class:`RecognitionStream`)."""

    def __init__(self, azure: AzureSpeech, sample_rate: int, phrases: tuple[str, ...] = ()) -> None:
        self._azure = azure
        self._loop = asyncio.get_running_loop()
        sdk = azure.sdk
        stream_format = sdk.audio.AudioStreamFormat(samples_per_second=sample_rate, bits_per_sample=16, channels=1)
        self._push = sdk.audio.PushAudioInputStream(stream_format=stream_format)
        audio_config = sdk.audio.AudioConfig(stream=self._push)
        self._recognizer = sdk.SpeechRecognizer(speech_config=azure.speech_config(), audio_config=audio_config)
        if phrases:  # the building's names and apartments, which Azure then favours (before recognition starts)
            grammar = sdk.PhraseListGrammar.from_recognizer(self._recognizer)
            for phrase in phrases:
                grammar.addPhrase(phrase)
        self._texts: list[str] = []
        self._confidences: list[float] = []
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        self._recognizer.recognized.connect(self._on_recognized)
        self._recognizer.canceled.connect(self._on_canceled)
        self._recognizer.session_stopped.connect(self._on_stopped)
        self._started = self._loop.run_in_executor(
            azure.executor, lambda: self._recognizer.start_continuous_recognition_async().get()
        )
        self._closed = False

    def push_frame(self, pcm: bytes) -> None:
        if self._closed:
            raise EngineError("audio pushed to a finished recognition")
        self._push.write(pcm)

    def flush(self) -> None:
        """Nothing to do: Azure recognises continuously."""

    async def early(self) -> Transcript | None:
        """None: Azure ends its own segments; the pause is not judged."""
        return None

    async def finish(self) -> Transcript:
        if self._closed:
            raise EngineError("recognition already finished")
        self._closed = True
        self._push.close()
        try:
            await self._start_result()
            async with asyncio.timeout(self._azure.config.session_timeout_s):
                await asyncio.shield(self._stopped)
        except TimeoutError as error:
            if isinstance(error, EngineError):  # Azure's own ServiceTimeout, already mapped
                raise
            raise EngineTimeout("Azure did not finish recognising in time") from None
        finally:
            await self._stop()
        text = " ".join(part for part in self._texts if part)
        confidence = sum(self._confidences) / len(self._confidences) if self._confidences else 0.0
        return Transcript(text, round(confidence, 3), self._azure.config.language)

    async def _start_result(self) -> None:
        try:
            await self._started
        except EngineError:
            raise
        except Exception as error:
            raise EngineError(self._azure.scrub(f"Azure recognition did not start: {error}"), retryable=True) from None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._push.close()
            await self._stop()

    async def _stop(self) -> None:
        recognizer = self._recognizer
        try:
            await self._loop.run_in_executor(
                self._azure.executor, lambda: recognizer.stop_continuous_recognition_async().get()
            )
        except Exception as error:  # the turn is over either way; a failing stop must not mask the result
            log.warning("Azure recognizer did not stop cleanly: %s", self._azure.scrub(str(error)))

    def _on_recognized(self, event: Any) -> None:
        result = event.result
        if result.reason == self._azure.sdk.ResultReason.RecognizedSpeech:
            _post(self._loop, self._add, result.text, _confidence(result))

    def _add(self, text: str, confidence: float) -> None:
        self._texts.append(text.strip())
        self._confidences.append(confidence)

    def _on_canceled(self, event: Any) -> None:
        details = event.cancellation_details
        if details.reason == self._azure.sdk.CancellationReason.EndOfStream:
            _post(self._loop, self._settle, None)
        else:
            _post(self._loop, self._settle, self._azure.error_from("recognition", details))

    def _on_stopped(self, _event: Any) -> None:
        _post(self._loop, self._settle, None)

    def _settle(self, error: EngineError | None) -> None:
        if self._stopped.done():
            return
        if error is None:
            self._stopped.set_result(None)
        else:
            self._stopped.set_exception(error)


class AzureSTT:
    """Azure recognition behind :class:`~audiosocket.speech.base.SpeechToText`."""

    def __init__(self, azure: AzureSpeech) -> None:
        self._azure = azure

    def stream(self, sample_rate: int, hints: Hints | None = None) -> AzureRecognition:
        # Azure takes the directory as a phrase list; the prompt and alternatives are Whisper's.
        return AzureRecognition(self._azure, sample_rate, hints.phrases if hints is not None else ())

    async def transcribe(self, pcm: bytes, sample_rate: int, hints: Hints | None = None) -> Transcript:
        recognition = self.stream(sample_rate, hints)
        try:
            recognition.push_frame(pcm)
            return await recognition.finish()
        finally:
            await recognition.aclose()


class _Request:
    """Routes one synthesizer's callbacks to the queue of the request it is serving."""

    def __init__(self, azure: AzureSpeech, loop: asyncio.AbstractEventLoop) -> None:
        self.azure = azure
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    def on_audio(self, event: Any) -> None:
        data = bytes(event.result.audio_data)
        if data:
            _post(self.loop, self.queue.put_nowait, data)

    def on_completed(self, _event: Any) -> None:
        _post(self.loop, self.queue.put_nowait, _CLOSED)

    def on_canceled(self, event: Any) -> None:
        error = self.azure.error_from("synthesis", event.result.cancellation_details)
        _post(self.loop, self.queue.put_nowait, error)


class AzureTTS:
    """Azure neural synthesis behind :class:`~audiosocket.speech.base.TextToSpeech`.

    One synthesizer per request (Azure's synthesizer serves one text at a time); its audio events stream raw PCM
    in the leg's format, so the first chunk is forwarded as soon as Azure sends it.
    """

    def __init__(self, azure: AzureSpeech) -> None:
        self._azure = azure

    def output_format(self, sample_rate: int) -> Any:
        try:
            name = _OUTPUT_FORMATS[sample_rate]
        except KeyError:
            raise EngineError(f"Azure synthesis supports 8000 or 16000 Hz, not {sample_rate}") from None
        return getattr(self._azure.sdk.SpeechSynthesisOutputFormat, name)

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        sdk = self._azure.sdk
        config = self._azure.speech_config()
        config.set_speech_synthesis_output_format(self.output_format(sample_rate))
        synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        request = _Request(self._azure, asyncio.get_running_loop())
        synthesizer.synthesizing.connect(request.on_audio)
        synthesizer.synthesis_completed.connect(request.on_completed)
        synthesizer.synthesis_canceled.connect(request.on_canceled)
        synthesizer.speak_text_async(text)
        finished = False
        odd = b""
        try:
            while True:
                item = await request.queue.get()
                if item is _CLOSED:
                    finished = True
                    break
                if isinstance(item, EngineError):
                    finished = True
                    raise item
                assert isinstance(item, bytes)
                data = odd + item
                cut = len(data) - len(data) % 2
                odd = data[cut:]
                if cut:
                    yield data[:cut]
        finally:
            if not finished:
                # Abandoned mid-sentence (barge-in, timeout): tell Azure to stop without waiting for it.
                self._azure.executor.submit(lambda: synthesizer.stop_speaking_async().get())
