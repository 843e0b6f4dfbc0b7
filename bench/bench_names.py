"""How well Whisper hears the building's names and apartments, plain and with each directory lever, in one run.

    .venv/bin/python bench/bench_names.py [--levers plain,context,...] [--conditions 8k,8k-noise,...]
        [--window 30] [--checked-window 15]

The clips are tests/fixtures/names/ (clips.json says what each one says and what the directory, directory.json
there, should make of it): answers to "Para quem é?" (residents, and people who do not live there), to "Qual o
apartamento?", opening requests, and visitors giving their own name. Each is heard at 16 and 8 kHz, clean and
with synthetic street noise at 10 dB SNR (seeded: every run hears the same audio), plus noise-only clips.

What is scored is what the call would do with the text: the rules understanding reads it with the question
that was asked, and the directory resolves it. Per condition and lever:

- WER over the speech clips (word errors / reference words);
- resident names right (the call goes on with the expected resident: resolved, or the one resident of that
  name when the apartment heard is not theirs or does not exist, which the call checks with the visitor: "A
  Sônia mora no 201, é para ela?"; how many came that way is `checked`) and apartments right (the apartment the
  call goes on with: that resident's, else the digits heard; also the digits heard alone);
- false directory names: a resident resolved from an outsider's clip or from noise; outsiders kept: the
  outsider's own name still heard;
- noise with text: noise-only clips that produced any words;
- recognition time per utterance (mean, and the median of the per-clip ratio to the plain lever).

Levers: plain (today's transcribe()), prompt-all (every name and apartment as Whisper's previous text),
context (the prompt that fits the question asked, controller/conversation/hearing.py), nbest (5 hypotheses,
the first the directory agrees with), context+nbest (both: what a call does by default, with the shorter window
of the turns the directory checks, `--checked-window`; `--window` is every other turn's, and every turn's under
the other levers).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiosocket.endpointing import Endpointer, EndpointingConfig, UtteranceEnded  # noqa: E402
from audiosocket.speech.base import Hints, Transcript  # noqa: E402
from audiosocket.speech.whisper import WhisperOptions, WhisperSTT  # noqa: E402
from audiosocket.vad import SileroModel, SileroVad  # noqa: E402
from controller.conversation.directory import parse_directory  # noqa: E402
from controller.conversation.hearing import ALTERNATIVES, Expecting, choose, directory_prompt, hearing_for  # noqa: E402
from controller.conversation.matching import Candidate, Outcome, ResidentIndex  # noqa: E402
from controller.conversation.rules import RuleUnderstanding  # noqa: E402
from controller.conversation.text import fold  # noqa: E402
from controller.conversation.understanding import Slot, UnderstandingContext, Understood  # noqa: E402
from controller.tools.scoring import normalize, word_error_rate  # noqa: E402
from tests.fixtures.names.street import RATE, read_clip, street_noise, to_pcm, with_noise  # noqa: E402

FIXTURES = ROOT / "tests/fixtures/names"
MODEL = ROOT / "models/whisper-base"
LEVERS = ("plain", "prompt-all", "context", "nbest", "context+nbest")
CONDITIONS = ("16k", "16k-noise", "8k", "8k-noise")
ASKED = {"resident": Slot.RESIDENT, "apartment": Slot.APARTMENT, "visitor": Slot.VISITOR_NAME, "request": None}
EXPECTING = {
    "resident": Expecting.RESIDENT,
    "apartment": Expecting.APARTMENT,
    "visitor": Expecting.OTHER,
    "request": Expecting.REQUEST,
}


@dataclass
class Score:
    words: int = 0
    errors: float = 0.0
    names: list[bool] = field(default_factory=list)
    checked: int = 0  # names right only through the "lives in another apartment" check
    apartments: list[bool] = field(default_factory=list)  # the apartment the call goes on with
    apartments_checked: int = 0  # ... right only through that check
    apartments_heard: list[bool] = field(default_factory=list)  # the digits read from the text
    false_names: int = 0
    false_chances: int = 0
    outsiders_kept: list[bool] = field(default_factory=list)
    noise_text: int = 0
    noise_clips: int = 0
    seconds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    heard: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        def share(values: list[bool]) -> str:
            return f"{sum(values)}/{len(values)}"

        return {
            "wer": round(self.errors / self.words, 3) if self.words else None,
            "names": share(self.names),
            "checked": self.checked,
            "apartments": share(self.apartments),
            "apartments_checked": self.apartments_checked,
            "apartments_heard": share(self.apartments_heard),
            "false_names": f"{self.false_names}/{self.false_chances}",
            "outsiders_kept": share(self.outsiders_kept),
            "noise_text": f"{self.noise_text}/{self.noise_clips}",
            "ms_mean": round(1000 * statistics.mean(self.seconds)) if self.seconds else None,
            "time_ratio_median": round(statistics.median(self.ratios), 3) if self.ratios else None,
        }


class Judge:
    """What the call makes of a text: the rules read it for the question asked, the directory resolves it."""

    def __init__(self, directory_text: str) -> None:
        self.directory = parse_directory(directory_text, "names directory")
        self.index = ResidentIndex(self.directory)
        self.rules = RuleUnderstanding()

    def read(self, text: str, asked: str) -> Understood:
        context = UnderstandingContext(
            expecting=ASKED[asked],
            apartments=self.index.apartments,
            names=self.index.name_words,
            sounds=self.index.name_sounds,
        )
        return self.rules.parse(text, context)

    def resident(self, understood: Understood) -> str | None:
        """The resident the call goes on with, as Dialog._locate does: resolved, or checked with the visitor."""
        return _named(self.target(understood)[0], understood)

    def target(self, understood: Understood) -> tuple[Candidate | None, bool]:
        """(whom the call goes on with, reached only through the "lives elsewhere" check)."""
        if understood.resident is None and understood.apartment is None:
            return None, False
        resolution = self.index.resolve(understood.resident, understood.apartment)
        if len(resolution.candidates) != 1:
            return None, False
        if resolution.outcome is Outcome.RESOLVED:
            return resolution.candidates[0], False
        if resolution.outcome is Outcome.NOT_IN_APARTMENT:
            return resolution.candidates[0], True
        return None, False

    def choose(self, transcript: Transcript, asked: str) -> str:
        """The production choice among hypotheses (controller/conversation/hearing.py)."""
        texts = (transcript.text, *transcript.alternatives)
        return choose(texts, EXPECTING[asked], lambda text: self.read(text, asked), self.index)


def _named(found: Candidate | None, understood: Understood) -> str | None:
    """The resident a call goes on with, when the text named one (an apartment alone names nobody)."""
    return None if found is None or understood.resident is None else found.resident


def hints_for(judge: Judge, lever: str, asked: str) -> Hints | None:
    if lever == "plain":
        return None
    if lever == "prompt-all":
        return Hints(prompt=directory_prompt(judge.directory, Expecting.REQUEST))
    if lever == "context+nbest":  # what a call does (hearing_for, as Conversation.hearing asks it)
        hearing = hearing_for(judge.directory, EXPECTING[asked])
        return Hints(hearing.prompt, hearing.alternatives, checked=hearing.checked) if hearing.checked else None
    prompt = directory_prompt(judge.directory, EXPECTING[asked]) if lever == "context" else ""
    return Hints(prompt=prompt, alternatives=ALTERNATIVES if lever == "nbest" else 1)


def hear(stt: WhisperSTT, judge: Judge, pcm: bytes, rate: int, lever: str, asked: str) -> tuple[str, float]:
    if not pcm:  # the endpointer heard no utterance: the call would have no turn to answer
        return "", 0.0
    hints = hints_for(judge, lever, asked)
    started = time.perf_counter()
    transcript = stt.recognize(pcm, rate, hints)  # an echo of the prompt is re-heard unbiased in there
    text = judge.choose(transcript, asked) if transcript.alternatives else transcript.text
    return text, time.perf_counter() - started


def endpointed(pcm: bytes, rate: int, early_ms: int, silero: SileroModel) -> bytes:
    """The audio of the utterances a leg's endpointer would hand the recogniser for `pcm` (b"": none)."""
    vad = SileroVad(rate, model=silero)
    endpointer = Endpointer(EndpointingConfig(early_ms=early_ms), rate)
    frame = rate * 2 // 50  # 20 ms, as Asterisk sends them
    heard = b""
    for index, start in enumerate(range(0, len(pcm) - frame + 1, frame)):
        chunk = pcm[start : start + frame]
        for event in endpointer.feed((index + 1) / 50, vad.is_speech(chunk), chunk):
            if isinstance(event, UtteranceEnded):
                heard += event.pcm
    return heard


