"""One gate call: the ARI call control around the visitor's leg.

The call owns everything it creates (a mixing bridge, an externalMedia channel, its AudioSocket connection)
and removes all of it when it ends, whatever the reason. Events for its channels arrive, in Asterisk's order,
on its own queue (filled by :class:`controller.app.StasisApp`).

Sequence::

    StasisStart(gate) -> answer -> create bridge -> expect UUID -> POST externalMedia
      -> wait StasisStart(externalMedia) -> add both to bridge  [event "bridged", ms since StasisStart]
      -> AudioSocket connects -> greeting plays -> caller audio is received until the caller hangs up
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import webrtcvad

from audiosocket.playout import Playout
from audiosocket.protocol import Audio, Dtmf
from audiosocket.server import AudioSocketServer, MediaConnection
from controller.ari import AriClient, AriConflict, AriError, Event
from controller.events import EventSink

log = logging.getLogger(__name__)

GATE = "gate"
END_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})


@dataclass(frozen=True, slots=True)
class CallConfig:
    app: str
    media_address: str
    media_format: str
    sample_rate: int
    setup_timeout_s: float = 5.0


@dataclass(slots=True)
class CallDeps:
    ari: AriClient
    media: AudioSocketServer
    events: EventSink
    config: CallConfig
    prompts: dict[str, bytes]
    clock: Callable[[], float] = time.monotonic


@dataclass(slots=True)
class _Waiter:
    predicate: Callable[[Event], bool]
    future: asyncio.Future[Event]


@dataclass(eq=False)
class GateCall:
    """Runs one gate call from StasisStart to teardown. `deliver()` feeds it ARI events in order."""

    channel: dict[str, Any]
    deps: CallDeps
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    owned_channels: set[str] = field(default_factory=set)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    return_to_dialplan: bool = False
    _waiters: list[_Waiter] = field(default_factory=list)
    _bridge_id: str | None = None

    @property
    def gate_channel_id(self) -> str:
        return str(self.channel["id"])

    def owns(self, channel_id: str) -> bool:
        return channel_id == self.gate_channel_id or channel_id in self.owned_channels

    def deliver(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def emit(self, event: str, leg: str = GATE, **fields: Any) -> None:
        self.deps.events.emit(self.call_id, leg, event, **fields)

    async def run(self) -> None:
        started = self.deps.clock()
        caller = self.channel.get("caller", {})
        self.emit("stasis_start", channel=self.gate_channel_id, caller=caller.get("number", ""))
        pump = asyncio.create_task(self._pump_events(), name=f"call-{self.call_id}-events")
        connection: MediaConnection | None = None
        media_id = uuid.uuid4()
        try:
            connection = await self._setup(started, media_id)
            await self._converse(connection)
        except AriError as error:
            self.emit("error", stage="call_control", status=error.status, message=str(error))
            log.warning("call %s: %s", self.call_id, error)
        except TimeoutError as error:
            self.emit("error", stage="call_setup", message=f"timed out: {error}")
        finally:
            self.deps.media.forget(media_id)
            if connection is not None:
                connection.close("call ended")
            await self._teardown()
            pump.cancel()
            self.emit("call_end", duration_ms=round((self.deps.clock() - started) * 1000))

    async def _setup(self, started: float, media_id: uuid.UUID) -> MediaConnection:
        ari, config = self.deps.ari, self.deps.config
        await ari.post(f"channels/{self.gate_channel_id}/answer")
        self.emit("answered", ms=_ms_since(started, self.deps.clock))
        bridge_id = f"portaria-{self.call_id}"
        await ari.post("bridges", type="mixing", bridgeId=bridge_id, name=bridge_id)
        self._bridge_id = bridge_id
        connected = self.deps.media.expect(media_id, self.call_id, GATE)
        media_channel = f"portaria-media-{self.call_id}"
        self.owned_channels.add(media_channel)
        media_started = self._wait_for(
            lambda event: event["type"] == "StasisStart" and event["channel"]["id"] == media_channel
        )
        await ari.post(
            "channels/externalMedia",
            app=config.app,
            channelId=media_channel,
            external_host=config.media_address,
            encapsulation="audiosocket",
            transport="tcp",
            format=config.media_format,
            data=str(media_id),
        )
        await asyncio.wait_for(media_started, config.setup_timeout_s)
        await self._add_to_bridge(bridge_id, [self.gate_channel_id, media_channel])
        self.emit("bridged", ms=_ms_since(started, self.deps.clock), bridge=bridge_id)
        connection = await asyncio.wait_for(connected, config.setup_timeout_s)
        self.emit("media_connected", ms=_ms_since(started, self.deps.clock), format=config.media_format)
        return connection

    async def _add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        # Asterisk answers 422 if a channel is not yet fully in Stasis; one short retry covers that race.
        for attempt in range(3):
            try:
                await self.deps.ari.post(f"bridges/{bridge_id}/addChannel", channel=",".join(channels))
                return
            except AriConflict:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _converse(self, connection: MediaConnection) -> None:
        """Skeleton conversation: play the greeting and receive the caller's audio until hangup."""
        rate = self.deps.config.sample_rate
        playout = Playout(connection.write, rate)
        listener = asyncio.create_task(self._listen(connection, rate))
        try:
            greeting = self.deps.prompts.get("greeting", b"")
            self.emit("say", text_key="greeting", audio_ms=len(greeting) * 500 // rate)
            result = await playout.play(greeting)
            self.emit("playout_done", played_ms=result.played_ms, interrupted=result.interrupted)
            hangup = asyncio.create_task(self.hung_up.wait())
            closed = asyncio.create_task(connection.closed.wait())
            await asyncio.wait({hangup, closed}, return_when=asyncio.FIRST_COMPLETED)
            hangup.cancel()
            closed.cancel()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self, connection: MediaConnection, rate: int) -> None:
        vad = webrtcvad.Vad(2)
        frames = voiced = 0
        speaking = False
        try:
            async for item in connection.frames():
                match item:
                    case Dtmf(digit):
                        self.emit("dtmf", digit=digit, via="audiosocket")
                    case Audio(pcm, sample_rate) if len(pcm) in (320, 640, 960):
                        if frames == 0:
                            self.emit("audio_first_frame", sample_rate=sample_rate, bytes=len(pcm))
                        frames += 1
                        if vad.is_speech(pcm, sample_rate):
                            voiced += 1
                            if not speaking and voiced >= 5:
                                speaking = True
                                self.emit("speech_detected", frames=frames)
                    case Audio():
                        frames += 1
        finally:
            self.emit("audio_in", frames=frames, voiced_frames=voiced, sample_rate=rate)

    async def _pump_events(self) -> None:
        while True:
            event = await self.queue.get()
            channel_id = event.get("channel", {}).get("id")
            if event["type"] == "ChannelDtmfReceived" and channel_id == self.gate_channel_id:
                self.emit("dtmf", digit=event.get("digit", ""), via="ari")
            if event["type"] in END_EVENTS and channel_id == self.gate_channel_id and not self.hung_up.is_set():
                self.emit("hangup", cause=event.get("cause", event.get("channel", {}).get("state", "")))
                self.hung_up.set()
            for waiter in list(self._waiters):
                if not waiter.future.done() and waiter.predicate(event):
                    waiter.future.set_result(event)
                    self._waiters.remove(waiter)

    def _wait_for(self, predicate: Callable[[Event], bool]) -> asyncio.Future[Event]:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(predicate, future))
        return future

    async def _teardown(self) -> None:
        ari = self.deps.ari
        for channel_id in sorted(self.owned_channels):
            await _quietly(ari.delete_quietly(f"channels/{channel_id}"))
        if self._bridge_id is not None:
            await _quietly(ari.delete_quietly(f"bridges/{self._bridge_id}"))
        if not self.hung_up.is_set():
            if self.return_to_dialplan:
                await _quietly(ari.post(f"channels/{self.gate_channel_id}/continue"))
                self.emit("returned_to_dialplan")
            else:
                await _quietly(ari.delete_quietly(f"channels/{self.gate_channel_id}"))


async def _quietly(request: Any) -> None:
    """Teardown must go on even if Asterisk is unreachable: log and continue."""
    try:
        await request
    except AriError as error:
        log.warning("teardown: %s", error)


def _ms_since(start: float, clock: Callable[[], float]) -> float:
    return round((clock() - start) * 1000, 1)
