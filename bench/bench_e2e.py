"""End-to-end turn latency and capacity against the real Asterisk test bed, with the offline engines.

    .venv/bin/python bench/bench_e2e.py [--calls N] [--concurrency C | --levels 1,2,4] [--set NAME=VALUE ...]

Starts the test bed (``scripts/asterisk-testbed start``, idempotent), runs a :class:`controller.wiring.Service`
in this process on its own Stasis app (``portaria-bench``, entered through ``from-gate-bench``; the integration
tests keep ``portaria``), and places simulated gate calls: a ``visitor-bench`` Local channel says three committed
pt-BR fixtures (tests/fixtures/audio/visitor-*.wav), listening a few seconds after each, while the concierge runs
the real dialog. Every number comes from the per-call events through :mod:`controller.tools.report`:

- **turn latency**: end of the visitor's speech as Asterisk sent it to the first frame of the reply leaving us;
  and the stages inside it (endpointing wait, speech-to-text, understanding, TTS first audio, playout start);
- **capacity**: simultaneous conversations 1, 2, 4, 6, 8, ... (each call starts at a random point of a visitor's
  cycle, as independent visitors would) until p95 turn latency reaches twice the 1-call p95, or frames are late
  (a ``playout_underrun``, or more than 1 % of the event loop's 20 ms wake-ups late by over 20 ms: the playout
  writes each frame on such a wake-up). The knee is the last level before that.

Writes the raw results to bench/results/e2e-<UTC time>.json and the table to docs/performance.md (between the
``bench_e2e`` markers; ``--no-docs`` to skip). ``--set silence_ms=500`` (any Settings field) tries a setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.settings import Settings, load_settings  # noqa: E402
from controller.tools.report import Report, build_report, collect  # noqa: E402
from controller.tools.scoring import contains_keywords  # noqa: E402
from controller.tools.simulator import SimulatedVisitor, call_gate  # noqa: E402
from controller.wiring import Service  # noqa: E402

TESTBED = ROOT / "scripts" / "asterisk-testbed"
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "performance.md"
FIXTURES = ROOT / "tests" / "fixtures" / "speech" / "fixtures.json"
APP = "portaria-bench"
CONTEXT = "from-gate-bench"
# What the visitors say, in order (tests/fixtures/audio/visitor-<name>.wav); calls alternate between the scripts.
SCRIPTS = (
    ("farmacia", "apartamento-202", "visita-renata"),
    ("encomenda-bloco-b", "morador-34", "visita-renata"),
)
LEAD_S = 3  # the greeting plays first
GAP_S = 8  # the visitor listens this long after each utterance (the reply plus some)
STAGES = ("turn", "endpointing", "stt", "understanding", "tts_first_audio", "playout_start")
LATE_MS = 20.0
LATE_SHARE = 0.01
MARK_BEGIN = "<!-- bench_e2e:begin -->"
MARK_END = "<!-- bench_e2e:end -->"


@dataclass
class LoopProbe:
    """Event-loop lag: how late a 20 ms sleep wakes up (the playout's frame deadlines see the same lag)."""

    lags_ms: list[float] = field(default_factory=list)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.02
            await asyncio.sleep(0.02)
            self.lags_ms.append((loop.time() - due) * 1000)

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags_ms) or [0.0]
        late = sum(1 for lag in lags if lag > LATE_MS)
        return {
            "wakeups": len(self.lags_ms),
            "p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 2),
            "max_ms": round(lags[-1], 2),
            "late_share": round(late / max(1, len(self.lags_ms)), 5),
        }


