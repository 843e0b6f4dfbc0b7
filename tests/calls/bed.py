"""A gate call's whole world without Asterisk: the fake Asterisk, the real AudioSocket server on 127.0.0.1 port 0,
the real frame clock and media legs, phrase speech fakes behind the real CallSpeech, and the real conversation.

    async with gate_bed(tmp_path) as bed:
        call = bed.call("gate-1")           # a GateCall for a caller in Stasis, running
        gate = await bed.media(call)        # the gate leg's AudioSocket client (Asterisk's side)
        await gate.wait_heard(GREETING)
        bed.ari.caller_hangs_up("gate-1")
        await bed.ended(call)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from audiosocket.endpointing import EndpointingConfig
from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import LegConfig
from audiosocket.server import AudioSocketServer
from audiosocket.vad import Vad
from audiosocket.vad_pool import VadPool
from controller.ari.events import Channel, MalformedEvent, channel_id, parse_event
from controller.calls.deps import CallConfig, CallDeps
from controller.calls.gate_call import GateCall
from controller.conversation.dialog import DialogPolicy
from controller.conversation.events import AuditRecord
from controller.conversation.rules import RuleUnderstanding
from controller.records.audit import AuditEntry, AuditError
from controller.records.directory_file import LiveDirectory
from controller.records.gate_opener import GateContext, GateOpenError
from controller.records.store import MemoryStore
from tests.calls.fake_asterisk import FakeAsterisk, FakeAudioSocketClient, Raw
from tests.calls.fakes import EventLog, LoudnessVad, PhraseSTT, PhraseTTS, speech_engines

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "apartamentos.json"  # 101: Renata and Carlos Souza on PJSIP/101
GREETING = "Condomínio Apoena, em que posso ajudar?"
DELIVERY = ("sou o joao tenho uma entrega pra renata do cento e um",)  # clear: rung at once
GUARD_S = 15.0  # no test waits this long unless something hangs


@dataclass(eq=False)
class RunningCall:
    call: GateCall
    task: asyncio.Task[None]

    @property
    def id(self) -> str:
        return self.call.call_id


@dataclass
class Bed:
    ari: FakeAsterisk
    events: EventLog
    server: AudioSocketServer
    stt: PhraseSTT
    tts: PhraseTTS
    audit: FakeAudit
    opener: FakeOpener
    deps: CallDeps
    calls: list[RunningCall] = field(default_factory=list)
    dropped: list[Raw] = field(default_factory=list)  # raw events that did not parse

    async def route(self, raw: Raw) -> None:
        """What StasisApp does with an event of a running call: parse once, drop the malformed, deliver to the owner."""
        try:
            event = parse_event(raw)
        except MalformedEvent:
            self.dropped.append(raw)
            return
        found = channel_id(event)
        for running in self.calls:
            if found is not None and running.call.owns(found):
                running.call.deliver(event)

    def call(self, gate_channel: str = "gate-1", caller: str = "1001") -> RunningCall:
        """A caller's channel has entered Stasis: its GateCall runs from now on."""
        self.ari.caller_in_stasis(gate_channel, caller)
        call = GateCall(channel=Channel(gate_channel, "Ring", caller), deps=self.deps)
        running = RunningCall(call, asyncio.create_task(call.run(), name=f"test-call-{gate_channel}"))
        self.calls.append(running)
        return running

    async def media(self, running: RunningCall, leg: str = "gate") -> FakeAudioSocketClient:
        """The leg's AudioSocket client, once the media leg is connected."""
        async with asyncio.timeout(GUARD_S):
            await self.events.wait_for("media_connected", call_id=running.id, leg=leg)
        return self.ari.media[f"portaria-media-{running.id}-{leg}"]

    async def greeted(self, gate_channel: str = "gate-1") -> tuple[RunningCall, FakeAudioSocketClient]:
        """A caller in Stasis whose call has run up to the greeting heard on the gate leg."""
        running = self.call(gate_channel)
        gate = await self.media(running)
        async with asyncio.timeout(GUARD_S):
            await gate.wait_heard(GREETING)
        return running, gate

    async def ended(self, running: RunningCall) -> None:
        """The call has run to its end (teardown included)."""
        async with asyncio.timeout(GUARD_S):
            await running.task

    def turns(self, running: RunningCall) -> list[str]:
        return [e["input"] for e in self.events.named("dialog_turn", call_id=running.id)]

    async def turn(self, running: RunningCall, name: str, count: int = 1) -> None:
        async with asyncio.timeout(GUARD_S):
            await self.events.wait_for("dialog_turn", count, call_id=running.id, input=name)

    async def visitor_asks_for_renata(self, running: RunningCall) -> FakeAudioSocketClient:
        """The visitor phase, spoken through the media: a delivery for Renata (101); the dial follows at once."""
        gate = await self.media(running)
        async with asyncio.timeout(GUARD_S):
            await gate.wait_heard(GREETING)
            for count, words in enumerate(DELIVERY, start=1):
                await gate.speak(words)
                await self.events.wait_for("dialog_turn", count, call_id=running.id, input="UtteranceHeard")
        return gate


