"""The Azure adapter at the SDK boundary (Azure itself cannot be reached from here)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import azure.cognitiveservices.speech as real
import pytest
from pydantic import SecretStr

from audiosocket.speech.azure import AzureConfig, AzureSpeech, AzureSTT, AzureTTS
from audiosocket.speech.base import EngineError, EngineTimeout, Hints
from controller.conversation.directory import parse_directory
from controller.conversation.hearing import Expecting, hearing_for
from tests.speech.fake_azure import Cancellation, FakeSdk, Script

KEY = "s3cr3t-azure-key-0123456789"


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def make(executor: ThreadPoolExecutor, script: Script | None = None, timeout: float = 2.0) -> AzureSpeech:
    config = AzureConfig(key=SecretStr(KEY), region="brazilsouth", session_timeout_s=timeout)
    return AzureSpeech(config, executor, sdk=FakeSdk(script))


def sdk_of(azure: AzureSpeech) -> FakeSdk:
    sdk = azure.sdk
    assert isinstance(sdk, FakeSdk)
    return sdk


async def test_recognition_feeds_live_frames_through_a_push_stream(executor: ThreadPoolExecutor) -> None:
    azure = make(executor, Script(texts=["Sim,", "pode liberar."], confidence=0.9))
    stream = AzureSTT(azure).stream(8000)
    recognizer = sdk_of(azure).recognizers[0]
    frames = [bytes([n]) * 320 for n in range(5)]
    for frame in frames:
        stream.push_frame(frame)
        await asyncio.sleep(0)
    assert recognizer.stream.written == frames  # each frame reached Azure as it arrived, before finish()
    assert not recognizer.stream.closed.is_set()
    transcript = await stream.finish()
    assert transcript.text == "Sim, pode liberar."
    assert transcript.confidence == pytest.approx(0.9)
    assert transcript.language == "pt-BR"
    assert recognizer.stream.format.rate == 8000
    assert (recognizer.stream.format.bits, recognizer.stream.format.channels) == (16, 1)
    assert recognizer.speech_config.speech_recognition_language == "pt-BR"
    assert recognizer.started and recognizer.stopped
    with pytest.raises(EngineError):
        stream.push_frame(b"\0\0")


async def test_transcribe_uses_the_same_stream_at_16k(executor: ThreadPoolExecutor) -> None:
    azure = make(executor)
    transcript = await AzureSTT(azure).transcribe(b"\0\0" * 1600, 16000)
    assert transcript.text == "sim pode liberar"
    assert sdk_of(azure).recognizers[0].stream.format.rate == 16000


async def test_the_directory_reaches_azure_as_a_phrase_list_before_recognition_starts(
    executor: ThreadPoolExecutor,
) -> None:
    """What the dialog expects (controller/conversation/hearing.py) becomes Azure's phrase list on that turn."""
    directory = parse_directory(
        '[{"apartment_number": "702", "residents": ["Giovanna Prado"], "voip_number": "PJSIP/702"},'
        ' {"apartment_number": "101", "residents": ["Luiz Henrique"], "voip_number": "PJSIP/101"}]'
    )
    hearing = hearing_for(directory, Expecting.RESIDENT, apartment="702")
    assert hearing.phrases == ("Luiz Henrique", "Giovanna Prado")  # the prompt's entries, this apartment's last
    azure = make(executor)
    stt = AzureSTT(azure)
    hints = Hints(hearing.prompt, hearing.alternatives, hearing.phrases)
    await stt.transcribe(b"\0\0" * 1600, 8000, hints)
    stream = stt.stream(8000)  # a turn that expects nothing in particular gets no list
    await stream.aclose()
    with_list, without = sdk_of(azure).recognizers
    assert with_list.phrases == ["Luiz Henrique", "Giovanna Prado"] and with_list.phrases_after_start == []
    assert without.phrases == [] and without.phrases_after_start == []


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        (real.CancellationErrorCode.AuthenticationFailure, EngineError, False),
        (real.CancellationErrorCode.ConnectionFailure, EngineError, True),
        (real.CancellationErrorCode.ServiceTimeout, EngineTimeout, True),
    ],
)
async def test_recognition_cancellation_maps_to_engine_error_without_the_key(
    executor: ThreadPoolExecutor, code: object, kind: type[EngineError], retryable: bool
) -> None:
    cancel = Cancellation(real.CancellationReason.Error, code, f"WebSocket upgrade failed for key {KEY}")
    azure = make(executor, Script(cancel=cancel))
    stream = AzureSTT(azure).stream(8000)
    stream.push_frame(b"\0\0" * 160)
    with pytest.raises(EngineError) as caught:
        await stream.finish()
    assert type(caught.value) is kind
    assert caught.value.retryable is retryable
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert code.name in str(caught.value)  # type: ignore[attr-defined]


