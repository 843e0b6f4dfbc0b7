"""Kokoro's settings, its composition (cache in front, espeak behind) and start-up without its model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audiosocket.speech import install_model
from audiosocket.speech.espeak import EspeakTTS
from audiosocket.speech.factory import SpeechConfig, build_speech
from audiosocket.speech.kokoro import VOICES, KokoroTTS
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE
from audiosocket.speech.tts_cache import CachedTTS
from controller.settings import KokoroVoice, Settings, SettingsError, TtsEngine, load_settings
from controller.wiring import speech_config, speech_problems


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_settings_know_exactly_the_shipped_voices() -> None:
    assert set(KokoroVoice.__args__) == set(VOICES)  # type: ignore[attr-defined]
    with pytest.raises(SettingsError, match="PORTARIA_KOKORO_VOICE"):
        load_settings(_env_file=None, kokoro_voice="af_heart")
    with pytest.raises(SettingsError, match="PORTARIA_KOKORO_SPEED"):
        load_settings(_env_file=None, kokoro_speed=5)


def test_the_cache_dir_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().tts_cache_dir == Path("var/tts-cache")
    for off in ("", "off"):
        monkeypatch.setenv("PORTARIA_TTS_CACHE_DIR", off)
        assert settings().tts_cache_dir is None
    monkeypatch.setenv("PORTARIA_TTS_ENGINE", "kokoro")
    monkeypatch.setenv("PORTARIA_KOKORO_VOICE", "jf_nezumi")
    config = speech_config(settings())
    assert config.tts == "kokoro" and config.kokoro.voice == "jf_nezumi" and config.tts_cache_dir is None


def test_check_reports_a_missing_kokoro_model(tmp_path: Path) -> None:
    install_model.install_kokoro()  # the default place, as ./portaria setup does (quick when already there)
    assert speech_problems(settings(tts_engine=TtsEngine.KOKORO)) == []
    problems = speech_problems(settings(tts_engine=TtsEngine.KOKORO, kokoro_model=tmp_path))
    assert len(problems) == 1 and "PORTARIA_KOKORO_MODEL" in problems[0] and "install_model" in problems[0]
    assert speech_problems(settings(tts_engine=TtsEngine.ESPEAK, kokoro_model=tmp_path)) == []  # not needed


def test_kokoro_is_cached_in_front_and_espeak_behind(tmp_path: Path) -> None:
    engines = build_speech(SpeechConfig(tts="kokoro", tts_cache_dir=tmp_path / "cache"))
    try:
        assert isinstance(engines.tts, CachedTTS) and isinstance(engines.kokoro, KokoroTTS)
        assert isinstance(engines.fallback_tts, EspeakTTS)
        assert engines.cache is engines.tts and engines.cache.disk is not None
        assert not engines.kokoro.loaded  # nothing heavy before start()
    finally:
        engines.close()


async def test_without_its_model_kokoro_leaves_the_call_espeak(tmp_path: Path) -> None:
    engines = build_speech(SpeechConfig(tts="kokoro", kokoro_model=tmp_path, tts_cache_dir=tmp_path / "cache"))
    engines.whisper = None  # recognition is not what this test is about
    try:
        problems = await engines.start()
        assert any("Kokoro unavailable" in problem and "install_model" in problem for problem in problems)
        assert engines.prompts.get(FALLBACK_PHRASE, 8000)  # the fallback phrase, from espeak
        speech = engines.for_call("c1", "gate")
        audio = b"".join([chunk async for chunk in speech.synthesize("Pode entrar.", 8000)])
        assert len(audio) > 8000  # espeak spoke instead
    finally:
        engines.close()
