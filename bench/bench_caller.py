"""What the caller hears, timed on the caller's side of the real Asterisk: the benchmark the README quotes.

    .venv/bin/python bench/bench_caller.py [--levels 1 4] [--rounds 3] [--set NAME=VALUE ...] [--watch-console]

The concierge runs as its own process (``python -m controller run``, as deployed) on the test bed's Asterisk.
Each call is the test phone (controller/tools/phone_call.py): an AudioSocket server Asterisk dials, bridged with
a Local channel into ``from-gate-bench``, so its audio crosses Asterisk's bridges as an intercom's does, and it
times every 20 ms frame it sends and receives on its own clock (controller/tools/phone_timing.py). Per call it
waits for the greeting to end, says one request (Kokoro, 8 kHz), waits for the reply and hangs up:

- **first audible**: the gate answered -> the first voiced frame of the greeting;
- **turn latency**: the end of the caller's last voiced frame -> the first voiced frame of the reply, for
  requests of about 1, 3, 6 and 12 s and a hesitant one (five pieces with 1 s pauses, for which the replies
  that start while the caller is still talking are counted too);
- **barge-in cut**: the caller starts talking 1 s into the greeting -> the greeting's last voiced frame;
- **pacing** of every prompt heard: the share of frames arriving within 10 ms of the 20 ms beat, audio delivered
  per wall-clock second, the worst gap inside a prompt.

Beside it, the server's own turn latency (last voiced frame in -> first reply frame out) from the events log.
``--watch-console`` serves the operator console and keeps a logged-in live stream (/console/events) open for the
whole run (the console's cost on turn latency). Writes bench/results/caller-<UTC>.json and the table in
docs/performance.md (``bench_caller`` markers; ``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import RESULTS, machine, testbed_env  # noqa: E402
from caller_stages import attach, lines, summary  # noqa: E402
from caller_summary import server_turns, summarise, table, write_docs  # noqa: E402

from controller.ari.client import AriClient, AriError  # noqa: E402
from controller.tools.phone_audio import RATE  # noqa: E402
from controller.tools.phone_call import Phone  # noqa: E402
from controller.tools.phone_ear import Ear  # noqa: E402
from controller.tools.phone_options import PhoneOptions  # noqa: E402
from controller.tools.phone_timing import (  # noqa: E402
    Prompt,
    barge_in_cut,
    pacing,
    prompts,
    reply_after,
    speech_span,
    talked_over,
)

APP = "portaria-bench"
CONTEXT = "from-gate-bench"
CACHE = ROOT / "var" / "bench-caller"
VOICE = "jm_kumo"
PAUSE_S = 1.0
GREETING_OVER_S = 1.0  # silence after the greeting before the caller speaks
REPLY_OVER_S = 1.5  # silence after a reply before the caller hangs up
BARGE_AFTER_S = 1.0

# name: the pieces said, with PAUSE_S of silence between them. Directory: data/apartamentos.json.
REQUESTS: dict[str, tuple[str, ...]] = {
    "1s": ("Uma entrega.",),
    "3s": ("Tenho uma entrega para o cento e um.",),
    "6s": ("Boa tarde, meu nome é Marcos. Vim visitar a Renata, do apartamento cento e um.",),
    "12s": (
        "Boa tarde, tudo bem? Meu nome é Marcos Oliveira, eu sou amigo da Renata Souza, que mora aqui no "
        "apartamento cento e um. Ela está me esperando para o almoço, e eu cheguei um pouco mais cedo.",
    ),
    "hesitant": ("É...", "boa tarde.", "Vim visitar a...", "Renata...", "do cento e um."),
}
CASES = (*REQUESTS, "barge-in")


# Fixtures --------------------------------------------------------------------------------------------------


async def request_audio() -> dict[str, bytes]:
    """Each request as 8 kHz slin, synthesized once by Kokoro and kept in var/bench-caller."""
    CACHE.mkdir(parents=True, exist_ok=True)
    missing = {name: pieces for name, pieces in REQUESTS.items() if not (CACHE / f"{name}.wav").is_file()}
    if missing:
        from audiosocket.speech.kokoro import KokoroOptions, KokoroTTS

        engine = KokoroTTS(ROOT / "models" / "kokoro", KokoroOptions(voice=VOICE))
        await engine.load()
        try:
            for name, pieces in missing.items():
                said = [b"".join([chunk async for chunk in engine.synthesize(p, RATE)]) for p in pieces]
                pause = bytes(int(PAUSE_S * RATE) * 2)
                with wave.open(str(CACHE / f"{name}.wav"), "wb") as out:
                    out.setnchannels(1)
                    out.setsampwidth(2)
                    out.setframerate(RATE)
                    out.writeframes(pause.join(said))
        finally:
            engine.close()
    audio = {}
    for name in REQUESTS:
        with wave.open(str(CACHE / f"{name}.wav"), "rb") as source:
            audio[name] = source.readframes(source.getnframes())
    return audio


# The concierge process -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Concierge:
    process: subprocess.Popen[bytes]
    events_file: Path
    console: str  # base URL, "" when not served
    password: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_concierge(env: dict[str, str], work: Path, overrides: dict[str, str], console: bool) -> Concierge:
    password = os.urandom(12).hex()
    settings = {
        "PORTARIA_ARI_URL": env["PORTARIA_ARI_URL"],
        "PORTARIA_ARI_USER": env["PORTARIA_ARI_USER"],
        "PORTARIA_ARI_PASSWORD": env["PORTARIA_ARI_PASSWORD"],
        "PORTARIA_ARI_APP": APP,
        "PORTARIA_AUDIOSOCKET_BIND": f"127.0.0.1:{free_port()}",
        "PORTARIA_EVENTS_FILE": str(work / "events.jsonl"),
        "PORTARIA_AUDIT_DB": str(work / "audit.sqlite3"),
        "PORTARIA_RESOURCE_JOURNAL": str(work / "resources.jsonl"),
        "PORTARIA_DIRECTORY": str(ROOT / "data" / "apartamentos.json"),
    }
    base = ""
    if console:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings |= {"PORTARIA_CONSOLE_BIND": f"127.0.0.1:{port}", "PORTARIA_CONSOLE_PASSWORD": password}
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTARIA_")} | settings | overrides
    log = (work / "concierge.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "controller", "run"],
        cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT,
    )
    return Concierge(process, work / "events.jsonl", base, password, work / "concierge.log")


async def wait_registered(ari: AriClient, concierge: Concierge, timeout_s: float = 120) -> None:
    """The concierge's events websocket is up, as its log says. Asterisk's application list is no proof: an
    app stays listed, inactive, after the previous run's concierge left, and a call then finds nobody there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if concierge.process.poll() is not None:
            raise RuntimeError(f"the concierge exited with {concierge.process.returncode} (see its log)")
        if b"ARI events connected" in concierge.log.read_bytes():
            with contextlib.suppress(AriError):
                await ari.get(f"applications/{APP}")
                return
        await asyncio.sleep(0.5)
    raise TimeoutError("the concierge did not register its Stasis app")


