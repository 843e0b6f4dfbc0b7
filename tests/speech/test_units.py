"""Pure parts: normalisation, the buffered recognition stream, the prompt cache, settings checks, the installer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from audiosocket.speech import install_model
from audiosocket.speech.base import EngineError, Transcript, echoes_prompt
from audiosocket.speech.pieces import BufferedStream
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE, ONE_MOMENT, PromptCache
from audiosocket.speech.whisper import drop_echoes, encoder_frames, max_new_tokens, pcm_to_float
from controller.settings import Settings, SettingsError, SttEngine, TtsEngine, load_settings
from controller.tools.scoring import contains_keywords, normalize, word_error_rate
from controller.wiring import azure_problems as azure_settings_problems
from controller.wiring import speech_engines as build_speech
from controller.wiring import speech_problems as speech_settings_problems
from tests.speech.fakes import FakeTTS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Sou o João, vim fazer uma entrega para o apartamento cento e um.",
            "sou o joao vim fazer uma entrega para o apartamento 101",
        ),
        ("Apartamento duzentos e dois", "apartamento 202"),
        ("apto 202!", "apto 202"),
        ("cento e 1", "101"),
        ("200 e 2", "202"),
        ("vinte e dois", "22"),
        ("trinta e quatro", "34"),
        ("mil e quinhentos", "1500"),
        ("dois mil e vinte e seis", "2026"),
        ("dois três", "23"),  # digit by digit, as the dialog reads an apartment
        ("doze zero três", "1203"),
        ("Não autorizo.", "nao autorizo"),
        ("uma visita para a Renata Souza", "uma visita para a renata souza"),
        ("1º andar", "1 andar"),
        ("cem", "100"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_word_error_rate_and_keywords() -> None:
    assert word_error_rate("apartamento cento e um", "Apartamento 101.") == 0.0
    assert word_error_rate("sim pode liberar", "Sim, pode limitar.") == pytest.approx(1 / 3)
    assert word_error_rate("", "") == 0.0
    assert contains_keywords("Vim para o apartamento 101.", ["apartamento", "cento e um", "entrega"]) == ["entrega"]


def test_pcm_conversion_resamples_8k_to_16k() -> None:
    audio = pcm_to_float(b"\x00\x40" * 8000, 8000)
    assert audio.size == 16000 and abs(float(audio[8000]) - 0.5) < 0.01
    with pytest.raises(EngineError):
        pcm_to_float(b"\0", 8000)
    assert max_new_tokens(1) < max_new_tokens(8) <= 224


async def test_buffered_stream_reuses_the_early_result_when_nothing_came_after_flush() -> None:
    seen: list[bytes] = []

    async def recognize(pcm: bytes) -> Transcript:
        seen.append(pcm)
        await asyncio.sleep(0.01)
        return Transcript(str(len(pcm)), 1.0, "pt")

    stream = BufferedStream(recognize)
    stream.push_frame(b"ab")
    stream.flush()
    assert (await stream.finish()).text == "2"
    assert seen == [b"ab"]

    seen.clear()
    stream = BufferedStream(recognize)
    stream.push_frame(b"ab")
    stream.flush()
    stream.push_frame(b"cd")  # the speaker went on: the early recognition is stale
    assert (await stream.finish()).text == "4"
    assert seen[-1] == b"abcd"
    with pytest.raises(EngineError):
        await stream.finish()


async def test_buffered_stream_early_is_the_last_flush_and_none_otherwise() -> None:
    gate = asyncio.Event()

    async def recognize(pcm: bytes) -> Transcript:
        await gate.wait()
        if pcm == b"xx":
            raise EngineError("engine down")
        return Transcript(pcm.decode(), 1.0, "pt")

    stream = BufferedStream(recognize)
    assert await stream.early() is None  # no flush yet
    stream.push_frame(b"ab")
    stream.flush()
    waiting = asyncio.ensure_future(stream.early())
    await asyncio.sleep(0)  # it waits on the first flush
    stream.push_frame(b"cd")
    stream.flush()  # supersedes the first flush: its waiter gets None, and is not cancelled itself
    gate.set()
    assert await waiting is None
    early = await stream.early()
    assert early is not None and early.text == "abcd"
    assert (await stream.finish()).text == "abcd"  # the same result, not recognised again

    failing = BufferedStream(recognize)
    failing.push_frame(b"xx")
    failing.flush()
    assert await failing.early() is None  # the failure is finish()'s to report
    with pytest.raises(EngineError):
        await failing.finish()


async def test_prompt_cache_serves_from_memory_without_the_engine() -> None:
    tts = FakeTTS(chunks=[b"\x01\x00" * 4000], first_delay=0.3)
    cache = PromptCache(tts)
    problems = await cache.warm(["Condomínio Apoena, em que posso ajudar?", ONE_MOMENT], [8000, 16000])
    assert problems == [] and len(cache) == 4
    calls = len(tts.texts)
    first = await anext(cache.synthesize("Condomínio  Apoena, em que posso ajudar?", 8000))
    assert len(tts.texts) == calls  # no engine call for a cached phrase
    assert len(first) == 8000 * 200 // 1000 * 2  # 200 ms chunks
    assert b"".join(cache.chunks(ONE_MOMENT, 16000)) == b"\x01\x00" * 4000
    assert cache.get("not cached", 8000) is None
    assert [chunk async for chunk in cache.synthesize("outra frase", 8000)] == tts.chunks


async def test_prompt_cache_reports_phrases_it_could_not_make() -> None:
    cache = PromptCache(FakeTTS(error=EngineError("no voice")))
    problems = await cache.warm([FALLBACK_PHRASE], [8000])
    assert len(problems) == 1 and "no voice" in problems[0]
    assert (FALLBACK_PHRASE, 8000) not in cache
    stalled = PromptCache(FakeTTS(first_delay=30))
    assert len(await stalled.warm([FALLBACK_PHRASE], [8000], timeout_s=0.05)) == 1


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_azure_problems_name_the_missing_setting_and_never_the_key() -> None:
    assert azure_settings_problems(settings()) == []
    problems = azure_settings_problems(settings(stt_engine=SttEngine.AZURE))
    assert any("PORTARIA_AZURE_SPEECH_KEY" in p for p in problems)
    assert any("PORTARIA_AZURE_SPEECH_REGION" in p for p in problems)
    secret = "k3y-that-must-not-leak"
    complete = settings(
        tts_engine=TtsEngine.AZURE, azure_speech_key=SecretStr(secret), azure_speech_region="brazilsouth"
    )
    assert azure_settings_problems(complete) == []
    with pytest.raises(SettingsError) as caught:
        build_speech(settings(tts_engine=TtsEngine.AZURE, azure_speech_key=SecretStr(secret)))
    assert "REGION" in str(caught.value) and secret not in str(caught.value)


def test_the_encoder_window_is_the_configured_one_only_for_speech_that_fits_it_with_a_second_to_spare() -> None:
    assert encoder_frames(300, 15) == 1500  # 3 s of speech: the 15 s window
    assert encoder_frames(1400, 15) == 1500  # 14 s: still a second to spare
    assert encoder_frames(1401, 15) == 3000  # longer: Whisper's own 30 s, which it needs
    assert encoder_frames(300, 30) == 3000
    assert encoder_frames(2990, 30) == 3000  # never past Whisper's window


@pytest.mark.parametrize(
    "name", ["PORTARIA_WHISPER_WINDOW_S", "PORTARIA_WHISPER_DIRECTORY_WINDOW_S", "PORTARIA_WHISPER_PIECE_S"]
)
def test_the_window_settings_reach_whisper_and_a_wrong_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    from audiosocket.speech.whisper import WhisperSTT

    engines = build_speech(settings(whisper_window_s=20, whisper_directory_window_s=10, whisper_piece_s=4.5))
    try:
        assert isinstance(engines.stt, WhisperSTT)
        options = engines.stt.options
        assert (options.window_seconds, options.checked_window_seconds, options.piece_seconds) == (20, 10, 4.5)
    finally:
        engines.close()
    defaults = settings()
    assert (defaults.whisper_window_s, defaults.whisper_directory_window_s, defaults.whisper_piece_s) == (30, 15, 3.0)
    for wrong in ("-1" if name.endswith("PIECE_S") else "4", "31", "quinze"):
        monkeypatch.setenv(name, wrong)
        with pytest.raises(SettingsError) as caught:
            load_settings(_env_file=None)
        assert name in str(caught.value), caught.value


def test_missing_whisper_model_is_reported(tmp_path: Path) -> None:
    problems = speech_settings_problems(settings(whisper_model=tmp_path))
    assert len(problems) == 1 and "install_model" in problems[0]


def test_build_speech_picks_engines_from_settings() -> None:
    from audiosocket.speech.azure import AzureSTT, AzureTTS
    from audiosocket.speech.espeak import EspeakTTS
    from audiosocket.speech.tts_cache import CachedTTS
    from audiosocket.speech.whisper import WhisperSTT

    offline = build_speech(settings())  # the default: Whisper, Kokoro behind its clause cache, espeak behind it
    try:
        assert isinstance(offline.stt, WhisperSTT) and isinstance(offline.tts, CachedTTS)
        assert isinstance(offline.fallback_tts, EspeakTTS) and offline.sample_rates == (8000,)
    finally:
        offline.close()
    plain = build_speech(settings(tts_engine=TtsEngine.ESPEAK))
    try:
        assert isinstance(plain.tts, EspeakTTS) and plain.fallback_tts is None
    finally:
        plain.close()
    online = build_speech(
        settings(
            stt_engine=SttEngine.AZURE,
            tts_engine=TtsEngine.AZURE,
            media_format="slin16",
            azure_speech_key=SecretStr("k"),
            azure_speech_region="brazilsouth",
        )
    )
    try:
        assert isinstance(online.stt, AzureSTT) and isinstance(online.tts, AzureTTS)
        assert isinstance(online.fallback_tts, EspeakTTS) and online.sample_rates == (16000,)
    finally:
        online.close()


def test_install_model_is_idempotent(tmp_path: Path) -> None:
    dest = tmp_path / "whisper-base"
    assert install_model.install(dest) is True
    assert install_model.is_installed(dest)
    stamp = (dest / "model.bin").stat().st_mtime_ns
    assert install_model.install(dest) is False
    assert (dest / "model.bin").stat().st_mtime_ns == stamp
    with (dest / "model.bin").open("r+b") as model:  # a truncated model is rebuilt
        model.truncate(1000)
    assert not install_model.is_installed(dest)
    assert install_model.main(["--dest", str(dest), "--kokoro-dest", str(tmp_path / "kokoro")]) == 0
    assert install_model.is_installed(dest)
    assert {path.name for path in dest.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}


PROMPT = "Moradores: Thiago Mendes, Gisele Araújo, Giovanna Prado."


@pytest.mark.parametrize(
    ("text", "echo"),
    [
        ("Moradores: Thiago Mendes, Gisele Araújo.", True),  # the heading: nobody at a gate says it
        ("Thiago Mendes, Gisele Araujo, Giovanna Prado.", True),  # three entries in a row, accents aside
        ("O Thiago Mendes.", False),
        ("É para a Gisele Araújo, do trezentos e um.", False),  # one entry inside a sentence is an answer
        ("", False),
    ],
)
def test_an_output_that_repeats_the_prompt_is_told_from_an_answer(text: str, echo: bool) -> None:
    assert echoes_prompt(text, PROMPT) is echo
    assert echoes_prompt(text, "") is False


def test_hypotheses_that_repeat_the_prompt_are_dropped_and_a_best_one_that_does_sends_back_to_plain() -> None:
    heard = Transcript(
        "Duzentos e um.",
        0.6,
        "pt",
        ("Moradores: Thiago Mendes.", "201.", "Gisele Araújo, Giovanna Prado, Thiago Mendes"),
        (0.5, 0.4, 0.3),
    )
    kept = drop_echoes(heard, PROMPT)
    assert kept is not None and (kept.alternatives, kept.alternative_confidences) == (("201.",), (0.4,))
    assert drop_echoes(heard, "") is heard
    assert drop_echoes(Transcript("Moradores: Thiago Mendes.", 0.9, "pt"), PROMPT) is None
