"""Per-stage latency report from the per-call events: the prototype's log analyzer, rebuilt on our events.

    python -m controller report [--call ID | --all] [--json] [--events FILE_OR_DIR]

Each stage is summarised per leg as count, min, p50, p90, p95, p99 and max. The stages, the events they come from
and how the prototype's logs are read: :mod:`controller.records.call_samples`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from controller.records.call_samples import PROTOTYPE_STAGES, Errors, Event, Sample, Stats, collect, percentile
from controller.tools.report_input import load_events

# The samples' names stay importable from here (the demo's timeline, the benchmarks, the tests).
__all__ = [
    "PROTOTYPE_STAGES",
    "STAGES",
    "Errors",
    "Report",
    "Sample",
    "Stats",
    "build_report",
    "collect",
    "load_events",
    "main",
    "percentile",
    "render",
]

STAGES: dict[str, str] = {
    "endpointing": "endpointing wait",
    "stt": "speech-to-text",
    "understanding": "understanding",
    "tts_first_audio": "TTS first audio",
    "playout_start": "playout start",
    "turn": "turn latency",
    "resident_ring": "resident ring time",
    "resident_no_answer": "resident no answer",
    "call": "whole call",
}

ALL_LEGS = "all"


@dataclass(slots=True)
class Report:
    calls: list[str]
    stages: dict[str, dict[str, Stats]]
    """stage -> leg (and "all") -> stats; every standard stage is present, even without samples."""
    errors: Errors

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "stages": {
                stage: {"title": STAGES.get(stage, stage), **{leg: asdict(s) for leg, s in legs.items()}}
                for stage, legs in self.stages.items()
            },
            "errors": {
                "error": dict(self.errors.errors),
                "failed": dict(self.errors.failed),
                "playout_underrun": self.errors.underruns,
                "unanswered_turns": self.errors.unanswered_turns,
            },
        }


# Report ----------------------------------------------------------------------------------------------------------


def build_report(events: Iterable[Event], *, call_id: str | None = None) -> Report:
    """Stats per stage and leg for every call in `events`, or only `call_id` (a unique prefix is enough)."""
    events = list(events)
    calls = list(dict.fromkeys(str(e.get("call_id", "")) for e in events))
    if call_id is not None:
        chosen = [c for c in calls if c == call_id] or [c for c in calls if c.startswith(call_id)]
        if len(chosen) != 1:
            raise LookupError(f"no call {call_id!r} in the events" if not chosen else f"call {call_id!r} is ambiguous")
        calls = chosen
        events = [e for e in events if e.get("call_id") == chosen[0]]
    errors = Errors()
    by_stage: dict[str, dict[str, list[float]]] = {stage: {} for stage in STAGES}
    for sample in collect(events, errors):
        legs = by_stage.setdefault(sample.stage, {})
        legs.setdefault(ALL_LEGS, []).append(sample.ms)
        legs.setdefault(sample.leg, []).append(sample.ms)
    stages = {
        stage: {leg: Stats.of(values) for leg, values in legs.items()} or {ALL_LEGS: Stats.of(())}
        for stage, legs in by_stage.items()
    }
    return Report(calls=calls, stages=stages, errors=errors)


def render(report: Report) -> str:
    """The report as a fixed-width table (milliseconds)."""
    header = f"{'stage':<20} {'leg':<9} {'n':>5} " + " ".join(f"{h:>8}" for h in STAT_COLUMNS)
    lines = [f"{len(report.calls)} call(s)", header, "-" * len(header)]
    for stage, legs in report.stages.items():
        for leg, stats in _legs_in_order(legs):
            values = [getattr(stats, column) for column in STAT_COLUMNS]
            cells = " ".join(f"{'-' if v is None else f'{v:.0f}':>8}" for v in values)
            lines.append(f"{STAGES.get(stage, stage):<20} {leg:<9} {stats.count:>5} {cells}")
    errors = report.errors
    lines.append("")
    lines.append(f"playout underruns: {errors.underruns}   unanswered turns: {errors.unanswered_turns}")
    for name, count in sorted(errors.failed.items()):
        lines.append(f"{name}: {count}")
    for message, count in errors.errors.most_common():
        lines.append(f"error x{count}: {message}")
    return "\n".join(lines)


STAT_COLUMNS = ("min", "p50", "p90", "p95", "p99", "max")


def _legs_in_order(legs: dict[str, Stats]) -> Iterator[tuple[str, Stats]]:
    yield ALL_LEGS, legs.get(ALL_LEGS, Stats.of(()))
    others = sorted(leg for leg in legs if leg != ALL_LEGS)
    if others != ["gate"]:  # one leg only: its row would repeat "all"
        for leg in others:
            yield leg, legs[leg]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller report", description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--call", metavar="ID", help="only this call (a unique prefix of its id is enough)")
    which.add_argument("--all", action="store_true", help="every call in the file (the default)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--events", type=Path, help="events file or directory (default: PORTARIA_EVENTS_FILE)")
    args = parser.parse_args(argv)
    path: Path = args.events or _default_events_file()
    if not path.exists():
        print(f"portaria report: no events at {path}", file=sys.stderr)
        return 2
    try:
        report = build_report(load_events(path), call_id=args.call)
    except LookupError as error:
        print(f"portaria report: {error.args[0]}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if args.json else render(report))
    return 0


def _default_events_file() -> Path:
    from controller.settings import load_settings

    return load_settings().events_file