async def watch_console(concierge: Concierge, updates: list[int]) -> None:
    """Log in as an operator and read the live stream until cancelled (as an open console page does)."""
    # unsafe: the console is on 127.0.0.1, and aiohttp keeps no cookie of an IP address otherwise.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = f"{concierge.console}/console/login"
        async with http.post(login, data={"user": "portaria", "password": concierge.password}) as response:
            response.raise_for_status()
        # No total timeout: the stream stays open for the whole run, as on an operator's screen.
        async with http.get(f"{concierge.console}/console/events", timeout=aiohttp.ClientTimeout()) as stream:
            stream.raise_for_status()
            async for line in stream.content:
                if line.startswith(b"data:"):
                    updates[0] += 1


# One call --------------------------------------------------------------------------------------------------


async def one_call(ari: AriClient, case: str, audio: dict[str, bytes]) -> dict[str, Any]:
    ear = Ear()
    options = PhoneOptions(context=CONTEXT, caller_id="Bench <2001>", max_seconds=120)
    phone = Phone(ari, options, out=io.StringIO(), listener=ear)
    running = asyncio.create_task(phone.run())
    result: dict[str, Any] = {"case": case, "gate_channel": phone.gate_channel_id}
    try:
        await asyncio.wait_for(phone.answered.wait(), 30)
        answered = phone.answered_at
        assert answered is not None
        pcm = audio["3s" if case == "barge-in" else case]
        if case == "barge-in":
            if not await ear.voiced_after(answered, timeout_s=15):
                raise TimeoutError("no greeting heard")
            await asyncio.sleep(BARGE_AFTER_S)
        elif not await ear.quiet_for(GREETING_OVER_S, after=answered, timeout_s=30):
            raise TimeoutError("no greeting heard")
        mark = len(ear.sent)
        await phone.say(pcm)
        span = speech_span(ear.sent[mark:])
        assert span is not None
        await ear.quiet_for(REPLY_OVER_S, after=span[1], timeout_s=25)
    except (TimeoutError, AriError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
        span = None
    finally:
        phone.hangup()
        await running
    heard = prompts(ear.heard)
    result["pacing"] = [vars_of(pacing(p)) for p in heard if len(p.arrivals) > 1]
    if heard and phone.answered_at is not None:
        result["first_audible_s"] = heard[0].start - phone.answered_at
    if span is not None:
        result["speech_s"] = span[1] - span[0]
        reply: Prompt | None = reply_after(span[1], heard)
        if case == "barge-in":
            result["barge_in_cut_s"] = barge_in_cut(span[0], heard)
        else:
            result["turn_s"] = None if reply is None else reply.start - span[1]
            result["spoke_until"], result["reply_at"] = span[1], None if reply is None else reply.start
            result["talked_over"] = len(talked_over(span, heard))
    return result


def vars_of(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


# Levels and the summary ------------------------------------------------------------------------------------


async def level(
    ari: AriClient, concurrency: int, rounds: int, audio: dict[str, bytes], seed: int
) -> list[dict[str, Any]]:
    """`rounds` x every case, `concurrency` calls in flight, in a shuffled order; the first of a batch staggered."""
    jobs = [case for _ in range(rounds) for case in CASES]
    random.Random(seed).shuffle(jobs)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: list[dict[str, Any]] = []

    async def worker(index: int) -> None:
        await asyncio.sleep(index * 2.5)  # the calls' turns fall at different moments
        while not queue.empty():
            case = queue.get_nowait()
            result = await one_call(ari, case, audio)
            result["concurrency"] = concurrency
            results.append(result)
            print(f"  {concurrency} at once, {case}: {short(result)}", file=sys.stderr)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return results


def short(result: dict[str, Any]) -> str:
    keys = ("turn_s", "barge_in_cut_s", "first_audible_s", "talked_over", "error")
    shown = [(k, v) for k in keys if (v := result.get(k)) is not None]
    return ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    overrides = dict(item.split("=", 1) for item in args.set)
    env = testbed_env()
    audio = await request_audio()
    with tempfile.TemporaryDirectory(prefix="bench-caller-") as tmp:
        work = Path(tmp)
        concierge = start_concierge(env, work, overrides, args.watch_console)
        updates = [0]
        watcher: asyncio.Task[None] | None = None
        try:
            async with AriClient(env["PORTARIA_ARI_URL"], env["PORTARIA_ARI_USER"], env["PORTARIA_ARI_PASSWORD"],
                                 f"bench-phone-{os.getpid()}") as ari:
                await wait_registered(ari, concierge)
                if args.watch_console:
                    watcher = asyncio.create_task(watch_console(concierge, updates))
                await one_call(ari, "3s", audio)  # warm-up: the first recognition loads and caches
                results: list[dict[str, Any]] = []
                for concurrency in args.levels:
                    results += await level(ari, concurrency, args.rounds, audio, args.seed)
        finally:
            failed = watcher is not None and watcher.done() and not watcher.cancelled() and watcher.exception()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
            concierge.stop()
        if args.watch_console and (failed or updates[0] == 0):
            raise RuntimeError(f"the console's live stream was not watched: {failed or 'it sent nothing'!r}")
        server = server_turns(concierge.events_file, results)
        attach(results, concierge.events_file)
        if args.keep_events:
            args.keep_events.write_bytes(concierge.events_file.read_bytes())
    levels = summarise(results, server, tuple(REQUESTS))
    for lv in levels:
        lv["stages"] = summary([r for r in results if r["concurrency"] == lv["concurrency"]])
    return {"levels": levels, "calls": results, "overrides": overrides, "console_updates": updates[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3, help="times each case is called at each level")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a PORTARIA_* environment override for the concierge")
    parser.add_argument("--watch-console", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--label", default="")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--keep-events", action="store_true", help="keep the concierge's events log beside the JSON")
    args = parser.parse_args()
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"caller-{stamp}{'-' + args.label if args.label else ''}.json"
    args.keep_events = path.with_name(path.stem + "-events.jsonl") if args.keep_events else None
    result = asyncio.run(run(args))
    result |= {
        "started": started.isoformat(timespec="seconds"), "machine": machine(), "file": str(path.relative_to(ROOT)),
        "watch_console": args.watch_console,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("\n".join(table(result["levels"])))
    print("\n".join(lines(result["levels"])))
    if not args.no_docs:
        write_docs(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