# Records ------------------------------------------------------------------------------------------------------


@dataclass
class FakeAudit:
    """An AuditLog keeping (record, gate_channel, resident_channel); `broken` makes every write fail."""

    written: list[tuple[AuditRecord, str | None, str | None]] = field(default_factory=list)
    places: list[tuple[str, str]] = field(default_factory=list)  # (site, gate) of each record written
    broken: bool = False

    async def write(
        self,
        record: AuditRecord,
        *,
        gate_channel: str | None = None,
        resident_channel: str | None = None,
        site: str = "",
        gate: str = "",
    ) -> None:
        if self.broken:
            raise AuditError("disk full")
        self.written.append((record, gate_channel, resident_channel))
        self.places.append((site, gate))

    async def purge(self) -> int:
        return 0

    async def query(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        return []

    async def aclose(self) -> None:
        return None


@dataclass
class FakeOpener:
    """A GateOpener recording each try; the first `failures` tries fail."""

    opened: list[GateContext] = field(default_factory=list)
    failures: int = 0

    async def open(self, context: GateContext) -> None:
        self.opened.append(context)
        if len(self.opened) <= self.failures:
            raise GateOpenError("relay did not answer")

    async def aclose(self) -> None:
        return None


def write_directory(path: Path, endpoint: str) -> Path:
    path.write_text(json.dumps([{"apartment_number": "101", "residents": ["Renata Souza"], "voip_number": endpoint}]))
    return path


async def _loudness_vad() -> Vad:
    return LoudnessVad()


@asynccontextmanager
async def gate_bed(
    directory: Path = SAMPLE,
    *,
    concierge: str = "",
    policy: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> AsyncIterator[Bed]:
    """`policy` and `config` override fields of the DialogPolicy and the CallConfig."""
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    frame_clock = FrameClock()
    vads = VadPool(_loudness_vad)
    stt, tts = PhraseSTT(), PhraseTTS()
    speech = await speech_engines(stt, tts, GREETING)
    events, audit, opener, ari = EventLog(), FakeAudit(), FakeOpener(), FakeAsterisk()
    dialog = DialogPolicy(
        greeting=GREETING,
        concierge_available=bool(concierge),
        silence_timeout_s=30,  # no reprompt unless a test asks for one
        reassure_every_s=30,
        ring_timeout_s=5,
        **(policy or {}),
    )
    call_config = CallConfig(
        app=ari.app,
        media_address=f"127.0.0.1:{server.port}",
        media_format="slin",
        leg=LegConfig(
            sample_rate=8000,
            endpointing=EndpointingConfig(silence_ms=200, early_ms=80, pre_roll_ms=40, min_speech_ms=60),
            barge_in=False,
        ),
        policy=dialog,
        concierge_endpoint=concierge,
        setup_timeout_s=3.0,
        end_grace_s=5.0,
    )
    call_config = replace(call_config, **(config or {}))
    deps = CallDeps(
        ari=ari,
        media=server,
        events=events,
        config=call_config,
        speech=speech,
        directory=LiveDirectory(directory),
        store=MemoryStore(60),
        vads=vads,
        understanding=RuleUnderstanding(),
        audit=audit,
        opener=opener,
        frame_clock=frame_clock,
    )
    bed = Bed(ari, events, server, stt, tts, audit, opener, deps)
    ari.start(bed.route)
    try:
        yield bed
    finally:
        for running in bed.calls:
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running.task
        await ari.aclose()
        await server.stop()
        await frame_clock.aclose()
        await vads.aclose()
        speech.close()
