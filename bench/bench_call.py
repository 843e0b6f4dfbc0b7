"""Whole gate calls against the real Asterisk test bed: request to ring, and greeting to gate opened.

    .venv/bin/python bench/bench_call.py [--calls 6] [--utterance visitor-demo] [--set NAME=VALUE ...]

Each call is the demo's (controller/tools/demo.py), one after the other: a simulated visitor asks for apartment
101 in one breath; 101's phone is a simulated resident (``resident-sim``) who answers at once, listens
``--listen`` seconds (the question) and says "sim"; the gate opener is the demo's loopback webhook. Offline
engines as configured (Whisper base, the configured voice). From each call's events
(:mod:`controller.tools.demo_timeline`):

- **request to ring**: the end of the visitor's request (as Asterisk sent it) to our originate to the resident;
- **greeting to gate opened**: the greeting's first frame to the opener's request succeeding;
- every turn latency on the way (end of speech to the first frame of the reply).

Targets: request to ring p50 <= 3 s for a clear request; greeting to gate opened <= 25 s.
Writes bench/results/call-<UTC time>.json and the table to docs/performance.md (``bench_call`` markers;
``--no-docs`` to skip). Runs on its own Stasis app, so it never takes the integration tests' calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import (  # noqa: E402
    CONTEXT,
    RESULTS,
    latest_run,
    machine,
    make_settings,
    replace_section,
    testbed_env,
    warm_up,
)

from controller.tools.demo import Webhook, demo_directory  # noqa: E402
from controller.tools.demo_timeline import Timeline, timeline  # noqa: E402
from controller.tools.report import percentile  # noqa: E402
from controller.tools.simulator import SimulatedVisitor, call_gate  # noqa: E402
from controller.wiring import Service  # noqa: E402

MARK_BEGIN = "<!-- bench_call:begin -->"
MARK_END = "<!-- bench_call:end -->"
LEAD_S = 3


def spread(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "min": None, "max": None, "p95": None}
    ordered = sorted(values)
    return {"count": len(values), "p50": percentile(ordered, 50), "min": ordered[0], "max": ordered[-1],
            "p95": percentile(ordered, 95)}


async def one_call(service: Service, events: list[dict[str, Any]], utterance: str, dtmf: str) -> str:
    rid = f"c{uuid.uuid4().hex[:8]}"
    visitor = SimulatedVisitor(utterance, rid, lead_s=LEAD_S, dtmf=dtmf)
    channel = await call_gate(service.ari, visitor, context=CONTEXT)
    async with asyncio.timeout(120):
        while True:
            starts = (e for e in events if e["event"] == "stasis_start" and e.get("channel") == channel["id"])
            start = next(starts, None)
            if start is not None:
                call_id = str(start["call_id"])
                if any(e["event"] == "call_end" and e["call_id"] == call_id for e in events):
                    return call_id
            await asyncio.sleep(0.2)


async def run(args: argparse.Namespace, events_file: Path) -> dict[str, Any]:
    overrides = dict(item.split("=", 1) for item in args.set)
    env = testbed_env()
    webhook = Webhook()
    await webhook.start()
    calls: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="portaria-bench-call-") as folder:
        base = make_settings(env, events_file, overrides)
        directory = demo_directory(base, Path(folder), args.resident, "bench", listen_s=args.listen)
        settings = make_settings(
            env, events_file,
            {**overrides, "directory": str(directory), "gate_opener": "http", "gate_http_preset": "webhook",
             "gate_http_url": webhook.url, "audit_db": str(Path(folder) / "audit.sqlite3")},
        )
        service = Service(settings)
        events: list[dict[str, Any]] = []
        service.events.subscribe(events.append)
        await service.start()
        try:
            await service.wait_connected()
            await warm_up(service)
            for number in range(args.calls):
                before = len(webhook.opened)
                call_id = await one_call(service, events, args.utterance, args.dtmf)
                line = timeline(events, call_id)
                calls.append(_row(line, opened=len(webhook.opened) > before))
                print(f"call {number + 1}: {json.dumps(calls[-1])}", file=sys.stderr)
        finally:
            await service.stop()
            await webhook.stop()
    ring = [c["request_to_ring_s"] for c in calls if c["request_to_ring_s"] is not None]
    gate = [c["greeting_to_gate_s"] for c in calls if c["greeting_to_gate_s"] is not None]
    turns = [ms / 1000 for c in calls for ms in c["turns_ms"]]
    return {
        "calls": calls,
        "opened": sum(c["opened"] for c in calls),
        "request_to_ring_s": spread(ring),
        "greeting_to_gate_s": spread(gate),
        "turn_s": spread(turns),
        "overrides": overrides,
    }


def _row(line: Timeline, *, opened: bool) -> dict[str, Any]:
    return {
        "opened": opened,
        "request_to_ring_s": None if line.request_to_ring_s is None else round(line.request_to_ring_s, 2),
        "greeting_to_gate_s": None if line.greeting_to_gate_s is None else round(line.greeting_to_gate_s, 2),
        "turns_ms": [round(ms) for ms in line.turns_ms],
    }


def fmt(stats: dict[str, Any]) -> str:
    if not stats["count"]:
        return "-"
    return f"{stats['p50']:.1f} ({stats['min']:.1f}-{stats['max']:.1f})"


def table(result: dict[str, Any]) -> list[str]:
    return [
        "| calls | gate opened | request to ring p50 (min-max) | greeting to gate opened p50 (min-max) | "
        "turn latency p50 (min-max) |",
        "|---|---|---|---|---|",
        f"| {len(result['calls'])} | {result['opened']} | {fmt(result['request_to_ring_s'])} s | "
        f"{fmt(result['greeting_to_gate_s'])} s | {fmt(result['turn_s'])} s |",
    ]


def write_docs(result: dict[str, Any]) -> None:
    lines = [
        MARK_BEGIN,
        latest_run(result, f"visitor `{result['args']['utterance']}`"),
        "",
        *table(result),
        MARK_END,
    ]
    replace_section(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--utterance", default="visitor-demo", help="WAV in tests/fixtures/audio the visitor says")
    parser.add_argument("--dtmf", default="", help="keys the visitor presses after speaking (none: speech only)")
    parser.add_argument("--resident", default="say-resident-sim", help="the simulated resident's behaviour")
    parser.add_argument("--listen", type=int, default=6, help="seconds the resident listens before answering")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a Settings override")
    parser.add_argument("--label", default="")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = datetime.now(UTC)
    name = f"call-{started.strftime('%Y%m%dT%H%M%SZ')}{'-' + args.label if args.label else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path, events_file = RESULTS / f"{name}.json", RESULTS / f"{name}-events.jsonl"
    began = time.monotonic()
    result = asyncio.run(run(args, events_file))
    result = {"started": started.isoformat(timespec="seconds"), "label": args.label, "machine": machine(),
              "file": str(path.relative_to(ROOT)), "wall_s": round(time.monotonic() - began),
              "args": vars(args), **result}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n".join(table(result)))
    if not args.no_docs:
        write_docs(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
