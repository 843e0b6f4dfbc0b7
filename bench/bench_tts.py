"""Benchmark the offline voices (espeak-ng and each Kokoro-82M voice pack) on this machine, to pick the default.

    flock /var/cache/portaria/testbed.lock .venv/bin/python bench/bench_tts.py [--repeats 3] [--quick] [--json PATH]

Each configuration runs in its own child process (clean RSS, nothing shared). For each it measures, over eight
concierge sentences at the leg's 8 kHz:

- time to first audio for a short phrase ("Olá.") and for each sentence, and each sentence's total time;
- real-time factor (synthesis wall time / audio length) and CPU seconds per sentence (all threads, plus the
  espeak-ng subprocesses that phonemize);
- event-loop lag while synthesizing (the engine must not block the loop);
- resident memory the engine adds (after loading and a first synthesis) and the process peak;
- round-trip intelligibility: the 8 kHz audio through Whisper base (the shipped recognizer), WER against the
  sentence (normalized as the tests do) and whether the key words were heard;
- for the default voice, the clause cache's time to first audio when the sentence is already on disk.

Kokoro is measured at 1 and 2 onnxruntime threads for the default voice (timing only). Results: a Markdown table
on stdout, raw JSON in bench/results/tts-<UTC time>.json (or --json PATH). Take the lock: the numbers are
wall-clock and the machine is shared with the timing-sensitive Asterisk tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiosocket.speech import install_model  # noqa: E402
from audiosocket.speech.base import TextToSpeech  # noqa: E402
from audiosocket.speech.espeak import EspeakTTS  # noqa: E402
from audiosocket.speech.kokoro import VOICES, KokoroOptions, KokoroTTS  # noqa: E402
from audiosocket.speech.tts_cache import CachedTTS, DiskCache  # noqa: E402
from audiosocket.speech.whisper import WhisperSTT  # noqa: E402
from controller.tools.scoring import contains_keywords, normalize, word_error_rate  # noqa: E402

RATE = 8000
SHORT = "Olá."
SENTENCES: list[tuple[str, list[str]]] = [  # (sentence, key words the visitor must hear)
    ("Boa tarde! Sou a portaria virtual. É visita ou entrega?", ["portaria", "visita", "entrega"]),
    ("Certo, Marcos. Vou chamar a Giovanna, do setecentos e dois. Um momento.", ["giovanna", "momento"]),
    ("Pode entrar, o portão está aberto.", ["entrar", "portao", "aberto"]),
    ("Desculpe, a entrada não foi autorizada.", ["entrada", "autorizada"]),
    ("Para qual apartamento é a entrega?", ["apartamento", "entrega"]),
    ("Qual é o seu nome, por favor?", ["nome", "favor"]),
    ("O morador não atendeu. Pode deixar a encomenda na portaria.", ["morador", "encomenda", "portaria"]),
    ("Desculpe, pode repetir?", ["desculpe", "repetir"]),
]
DEFAULT_VOICE = "jm_kumo"


def machine() -> dict[str, Any]:
    model = "unknown"
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "avx2": " avx2" in flags,
        "avx512": " avx512f" in flags,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "onnxruntime": metadata.version("onnxruntime"),
        "faster-whisper": metadata.version("faster-whisper"),
        "espeak-ng": espeak.split("  ")[0] if espeak else "unknown",
    }


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            values[key] = int(value.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def synthesize(tts: TextToSpeech, text: str) -> dict[str, Any]:
    """One synthesis: first-audio and total wall time, CPU, worst event-loop lag, the PCM."""
    lag = 0.0
    running = True

    async def ticker() -> None:
        nonlocal lag
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lag = max(lag, time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    cpu = cpu_seconds()
    started = time.perf_counter()
    first = None
    chunks = []
    async for chunk in tts.synthesize(text, RATE):
        first = first if first is not None else time.perf_counter() - started
        chunks.append(chunk)
    total = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    running = False
    await tick
    pcm = b"".join(chunks)
    audio = len(pcm) / 2 / RATE
    return {"first": first or total, "total": total, "audio": audio, "rtf": total / audio if audio else None,
            "cpu": cpu, "lag": lag, "pcm": pcm}


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def child(spec: dict[str, Any], repeats: int) -> dict[str, Any]:
    rss_before, _ = memory_mb()
    engine: TextToSpeech
    kokoro: KokoroTTS | None = None
    if spec["engine"] == "espeak":
        engine = EspeakTTS()
    else:
        kokoro = KokoroTTS(ROOT / "models/kokoro", KokoroOptions(voice=spec["voice"], threads=spec["threads"]))
        started = time.perf_counter()
        await kokoro.load()
        spec["load_s"] = time.perf_counter() - started
        engine = kokoro
    await synthesize(engine, "Bom dia.")  # warm-up: first-run allocations are not what a call sees
    rss_after, peak = memory_mb()
    result: dict[str, Any] = {**spec, "rss_added_mb": rss_after - rss_before, "peak_rss_mb": peak}
    shorts, firsts, totals, rtfs, cpus, lags = [], [], [], [], [], []
    rendered: dict[str, bytes] = {}
    for _ in range(repeats):
        shorts.append((await synthesize(engine, SHORT))["first"])
        for sentence, _words in SENTENCES:
            run = await synthesize(engine, sentence)
            rendered[sentence] = run["pcm"]
            firsts.append(run["first"])
            totals.append(run["total"])
            rtfs.append(run["rtf"])
            cpus.append(run["cpu"])
            lags.append(run["lag"])
    audio = sum(len(pcm) for pcm in rendered.values()) / 2 / RATE
    result.update(
        first_short_s=spread(shorts), first_sentence_s=spread(firsts), total_sentence_s=spread(totals),
        rtf=spread(rtfs), cpu_s_per_sentence=spread(cpus), cpu_per_audio_s=sum(cpus) / (audio * repeats),
        loop_lag_max_ms=max(lags) * 1000, audio_s_per_sentence=audio / len(SENTENCES),
    )
    if kokoro is not None and spec.get("cache"):
        with tempfile.TemporaryDirectory() as folder:
            await synthesize(CachedTTS(kokoro, kokoro.cache_id, DiskCache(Path(folder))), SENTENCES[1][0])
            fresh = CachedTTS(kokoro, kokoro.cache_id, DiskCache(Path(folder)))  # a restart: disk only
            result["cached_first_sentence_s"] = (await synthesize(fresh, SENTENCES[1][0]))["first"]
    if spec.get("recognize"):
        whisper = WhisperSTT(ROOT / "models/whisper-base", ThreadPoolExecutor(1))
        whisper.load_blocking()
        heard, errors, words, missed = [], 0.0, 0, 0
        for sentence, keywords in SENTENCES:
            text = whisper.recognize(rendered[sentence], RATE).text
            size = len(normalize(sentence).split())
            errors += word_error_rate(sentence, text) * size
            words += size
            lost = contains_keywords(text, keywords)
            missed += len(lost)
            heard.append({"sentence": sentence, "heard": text, "missed": lost})
        result.update(wer=errors / words, keywords_missed=missed, keywords=sum(len(k) for _, k in SENTENCES),
                      transcripts=heard)
    return result


def configurations(quick: bool) -> list[dict[str, Any]]:
    voices = [DEFAULT_VOICE, "jf_nezumi"] if quick else list(VOICES)
    specs: list[dict[str, Any]] = [{"engine": "espeak", "voice": "pt-br", "threads": 0, "recognize": True}]
    for voice in voices:
        cache = voice == DEFAULT_VOICE
        specs.append({"engine": "kokoro", "voice": voice, "threads": 2, "recognize": True, "cache": cache})
    specs.append({"engine": "kokoro", "voice": DEFAULT_VOICE, "threads": 1, "recognize": False})
    return specs


def run_child(spec: dict[str, Any], repeats: int) -> dict[str, Any]:
    print(f"{spec['engine']} {spec['voice']} threads={spec['threads']} ...", file=sys.stderr, flush=True)
    output = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec), "--repeats", str(repeats)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def ms(value: dict[str, float]) -> str:
    return f"{value['median'] * 1000:.0f} ({value['min'] * 1000:.0f}-{value['max'] * 1000:.0f})"


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| engine | voice | threads | first audio, \"Olá.\" ms | first audio, sentence ms | whole sentence ms "
        "| RTF | CPU s / sentence | WER 8 kHz | key words heard | RSS added MB | loop lag max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rtf = r["rtf"]
        wer = f"{r['wer']:.3f}" if "wer" in r else "-"
        keywords = f"{r['keywords'] - r['keywords_missed']}/{r['keywords']}" if "wer" in r else "-"
        lines.append(
            f"| {r['engine']} | {r['voice']} | {r['threads'] or '-'} | {ms(r['first_short_s'])} "
            f"| {ms(r['first_sentence_s'])} | {ms(r['total_sentence_s'])} "
            f"| {rtf['median']:.2f} ({rtf['min']:.2f}-{rtf['max']:.2f}) | {r['cpu_s_per_sentence']['median']:.2f} "
            f"| {wer} | {keywords} | {r['rss_added_mb']:.0f} | {r['loop_lag_max_ms']:.1f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes over the sentences (default 3)")
    parser.add_argument("--quick", action="store_true", help="espeak, jm_kumo and jf_nezumi only")
    parser.add_argument("--json", type=Path, help="where to write the raw results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(json.loads(args.child), args.repeats)), ensure_ascii=False))
        return 0
    install_model.install(ROOT / "models/whisper-base")
    install_model.install_kokoro(ROOT / "models/kokoro")
    started = datetime.now(UTC)
    report: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "machine": machine(),
                              "repeats": args.repeats, "rate": RATE, "sentences": [s for s, _ in SENTENCES]}
    report["results"] = [run_child(spec, args.repeats) for spec in configurations(args.quick)]
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    path = args.json or ROOT / f"bench/results/tts-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    info = report["machine"]
    print(f"{info['cpus']} CPUs, {info['cpu']}, AVX2 {info['avx2']}, onnxruntime {info['onnxruntime']}, "
          f"{info['espeak-ng']}; load average at start {info['loadavg_at_start']}; {args.repeats} passes over "
          f"{len(SENTENCES)} sentences at {RATE} Hz; median (min-max)\n")
    print("\n".join(table(report["results"])))
    for r in report["results"]:
        if "cached_first_sentence_s" in r:
            print(f"\nclause cache, {r['voice']}: first audio of a sentence already on disk "
                  f"{r['cached_first_sentence_s'] * 1000:.1f} ms")
    print(f"\nraw: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
