"""N simultaneous call legs through the real AudioSocketServer over loopback.

    .venv/bin/python bench/bench_media.py [--legs 1 50 200] [--seconds 10] [--repeat 3] [--rate 8000]
                                          [--arrival spread|aligned]

This process runs the server exactly as the controller does: one MediaLeg per connection (Silero VAD,
endpointing, paced playout) playing prompts back to back. A second process plays Asterisk: N AudioSocket
clients that send the UUID, then every 4 s an utterance (tests/fixtures/media/mercado.wav, 20 ms frames on
its own grid) and nothing in between (Asterisk sends no frames in silence), and timestamp every frame they
receive. The legs' inbound frames are spread over the 20 ms slot as separate calls' are (``--arrival aligned``
sends them all in one burst, the worst case for the server's event loop). Every leg shares one FrameClock, as
in the service. Per N it reports:

- interval mean / p99: time between consecutive frames received by the client (ms)
- grid dev p99: |arrival - (anchor + n * 20 ms)| per leg, anchor = median offset; drift shows up here
- CPU/leg: server-process CPU time / wall time / N (% of one core)
- mem/leg: server RSS growth from before the legs (ONNX runtime already started) to while they run, / N
- endpointing delay: last voiced frame received -> UtteranceEnded in the consumer's hands (server clock)

``--mode prototype`` replaces our playout by the prototype's loop (write, drain, sleep 20 ms) for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiosocket.frame_clock import FrameClock  # noqa: E402
from audiosocket.media_leg import MediaLeg, UtteranceEnded  # noqa: E402
from audiosocket.protocol import Audio, Decoder, Dtmf, Uuid, encode, frame_bytes  # noqa: E402
from audiosocket.server import AudioSocketServer, MediaConnection  # noqa: E402
from audiosocket.vad import SileroModel, open_vad  # noqa: E402

UTTERANCE = ROOT / "tests" / "fixtures" / "media" / "mercado.wav"
CYCLE_S = 4.0
WARMUP_S = 1.5
PROMPT_S = 3.0
SLOT_GROUPS = 20


def load_utterance(rate: int) -> bytes:
    with wave.open(str(UTTERANCE)) as wav:
        pcm = wav.readframes(wav.getnframes())
    if rate != 16000:
        import soxr

        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        pcm = np.asarray(soxr.resample(samples, 16000, rate)).clip(-32768, 32767).astype("<i2").tobytes()
    return bytes(pcm)


# ----------------------------------------------------------------------------------------------- client side
class _ClientLeg(asyncio.Protocol):
    def __init__(self) -> None:
        self.decoder = Decoder()
        self.times: list[float] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.times.extend(now for _ in self.decoder.feed(data))


def _leg_stats(times: list[float], since: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.array([x for x in times if x >= since])
    if t.size < 3:
        return np.zeros(0), np.zeros(0)
    intervals = np.diff(t)
    offsets = t - np.arange(t.size) * 0.02
    deviation = np.abs(offsets - np.median(offsets))
    return intervals, deviation


async def _client(pipe: Connection) -> None:
    job = pipe.recv()
    rate, seconds = job["rate"], job["seconds"]
    utterance = job["utterance"]
    size = frame_bytes(rate)
    offsets = range(0, len(utterance) - size + 1, size)
    frames = [encode(Audio(utterance[i : i + size], rate), as_asterisk=True) for i in offsets]
    loop = asyncio.get_running_loop()
    legs: list[_ClientLeg] = []
    for hex_id in job["uuids"]:
        _, leg = await loop.create_connection(_ClientLeg, "127.0.0.1", job["port"])
        assert leg.transport is not None
        leg.transport.write(encode(Uuid(uuid.UUID(hex_id))))
        legs.append(leg)
    pipe.send("connected")
    pipe.recv()  # "go": the server has built every leg
    rng = np.random.default_rng(1)
    phases = rng.uniform(0, CYCLE_S, len(legs))
    # Where in the 20 ms slot each leg's frame is sent. Asterisk writes each call's frames from that call's own
    # bridge thread, whose 20 ms timer started when the call did: calls arriving at random times have their
    # frames spread over the slot ("spread", 1 ms groups). "aligned" sends every leg in one burst: the worst
    # case, as if all calls had started in the same millisecond.
    groups = SLOT_GROUPS if job["arrival"] == "spread" else 1
    offsets = np.arange(len(legs)) % groups * (0.02 / groups)
    by_group = [[i for i in range(len(legs)) if offsets[i] == g * (0.02 / groups)] for g in range(groups)]
    start = time.monotonic()
    n = 0
    while time.monotonic() < start + seconds:
        n += 1
        for g, members in enumerate(by_group):
            due = start + n * 0.02 + g * (0.02 / groups)
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            for i in members:
                leg, phase = legs[i], phases[i]
                index = int(((n * 0.02 + phase) % CYCLE_S) / 0.02)
                if index < len(frames) and leg.transport is not None:
                    leg.transport.write(frames[index])
    intervals, deviations, counts = [], [], []
    for leg in legs:
        i, d = _leg_stats(leg.times, start + WARMUP_S)
        intervals.append(i)
        deviations.append(d)
        counts.append(i.size + 1)
        if leg.transport is not None:
            leg.transport.close()
    all_i = np.concatenate(intervals) * 1000
    all_d = np.concatenate(deviations) * 1000
    pipe.send(
        {
            "interval_mean": float(all_i.mean()),
            "interval_p99": float(np.percentile(all_i, 99)),
            "interval_p1": float(np.percentile(all_i, 1)),
            "grid_dev_p99": float(np.percentile(all_d, 99)),
            "grid_dev_max": float(all_d.max()),
            "frames_per_leg": float(np.mean(counts)),
        }
    )


def client_main(pipe: Connection) -> None:
    asyncio.run(_client(pipe))


# ----------------------------------------------------------------------------------------------- server side
class _NullSink:
    def emit(self, call_id: str, leg: str, event: str, **fields: Any) -> None:
        return None


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class _TimedConnection:
    """The connection as MediaLeg sees it, plus the time of every write (the sender's view of the pacing)."""

    def __init__(self, connection: MediaConnection) -> None:
        self.connection = connection
        self.times: list[float] = []

    @property
    def closed(self) -> asyncio.Event:
        return self.connection.closed

    @property
    def close_reason(self) -> str:
        return self.connection.close_reason

    def receive(self, receiver: Callable[[Audio | Dtmf], None]) -> None:
        self.connection.receive(receiver)

    def write(self, data: bytes) -> None:
        self.times.append(time.monotonic())
        self.connection.write(data)


async def _prototype_playout(timed: _TimedConnection, prompt: bytes, rate: int) -> None:
    """The prototype's loop: write, drain, sleep 20 ms (drifts by the write and wake-up time, every frame)."""
    size = frame_bytes(rate)
    writer = timed.connection._writer
    while True:
        for offset in range(0, len(prompt), size):
            timed.write(encode(Audio(prompt[offset : offset + size], rate)))
            await writer.drain()
            await asyncio.sleep(0.02)


async def _serve(n: int, mode: str, rate: int, seconds: float, arrival: str, pipe: Connection) -> dict[str, Any]:
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    silero = SileroModel()  # one network for every leg, as in the service
    # The ONNX runtime's one-off start-up (~30 MB) and the shared network are not a leg's memory.
    warm = await open_vad("silero", rate, silero=silero)
    rss0 = _rss_bytes()
    ids = [uuid.uuid4() for _ in range(n)]
    futures = [server.expect(u, f"bench-{i}", "gate") for i, u in enumerate(ids)]
    loop = asyncio.get_running_loop()
    pipe.send(
        {"port": server.port, "uuids": [u.hex for u in ids], "rate": rate, "seconds": seconds,
         "utterance": load_utterance(rate), "arrival": arrival}
    )  # fmt: skip
    connections = await asyncio.gather(*futures)
    await loop.run_in_executor(None, _receive, pipe, 120.0)  # "connected"
    prompt = (np.sin(np.arange(int(rate * PROMPT_S)) * 2 * np.pi * 440 / rate) * 3000).astype("<i2").tobytes()
    delays: list[float] = []
    legs: list[MediaLeg] = []
    tasks: list[asyncio.Task[Any]] = []

    async def consume(leg: MediaLeg) -> None:
        async for event in leg:
            if isinstance(event, UtteranceEnded):
                last_voice = event.at - event.delay_ms / 1000
                delays.append((time.monotonic() - last_voice) * 1000)

    async def speak(leg: MediaLeg) -> None:
        while not leg.closed:  # a closed leg's say() returns at once: do not spin on it
            await leg.say(prompt, protected=True)

    timed = [_TimedConnection(connection) for connection in connections]
    frame_clock = FrameClock()  # shared by every leg, as in the service
    for i, connection in enumerate(timed):
        vad = await open_vad("silero", rate, silero=silero)
        leg = MediaLeg(
            connection,
            rate,
            vad=vad,
            idle_silence=mode == "ours",
            events=_NullSink(),
            call_id=f"bench-{i}",
            leg="gate",
            frame_clock=frame_clock,
        )
        leg.start()
        legs.append(leg)
        tasks.append(asyncio.create_task(consume(leg)))
        if mode == "ours":
            tasks.append(asyncio.create_task(speak(leg)))
        else:
            tasks.append(asyncio.create_task(_prototype_playout(connection, prompt, rate)))
    pipe.send("go")
    await asyncio.sleep(WARMUP_S)
    rss1 = _rss_bytes()
    cpu0, wall0 = time.process_time(), time.monotonic()
    for connection in timed:
        connection.times.clear()
    result: dict[str, Any] = await loop.run_in_executor(None, _receive, pipe, seconds + 120.0)
    cpu1, wall1 = time.process_time(), time.monotonic()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for leg in legs:
        await leg.aclose()
    await frame_clock.aclose()
    await server.stop()
    del warm  # kept until here so that its memory is not reused by the legs' sessions
    sent_i, sent_d = zip(*(_leg_stats(c.times, wall0) for c in timed), strict=True)
    sent_intervals = np.concatenate(sent_i) * 1000
    sent_dev = np.concatenate(sent_d) * 1000
    result.update(
        sent_interval_mean=float(sent_intervals.mean()),
        sent_interval_p99=float(np.percentile(sent_intervals, 99)),
        sent_grid_dev_p99=float(np.percentile(sent_dev, 99)),
    )
    underruns = sum(leg.playout.stats.underruns for leg in legs)
    reanchors = frame_clock.stats.reanchors
    result.update(
        cpu_per_leg_pct=(cpu1 - cpu0) / (wall1 - wall0) / n * 100,
        cpu_total_pct=(cpu1 - cpu0) / (wall1 - wall0) * 100,
        mem_per_leg_kib=(rss1 - rss0) / n / 1024,
        endpointing_delay_median=statistics.median(delays) if delays else float("nan"),
        endpointing_delay_p99=float(np.percentile(delays, 99)) if delays else float("nan"),
        utterances=len(delays),
        underruns=underruns,
        reanchors=reanchors,
        loadavg_1m=os.getloadavg()[0],
    )
    return result


def _receive(pipe: Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError("the simulated Asterisk process stopped answering")
    return pipe.recv()


def server_main(job: tuple[int, str, int, float, str], pipe: Connection, results: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    results.send(asyncio.run(_serve(*job, pipe)))


def run_once(n: int, mode: str, rate: int, seconds: float, arrival: str) -> dict[str, Any]:
    """One run in two fresh processes (server, simulated Asterisk), so runs do not share memory or warm-up."""
    context = multiprocessing.get_context("spawn")  # fork after threads (executor, onnxruntime) can hang
    ours, theirs = context.Pipe()
    results_in, results_out = context.Pipe(duplex=False)
    client = context.Process(target=client_main, args=(theirs,), daemon=True)
    server = context.Process(
        target=server_main, args=((n, mode, rate, seconds + WARMUP_S, arrival), ours, results_out), daemon=True
    )
    client.start()
    server.start()
    try:
        result: dict[str, Any] = _receive(results_in, seconds + 300.0)
        return result
    finally:
        server.join(10)
        client.join(10)
        for process in (server, client):
            if process.is_alive():
                process.kill()


def machine() -> str:
    model = "unknown CPU"
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, Python {platform.python_version()}"


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--legs", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--mode", choices=("ours", "prototype", "both"), default="both")
    parser.add_argument(
        "--arrival",
        choices=("spread", "aligned"),
        default="spread",
        help="inbound frames of the N legs spread over the 20 ms slot (calls started at different times, as in "
        "production) or all in one burst (worst case)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw numbers here")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    modes = ["ours", "prototype"] if args.mode == "both" else [args.mode]
    print(
        f"machine: {machine()}; {args.rate} Hz; inbound {args.arrival}; {args.seconds:.0f} s per run; "
        f"median (min-max) of {args.repeat}"
    )
    print()
    print("| playout | N | interval mean ms | interval p99 ms | grid dev p99 ms | sent: grid dev p99 ms "
          "| CPU/leg % | mem/leg KiB | endpointing delay ms (median / p99) | underruns | load 1m |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    raw: list[dict[str, Any]] = []
    for mode in modes:
        for n in args.legs:
            runs = [run_once(n, mode, args.rate, args.seconds, args.arrival) for _ in range(args.repeat)]
            raw += [{"mode": mode, "legs": n, **run} for run in runs]

            def col(key: str, fmt: str = "{:.2f}", runs: list[dict[str, Any]] = runs) -> str:
                return _spread([float(r[key]) for r in runs], fmt)

            print(
                f"| {mode} | {n} | {col('interval_mean', '{:.3f}')} | {col('interval_p99')} "
                f"| {col('grid_dev_p99')} | {col('sent_grid_dev_p99')} | {col('cpu_per_leg_pct', '{:.3f}')} "
                f"| {col('mem_per_leg_kib', '{:.0f}')} "
                f"| {col('endpointing_delay_median', '{:.0f}')} / {col('endpointing_delay_p99', '{:.0f}')} "
                f"| {sum(r['underruns'] for r in runs)} | {col('loadavg_1m', '{:.1f}')} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
