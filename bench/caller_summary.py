"""bench_caller's figures: per-level medians and spreads, the server's own turns, the table in the docs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench_e2e import latest_run, replace_section
from caller_stages import lines as stage_table

from controller.tools.report import collect

MARK_BEGIN, MARK_END = "<!-- bench_caller:begin -->", "<!-- bench_caller:end -->"


def spread(values: list[float]) -> dict[str, Any]:
    """Median and spread in ms (p95 by nearest rank)."""
    if not values:
        return {"n": 0}
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "p50": round(statistics.median(ms)),
        "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))]),
        "min": round(ms[0]),
        "max": round(ms[-1]),
    }


def server_turns(events_file: Path, results: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The server's own turn latency for the same calls, per level."""
    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    call_of = {e.get("channel"): e["call_id"] for e in events if e["event"] == "stasis_start"}
    by_level: dict[int, dict[str, Any]] = {}
    for concurrency in sorted({r["concurrency"] for r in results}):
        calls = {call_of.get(r["gate_channel"]) for r in results if r["concurrency"] == concurrency}
        mine = [e for e in events if e["call_id"] in calls]
        turns = [s.ms / 1000 for s in collect(mine) if s.stage == "turn" and s.leg == "gate"]
        underruns = sum(1 for e in mine if e["event"] == "playout_underrun")
        hesitant = [call_of.get(r["gate_channel"]) for r in results
                    if r["concurrency"] == concurrency and r["case"] == "hesitant"]
        by_level[concurrency] = {"turn": spread(turns), "underruns": underruns,
                                 "hesitant_replies": [replies(events, call) for call in hesitant]}
    return by_level


def replies(events: list[dict[str, Any]], call_id: str | None) -> int:
    """What the concierge said to the visitor after the greeting: the hesitant request should get one reply.
    From the server's `say` events, so a reply cut by barge-in before the phone heard any voice counts too."""
    return max(0, sum(1 for e in events if e["call_id"] == call_id and e["event"] == "say" and e["leg"] == "gate") - 1)


def summarise(
    results: list[dict[str, Any]], server: dict[int, dict[str, Any]], requests: tuple[str, ...]
) -> list[dict[str, Any]]:
    levels = []
    for concurrency in sorted(server):
        mine = [r for r in results if r["concurrency"] == concurrency]
        turns = {case: spread([r["turn_s"] for r in mine if r["case"] == case and r.get("turn_s") is not None])
                 for case in requests}
        paced = [p for r in mine for p in r["pacing"]]
        levels.append({
            "concurrency": concurrency,
            "calls": len(mine),
            "errors": [r["error"] for r in mine if "error" in r],
            "first_audible": spread([r["first_audible_s"] for r in mine if "first_audible_s" in r]),
            "turn": turns,
            "turn_all": spread([r["turn_s"] for r in mine if r.get("turn_s") is not None]),
            "no_reply": sum(1 for r in mine if "turn_s" in r and r["turn_s"] is None),
            "hesitant_talked_over": [r["talked_over"] for r in mine if r["case"] == "hesitant" and "talked_over" in r],
            "hesitant_replies": server[concurrency].get("hesitant_replies", []),
            "barge_in_cut": spread([r["barge_in_cut_s"] for r in mine if r.get("barge_in_cut_s") is not None]),
            "pacing": {
                "prompts": len(paced),
                "on_time_p50": round(statistics.median([p["on_time"] for p in paced]), 4) if paced else None,
                "on_time_min": round(min(p["on_time"] for p in paced), 4) if paced else None,
                "delivered_p50": round(statistics.median([p["delivered"] for p in paced]), 4) if paced else None,
                "worst_gap_ms": round(max(p["worst_gap_s"] for p in paced) * 1000) if paced else None,
            },
            "server": server[concurrency],
            "speech_s": {case: round(statistics.median(s), 2) for case in requests
                         if (s := [r["speech_s"] for r in mine if r["case"] == case and "speech_s" in r])},
        })
    return levels


def cell(stats: dict[str, Any]) -> str:
    return "-" if not stats.get("n") else f"{stats['p50']} ({stats['min']}-{stats['max']}, n {stats['n']})"


def table(levels: list[dict[str, Any]]) -> list[str]:
    requests = tuple(levels[0]["turn"]) if levels else ()
    head = ("| calls at once | first audible | " + " | ".join(f"turn, {c} request" for c in requests)
            + " | all turns p50 / p95 | server turn p50 / p95 | barge-in cut | on time / delivered / worst gap |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for lv in levels:
        turns = " | ".join(cell(lv["turn"][c]) for c in requests)
        every, server, paced = lv["turn_all"], lv["server"]["turn"], lv["pacing"]
        lines.append(
            f"| {lv['concurrency']} | {cell(lv['first_audible'])} | {turns} | "
            f"{every.get('p50', '-')} / {every.get('p95', '-')} | "
            f"{server.get('p50', '-')} / {server.get('p95', '-')} | "
            f"{cell(lv['barge_in_cut'])} | {paced['on_time_p50']} / {paced['delivered_p50']} / "
            f"{paced['worst_gap_ms']} ms |"
        )
    return lines


def write_docs(result: dict[str, Any]) -> None:
    """The table in docs/performance.md, between the bench_caller markers."""
    console = ["console served and watched"] if result["watch_console"] else []
    lines = [
        MARK_BEGIN,
        latest_run(result, *console) + " Times in ms, median (min-max, n).",
        "",
        *table(result["levels"]),
        "",
        "Requests as said (s): " + ", ".join(f"{k} {v}" for k, v in result["levels"][0]["speech_s"].items())
        + "; replies that started inside the hesitant request, per call: "
        + "; ".join(f"{lv['concurrency']} at once {lv['hesitant_talked_over']}" for lv in result["levels"])
        + "; replies the concierge said to it (server events, cut ones included): "
        + "; ".join(f"{lv['concurrency']} at once {lv.get('hesitant_replies', [])}" for lv in result["levels"]) + ".",
        *stage_lines(result["levels"]),
        MARK_END,
    ]
    replace_section(lines)


def stage_lines(levels: list[dict[str, Any]]) -> list[str]:
    """Where the turns went (caller_stages.py), when the run has the split."""
    if not any(lv.get("stages") for lv in levels):
        return []
    return ["", "Where those turns went, ms (bench/caller_stages.py):", "", *stage_table(levels)]
