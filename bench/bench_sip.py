"""A SIP intercom's call: what is recognised and how soon the reply is heard, G.711 against G.722 and with and
without a street-side network. Timed on the intercom's side of the real Asterisk.

    .venv/bin/python bench/bench_sip.py [--rounds 1] [--no-docs]

The concierge runs in this process on the test bed's Asterisk (Stasis app `portaria-sip`, the SIP tests'
endpoints in tests/asterisk/pjsip-test.conf); sipp is the intercom (tests/support/sip.py) and says one request
(the Kokoro call fixtures, tests/fixtures/audio) after the greeting; the RTP Asterisk sends back arrives at a
socket of this process (the intercom's ear, tests/support/rtp_listen.py). Per call:

- **recognised**: the first transcript against the fixture's text (word error rate, as bench_speech.py);
- **turn latency**: the request's last voiced 20 ms leaves the intercom (sipp's ACK time in its message log +
  the lead + the frame's place in the pcap) -> the first voiced packet of the reply reaches the ear.

Conditions: μ-law on an 8 kHz leg and G.722 on a 16 kHz leg (`PORTARIA_MEDIA_FORMAT=slin16`), each clean and
impaired (20 +- 15 ms of jitter, 2 % loss and the reordering it makes, in the send times; the adaptive jitter
buffer of `from-gate-sip` on). Writes bench/results/sip-<UTC>.json and the table in docs/sip.md (``bench_sip``
markers; ``--no-docs`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_e2e import RESULTS, machine, testbed_env  # noqa: E402

from controller.ari.client import AriError  # noqa: E402
from controller.settings import load_settings  # noqa: E402
from controller.tools.phone_timing import voiced  # noqa: E402
from controller.tools.scoring import word_error_rate  # noqa: E402
from controller.wiring import Service  # noqa: E402
from tests.fixtures.audio.make_call_fixtures import FIXTURES as TEXTS  # noqa: E402
from tests.support.calls import EventWatcher  # noqa: E402
from tests.support.rtp_listen import RtpListener  # noqa: E402
from tests.support.rtp_pcap import CODECS, Impairment  # noqa: E402
from tests.support.sip import Intercom, SipGate, open_ear  # noqa: E402
from tests.support.testbed import Testbed, read_wav, voiced_span_s  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
DOCS = ROOT / "docs" / "sip.md"
APP = "portaria-sip"
REQUESTS = ("visitor-k-entrega-101", "visitor-k-entrega-202", "visitor-k-mismatch", "visitor-k-porteiro",
            "visitor-k-autorizou", "visitor-demo")
CONDITIONS = (  # (name, codec, endpoint, media format, impaired)
    ("G.711 μ-law, 8 kHz leg", "ulaw", "sipgate-ulaw", "slin", False),
    ("G.711 μ-law, 8 kHz leg, impaired", "ulaw", "sipgate-ulaw", "slin", True),
    ("G.722, 16 kHz leg", "g722", "sipgate-g722", "slin16", False),
    ("G.722, 16 kHz leg, impaired", "g722", "sipgate-g722", "slin16", True),
)
LEAD_S = 7.0  # the greeting (about 5 s) plays out first: the request is not a barge-in
VOICED_DBFS = -40.0
PACKET_S = 0.02


def request_end_s(name: str) -> float:
    """Where the fixture's last voiced sound ends, from its start (the pcap plays it from its first packet)."""
    samples, rate = read_wav(AUDIO / f"{name}.wav")
    return voiced_span_s(samples, rate, threshold_dbfs=VOICED_DBFS)[1]


def ack_sent_wall(messages: Path) -> float:
    """When sipp sent its ACK (the pause before the pcap starts then), from its message log, as time.time()."""
    stamp = None
    for line in messages.read_text(errors="replace").splitlines():
        if line.startswith("-----"):
            stamp = line.split()[-1]
        elif line.startswith("ACK sip:") and stamp is not None:
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    raise RuntimeError(f"no ACK in {messages}")


def heard_packets(testbed: Testbed, ear: RtpListener, codec: str, work: Path) -> list[tuple[float, bool]]:
    """The audio packets the ear received, in sequence order, each (arrival, voiced), decoded by the test
    bed's Asterisk (``file convert``) as the intercom would."""
    payload_type = CODECS[codec][0]
    packets = sorted((p for p in ear.packets if p.payload_type == payload_type), key=lambda p: p.seq)
    (work / f"heard.{codec}").write_bytes(b"".join(p.payload for p in packets))
    inside = "/" + str(work.relative_to(testbed.root))
    testbed.cli(f"file convert {inside}/heard.{codec} {inside}/heard.wav")
    with wave.open(str(work / "heard.wav")) as heard:
        rate = heard.getframerate()
        samples = np.frombuffer(heard.readframes(heard.getnframes()), dtype="<i2")
    size = round(rate * PACKET_S)
    frames = (samples[i * size : (i + 1) * size].tobytes() for i in range(len(packets)))
    return [(p.at, voiced(frame, VOICED_DBFS)) for p, frame in zip(packets, frames, strict=True)]


