"""Measure how much margin Whisper base has on each speech fixture across CPU kernels.

Whisper int8 output depends on the CPU's kernels: CTranslate2 picks an ISA (GENERIC, AVX, AVX2, AVX512) and a
GEMM backend (oneDNN on AMD, Intel MKL on Intel) at start-up. Both can be forced on one machine, through
`CT2_FORCE_CPU_ISA` and `CT2_USE_MKL`, read once when ctranslate2 loads, so every configuration runs in a child
process. Each fixture is also decoded with small input perturbations (gain, a few ms of shift, faint noise):
rounding differences between kernels are a perturbation of the same kind, so a clip that survives all of them
under every kernel has margin, and one that flips is marginal.

    .venv/bin/python -m tests.speech.margin                        # all configurations, plain path
    .venv/bin/python -m tests.speech.margin --short                # also the short encoder path
    .venv/bin/python -m tests.speech.margin --window 15            # also a 15 s encoder window
    .venv/bin/python -m tests.speech.margin --json out.json        # keep the raw results

Prints, per input, configuration and rate, keyword recall and corpus WER over the fixture set (the figures the
aggregate test in test_whisper.py bounds), then per clip and rate which keywords were ever lost: a keyword never
lost in any run is "reliable" (fixtures.json `reliable_8k` / `reliable_16k`), the only kind asserted per clip.
A full run (7 configurations x 5 inputs, plain path) takes about an hour on 2 busy cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

# (label, environment). MKL is what CTranslate2 uses by default on Intel CPUs, oneDNN everywhere else.
CONFIGS: list[tuple[str, dict[str, str]]] = [
    ("auto", {}),
    ("GENERIC", {"CT2_FORCE_CPU_ISA": "GENERIC"}),
    ("AVX", {"CT2_FORCE_CPU_ISA": "AVX"}),
    ("AVX2", {"CT2_FORCE_CPU_ISA": "AVX2"}),
    ("MKL GENERIC", {"CT2_USE_MKL": "1", "CT2_FORCE_CPU_ISA": "GENERIC"}),
    ("MKL AVX", {"CT2_USE_MKL": "1", "CT2_FORCE_CPU_ISA": "AVX"}),
    ("MKL AVX2", {"CT2_USE_MKL": "1", "CT2_FORCE_CPU_ISA": "AVX2"}),
]
VARIANTS = ["as is", "-1 dB", "+1 dB", "shift 2.5 ms", "noise -70 dBFS"]
RATES = (8000, 16000)


def perturb(pcm16k: bytes, variant: str) -> bytes:
    """The fixture (16 kHz) with one small, deterministic change."""
    samples = np.frombuffer(pcm16k, dtype="<i2").astype(np.float64)
    if variant == "-1 dB":
        samples = samples * 10 ** (-1 / 20)
    elif variant == "+1 dB":  # fixtures peak at -3 dBFS, so no clipping
        samples = samples * 10 ** (1 / 20)
    elif variant == "shift 2.5 ms":
        samples = np.concatenate([np.zeros(40), samples])
    elif variant == "noise -70 dBFS":
        samples = samples + np.random.default_rng(7).normal(0, 32768 * 10 ** (-70 / 20), samples.size)
    elif variant != "as is":
        raise ValueError(variant)
    return bytes(np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes())


def child(paths: list[str], variants: list[str]) -> None:
    """Decode every fixture x rate x variant x path in this process's kernel configuration; JSON lines out."""
    from audiosocket.speech.whisper import WhisperOptions, WhisperSTT
    from controller.tools.scoring import contains_keywords, word_error_rate
    from tests.speech.conftest import MODEL, SPEECH_FIXTURES

    executor = ThreadPoolExecutor(1)
    for path in paths:
        window = int(path.removeprefix("window")) if path.startswith("window") else 30
        engine = WhisperSTT(MODEL, executor, WhisperOptions(short_input=path == "short", window_seconds=window))
        engine.load_blocking()
        for fixture in SPEECH_FIXTURES:
            for variant in variants:
                shifted = dataclasses.replace(fixture, pcm16k=perturb(fixture.pcm16k, variant))
                for rate in RATES:
                    transcript = engine.recognize(shifted.pcm(rate), rate)
                    row = {
                        "path": path, "fixture": fixture.name, "variant": variant, "rate": rate,
                        "text": transcript.text, "language": transcript.language,
                        "wer": word_error_rate(fixture.text, transcript.text),
                        "keywords": len(fixture.keywords),
                        "missing": contains_keywords(transcript.text, fixture.keywords),
                    }
                    print(json.dumps(row, ensure_ascii=False), flush=True)


def run_all(paths: list[str], variants: list[str]) -> list[dict[str, Any]]:
    rows = []
    for label, env in CONFIGS:
        print(f"{label} ...", file=sys.stderr, flush=True)
        output = subprocess.run(
            [sys.executable, "-m", "tests.speech.margin", "--child", "--paths", *paths, "--variants", *variants],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True,
        ).stdout
        rows += [{**json.loads(line), "config": label} for line in output.splitlines()]
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    from tests.speech.conftest import SPEECH_FIXTURES
    from tests.speech.scoring import score

    fixtures = {item.name: item for item in SPEECH_FIXTURES}
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["path"], row["variant"], row["config"], row["rate"])].append(row)
    print("| path | input | kernels | rate | keyword recall | corpus WER | clips with all keywords | mean clip WER |")
    print("|---|---|---|---|---|---|---|---|")
    for (path, variant, config, rate), group in groups.items():
        result = score((fixtures[row["fixture"]].text, fixtures[row["fixture"]].keywords, row["text"]) for row in group)
        whole = sum(not row["missing"] for row in group)
        mean = statistics.mean(row["wer"] for row in group)
        print(f"| {path} | {variant} | {config} | {rate // 1000} kHz | {result.keywords_heard}/{result.keywords_total} "
              f"= {result.recall:.2f} | {result.wer:.2f} | {whole}/{len(group)} | {mean:.2f} |")
    print()
    print("Per clip and rate (runs that lost a keyword / runs; WER range; lost keywords; transcripts):")
    clips: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        clips[(row["path"], row["fixture"], row["rate"])].append(row)
    for (path, name, rate), group in sorted(clips.items()):
        failing = [row for row in group if row["missing"]]
        wers = [row["wer"] for row in group]
        line = f"{path} {name} {rate // 1000} kHz: {len(failing)}/{len(group)} WER {min(wers):.2f}-{max(wers):.2f}"
        if failing:
            missing = sorted({word for row in failing for word in row["missing"]})
            texts = sorted({row["text"] for row in group})
            line += f" lost {missing}; heard {texts}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--short", action="store_true", help="also measure the short encoder path")
    parser.add_argument("--window", type=int, help="also measure this encoder window (PORTARIA_WHISPER_WINDOW_S)")
    parser.add_argument("--paths", nargs="*", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--variants", nargs="*", default=VARIANTS, help="input perturbations to try")
    parser.add_argument("--json", type=Path, help="also write the raw rows here")
    args = parser.parse_args()
    paths = args.paths or ["plain", *(["short"] if args.short else [])]
    paths += [f"window{args.window}"] if args.window and not args.paths else []
    if args.child:
        child(paths, args.variants)
        return
    rows = run_all(paths, args.variants)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    report(rows)


if __name__ == "__main__":
    main()
