"""Where a heard turn went: the caller's clock and the server's events laid on one timeline.

Both processes stamp with CLOCK_MONOTONIC on the same machine, so the phone's "end of my speech" and "first
voiced frame of the reply" sit on the same axis as the concierge's events. A turn the caller heard as T splits
into five consecutive pieces that sum to T:

- **in**: the caller's last voiced frame -> the last frame the server's VAD counted as voiced (Asterisk's
  bridge on the way in, and where the VAD puts the end of speech);
- **silence wait**: the endpointing delay (the pause that ended the turn);
- **recognition left**: the end of the turn -> the reply's `say` (recognition that was not done yet, plus
  understanding and the dialog);
- **first audio**: `say` -> the reply's first frame leaving the server (synthesis of its first clause, or 0
  from the cache, and the next 20 ms slot);
- **out**: that frame -> the caller hearing the reply's first voiced frame (Asterisk on the way out, and any
  quiet onset of the reply's audio).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

STAGES = ("in", "silence wait", "recognition left", "first audio", "out")


def load(events_file: Path) -> dict[str, list[dict[str, Any]]]:
    """The gate leg's events per channel id of the phone's gate channel, in time order."""
    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    call_of = {e.get("channel"): e["call_id"] for e in events if e["event"] == "stasis_start"}
    by_call: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event.get("leg") == "gate" and isinstance(event.get("mono"), int | float):
            by_call.setdefault(event["call_id"], []).append(event)
    for mine in by_call.values():
        mine.sort(key=lambda e: e["mono"])
    return {channel: by_call.get(call, []) for channel, call in call_of.items()}


def _first(events: list[dict[str, Any]], name: str, after: float) -> dict[str, Any] | None:
    return next((e for e in events if e["event"] == name and e["mono"] >= after), None)


def split(events: list[dict[str, Any]], spoke_until: float, heard_at: float) -> dict[str, float] | None:
    """The five pieces (ms) of one turn, or None when the events do not show it (no turn end, no reply)."""
    ends = [e for e in events if e["event"] == "speech_end" and spoke_until - 2 <= e["mono"] <= heard_at]
    if not ends:
        return None
    end = ends[-1]
    said = _first(events, "say", end["mono"])
    if said is None or said["mono"] > heard_at:
        return None
    started, audio = _first(events, "playout_start", said["mono"]), _first(events, "tts_first_audio", said["mono"])
    if started is None or audio is None:
        return None
    last_in = end["mono"] - float(end.get("endpointing_delay_ms") or 0) / 1000
    out = max(started["mono"], audio["mono"])
    marks = (spoke_until, last_in, end["mono"], said["mono"], out, heard_at)
    return {stage: round((b - a) * 1000, 1) for stage, a, b in zip(STAGES, marks, marks[1:], strict=False)}


def attach(results: list[dict[str, Any]], events_file: Path) -> None:
    """Each result with a heard turn gets its `stages`."""
    by_channel = load(events_file)
    for result in results:
        spoke, heard = result.get("spoke_until"), result.get("reply_at")
        if spoke is None or heard is None:
            continue
        stages = split(by_channel.get(result["gate_channel"], []), spoke, heard)
        if stages is not None:
            result["stages"] = stages


def summary(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage: median and p95 (nearest rank) in ms over the turns that have stages."""
    staged = [r["stages"] for r in results if "stages" in r]
    out: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        values = sorted(s[stage] for s in staged)
        if values:
            out[stage] = {"n": len(values), "p50": round(statistics.median(values)),
                          "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))])}
    return out


def lines(levels: list[dict[str, Any]]) -> list[str]:
    head = "| calls at once | turns | " + " | ".join(f"{s} p50 / p95" for s in STAGES) + " |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for lv in levels:
        stages = lv.get("stages", {})
        if not stages:
            continue
        n = next(iter(stages.values()))["n"]
        cells = " | ".join(f"{stages[s]['p50']} / {stages[s]['p95']}" if s in stages else "-" for s in STAGES)
        rows.append(f"| {lv['concurrency']} | {n} | {cells} |")
    return rows
