"""Would recognising a long request at the speaker's own pauses leave less to recognise when they stop?

    .venv/bin/python bench/bench_segments.py [--repeat 3] [--min-segment-s 2.5] [--pause-ms 250] [--min-tail-s 0]

The caller-side split (bench/caller_stages.py) shows a long request's turn is its recognition: a 13 s request
took 1.3-1.6 s after the caller stopped. A person reading out a request pauses between its sentences; if
what came before such a pause is recognised while they go on, only the tail is left at the end. Unlike local
agreement (bench_streaming.py), no word is cut: a segment ends in silence.

Requests of 5-14 s (Kokoro jm_kumo at 8 kHz, a sentence pause as the voice makes it), against the names set's
directory (tests/fixtures/names/directory.json). A pause is `--pause-ms` of frames under -50 dBFS; a segment is
committed at the first pause after `--min-segment-s` of audio since the last commit; the end-of-turn decode
starts at the last commit that leaves it `--min-tail-s` or more. Per request and policy:

- whole: one pass over the whole request at its end (what a call does today);
- tail: the committed segments' texts, then only the audio after the last commit at the end;
- tail+previous: the same, with the committed text as Whisper's previous text for the tail.

Each scored by WER against what was said and by what the call would do with it (the rules and the directory:
the resident and apartment heard), with the end-of-turn decode timed (median of `--repeat`, alternated).
Writes bench/results/segments-<UTC>.json.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench_names import Judge  # noqa: E402

from audiosocket.speech.base import Hints  # noqa: E402
from audiosocket.speech.whisper import WhisperSTT  # noqa: E402
from controller.conversation.hearing import Expecting, hearing_for  # noqa: E402
from controller.tools.scoring import word_error_rate  # noqa: E402
from tests.speech.conftest import MODEL  # noqa: E402

RATE = 8000
FRAME = RATE // 50
CACHE = ROOT / "var" / "bench-segments"

# (what is said, the resident, the apartment) against the names directory
REQUESTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("Boa tarde, meu nome é Marcos. Vim visitar a Renata, do apartamento cento e um.", "Renata Souza", "101"),
    ("Boa tarde, tudo bem? Meu nome é Marcos Oliveira, eu sou amigo da Renata Souza, que mora aqui no "
     "apartamento cento e um. Ela está me esperando para o almoço, e eu cheguei um pouco mais cedo.",
     "Renata Souza", "101"),
    ("Oi, boa noite. Eu sou entregador do mercado. Tenho uma encomenda para o Thiago Mendes, do duzentos e três.",
     "Thiago Mendes", "203"),
    ("Olá. Aqui é a Fernanda, da lavanderia. Vim buscar as roupas da Letícia, do seiscentos e um. Ela pediu "
     "para eu passar hoje.", "Letícia Vasconcelos", "601"),
    ("Bom dia. Eu trabalho na farmácia do bairro. Trouxe os remédios do seu Raimundo, apartamento oitocentos e um.",
     "Raimundo Nonato Silva", "801"),
    ("Boa tarde. Meu nome é Paulo, sou técnico da internet. Tenho uma visita marcada com a Heloísa, no quinhentos "
     "e um. Ela disse que estaria em casa depois das duas.", "Heloísa Fontes", "501"),
    ("Oi. Sou o Pedro, primo do Cristiano. Ele mora no quinhentos e dois. Pode avisar que eu cheguei?",
     "Cristiano Bezerra", "502"),
    ("Boa noite. Tenho uma entrega de comida para o apartamento setecentos e dois. O nome no pedido é Giovanna.",
     "Giovanna Prado", "702"),
)


async def synthesize() -> list[bytes]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = [CACHE / f"request-{i}.pcm" for i in range(len(REQUESTS))]
    if not all(path.is_file() for path in paths):
        from audiosocket.speech.kokoro import KokoroOptions, KokoroTTS

        engine = KokoroTTS(ROOT / "models" / "kokoro", KokoroOptions(voice="jm_kumo"))
        await engine.load()
        try:
            for path, (text, _, _) in zip(paths, REQUESTS, strict=True):
                path.write_bytes(b"".join([chunk async for chunk in engine.synthesize(text, RATE)]))
        finally:
            engine.close()
    return [path.read_bytes() for path in paths]


def commits(pcm: bytes, min_segment_s: float, pause_ms: int) -> list[int]:
    """Byte offsets where a segment is committed: the end of the first pause after `min_segment_s` of audio."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: samples.size // FRAME * FRAME].reshape(-1, FRAME)
    quiet = 10 * np.log10((frames**2).mean(axis=1) / 32768**2 + 1e-12) < -50
    need = pause_ms // 20
    found, last, run = [], 0, 0
    for index, silent in enumerate(quiet):
        run = run + 1 if silent else 0
        if run == need and (index + 1) * FRAME - last >= min_segment_s * RATE and (index + 1) < len(quiet) - 5:
            last = (index + 1) * FRAME
            found.append(last * 2)
    return found


