"""`python -m controller demo`: one simulated gate call end to end on the embedded defaults.

Needs the test bed's Asterisk (the `./portaria demo` command provisions and starts it). A simulated visitor
calls the gate, listens to the greeting, says it has a delivery for apartment 101 and types 101# on the keypad
(Whisper base rarely gets a number right from the synthetic voices the fixtures use; keypad digits are exact);
every per-call event is printed as it happens. The concierge then asks whom the delivery is for: the simulated
visitor says nothing more, and the demo hangs up after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from controller.settings import load_settings
from controller.tools.simulator import SimulatedVisitor, call_gate
from controller.wiring import Service


def _describe(event: dict[str, Any]) -> str:
    name = event["event"]
    details = {k: v for k, v in event.items() if k not in ("call_id", "leg", "event", "mono", "ts")}
    if name == "say" and "text" in details:
        return f"Portaria: «{details['text']}»"
    if name == "transcript":
        return f"Visitante (reconhecido): «{details.get('text', '')}»"
    return f"{name} {json.dumps(details, ensure_ascii=False)}" if details else name


async def run_demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller demo", description=__doc__)
    parser.add_argument("--utterance", default="visitor-entrega-101", help="WAV in tests/fixtures/audio to say")
    parser.add_argument("--lead", type=int, default=3, help="seconds the visitor listens before speaking")
    parser.add_argument(
        "--dtmf",
        default="101#",
        help="digits the visitor presses after speaking (the apartment on the keypad; '' for none)",
    )
    parser.add_argument("--max-seconds", type=float, default=30.0, help="hang up after this long")
    args = parser.parse_args(argv)

    service = Service(load_settings())
    await service.start()
    ended = asyncio.Event()
    start = time.monotonic()

    def show(event: dict[str, Any]) -> None:
        print(f"[{time.monotonic() - start:6.2f}s] {event['leg']:>8} {_describe(event)}", flush=True)
        if event["event"] == "call_end":
            ended.set()

    service.events.subscribe(show)
    try:
        await service.wait_connected()
        visitor = SimulatedVisitor(args.utterance, f"demo-{int(time.time())}", lead_s=args.lead, dtmf=args.dtmf)
        channel = await call_gate(service.ari, visitor)
        try:
            await asyncio.wait_for(ended.wait(), args.max_seconds)
        except TimeoutError:
            print(f"demo: hanging up after {args.max_seconds:.0f} s", flush=True)
            await service.asterisk.hang_up(channel["id"])
            await asyncio.wait_for(ended.wait(), 10)
    finally:
        await service.stop()
    return 0
