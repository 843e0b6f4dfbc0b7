"""The first recognition after start-up against the ones after it, with and without Whisper's warm-up decode.

    .venv/bin/python bench/bench_warmup.py [--trials 5] [--clip visitor-k-entrega-202]

Each trial is a fresh process (as a service start is): load Whisper base, then recognise the clip (8 kHz, the
gate leg's rate) three times, timing each. Arms alternate in one sitting: ``cold`` (warm_up=False) and ``warm``
(the default: one decode of quiet noise inside load, so its cost is paid at start-up, before any call). Prints
median (min-max) per arm of: load time, first recognition, later recognitions. Writes
bench/results/warmup-<UTC>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"


def _trial(clip: str, warm: bool) -> dict[str, float]:
    from audiosocket.speech.whisper import WhisperOptions, WhisperSTT

    with wave.open(str(ROOT / "tests" / "fixtures" / "audio" / f"{clip}.wav")) as handle:
        rate, pcm = handle.getframerate(), handle.readframes(handle.getnframes())
    if rate != 8000:
        import numpy as np
        import soxr

        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        pcm = np.asarray(soxr.resample(samples, rate, 8000)).clip(-32768, 32767).astype("<i2").tobytes()
    stt = WhisperSTT(ROOT / "models" / "whisper-base", ThreadPoolExecutor(1), WhisperOptions(warm_up=warm))
    started = time.perf_counter()
    stt.load_blocking()
    times = {"load_s": time.perf_counter() - started}
    for index in range(3):
        started = time.perf_counter()
        stt.recognize(pcm, 8000)
        times[f"recognition_{index + 1}_s"] = time.perf_counter() - started
    return times


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--clip", default="visitor-k-entrega-202")
    parser.add_argument("--child", choices=["cold", "warm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_trial(args.clip, args.child == "warm")))
        return
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for _ in range(args.trials):
        for arm in ("cold", "warm"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", arm, "--clip", args.clip],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[arm].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{platform.processor() or platform.machine()}, {args.trials} trials per arm, clip {args.clip} at 8 kHz")
    print("arm  | load ms | 1st recognition ms | 2nd | 3rd")
    for arm, trials in runs.items():
        cells = [_spread([t[key] for t in trials]) for key in trials[0]]
        print(f"{arm} | " + " | ".join(cells))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"warmup-{stamp}.json").write_text(json.dumps({"clip": args.clip, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
