"""One Kokoro model, several voices: a condominium's own voice pack speaks through the shared engines.

The real Kokoro-82M engine (one session for the module); nothing of it is faked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audiosocket.speech import install_model
from audiosocket.speech.factory import SpeechConfig, SpeechEngines, build_speech
from audiosocket.speech.kokoro import KokoroOptions, KokoroTTS
from audiosocket.speech.prompt_cache import FALLBACK_PHRASE
from tests.support.poll import eventually

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models/kokoro"
SENTENCE = "Boa tarde, do 702."


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[SpeechEngines]:
    install_model.install_kokoro(MODEL)
    built = build_speech(
        SpeechConfig(
            tts="kokoro", kokoro_model=MODEL, kokoro=KokoroOptions(voice="jm_kumo"), tts_cache_dir=tmp_path / "c"
        )
    )
    built.whisper = None  # recognition is not what these tests are about
    await built.start()
    try:
        yield built
    finally:
        built.close()


async def _said(speech: SpeechEngines, text: str) -> bytes:
    call = speech.for_call("c1", "gate")
    return b"".join([chunk async for chunk in call.synthesize(text, 8000)])


def _pcm(audio: bytes) -> np.ndarray:
    return np.frombuffer(audio, dtype=np.int16).astype(np.float64)


async def test_a_site_voice_speaks_with_its_own_pack_on_the_shared_model(engines: SpeechEngines) -> None:
    female = engines.in_voice("jf_alpha")
    assert female.kokoro is engines.kokoro and female.stt is engines.stt  # no second model or recogniser
    assert engines.in_voice("jf_alpha") is female  # one view per voice
    assert female.in_voice("jm_kumo") is engines and female.in_voice("jf_alpha") is female
    own, site = await _said(engines, SENTENCE), await _said(female, SENTENCE)
    alone = KokoroTTS(MODEL, KokoroOptions(voice="jf_alpha"))  # that voice as the only one of an engine
    alone.load_blocking()
    try:
        expected = b"".join([chunk async for chunk in alone.synthesize(SENTENCE, 8000)])
    finally:
        alone.close()
    assert len(site) > 8000 and site != own
    assert abs(len(site) - len(expected)) <= 0.05 * len(expected)
    # The same voice pack: the audio matches the one-voice engine's (onnxruntime may differ in the last bits).
    length = min(len(site), len(expected)) // 2
    correlation = np.corrcoef(_pcm(site)[:length], _pcm(expected)[:length])[0, 1]
    assert correlation > 0.95
    other = np.corrcoef(_pcm(site)[: min(len(site), len(own)) // 2], _pcm(own)[: min(len(site), len(own)) // 2])
    assert other[0, 1] < correlation


async def test_its_fixed_prompts_are_made_in_its_voice_and_the_configured_ones_serve_meanwhile(
    engines: SpeechEngines,
) -> None:
    default_fallback = engines.prompts.get(FALLBACK_PHRASE, 8000)
    assert default_fallback
    female = engines.in_voice("jf_nezumi")
    assert female.prompts.get(FALLBACK_PHRASE, 8000) is not None  # never a call without its apology

    async def own_voice() -> bool:
        return female.prompts.get(FALLBACK_PHRASE, 8000) != default_fallback

    await eventually(own_voice, within=60)
    assert engines.prompts.get(FALLBACK_PHRASE, 8000) == default_fallback  # the configured voice is unchanged


async def test_its_fixed_prompts_are_made_at_low_priority_so_live_replies_do_not_queue_behind_them(
    engines: SpeechEngines,
) -> None:
    kokoro = engines.kokoro
    assert kokoro is not None
    default_fallback = engines.prompts.get(FALLBACK_PHRASE, 8000)
    female = engines.in_voice("jf_nezumi")

    async def own_voice() -> bool:
        return female.prompts.get(FALLBACK_PHRASE, 8000) != default_fallback

    await eventually(own_voice, within=60)
    assert kokoro.live_clauses("jf_nezumi") == 0  # every clause of its prompts came from the niced background thread
    assert await _said(female, SENTENCE)
    assert kokoro.live_clauses("jf_nezumi") > 0  # a call's reply is live


async def test_the_configured_voice_or_none_is_the_engines_themselves(engines: SpeechEngines) -> None:
    assert engines.in_voice(None) is engines and engines.in_voice("jm_kumo") is engines
    with pytest.raises(ValueError, match="unknown Kokoro voice"):
        engines.in_voice("af_heart")


async def test_a_site_voice_is_cached_apart_from_the_configured_one(engines: SpeechEngines) -> None:
    female = engines.in_voice("jf_alpha")
    assert female.cache is not None and engines.cache is not None
    await female.prewarm(["Bom dia."])
    assert female.cache.key("Bom dia.", 8000) != engines.cache.key("Bom dia.", 8000)
    assert await female.cache.lookup(female.cache.key("Bom dia.", 8000))
    assert await engines.cache.lookup(engines.cache.key("Bom dia.", 8000)) is None
