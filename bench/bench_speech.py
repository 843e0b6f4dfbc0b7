"""Benchmark the offline speech engines on this machine; prints a Markdown report (docs/speech.md holds one).

    .venv/bin/python bench/bench_speech.py [--repeats 5] [--quick]

Measures: Whisper transcription time vs utterance length (1, 2, 4, 8 s) for the short-encoder path and plain
transcribe(); word error rate and keyword hits on the committed fixtures at 8 and 16 kHz for both paths; espeak-ng
time to first audio and total time for a short and a long sentence; the prompt cache's time to first audio; and
event-loop lag while a transcription runs in the executor (and, for contrast, if it ran on the loop).
Run it on an idle machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiosocket.speech import install_model  # noqa: E402
from audiosocket.speech.espeak import EspeakTTS  # noqa: E402
from audiosocket.speech.prompt_cache import PromptCache  # noqa: E402
from audiosocket.speech.whisper import WhisperOptions, WhisperSTT  # noqa: E402
from controller.tools.scoring import contains_keywords, word_error_rate  # noqa: E402

FIXTURES = ROOT / "tests/fixtures/speech"
MODEL = ROOT / "models/whisper-base"
SHORT_SENTENCE = "Um momento, por favor."
LONG_SENTENCE = (
    "Olá, aqui é a portaria do Condomínio Apoena. Há uma entrega para o apartamento cento e um, "
    "em nome de João Pereira. O senhor autoriza a entrada do entregador?"
)


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("faster-whisper", "ctranslate2", "soxr")
    )
    return f"{os.cpu_count()} CPUs (nproc), {model}; Python {platform.python_version()}; {versions}"


def stats(values: Sequence[float], unit: float = 1000.0) -> str:
    """median (min-max) in ms by default."""
    scaled = [value * unit for value in values]
    return f"{statistics.median(scaled):.0f} ({min(scaled):.0f}-{max(scaled):.0f})"


def load_fixtures() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((FIXTURES / "fixtures.json").read_text(encoding="utf-8"))
    for item in items:
        with wave.open(str(FIXTURES / f"{item['name']}.wav"), "rb") as wav:
            item["pcm"] = wav.readframes(wav.getnframes())
    return items


def at_rate(pcm16k: bytes, rate: int) -> bytes:
    if rate == 16000:
        return pcm16k
    samples = np.frombuffer(pcm16k, dtype="<i2")
    return bytes(soxr.resample(samples, 16000, rate, quality="HQ").astype("<i2").tobytes())


def utterance(fixtures: list[dict[str, Any]], seconds: float) -> bytes:
    """`seconds` of fixture speech (16 kHz), fixtures joined end to end and cut to length."""
    joined = b"".join(bytes(item["pcm"]) for item in fixtures)
    while len(joined) < seconds * 32000:
        joined += joined
    return joined[: int(seconds * 16000) * 2]


def timed(function: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def bench_lengths(engines: dict[str, WhisperSTT], fixtures: list[dict[str, Any]], repeats: int) -> list[str]:
    lines = ["| utterance | rate | " + " | ".join(f"{name} ms" for name in engines) + " |",
             "|---|---|" + "---|" * len(engines)]
    for seconds in (1, 2, 4, 8):
        for rate in (8000, 16000):
            pcm = at_rate(utterance(fixtures, seconds), rate)
            cells = []
            for engine in engines.values():
                engine.recognize(pcm, rate)  # warm-up
                cells.append(stats(timed(partial(engine.recognize, pcm, rate), repeats)))
            lines.append(f"| {seconds} s | {rate // 1000} kHz | " + " | ".join(cells) + " |")
    return lines


def _first_in_process(pcm: bytes, other: bytes, warm_up: bool) -> tuple[float, float]:
    """In a fresh process: load, optionally recognise `other` first, then time `pcm` once and once more."""
    engine = WhisperSTT(MODEL, ThreadPoolExecutor(1), WhisperOptions())
    engine.load_blocking()
    if warm_up:
        engine.recognize(other, 8000)
    first = timed(partial(engine.recognize, pcm, 8000), 1)[0]
    return first, timed(partial(engine.recognize, pcm, 8000), 1)[0]


def bench_first(fixtures: list[dict[str, Any]], processes: int) -> list[str]:
    """The first recognition in a process costs more (CTranslate2 sets up its kernels and buffers): the 2 s
    utterance at 8 kHz right after load, and after a warm-up on other audio (what SpeechEngines.start does), each
    in `processes` fresh processes, alternating; beside them the same audio recognised again."""
    pcm = at_rate(utterance(fixtures, 2), 8000)
    other = at_rate(utterance(fixtures, 4), 8000)
    cold, after_warm_up, again = [], [], []
    for index in range(processes):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            first, second = pool.submit(_first_in_process, pcm, other, bool(index % 2)).result()
        (after_warm_up if index % 2 else cold).append(first)
        again.append(second)
    return [
        "| 2 s at 8 kHz, plain path | first in the process | first after a warm-up | again |",
        "|---|---|---|---|",
        f"| ms | {stats(cold)} | {stats(after_warm_up)} | {stats(again)} |",
    ]


def bench_accuracy(engines: dict[str, WhisperSTT], fixtures: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    summary = ["| path | rate | mean WER | fixtures with all keywords | mean time ms |", "|---|---|---|---|---|"]
    detail = ["| fixture | rate | path | transcript |", "|---|---|---|---|"]
    for name, engine in engines.items():
        for rate in (8000, 16000):
            errors, hits, times = [], 0, []
            for item in fixtures:
                pcm = at_rate(bytes(item["pcm"]), rate)
                started = time.perf_counter()
                text = engine.recognize(pcm, rate).text
                times.append(time.perf_counter() - started)
                errors.append(word_error_rate(str(item["text"]), text))
                hits += not contains_keywords(text, list(item["keywords"]))
                detail.append(f"| {item['name']} | {rate // 1000} kHz | {name} | {text} |")
            summary.append(
                f"| {name} | {rate // 1000} kHz | {statistics.mean(errors):.2f} | {hits}/{len(fixtures)} "
                f"| {statistics.mean(times) * 1000:.0f} |"
            )
    return summary, detail


async def bench_tts(repeats: int) -> list[str]:
    tts = EspeakTTS()
    lines = ["| sentence | rate | first audio ms | total ms | audio s |", "|---|---|---|---|---|"]
    for label, text in (("short", SHORT_SENTENCE), ("long", LONG_SENTENCE)):
        for rate in (8000, 16000):
            firsts, totals, size = [], [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                first = None
                size = 0
                async for chunk in tts.synthesize(text, rate):
                    first = first if first is not None else time.perf_counter() - started
                    size += len(chunk)
                totals.append(time.perf_counter() - started)
                firsts.append(first or 0.0)
            lines.append(
                f"| {label} ({len(text.split())} words) | {rate // 1000} kHz | {stats(firsts)} | {stats(totals)} "
                f"| {size / 2 / rate:.1f} |"
            )
    cache = PromptCache(tts)
    await cache.warm([SHORT_SENTENCE], [8000])
    firsts = []
    for _ in range(repeats * 10):
        started = time.perf_counter()
        await anext(cache.synthesize(SHORT_SENTENCE, 8000))
        firsts.append(time.perf_counter() - started)
    lines.append(f"| short, from the prompt cache | 8 kHz | {stats(firsts, 1e6)} µs | | |")
    return lines


async def loop_lag(run: Callable[[], object], period: float = 0.01) -> list[float]:
    """Lateness of a `period` ticker while `run` (a coroutine factory or blocking call) executes."""
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(period)
            lags.append(time.perf_counter() - before - period)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(period * 3)
    result = run()
    if asyncio.iscoroutine(result):
        await result
    await asyncio.sleep(period * 3)
    task.cancel()
    return lags


async def bench_lag(engine: WhisperSTT, fixtures: list[dict[str, Any]]) -> list[str]:
    pcm = at_rate(utterance(fixtures, 8), 8000)

    async def in_executor() -> None:
        for _ in range(3):
            await engine.transcribe(pcm, 8000)

    lags = await loop_lag(in_executor)
    blocking = await loop_lag(lambda: engine.recognize(pcm, 8000))
    return [
        "| where recognition runs | ticks | lag p50 ms | lag p99 ms | lag max ms |",
        "|---|---|---|---|---|",
        f"| executor (as shipped), 3 x 8 s at 8 kHz | {len(lags)} | {np.percentile(lags, 50) * 1000:.1f} "
        f"| {np.percentile(lags, 99) * 1000:.1f} | {max(lags) * 1000:.1f} |",
        f"| on the event loop (for contrast), 1 x 8 s | {len(blocking)} | {np.percentile(blocking, 50) * 1000:.1f} "
        f"| {np.percentile(blocking, 99) * 1000:.1f} | {max(blocking) * 1000:.1f} |",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--detail", action="store_true", help="also print every transcript")
    args = parser.parse_args()
    install_model.install(MODEL)
    executor = ThreadPoolExecutor(2)
    engines = {
        "plain transcribe() (default)": WhisperSTT(MODEL, executor, WhisperOptions(short_input=False)),
        "short encoder input": WhisperSTT(MODEL, executor, WhisperOptions(short_input=True)),
    }
    for engine in engines.values():
        engine.load_blocking()
    fixtures = load_fixtures()
    print(f"Machine: {machine()}\n")
    print("Load average (1/5/15 min) at start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
    print("### Transcription time vs utterance length (Whisper base int8, beam 5; median (min-max) of "
          f"{args.repeats})\n")
    print("\n".join(bench_lengths(engines, fixtures, args.repeats)) + "\n")
    print(f"### First recognition in a process ({2 * args.repeats} fresh processes, alternating)\n")
    print("\n".join(bench_first(fixtures, 2 * args.repeats)) + "\n")
    summary, detail = bench_accuracy(engines, fixtures)
    print(f"### Accuracy on the {len(fixtures)} fixtures\n")
    print("\n".join(summary) + "\n")
    if args.detail:
        print("\n".join(detail) + "\n")
    print(f"### espeak-ng synthesis (median (min-max) of {args.repeats})\n")
    print("\n".join(await bench_tts(args.repeats)) + "\n")
    print("### Event-loop lag while transcribing (10 ms ticker)\n")
    print("\n".join(await bench_lag(engines["plain transcribe() (default)"], fixtures)) + "\n")
    print("Load average (1/5/15 min) at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    executor.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
