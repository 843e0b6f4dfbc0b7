"""A fake of the Azure Speech SDK at the boundary our adapter touches.

Configuration classes and enums are the real SDK's (they work offline); the push stream, recognizer and
synthesizer are fakes that record what our code gives them and answer on their own threads, as the SDK does.
"""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.cognitiveservices.speech as real


class Signal:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[Any], None]] = []

    def connect(self, callback: Callable[[Any], None]) -> None:
        self.callbacks.append(callback)

    def fire(self, event: Any) -> None:
        for callback in self.callbacks:
            callback(event)


class Done:
    """What the SDK's ResultFuture offers: `.get()`."""

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@dataclass
class Cancellation:
    reason: Any
    code: Any = real.CancellationErrorCode.NoError
    error_details: str = ""


@dataclass
class Script:
    """How the fake service behaves in one test."""

    texts: list[str] = field(default_factory=lambda: ["sim pode liberar"])
    confidence: float = 0.87
    cancel: Cancellation | None = None  # recognition: sent instead of results when the stream closes
    never_stop: bool = False
    chunks: list[bytes] = field(default_factory=lambda: [b"\x01\x00" * 800, b"\x02\x00" * 800])
    synthesis_cancel: Cancellation | None = None
    hold_synthesis: threading.Event | None = None  # synthesis waits for this before the last chunk


class FakeStreamFormat:
    def __init__(self, samples_per_second: int, bits_per_sample: int, channels: int) -> None:
        self.rate = samples_per_second
        self.bits = bits_per_sample
        self.channels = channels


class FakePushStream:
    def __init__(self, stream_format: FakeStreamFormat) -> None:
        self.format = stream_format
        self.written: list[bytes] = []
        self.closed = threading.Event()

    def write(self, data: bytes) -> None:
        assert not self.closed.is_set(), "write after close"
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed.set()


class FakeAudioConfig:
    def __init__(self, stream: FakePushStream) -> None:
        self.stream = stream


class FakeRecognizer:
    def __init__(self, sdk: FakeSdk, speech_config: Any, audio_config: FakeAudioConfig) -> None:
        self.sdk = sdk
        self.speech_config = speech_config
        self.stream = audio_config.stream
        self.recognized = Signal()
        self.canceled = Signal()
        self.session_stopped = Signal()
        self.started = False
        self.stopped = False
        self.phrases: list[str] = []
        self.phrases_after_start: list[str] = []  # the SDK applies a phrase list only when added before start
        sdk.recognizers.append(self)

    def start_continuous_recognition_async(self) -> Done:
        self.started = True
        threading.Thread(target=self._serve, daemon=True).start()
        return Done()

    def stop_continuous_recognition_async(self) -> Done:
        self.stopped = True
        return Done()

    def _serve(self) -> None:
        script = self.sdk.script
        self.stream.closed.wait(5)
        if script.never_stop:
            return
        if script.cancel is not None:
            self.canceled.fire(types.SimpleNamespace(cancellation_details=script.cancel))
        else:
            for text in script.texts:
                detail = json.dumps({"NBest": [{"Confidence": script.confidence, "Display": text}]})
                result = types.SimpleNamespace(reason=real.ResultReason.RecognizedSpeech, text=text, json=detail)
                self.recognized.fire(types.SimpleNamespace(result=result))
            end = Cancellation(reason=real.CancellationReason.EndOfStream)
            self.canceled.fire(types.SimpleNamespace(cancellation_details=end))
        self.session_stopped.fire(types.SimpleNamespace(session_id="s"))


class FakePhraseList:
    """The SDK's PhraseListGrammar: phrases the recognizer favours, attached to one recognizer."""

    def __init__(self, recognizer: FakeRecognizer) -> None:
        self._recognizer = recognizer

    @classmethod
    def from_recognizer(cls, recognizer: FakeRecognizer) -> FakePhraseList:
        return cls(recognizer)

    def addPhrase(self, phrase: str) -> None:  # noqa: N802 - the SDK's name
        if not isinstance(phrase, str) or not phrase:
            raise ValueError("a phrase is a non-empty string")
        target = self._recognizer.phrases_after_start if self._recognizer.started else self._recognizer.phrases
        target.append(phrase)


class FakeSynthesizer:
    def __init__(self, sdk: FakeSdk, speech_config: Any, audio_config: Any) -> None:
        self.sdk = sdk
        self.speech_config = speech_config
        self.audio_config = audio_config
        self.synthesizing = Signal()
        self.synthesis_completed = Signal()
        self.synthesis_canceled = Signal()
        self.texts: list[str] = []
        self.stop_requested = threading.Event()
        sdk.synthesizers.append(self)

    @property
    def output_format(self) -> str:
        return str(self.speech_config.get_property(real.PropertyId.SpeechServiceConnection_SynthOutputFormat))

    def speak_text_async(self, text: str) -> Done:
        self.texts.append(text)
        threading.Thread(target=self._serve, daemon=True).start()
        return Done()

    def stop_speaking_async(self) -> Done:
        self.stop_requested.set()
        return Done()

    def _serve(self) -> None:
        script = self.sdk.script
        if script.synthesis_cancel is not None:
            result = types.SimpleNamespace(cancellation_details=script.synthesis_cancel)
            self.synthesis_canceled.fire(types.SimpleNamespace(result=result))
            return
        for index, chunk in enumerate(script.chunks):
            if script.hold_synthesis is not None and index == len(script.chunks) - 1:
                script.hold_synthesis.wait(5)
            self.synthesizing.fire(types.SimpleNamespace(result=types.SimpleNamespace(audio_data=chunk)))
        self.synthesis_completed.fire(types.SimpleNamespace(result=None))


class FakeSdk:
    """Stands in for the `azure.cognitiveservices.speech` module."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.recognizers: list[FakeRecognizer] = []
        self.synthesizers: list[FakeSynthesizer] = []
        self.SpeechConfig = real.SpeechConfig
        self.OutputFormat = real.OutputFormat
        self.ResultReason = real.ResultReason
        self.CancellationReason = real.CancellationReason
        self.SpeechSynthesisOutputFormat = real.SpeechSynthesisOutputFormat
        self.PropertyId = real.PropertyId
        self.PhraseListGrammar = FakePhraseList
        self.audio = types.SimpleNamespace(
            AudioStreamFormat=FakeStreamFormat, PushAudioInputStream=FakePushStream, AudioConfig=FakeAudioConfig
        )

    def SpeechRecognizer(self, speech_config: Any, audio_config: FakeAudioConfig) -> FakeRecognizer:  # noqa: N802
        return FakeRecognizer(self, speech_config, audio_config)

    def SpeechSynthesizer(self, speech_config: Any, audio_config: Any) -> FakeSynthesizer:  # noqa: N802
        return FakeSynthesizer(self, speech_config, audio_config)