def heard(stt: WhisperSTT, pcm: bytes, hints: Hints) -> str:
    return stt.recognize(pcm, RATE, hints).text


def policies(
    stt: WhisperSTT, pcm: bytes, cuts: list[int], hints: Hints, min_tail_s: float
) -> dict[str, tuple[str, Any]]:
    """Each policy's text and its end-of-turn work (a callable, timed by the caller). The end decode starts at
    the last cut that leaves it `min_tail_s` or more (the segments after that cut are heard again with it)."""
    cuts = [cut for cut in cuts if (len(pcm) - cut) / 2 / RATE >= min_tail_s]
    tail_at = cuts[-1] if cuts else 0
    edges = [0, *cuts]
    committed = " ".join(heard(stt, pcm[a:b], hints) for a, b in zip(edges, edges[1:], strict=False)).strip()
    previous = Hints(f"{hints.prompt} {committed}".strip(), hints.alternatives, hints.phrases, hints.checked)
    tail = pcm[tail_at:]
    return {
        "whole": (heard(stt, pcm, hints), lambda: heard(stt, pcm, hints)),
        "tail": (f"{committed} {heard(stt, tail, hints)}".strip(), lambda: heard(stt, tail, hints)),
        "tail+previous": (f"{committed} {heard(stt, tail, previous)}".strip(), lambda: heard(stt, tail, previous)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-segment-s", type=float, default=2.5)
    parser.add_argument("--pause-ms", type=int, default=250)
    parser.add_argument("--min-tail-s", type=float, default=0.0)
    args = parser.parse_args()
    audio = asyncio.run(synthesize())
    judge = Judge((ROOT / "tests/fixtures/names/directory.json").read_text(encoding="utf-8"))
    hearing = hearing_for(judge.directory, Expecting.REQUEST)
    hints = Hints(hearing.prompt, hearing.alternatives, hearing.phrases, hearing.checked)
    stt = WhisperSTT(MODEL, ThreadPoolExecutor(1))
    stt.load_blocking()
    rows = []
    for (text, resident, apartment), pcm in zip(REQUESTS, audio, strict=True):
        cuts = [c for c in commits(pcm, args.min_segment_s, args.pause_ms)
                if (len(pcm) - c) / 2 / RATE >= args.min_tail_s]
        results = policies(stt, pcm, cuts, hints, args.min_tail_s)
        times: dict[str, list[float]] = {name: [] for name in results}
        for _ in range(args.repeat):
            for name, (_, work) in results.items():
                started = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - started)
        tail_s = (len(pcm) - (cuts[-1] if cuts else 0)) / 2 / RATE
        row: dict[str, Any] = {"said": text, "seconds": round(len(pcm) / 2 / RATE, 2), "segments": len(cuts) + 1,
                               "tail_s": round(tail_s, 2)}
        for name, (heard_text, _) in results.items():
            understood = judge.read(heard_text, "request")
            row[name] = {
                "text": heard_text, "wer": round(word_error_rate(text, heard_text), 3),
                "resident": judge.resident(understood) == resident, "apartment": understood.apartment == apartment,
                "end_ms": round(statistics.median(times[name]) * 1000),
            }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    summary = {
        name: {
            "wer": round(statistics.mean(row[name]["wer"] for row in rows), 3),
            "residents": sum(row[name]["resident"] for row in rows),
            "apartments": sum(row[name]["apartment"] for row in rows),
            "end_ms_median": statistics.median(row[name]["end_ms"] for row in rows),
            "same_as_whole": sum(row[name]["text"] == row["whole"]["text"] for row in rows),
        }
        for name in ("whole", "tail", "tail+previous")
    }
    print(json.dumps(summary, indent=1))
    started = datetime.now(UTC)
    path = RESULTS / f"segments-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"started": started.isoformat(timespec="seconds"), "machine": machine(),
                                "args": vars(args), "requests": len(rows), "summary": summary, "rows": rows},
                               indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"raw: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
