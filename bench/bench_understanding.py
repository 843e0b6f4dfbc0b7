"""Understanding speed per turn and accuracy on the dialogue corpora; prints a Markdown report.

    .venv/bin/python bench/bench_understanding.py [--rounds 5]

Every dialogue of tests/conversation/corpus/*.jsonl (the tested corpus) and tests/conversation/heldout_*.jsonl
(written before the rules saw them, never asserted by tests; see docs/conversation.md) runs through the same
Dialog that `chat` and real calls use, in this process, `--rounds` times. Per turn it times:

- understanding: the rules reading one utterance (RuleUnderstanding.parse), the part an LLM backend would replace;
- whole turn: understanding plus Dialog.handle (directory matching, policy, reply).

Each round gives a p50 and p99 per measure; the report shows the median of those over rounds and their spread
(min-max). Accuracy is the share of dialogues whose final JSON equals the expected one, and per field.
Run it on an idle machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.conversation import CallStarted, Dialog, DialogPolicy, UtteranceHeard, outcome  # noqa: E402
from controller.conversation.directory import Directory  # noqa: E402
from controller.records.directory_file import load_directory  # noqa: E402
from controller.tools.chat import events_for_line  # noqa: E402

TESTS = ROOT / "tests" / "conversation"
DIRECTORIES = {"sample": ROOT / "data" / "apartamentos.json", "condo": TESTS / "condominio.json"}
FIELDS = ("intent_type", "interlocutor_name", "apartment_number", "resident_name", "valid_for_action")


def _load(paths: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line]


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _run(dialog: Dialog, turns: list[str], parse_ms: list[float], turn_ms: list[float]) -> dict[str, object]:
    state, _ = dialog.handle(dialog.start("bench"), CallStarted())
    for line in turns:
        for event in events_for_line(line):
            if isinstance(event, UtteranceHeard):
                began = time.perf_counter()
                heard = dialog.parser.parse(event.text, dialog.context(state))
                parsed = time.perf_counter()
                state, _ = dialog.handle(state, UtteranceHeard(event.text, heard))
                ended = time.perf_counter()
                parse_ms.append((parsed - began) * 1000)
                turn_ms.append((ended - began) * 1000)
            else:
                state, _ = dialog.handle(state, event)
    return outcome(state)


def _accuracy(name: str, dialogues: list[dict[str, Any]], results: list[dict[str, object]]) -> str:
    pairs = list(zip(dialogues, results, strict=True))
    right = sum(result == dialogue["expect"] for dialogue, result in pairs)
    per_field = []
    for field in FIELDS:
        hits = sum(result.get(field) == dialogue["expect"][field] for dialogue, result in pairs)
        per_field.append(f"{field} {100 * hits / len(pairs):.0f}%")
    return f"| {name} | {len(pairs)} | {right} ({100 * right / len(pairs):.1f}%) | {', '.join(per_field)} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    directories: dict[str, Directory] = {key: load_directory(path) for key, path in DIRECTORIES.items()}
    dialogs = {key: Dialog(directory, DialogPolicy(greeting="Olá")) for key, directory in directories.items()}
    corpora = {"corpus (tested)": _load(sorted((TESTS / "corpus").glob("*.jsonl")))}
    corpora.update({path.stem: _load([path]) for path in sorted(TESTS.glob("heldout_*.jsonl"))})

    rounds: list[tuple[float, float, float, float]] = []
    results: dict[str, list[dict[str, object]]] = {}
    turns = 0
    for _ in range(args.rounds):
        parse_ms: list[float] = []
        turn_ms: list[float] = []
        for name, dialogues in corpora.items():
            results[name] = [_run(dialogs[d["directory"]], d["turns"], parse_ms, turn_ms) for d in dialogues]
        turns = len(parse_ms)
        rounds.append(
            (
                _percentile(parse_ms, 0.5),
                _percentile(parse_ms, 0.99),
                _percentile(turn_ms, 0.5),
                _percentile(turn_ms, 0.99),
            )
        )

    def cell(index: int) -> str:
        values = [round_[index] for round_ in rounds]
        return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    print(f"Machine: {_machine()}")
    print(f"{turns} spoken turns per round, {args.rounds} rounds; times in ms, median over rounds (min-max)\n")
    print("| measure | p50 | p99 |")
    print("|---|---|---|")
    print(f"| understanding (rules) | {cell(0)} | {cell(1)} |")
    print(f"| whole turn (understanding + dialog) | {cell(2)} | {cell(3)} |")
    print("\n| dialogues | count | exact final JSON | per field |")
    print("|---|---|---|---|")
    for name, dialogues in corpora.items():
        print(_accuracy(name, dialogues, results[name]))
    misses = [
        (d["id"], result)
        for name, dialogues in corpora.items()
        for d, result in zip(dialogues, results[name], strict=True)
        if result != d["expect"]
    ]
    if misses:
        print("\nMisses:")
        for ident, result in misses:
            print(f"- {ident}: got {json.dumps(result, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
