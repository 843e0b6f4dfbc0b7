"""Would recognising while the visitor talks (local agreement) make the end of a turn faster? Measured, not built.

    .venv/bin/python bench/bench_streaming.py [--repeat 3] [--step-s 1.0] [--start-s 1.5]

The policy (whisper_streaming, Macháček et al. 2023): decode the growing utterance every `--step-s` once
`--start-s` were heard, commit the words two passes in a row agree on, and decode each pass, and the last one
at the end of the turn, after the committed words as a forced prefix, so that only the tail is left to
generate when the visitor stops. What it can save is the decoder's time on the words already committed; the
encoder sees Whisper's whole 30 s window at every pass either way.

For each committed speech fixture (tests/fixtures/speech) at 8 and 16 kHz, with the shipped engine's plain
decoding settings (audiosocket/speech/whisper.py):

- the streamed transcript (every pass run to completion before the next step, as on an idle machine) against
  one whole-utterance pass: how many are the same, and the word error rate of each against the reference;
- the time of the end-of-turn decode with the committed prefix against the same decode without one, and the
  encoder alone, alternated `--repeat` times.

Writes bench/results/streaming-<UTC>.json; the figures are in docs/speech.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import RESULTS, machine  # noqa: E402

from audiosocket.speech.whisper import WHISPER_RATE, WhisperSTT, max_new_tokens, pcm_to_float  # noqa: E402
from controller.tools.scoring import word_error_rate  # noqa: E402
from tests.speech.conftest import MODEL, RATES, SPEECH_FIXTURES  # noqa: E402

_SENTENCE_END = ".?!…"
Audio = np.ndarray[Any, np.dtype[np.float32]]


def _key(word: str) -> str:
    return "".join(c for c in word.casefold() if c.isalnum())


def agreed(before: list[str], now: list[str]) -> list[str]:
    """The words two hypotheses share from the start (case and punctuation aside), as the newer writes them."""
    count = 0
    for old, new in zip(before, now, strict=False):
        if _key(old) != _key(new) or not _key(new):
            break
        count += 1
    return now[:count]


def as_prefix(words: list[str]) -> str:
    return " ".join([*words[:-1], words[-1].rstrip(_SENTENCE_END)]) if words else ""


def decode(stt: WhisperSTT, audio: Audio, prefix: str) -> str:
    """WhisperSTT's plain path (the same settings), with faster-whisper's forced `prefix`."""
    segments, _ = stt._model.transcribe(
        audio, language="pt", beam_size=stt.options.beam_size, temperature=0.0, condition_on_previous_text=False,
        without_timestamps=True, repetition_penalty=1.1, no_repeat_ngram_size=3,
        max_new_tokens=max_new_tokens(audio.size / WHISPER_RATE), vad_filter=False, prefix=prefix or None,
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


def streamed(stt: WhisperSTT, audio: Audio, step_s: float, start_s: float) -> dict[str, Any]:
    committed: list[str] = []
    last: list[str] | None = None
    passes = 0
    heard_s = start_s
    while heard_s < audio.size / WHISPER_RATE:
        words = decode(stt, audio[: round(heard_s * WHISPER_RATE)], as_prefix(committed)).split()
        passes += 1
        if last is not None and len(shared := agreed(last, words)) > len(committed):
            committed = shared
        last = words
        heard_s += step_s
    return {"passes": passes, "committed": as_prefix(committed), "text": decode(stt, audio, as_prefix(committed))}


def encode_only(stt: WhisperSTT, audio: Audio) -> None:
    import ctranslate2

    features = stt._model.feature_extractor(audio)[:, :-1]
    window = np.zeros((1, features.shape[0], 3000), dtype=np.float32)
    window[0, :, : features.shape[-1]] = features[:, :3000]
    stt._model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)


def timed(function: Any, *args: Any) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--step-s", type=float, default=1.0)
    parser.add_argument("--start-s", type=float, default=1.5)
    args = parser.parse_args()
    stt = WhisperSTT(MODEL, ThreadPoolExecutor(1))
    stt.load_blocking()
    rows = []
    for fixture in SPEECH_FIXTURES:
        for rate in RATES:
            audio = pcm_to_float(fixture.pcm(rate), rate)
            whole = decode(stt, audio, "")
            stream = streamed(stt, audio, args.step_s, args.start_s)
            times: dict[str, list[float]] = {"whole": [], "after_prefix": [], "encoder": []}
            for _ in range(args.repeat):  # alternated, so drift in the machine's speed hits all three alike
                times["whole"].append(timed(decode, stt, audio, ""))
                times["after_prefix"].append(timed(decode, stt, audio, stream["committed"]))
                times["encoder"].append(timed(encode_only, stt, audio))
            rows.append({
                "fixture": fixture.name, "rate": rate, "seconds": round(audio.size / WHISPER_RATE, 2),
                "whole": whole, **stream, "same": stream["text"] == whole,
                "wer_whole": word_error_rate(fixture.text, whole),
                "wer_streamed": word_error_rate(fixture.text, stream["text"]),
                **{f"{k}_ms": round(statistics.median(v) * 1000) for k, v in times.items()},
            })
            row = rows[-1]
            print(f"{row['fixture']} {rate}: same={row['same']} passes={row['passes']} whole {row['whole_ms']} ms, "
                  f"after prefix {row['after_prefix_ms']} ms, encoder {row['encoder_ms']} ms | {row['text']}")
    summary = {
        "same": sum(row["same"] for row in rows), "clips": len(rows),
        "wer_whole": round(statistics.mean(row["wer_whole"] for row in rows), 3),
        "wer_streamed": round(statistics.mean(row["wer_streamed"] for row in rows), 3),
        **{f"{k}_ms_median": statistics.median(row[f"{k}_ms"] for row in rows)
           for k in ("whole", "after_prefix", "encoder")},
        "saved_ms_median": statistics.median(row["whole_ms"] - row["after_prefix_ms"] for row in rows),
    }
    print(json.dumps(summary))
    started = datetime.now(UTC)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"streaming-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"started": started.isoformat(timespec="seconds"), "machine": machine(),
                                "args": vars(args), "summary": summary, "rows": rows}, indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