def run(levers: list[str], conditions: list[str], window: int = 30, checked_window: int = 15) -> dict[str, Any]:
    clips = json.loads((FIXTURES / "clips.json").read_text(encoding="utf-8"))
    judge = Judge((FIXTURES / "directory.json").read_text(encoding="utf-8"))
    options = WhisperOptions(window_seconds=window, checked_window_seconds=checked_window)
    stt = WhisperSTT(MODEL, ThreadPoolExecutor(1), options)
    stt.load_blocking()
    stt.recognize(to_pcm(read_clip(clips[0]["name"]), RATE), RATE)  # warm-up
    scores: dict[tuple[str, str], Score] = {}
    audio = {clip["name"]: read_clip(clip["name"]) for clip in clips}
    noise_only = [(f"ruido-{seed}", street_noise(4 * RATE, 1000 + seed) * 0.05) for seed in range(4)]
    silero = SileroModel()
    for condition in conditions:
        rate = 8000 if condition.startswith("8k") else RATE
        heard_as, _, early = condition.partition("@")
        noisy = heard_as.endswith("noise")
        for position, clip in enumerate(clips):
            signal = audio[clip["name"]]
            if early:
                signal = np.concatenate((signal, np.zeros(RATE, np.float32)))  # the caller then says nothing
            pcm = to_pcm(with_noise(signal, position) if noisy else signal, rate)
            pcm = endpointed(pcm, rate, int(early), silero) if early else pcm
            plain_s = None
            for lever in levers:
                text, seconds = hear(stt, judge, pcm, rate, lever, clip["asked"])
                score = scores.setdefault((condition, lever), Score())
                plain_s = seconds if lever == "plain" else plain_s
                if plain_s:
                    score.ratios.append(seconds / plain_s)
                _score_clip(judge, score, clip, text, seconds)
            print(f"{condition} {clip['name']}: {scores[(condition, levers[-1])].heard[-1]['text']!r}", flush=True)
        if noisy:
            for name, signal in noise_only:
                pcm = to_pcm(signal, rate)
                pcm = endpointed(pcm + bytes(rate * 2), rate, int(early), silero) if early else pcm  # then quiet
                for lever in levers:
                    text, seconds = hear(stt, judge, pcm, rate, lever, "resident")
                    score = scores[(condition, lever)]
                    score.noise_clips += 1
                    score.noise_text += bool(normalize(text))
                    score.false_chances += 1
                    score.false_names += judge.resident(judge.read(text, "resident")) is not None
                    score.heard.append({"clip": name, "text": text})
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {_cpu()}, {_cores()} cores",
        "window_seconds": window,
        "checked_window_seconds": checked_window,
        "clips": len(clips),
        "noise_clips": len(noise_only),
        "results": {f"{c} {lever}": s.row() for (c, lever), s in scores.items()},
        "heard": {f"{c} {lever}": s.heard for (c, lever), s in scores.items()},
    }