class Bench:
    def __init__(self, service: Service, seed: int) -> None:
        self.service = service
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._rng = random.Random(seed)
        self._calls = 0
        service.events.subscribe(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    async def _wait(self, name: str, timeout: float, **match: Any) -> dict[str, Any]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["event"] == name and all(event.get(k) == v for k, v in match.items()):
                        return event
                self._changed.clear()
                await self._changed.wait()

    async def one_call(self, delay_s: float) -> tuple[str, tuple[str, ...]]:
        """One visitor's whole call; returns its call id and what the visitor said."""
        await asyncio.sleep(delay_s)
        script = SCRIPTS[self._calls % len(SCRIPTS)]
        self._calls += 1
        rid = f"b{uuid.uuid4().hex[:8]}"
        endpoint = f"Local/{rid}+{LEAD_S}+{GAP_S}+{'+'.join(script)}@visitor-bench/n"
        visitor = SimulatedVisitor("none", rid)
        channel = await call_gate(self.service.ari, visitor, context=CONTEXT, endpoint=endpoint)
        start = await self._wait("stasis_start", 15, channel=channel["id"])
        call_id = str(start["call_id"])
        await self._wait("call_end", LEAD_S + len(script) * (GAP_S + 12) + 30, call_id=call_id)
        return call_id, script

    async def level(self, concurrency: int, calls: int) -> dict[str, Any]:
        """`calls` conversations, `concurrency` at a time, each starting at a random point of a visitor's cycle."""
        probe = LoopProbe()
        probe_task = asyncio.create_task(probe.run())
        cycle = GAP_S + 4
        started = time.monotonic()
        results: list[tuple[str, tuple[str, ...]]] = []
        try:
            for first in range(0, calls, concurrency):
                batch = range(first, min(calls, first + concurrency))
                delays = [0.0 if concurrency == 1 else self._rng.uniform(0, cycle) for _ in batch]
                results += await asyncio.gather(*(self.one_call(delay) for delay in delays))
        finally:
            probe_task.cancel()
        ids = {call_id for call_id, _ in results}
        events = [e for e in self.events if e["call_id"] in ids]
        report = build_report(events)
        return summarise(concurrency, report, events, results, probe, time.monotonic() - started)


def summarise(
    concurrency: int,
    report: Report,
    events: list[dict[str, Any]],
    calls: list[tuple[str, tuple[str, ...]]],
    probe: LoopProbe,
    elapsed_s: float,
) -> dict[str, Any]:
    data = report.to_json()
    transcripts = [e for e in events if e["event"] == "transcript" and e["leg"] == "gate"]
    keywords = {item["name"]: item["keywords"] for item in json.loads(FIXTURES.read_text(encoding="utf-8"))}
    heard, wanted = 0, 0
    for call_id, script in calls:
        said = " ".join(str(e["text"]) for e in transcripts if e["call_id"] == call_id)
        expected = [word for name in script for word in keywords[f"visitor-{name}"]]
        wanted += len(expected)
        heard += len(expected) - len(contains_keywords(said, expected))
    return {
        "concurrency": concurrency,
        "calls": len(calls),
        "elapsed_s": round(elapsed_s, 1),
        "stages": {stage: data["stages"][stage]["all"] for stage in STAGES},
        "turn_values_ms": sorted(round(s.ms, 1) for s in collect(events) if s.stage == "turn"),
        "early_transcripts": sum(1 for e in transcripts if e.get("early")),
        "transcripts": len(transcripts),
        "keywords_heard": f"{heard}/{wanted}",
        "errors": data["errors"],
        "loop": probe.summary(),
    }


def knee_reason(level: dict[str, Any], baseline_p95: float | None) -> str:
    """Why this level is past the knee ("" if it is not)."""
    p95 = level["stages"]["turn"]["p95"]
    if level["errors"]["playout_underrun"]:
        return f"{level['errors']['playout_underrun']} playout underruns"
    if level["loop"]["late_share"] > LATE_SHARE:
        return f"{level['loop']['late_share']:.1%} of 20 ms wake-ups late by > {LATE_MS:g} ms"
    if baseline_p95 is not None and p95 is not None and p95 >= 2 * baseline_p95:
        return f"p95 turn {p95:.0f} ms >= 2 x {baseline_p95:.0f} ms"
    return ""


def machine() -> dict[str, Any]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def testbed_env() -> dict[str, str]:
    subprocess.run([str(TESTBED), "start"], check=True, capture_output=True, text=True)
    out = subprocess.run([str(TESTBED), "env"], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def make_settings(env: dict[str, str], events_file: Path, overrides: dict[str, str]) -> Settings:
    defaults: dict[str, object] = {
        "ari_url": env["PORTARIA_ARI_URL"],
        "ari_password": env["PORTARIA_ARI_PASSWORD"],
        "ari_app": APP,
        "audiosocket_bind": "127.0.0.1:0",
        "events_file": events_file,
        "resource_journal": ROOT / "var" / "bench-asterisk-resources.jsonl",
        "directory": ROOT / "data" / "apartamentos.json",
    }
    return load_settings(**{**defaults, **overrides})


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(levels: list[dict[str, Any]]) -> list[str]:
    head = "| calls at once | turns | turn p50 | turn p95 | turn min-max | endpointing p50 | STT p50/p95 | " \
           "understanding p50 | TTS first audio p50/p95 | playout start p50/p95 | early STT | loop lag p99 | " \
           "underruns | keywords heard |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for level in levels:
        s = level["stages"]
        turn = s["turn"]
        lines.append(
            f"| {level['concurrency']} | {turn['count']} | {fmt(turn['p50'])} | {fmt(turn['p95'])} | "
            f"{fmt(turn['min'])}-{fmt(turn['max'])} | {fmt(s['endpointing']['p50'])} | "
            f"{fmt(s['stt']['p50'])}/{fmt(s['stt']['p95'])} | {s['understanding']['p50'] or 0:.1f} | "
            f"{fmt(s['tts_first_audio']['p50'])}/{fmt(s['tts_first_audio']['p95'])} | "
            f"{fmt(s['playout_start']['p50'])}/{fmt(s['playout_start']['p95'])} | "
            f"{level['early_transcripts']}/{level['transcripts']} | {level['loop']['p99_ms']:.1f} | "
            f"{level['errors']['playout_underrun']} | {level['keywords_heard']} |"
        )
    return lines


def write_docs(result: dict[str, Any]) -> None:
    lines = [
        MARK_BEGIN,
        latest_run(result, f"experiments `{', '.join(result['args']['experiments']) or 'none'}`") + " Times in ms.",
        "",
        *table(result["levels"]),
        "",
        f"Capacity knee: **{result['knee']}** simultaneous conversation(s) "
        + (f"(next level: {result['knee_reason']})." if result["knee_reason"] else "(no knee within the levels run)."),
        MARK_END,
    ]
    replace_section(lines)


def latest_run(result: dict[str, Any], *details: str) -> str:
    """The line that opens a bench's docs section: when, on what machine, with which settings, where the raw is."""
    m = result["machine"]
    settings = json.dumps(result["overrides"]) if result["overrides"] else "defaults"
    return ", ".join([
        f"Latest run: {result['started']}", f"{m['nproc']} x {m['cpu']}", *details, f"settings `{settings}`",
        f"raw: `{result['file']}`",
    ]) + "."


def replace_section(lines: list[str], docs: Path = DOCS) -> None:
    """Put `lines` (which start and end with their markers) into `docs`, in place of the old ones."""
    begin, end = lines[0], lines[-1]
    text = docs.read_text(encoding="utf-8") if docs.exists() else "# Performance\n\n"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + "\n".join(lines) + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    docs.write_text(text, encoding="utf-8")


async def run(args: argparse.Namespace, events_file: Path) -> dict[str, Any]:
    overrides = dict(item.split("=", 1) for item in args.set)
    env = testbed_env()
    # The ramp measures what the machine holds, so no admission limit: PORTARIA_MAX_CALLS would queue the
    # levels above it (its default is this ramp's knee).
    service = Service(make_settings(env, events_file, {"max_calls": "10000", **overrides}))
    await service.start()
    try:
        await service.wait_connected()
        bench = Bench(service, args.seed)
        await warm_up(service)
        levels: list[dict[str, Any]] = []
        knee, reason = 0, ""
        for concurrency in args.levels:
            level = await bench.level(concurrency, max(args.calls, concurrency))
            levels.append(level)
            turn = level["stages"]["turn"]
            print(
                f"{concurrency} at once: {turn['count']} turns, p50 {fmt(turn['p50'])} ms, "
                f"p95 {fmt(turn['p95'])} ms, loop p99 {level['loop']['p99_ms']} ms, "
                f"underruns {level['errors']['playout_underrun']}",
                file=sys.stderr,
            )
            reason = knee_reason(level, levels[0]["stages"]["turn"]["p95"] if len(levels) > 1 else None)
            if reason:
                break
            knee = concurrency
    finally:
        await service.stop()
    return {"levels": levels, "knee": knee, "knee_reason": reason, "overrides": overrides}


def patch_early_reuse() -> None:
    """Experiment (proposed for audiosocket/endpointing.py, not shipped): once the early audio went out, the turn's
    audio is that same audio unless speech resumed, so the runner's ``early_pcm == pcm`` check keeps the early
    recognition. Today the final audio can be a few ms longer (frames that arrived after the early timer fired
    but before the end of its 200 ms tail), and the runner then recognises everything again from scratch."""
    from audiosocket import endpointing

    cls: Any = endpointing.Endpointer
    utterance_pcm, voiced, reset = cls._utterance_pcm, cls._voiced, cls._reset

    def pcm(self: Any) -> bytes:
        if self._state is not endpointing.TurnState.STOPPING:
            return bytes(utterance_pcm(self))
        if getattr(self, "_early_pcm", None) is None:
            self._early_pcm = utterance_pcm(self)
        return bytes(self._early_pcm)

    def on_voiced(self: Any, *args: Any) -> None:
        self._early_pcm = None
        voiced(self, *args)

    def on_reset(self: Any) -> None:
        self._early_pcm = None
        reset(self)

    cls._utterance_pcm, cls._voiced, cls._reset = pcm, on_voiced, on_reset


EXPERIMENTS = {"early-reuse": patch_early_reuse}


async def warm_up(service: Service) -> None:
    """One recognition before measuring: the first one pays for lazy initialisation."""
    rate = service.settings.media_format.sample_rate
    await service.speech.stt.transcribe(bytes(rate * 2), rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4, help="calls per level (at least the level's concurrency)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--concurrency", type=int, help="run only this many simultaneous conversations")
    which.add_argument("--levels", default="1,2,4,6,8,10,12", help="capacity ramp (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a Settings override")
    parser.add_argument("--experiment", action="append", default=[], choices=sorted(EXPERIMENTS),
                        help="patch the code in this process to try a change (see the functions named patch_*)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/performance.md")
    args = parser.parse_args()
    args.levels = [args.concurrency] if args.concurrency else [int(v) for v in args.levels.split(",")]
    for experiment in args.experiment:
        EXPERIMENTS[experiment]()
    started = datetime.now(UTC)
    name = f"e2e-{started.strftime('%Y%m%dT%H%M%SZ')}{'-' + args.label if args.label else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path, events_file = RESULTS / f"{name}.json", RESULTS / f"{name}-events.jsonl"
    result = asyncio.run(run(args, events_file))
    result = {"started": started.isoformat(timespec="seconds"), "label": args.label, "machine": machine(),
              "file": str(path.relative_to(ROOT)), "events": str(events_file.relative_to(ROOT)),
              "args": {"calls": args.calls, "levels": args.levels, "experiments": args.experiment}, **result}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n".join(table(result["levels"])))
    print(f"knee: {result['knee']} ({result['knee_reason'] or 'not reached'}); raw: {path}")
    if not args.no_docs:
        write_docs(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