async def test_a_session_that_never_stops_times_out(executor: ThreadPoolExecutor) -> None:
    azure = make(executor, Script(never_stop=True), timeout=0.2)
    stream = AzureSTT(azure).stream(8000)
    with pytest.raises(EngineTimeout):
        await asyncio.wait_for(stream.finish(), 5)
    assert sdk_of(azure).recognizers[0].stopped


async def test_aclose_abandons_the_turn(executor: ThreadPoolExecutor) -> None:
    azure = make(executor)
    stream = AzureSTT(azure).stream(8000)
    stream.push_frame(b"\0\0")
    await stream.aclose()
    recognizer = sdk_of(azure).recognizers[0]
    assert recognizer.stream.closed.is_set() and recognizer.stopped


@pytest.mark.parametrize(
    ("rate", "expected"), [(8000, "raw-8khz-16bit-mono-pcm"), (16000, "raw-16khz-16bit-mono-pcm")]
)
async def test_synthesis_asks_for_raw_pcm_at_the_leg_rate(
    executor: ThreadPoolExecutor, rate: int, expected: str
) -> None:
    azure = make(executor, Script(chunks=[b"\x01\x00\x02", b"\x00\x03\x00"]))
    chunks = [chunk async for chunk in AzureTTS(azure).synthesize("Um momento, por favor.", rate)]
    synthesizer = sdk_of(azure).synthesizers[0]
    assert synthesizer.output_format == expected
    assert synthesizer.audio_config is None  # audio comes back to us, never to a local speaker
    assert synthesizer.texts == ["Um momento, por favor."]
    assert synthesizer.speech_config.speech_synthesis_voice_name == "pt-BR-AntonioNeural"
    assert chunks == [b"\x01\x00", b"\x02\x00\x03\x00"]  # whole samples only, nothing lost


async def test_synthesis_streams_before_azure_finishes(executor: ThreadPoolExecutor) -> None:
    hold = threading.Event()
    azure = make(executor, Script(chunks=[b"\x01\x00" * 10, b"\x02\x00" * 10], hold_synthesis=hold))
    chunks = AzureTTS(azure).synthesize("Olá", 8000)
    first = await asyncio.wait_for(anext(chunks), 2)
    assert first == b"\x01\x00" * 10
    hold.set()
    assert [chunk async for chunk in chunks] == [b"\x02\x00" * 10]


async def test_abandoned_synthesis_tells_azure_to_stop(executor: ThreadPoolExecutor) -> None:
    hold = threading.Event()
    azure = make(executor, Script(hold_synthesis=hold))
    chunks = AzureTTS(azure).synthesize("Olá", 8000)
    await anext(chunks)
    await chunks.aclose()  # type: ignore[attr-defined]
    assert sdk_of(azure).synthesizers[0].stop_requested.wait(2)
    hold.set()


async def test_synthesis_cancellation_is_an_engine_error_without_the_key(executor: ThreadPoolExecutor) -> None:
    cancel = Cancellation(real.CancellationReason.Error, real.CancellationErrorCode.Forbidden, f"bad key {KEY}")
    azure = make(executor, Script(synthesis_cancel=cancel))
    with pytest.raises(EngineError) as caught:
        async for _ in AzureTTS(azure).synthesize("Olá", 16000):
            pass
    assert not caught.value.retryable
    assert KEY not in str(caught.value) and "Forbidden" in str(caught.value)


async def test_unsupported_rate_is_refused(executor: ThreadPoolExecutor) -> None:
    with pytest.raises(EngineError):
        async for _ in AzureTTS(make(executor)).synthesize("Olá", 44100):
            pass


def test_config_never_shows_the_key() -> None:
    config = AzureConfig(key=SecretStr(KEY), region="brazilsouth")
    assert KEY not in repr(config) and KEY not in str(config)
