"""Soak: N calls at once, back to back, for M minutes through the real Asterisk test bed; what leaks?

    .venv/bin/python bench/bench_soak.py [--calls 8] [--minutes 30] [--sample-s 10] [--set NAME=VALUE ...]

Each of the `--calls` workers places the demo's call again and again (controller/tools/demo.py: a simulated
visitor asks for apartment 101, whose simulated resident listens and says "sim", and the loopback webhook opens
the gate), offline engines as configured. The visitor behaves as an intercom does: its script starts when the
call is answered, so one kept waiting past the conversation limit (PORTARIA_MAX_CALLS) hears ringing, then
talks to whoever answers: our concierge when a place frees, or after PORTARIA_QUEUE_WAIT_S the simulated person
at `CONCIERGE` (a Local phone that answers, says "sim" and hangs up after ~30 s). Every `--sample-s` seconds
the bench samples the service's process and Asterisk: RSS, open file descriptors, asyncio tasks, conversations
and waiting visitors, and the channels and bridges in Asterisk. When the time is up the workers finish their
calls, the service idles a moment, and the leftovers are counted.

Reported: calls by outcome, visitors who waited and how it ended, playout underruns and error events, the turn
latency under this load, the RSS slope over the run after its first fifth (least squares, MiB per hour), and
after the last call the channels, bridges, tasks and file descriptors left compared with before the first.
Writes bench/results/soak-<UTC>.json and its section in docs/reliability.md (``bench_soak`` markers;
``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_call import LEAD_S, spread  # noqa: E402
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

from controller.ari.client import AriClient, AriNotFound  # noqa: E402
from controller.tools.demo import Webhook, demo_directory  # noqa: E402
from controller.tools.demo_timeline import timeline  # noqa: E402
from controller.tools.simulator import SimulatedVisitor  # noqa: E402
from controller.wiring import Service  # noqa: E402

DOCS = ROOT / "docs" / "reliability.md"
MARK_BEGIN = "<!-- bench_soak:begin -->"
MARK_END = "<!-- bench_soak:end -->"
PAGE = resource.getpagesize()
CONCIERGE = "Local/say-resident-sim+soak-concierge+2@resident-sim/n"  # a person who answers, says "sim", hangs up


async def call_like_an_intercom(ari: AriClient, visitor: SimulatedVisitor, tag: str) -> tuple[str, str]:
    """The visitor's call, its script held until it is answered (a real intercom's order of things, unlike
    controller.tools.simulator.call_gate whose visitor is answered before it reaches Stasis): the `;2` half
    enters our app unanswered; the `;1` half runs the visitor once it is. Returns (ours, the visitor's)."""
    ours, theirs = f"soak-{tag}-gate", f"soak-{tag}-visitor"
    extension = visitor.endpoint.removeprefix("Local/").split("@", 1)[0]
    await ari.post(
        "channels", endpoint=f"Local/s@{CONTEXT}/n", context="visitor-sim", extension=extension, priority=1,
        callerId="Interfone <1000>", timeout=120, channelId=theirs, otherChannelId=ours,
    )
    return ours, theirs


class CallLog:
    """Each call's events only while it runs; after its end, only what the report needs. (Keeping every event
    of a 30-minute run in this process would itself look like a leak of the service.)"""

    def __init__(self) -> None:
        self.running: dict[str, list[dict[str, Any]]] = {}
        self.by_channel: dict[str, str] = {}
        self.ended: dict[str, asyncio.Event] = {}
        self.call_ids: list[str] = []
        self.turns_s: list[float] = []
        self.counts: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.queue_outcomes: Counter[str] = Counter()
        self.waits_s: list[float] = []
        self.started = asyncio.Event()

    def on_event(self, event: dict[str, Any]) -> None:
        name, call_id = str(event["event"]), str(event.get("call_id", ""))
        self.counts[name] += 1
        if name == "fallback":
            self.fallbacks[str(event.get("reason"))] += 1
        if name in ("stasis_start", "call_queued") and call_id not in self.running:
            self.running[call_id] = []
            self.by_channel[str(event.get("channel"))] = call_id
            self.started.set()
        if name == "queue_left":
            self.queue_outcomes[str(event.get("outcome"))] += 1
            self.waits_s.append(float(event.get("wait_ms", 0)) / 1000)
            if event.get("outcome") != "admitted" and call_id in self.running:
                del self.running[call_id]  # it never had a conversation of ours
                self.ended.setdefault(call_id, asyncio.Event()).set()
        if call_id in self.running:
            self.running[call_id].append(event)
        if name == "call_end" and call_id in self.running:
            self.turns_s.extend(ms / 1000 for ms in timeline(self.running.pop(call_id), call_id).turns_ms)
            self.call_ids.append(call_id)
            self.ended.setdefault(call_id, asyncio.Event()).set()

    def reset(self) -> None:
        self.call_ids.clear()
        self.turns_s.clear()
        self.counts.clear()
        self.fallbacks.clear()
        self.queue_outcomes.clear()
        self.waits_s.clear()

    async def one_call(self, service: Service, utterance: str) -> None:
        tag = uuid.uuid4().hex[:8]
        visitor = SimulatedVisitor(utterance, f"s{tag}", lead_s=LEAD_S)
        channel, theirs = await call_like_an_intercom(service.ari, visitor, tag)
        async with asyncio.timeout(240):
            while channel not in self.by_channel:
                self.started.clear()
                await self.started.wait()
            call_id = self.by_channel.pop(channel)
            await self.ended.setdefault(call_id, asyncio.Event()).wait()
            del self.ended[call_id]
            while True:  # the visitor gone too (one handed to the person still talks to them): then the next call
                try:
                    await service.ari.get(f"channels/{theirs}")
                except AriNotFound:
                    return
                await asyncio.sleep(1)


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fd_targets() -> list[str]:
    """What each open descriptor points at (``socket:[inode]``, ``pipe:[inode]``, a file's path)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return targets


def fd_kinds(targets: list[str]) -> Counter[str]:
    """The descriptors by kind ("socket", "pipe", "anon_inode:[eventpoll]", a path), so the ones left after the
    run can be named."""
    return Counter(t.split(":[", 1)[0] if t.startswith(("socket:", "pipe:")) else t for t in targets)


def tcp_peers(targets: list[str]) -> Counter[str]:
    """This process's TCP connections by the service port at one end (what a descriptor count cannot tell)."""
    inodes = {target[8:-1] for target in targets if target.startswith("socket:[")}
    peers: Counter[str] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    local, remote = (int(part.rsplit(":", 1)[1], 16) for part in (fields[1], fields[2]))
                    # A service port is below Linux's ephemeral range: name the connection by it.
                    end = f"remote :{remote}" if remote < 32768 else f"local :{local}"
                    peers["listening" if remote == 0 else end] += 1
    return peers


def floor_per_window(points: list[tuple[float, float]], window_s: float) -> list[tuple[float, float]]:
    """The lowest value of each `window_s` window (at the window's middle). RSS swings by a hundred MiB with the
    speech engines' working buffers of the calls in flight; a leak raises the floor between them."""
    windows: dict[int, float] = {}
    for t, v in points:
        index = int(t // window_s)
        windows[index] = min(v, windows.get(index, v))
    return [((index + 0.5) * window_s, v) for index, v in sorted(windows.items())]


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 3600


async def asterisk_counts(service: Service) -> tuple[int, int]:
    channels = await service.ari.get("channels")
    bridges = await service.ari.get("bridges")
    return len(channels), len(bridges)


async def sample(service: Service, began: float) -> dict[str, Any]:
    channels, bridges = await asterisk_counts(service)
    return {
        "t_s": round(time.monotonic() - began, 1),
        "rss_mib": round(rss_mib(), 1),
        "fds": open_fds(),
        "tasks": len(asyncio.all_tasks()),
        "conversations": service.app.active_calls,
        "waiting": service.app.waiting_calls,
        "channels": channels,
        "bridges": bridges,
    }


async def run(args: argparse.Namespace, events_file: Path) -> dict[str, Any]:
    overrides = dict(item.split("=", 1) for item in args.set)
    env = testbed_env()
    webhook = Webhook()
    await webhook.start()
    with tempfile.TemporaryDirectory(prefix="portaria-bench-soak-") as folder:
        base = make_settings(env, events_file, overrides)
        directory = demo_directory(base, Path(folder), args.resident, "soak", listen_s=args.listen)
        settings = make_settings(
            env, events_file,
            {"concierge_endpoint": CONCIERGE, **overrides, "directory": str(directory), "gate_opener": "http",
             "gate_http_preset": "webhook", "gate_http_url": webhook.url,
             "audit_db": str(Path(folder) / "audit.sqlite3")},
        )
        service = Service(settings)
        log = CallLog()
        service.events.subscribe(log.on_event)
        await service.start()
        try:
            await service.wait_connected()
            await warm_up(service)
            if not args.cold:
                # One call first, as a service has after its first visitor: its phrases are then in the clause
                # cache. (A cold cache under load is a start-up cost, measured with --cold.)
                await log.one_call(service, args.utterance)
                log.reset()
            opened_before = len(webhook.opened)
            await asyncio.sleep(1)
            before = await sample(service, time.monotonic())
            targets = fd_targets()
            kinds_before, peers_before = fd_kinds(targets), tcp_peers(targets)
            began = time.monotonic()
            deadline = began + args.minutes * 60

            async def worker(number: int) -> None:
                await asyncio.sleep(number * args.stagger_s)  # not all greetings in the same second
                while time.monotonic() < deadline:
                    await log.one_call(service, args.utterance)

            async def sampler() -> list[dict[str, Any]]:
                samples = []
                while time.monotonic() < deadline:
                    samples.append(await sample(service, began))
                    print(json.dumps(samples[-1]), file=sys.stderr)
                    await asyncio.sleep(args.sample_s)
                return samples

            workers = [asyncio.create_task(worker(n)) for n in range(args.calls)]
            samples = await sampler()
            await asyncio.gather(*workers)
            wall_s = time.monotonic() - began
            await asyncio.sleep(args.settle_s)  # teardown of the last calls, the retired REST pools
            after = await sample(service, began)
            targets = fd_targets()
            after["fds_left"] = dict(fd_kinds(targets) - kinds_before)  # what the run left open, by kind
            after["tcp_left"] = dict(tcp_peers(targets) - peers_before)
        finally:
            await service.stop()
            await webhook.stop()
    result = summarise(log, samples, before, after, wall_s, len(webhook.opened) - opened_before, overrides)
    return {**result, "call_limit": service.call_limit}


def summarise(
    log: CallLog,
    samples: list[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
    wall_s: float,
    opened: int,
    overrides: dict[str, str],
) -> dict[str, Any]:
    names = log.counts
    steady = [(s["t_s"], s["rss_mib"]) for s in samples if s["t_s"] >= wall_s / 5]
    return {
        "calls": len(log.call_ids),
        "opened": opened,
        "fallbacks": dict(log.fallbacks),
        "queued": {"outcomes": dict(log.queue_outcomes), "wait_s": spread(log.waits_s)},
        "errors": names.get("error", 0),
        "failed_events": {name: count for name, count in names.items() if name.endswith("_failed")},
        "playout_underruns": names.get("playout_underrun", 0),
        "media_silent": names.get("media_silent", 0),
        "turn_s": spread(log.turns_s),
        "rss_mib": {"before": before["rss_mib"], "after": after["rss_mib"],
                    "max": max((s["rss_mib"] for s in samples), default=None),
                    "slope_mib_per_hour": None if (s := slope_per_hour(steady)) is None else round(s, 1),
                    "floor_slope_mib_per_hour":
                        None if (f := slope_per_hour(floor_per_window(steady, 60))) is None else round(f, 1)},
        "peak": {
            key: max((s[key] for s in samples), default=None)
            for key in ("channels", "bridges", "tasks", "fds", "conversations", "waiting")
        },
        "before": before,
        "after": after,
        "wall_s": round(wall_s),
        "samples": samples,
        "overrides": overrides,
    }


def table(result: dict[str, Any]) -> list[str]:
    rss, before, after, turn = result["rss_mib"], result["before"], result["after"], result["turn_s"]
    turn_text = "-" if not turn["count"] else f"{turn['p50']:.1f} s (p95 {turn['p95']:.1f}, max {turn['max']:.1f})"
    slope = "-" if rss["slope_mib_per_hour"] is None else f"{rss['slope_mib_per_hour']:+.1f} MiB/h"
    floor = "-" if rss.get("floor_slope_mib_per_hour") is None else f"{rss['floor_slope_mib_per_hour']:+.1f} MiB/h"
    return [
        "| measure | result |",
        "|---|---|",
        f"| calls (gate opened) | {result['calls']} ({result['opened']}) |",
        f"| conversations at once, limit / peak | {result.get('call_limit') or 'none'} / "
        f"{result['peak'].get('conversations', '-')} |",
        f"| visitors who waited, by outcome (wait p50 / max) | {queued_text(result)} |",
        f"| hand-overs by reason | {json.dumps(result['fallbacks']) if result['fallbacks'] else 'none'} |",
        f"| error events / `*_failed` events | {result['errors']} / "
        f"{json.dumps(result['failed_events']) if result['failed_events'] else 'none'} |",
        f"| playout underruns | {result['playout_underruns']} |",
        f"| turn latency under this load, p50 | {turn_text} |",
        f"| RSS before / peak / after | {rss['before']:.0f} / {rss['max'] or 0:.0f} / {rss['after']:.0f} MiB |",
        f"| RSS slope after the first fifth: all samples / each minute's lowest | {slope} / {floor} |",
        f"| RSS lowest / highest in each 5 minutes | {windows_text(result['samples'])} |",
        f"| Asterisk channels, bridges: before / peak / after | {before['channels']}, {before['bridges']} / "
        f"{result['peak']['channels']}, {result['peak']['bridges']} / {after['channels']}, {after['bridges']} |",
        f"| asyncio tasks: before / peak / after | {before['tasks']} / {result['peak']['tasks']} / {after['tasks']} |",
        f"| file descriptors: before / peak / after | {before['fds']} / {result['peak']['fds']} / {after['fds']} |",
    ]


def windows_text(samples: list[dict[str, Any]], window_s: float = 300) -> str:
    """A slope can be one step; the floor and peak of each window show whether memory keeps climbing."""
    windows: dict[int, list[float]] = {}
    for point in samples:
        windows.setdefault(int(point["t_s"] // window_s), []).append(point["rss_mib"])
    return ", ".join(f"{min(values):.0f}/{max(values):.0f}" for _, values in sorted(windows.items())) + " MiB"


def queued_text(result: dict[str, Any]) -> str:
    queued = result.get("queued") or {}
    outcomes, wait = queued.get("outcomes") or {}, queued.get("wait_s") or {}
    if not outcomes:
        return "none"
    return f"{json.dumps(outcomes)} ({wait['p50']:.1f} / {wait['max']:.1f} s)"


def write_docs(result: dict[str, Any]) -> None:
    lines = [
        MARK_BEGIN,
        latest_run(result, f"{result['args']['calls']} calls at once for {result['args']['minutes']} min"),
        "",
        *table(result),
        MARK_END,
    ]
    replace_section(lines, DOCS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=8, help="calls at once")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sample-s", type=float, default=10)
    parser.add_argument("--stagger-s", type=float, default=2.5, help="start of worker n is n times this")
    parser.add_argument("--settle-s", type=float, default=20,
                        help="idle time before the leftovers are counted (past aiohttp's 15 s keep-alive of the "
                             "REST pool, whose idle connections would count as descriptors)")
    parser.add_argument("--utterance", default="visitor-demo", help="WAV in tests/fixtures/audio the visitor says")
    parser.add_argument("--resident", default="say-resident-sim", help="the simulated resident's behaviour")
    parser.add_argument("--listen", type=int, default=6, help="seconds the resident listens before answering")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help=f"a Settings override (concierge_endpoint is {CONCIERGE} unless set)")
    parser.add_argument("--cold", action="store_true", help="no warm-up call: start with an empty clause cache")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = datetime.now(UTC)
    name = f"soak-{started.strftime('%Y%m%dT%H%M%SZ')}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path, events_file = RESULTS / f"{name}.json", RESULTS / f"{name}-events.jsonl"
    result = asyncio.run(run(args, events_file))
    result = {"started": started.isoformat(timespec="seconds"), "machine": machine(),
              "file": str(path.relative_to(ROOT)), "args": vars(args), **result}
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n".join(table(result)))
    if not args.no_docs:
        write_docs(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