async def one_call(
    testbed: Testbed, service: Service, condition: tuple[str, str, str, str, bool], name: str
) -> dict[str, Any]:
    _, codec, endpoint, _, impaired = condition
    watcher = EventWatcher(service)
    gate, ear = SipGate(testbed, AUDIO), await open_ear()
    loop = asyncio.get_running_loop()
    wall_to_loop = loop.time() - time.time()
    intercom = Intercom(endpoint, codec, utterance=name, lead_s=LEAD_S,
                        impairment=Impairment() if impaired else None)
    sipp = await gate.call(intercom, ear=ear)
    result: dict[str, Any] = {"fixture": name}
    try:
        start = await watcher.wait_for("stasis_start", timeout=20)
        call_id = start["call_id"]
        heard = await watcher.wait_for("transcript", call_id=call_id, timeout=60)
        result["transcript"] = heard["text"]
        result["wer"] = word_error_rate(TEXTS[name][1], heard["text"])
        await watcher.wait_for("dialog_turn", call_id=call_id, input="UtteranceHeard", timeout=30)
        await asyncio.sleep(3.0)  # the reply's first words reach the ear
        with contextlib.suppress(AriError):
            await service.ari.delete(f"channels/{start['channel']}")
        await asyncio.wait_for(sipp.communicate(), 30)
        assert gate.work is not None
        speech_start = ack_sent_wall(gate.work / "messages.log") + wall_to_loop + LEAD_S
        speech_end = speech_start + request_end_s(name)
        packets = heard_packets(testbed, ear, codec, gate.work)
        reply = next((at for at, loud in packets if loud and at > speech_start + 0.3), None)
        result["turn_s"] = None if reply is None else reply - speech_end
        result["greeting_overlapped"] = any(
            loud and speech_start - 0.2 < at < speech_start + 0.3 for at, loud in packets
        )
        if impaired and gate.sent is not None:
            result["lost"], result["reordered"] = gate.sent.lost, gate.sent.reordered
    finally:
        watcher.close()
        ear.close()
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
    return result


def summarise(calls: list[dict[str, Any]]) -> dict[str, Any]:
    turns = sorted(c["turn_s"] for c in calls if c.get("turn_s") is not None)
    wers = [c["wer"] for c in calls if "wer" in c]
    return {
        "calls": len(calls),
        "turn_p50_s": statistics.median(turns) if turns else None,
        "turn_min_s": turns[0] if turns else None,
        "turn_max_s": turns[-1] if turns else None,
        "turns": len(turns),
        "wer_mean": statistics.mean(wers) if wers else None,
        "greeting_overlapped": sum(bool(c.get("greeting_overlapped")) for c in calls),
    }


def table(results: dict[str, Any]) -> list[str]:
    lines = ["| intercom | calls | turn latency p50 (min-max) | mean WER |", "|---|---|---|---|"]
    for name, entry in results.items():
        s = entry["summary"]
        turn = "-" if s["turn_p50_s"] is None else (
            f"{s['turn_p50_s']:.2f} s ({s['turn_min_s']:.2f}-{s['turn_max_s']:.2f})"
        )
        wer = "-" if s["wer_mean"] is None else f"{s['wer_mean']:.2f}"
        lines.append(f"| {name} | {s['turns']}/{s['calls']} | {turn} | {wer} |")
    return lines


def write_docs(lines: list[str], stamp: str, info: dict[str, Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin, end = "<!-- bench_sip:begin -->", "<!-- bench_sip:end -->"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    body = [f"Run {stamp} on {info['cpu']} (nproc {info['nproc']}), `bench/bench_sip.py`:", "", *lines]
    DOCS.write_text(head + begin + "\n" + "\n".join(body) + "\n" + end + tail, encoding="utf-8")


async def run(rounds: int) -> dict[str, Any]:
    env = testbed_env()
    testbed = Testbed(root=Path(env["PORTARIA_TESTBED_ROOT"]), env=env)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for media_format in ("slin", "slin16"):
            settings = load_settings(
                ari_url=testbed.ari_url, ari_password=testbed.ari_password, ari_app=APP,
                audiosocket_bind="127.0.0.1:0", media_format=media_format,
                events_file=Path(folder) / f"events-{media_format}.jsonl",
                resource_journal=Path(folder) / f"journal-{media_format}.jsonl",
                directory=ROOT / "data" / "apartamentos.json",
            )
            service = Service(settings)
            await service.start()
            try:
                await service.wait_connected()
                warm_up = next(c for c in CONDITIONS if c[3] == media_format)
                print("warm-up", json.dumps(await one_call(testbed, service, warm_up, REQUESTS[0])), flush=True)
                for condition in (c for c in CONDITIONS if c[3] == media_format):
                    calls = []
                    for _ in range(rounds):
                        for name in REQUESTS:
                            call = await one_call(testbed, service, condition, name)
                            print(condition[0], json.dumps(call, ensure_ascii=False), flush=True)
                            calls.append(call)
                    results[condition[0]] = {"calls": calls, "summary": summarise(calls)}
            finally:
                await service.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="times each request is said per condition")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/sip.md")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"sip-{stamp}.json"
    out.write_text(json.dumps({"machine": info, "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = table(results)
    print("\n".join(lines))
    if not args.no_docs:
        write_docs(lines, stamp, info)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