def _score_clip(judge: Judge, score: Score, clip: dict[str, Any], text: str, seconds: float) -> None:
    reference = normalize(clip["text"])
    score.words += len(reference.split())
    score.errors += word_error_rate(clip["text"], text) * len(reference.split())
    score.seconds.append(seconds)
    understood = judge.read(text, clip["asked"])
    found, checked = judge.target(understood)
    resident = _named(found, understood)
    if clip["resident"]:
        score.names.append(resident == clip["resident"])
        score.checked += checked and resident == clip["resident"]
    if clip["apartment"]:
        apartment = found.apartment if found is not None else understood.apartment
        score.apartments.append(apartment == clip["apartment"])
        score.apartments_checked += checked and apartment == clip["apartment"]
        score.apartments_heard.append(understood.apartment == clip["apartment"])
    if clip["outsider"]:
        score.false_chances += 1
        score.false_names += resident is not None
        heard = understood.visitor_name if clip["asked"] == "visitor" else understood.resident
        score.outsiders_kept.append(heard is not None and fold(clip["outsider"]) in fold(heard).split())
    score.heard.append({"clip": clip["name"], "text": text, "resident": resident, "apartment": understood.apartment})


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"{report['when']}, {report['machine']}; {report['clips']} clips per condition and "
        f"{report['noise_clips']} noise-only clips in each noisy condition.",
        "",
        "| condition | lever | WER | resident names (of them checked) | apartments (checked) | digits heard "
        "| false directory names | outsiders kept | noise with text | ms per utterance | time vs plain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in report["results"].items():
        condition, lever = key.split(" ", 1)
        lines.append(
            f"| {condition} | {lever} | {row['wer']} | {row['names']} ({row['checked']}) | {row['apartments']} "
            f"({row['apartments_checked']}) | {row['apartments_heard']} | {row['false_names']} "
            f"| {row['outsiders_kept']} | {row['noise_text']} | {row['ms_mean']} "
            f"| {row['time_ratio_median']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levers", default=",".join(LEVERS))
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--label", default="")
    parser.add_argument("--window", type=int, default=30, help="Whisper's encoder window in seconds")
    parser.add_argument("--checked-window", type=int, default=15, help="the same for turns the directory checks")
    args = parser.parse_args()
    levers = args.levers.split(",")
    if "plain" in levers:
        levers.remove("plain")
        levers.insert(0, "plain")
    report = run(levers, args.conditions.split(","), args.window, args.checked_window)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / f"bench/results/names-{stamp}{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"raw: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
