"""The test phone's call: one call placed through the real Asterisk, over ARI and AudioSocket.

The phone is an AudioSocket *server* that Asterisk dials with its AudioSocket channel driver (chan_audiosocket,
dial string ``AudioSocket/<host>:<port>/<uuid>[/c(<codec>)]``; we always ask for ``c(slin)``: without it the
channel takes the first format the originator allows, which over ARI was 192 kHz). Asterisk connects, sends the
UUID frame, and the call reaches ``from-gate`` -> ``Stasis(portaria,gate)`` like a call from the gate intercom.

Two ways to put the call through (``--via``):

- ``local`` (default): the AudioSocket channel sits in a bridge of the phone's own Stasis app
  (``portaria-phone-<id>``, its own events websocket: the concierge's app is never taken over) with one half of a
  ``Local/s@from-gate/n`` pair; the other half is the gate channel Portaria answers. Keypad digits go out with ARI
  ``POST /channels/<our half>/dtmf``; the Local pair hands them to the gate channel as digits *read* from it, so
  Portaria gets ``ChannelDtmfReceived`` exactly as from an intercom's RFC 4733 / SIP INFO DTMF.
- ``direct``: the AudioSocket channel itself is originated into ``from-gate``: simplest, but no keypad.
  chan_audiosocket accepts only audio and hangup frames from its server (a 0x03 DTMF frame hangs the channel up),
  and ``POST /channels/<id>/dtmf`` on that channel plays the digits *to* the phone, not to Portaria.

Media: we send one 20 ms frame of 8 kHz slin per deadline on an absolute clock (a WAV being said, else the
microphone, else silence, as a phone's RTP keeps flowing). What Asterisk sends is recorded at its wall-clock
position (a bridge sends nothing while nobody talks), and a hysteresis on frame energy, also on the wall clock,
tells when the concierge is speaking; the next ``--say``/``--dtmf`` step waits for it to fall silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from audiosocket.protocol import Audio, Decoder, Dtmf, Error, Frame, Hangup, ProtocolError, Uuid, encode
from controller.ari.asterisk import Asterisk
from controller.ari.client import AriClient, AriError, RawEvent
from controller.tools.phone_audio import (
    FRAME_BYTES,
    RATE,
    EnergyDetector,
    Pacer,
    PhoneError,
    Recorder,
    SoundCard,
    split_frames,
)
from controller.tools.phone_options import (
    ANSWER_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    PhoneOptions,
    PhoneReport,
    Press,
    Say,
)

FrameListener = Callable[[str, bytes, float], None]


class Phone:
    """One call from the test phone; `run()` places it, talks, hangs up and cleans up whatever it created."""

    def __init__(
        self,
        ari: AriClient,
        options: PhoneOptions,
        *,
        out: TextIO | None = None,
        sound: SoundCard | None = None,
        listener: FrameListener | None = None,
    ) -> None:
        """`listener` is told of every audio frame heard ("in") and sent ("out"), with its monotonic time."""
        self.ari = ari
        self.asterisk = Asterisk(ari)
        self.options = options
        self.out = out or sys.stdout
        self.sound = sound
        self.tag = f"phone-{uuid.uuid4().hex[:12]}"
        self.uuid = uuid.uuid4()
        self.gate_channel_id = f"{self.tag}-gate"
        """The channel that enters from-gate: the one Portaria answers."""
        self.local = options.via == "local"
        self.audio_channel_id = f"{self.tag}-audio" if self.local else self.gate_channel_id
        self.line_channel_id = f"{self.tag}-line"
        self.report = PhoneReport()
        self.listener = listener
        self.answered_at: float | None = None
        """Monotonic time the gate side answered (local mode), for timing what the caller hears from then on."""
        self.answered = asyncio.Event()
        self._t0 = time.monotonic()
        self._ended = asyncio.Event()
        self._turn_over = asyncio.Event()
        self._said = asyncio.Event()
        self._connection: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter, Decoder, list[Frame]]]
        self._writer: asyncio.StreamWriter | None = None
        self._speech: deque[bytes] = deque()
        self._detector = EnergyDetector()
        self._recorder: Recorder | None = None
        self._stasis: dict[str, asyncio.Future[RawEvent]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._bridged = False
        self._events_task: asyncio.Task[None] | None = None

    # Public ----------------------------------------------------------------------------------------------------

    def hangup(self) -> None:
        self._end("phone")

    async def say(self, pcm: bytes) -> None:
        """Say `pcm` (8 kHz slin) now, in 20 ms frames on the phone's clock; returns once the last frame is sent."""
        self._said.clear()
        self._speech.extend(split_frames(pcm))
        await self._said.wait()

    def press(self, digits: str) -> None:
        """Send keypad digits now (from stdin, or a test)."""
        self._tasks.append(asyncio.create_task(self._press(digits)))

    async def run(self) -> PhoneReport:
        loop = asyncio.get_running_loop()
        self._connection = loop.create_future()
        host, port = self.options.listen
        server = await asyncio.start_server(self._accept, host, port)
        port = server.sockets[0].getsockname()[1]
        events_stop = asyncio.Event()
        deadline = asyncio.timeout(self.options.max_seconds)
        try:
            async with deadline:
                if self.local:
                    await self._open_events(events_stop)
                await self._originate_audio(port)
                reader, writer, decoder, early = await asyncio.wait_for(self._connection, CONNECT_TIMEOUT_S)
                self._writer = writer
                self.report.connected = True
                self._log(f"connected: Asterisk dialled AudioSocket/…:{port}/{self.uuid}")
                if self.options.record is not None:
                    self._recorder = Recorder(self.options.record, time.monotonic())
                if self.sound is not None:
                    self.sound.start()
                self._spawn(self._receive(reader, decoder, early), self._send(writer), self._tick())
                if self.local:
                    await self._dial_gate()
                self._spawn(self._script())
                await self._ended.wait()
        except TimeoutError:
            if not self.report.connected:
                raise PhoneError(f"Asterisk did not connect to the phone on port {port}") from None
            if not deadline.expired():
                raise PhoneError("Asterisk did not put the call through in time") from None
            self._end("max-seconds")
        finally:
            await self._teardown(events_stop)
            server.close()
            await server.wait_closed()
        return self.report

    # Setting the call up ---------------------------------------------------------------------------------------

    def _endpoint(self, port: int) -> str:
        host = self.options.advertise or self.options.listen[0]
        host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"AudioSocket/{host}:{port}/{self.uuid}/c(slin)"

    async def _open_events(self, stop: asyncio.Event) -> None:
        connected = asyncio.Event()

        async def on_connect(_: bool) -> None:
            connected.set()

        events = self._events_task = asyncio.create_task(
            self.ari.run_events(self._on_event, on_connect=on_connect, stop=stop)
        )
        waiter = asyncio.create_task(connected.wait())
        await asyncio.wait({waiter, events}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if events.done():
            waiter.cancel()
            events.result()  # raises AriAuthError and the like
        if not waiter.done():
            waiter.cancel()
            raise PhoneError("the ARI events websocket did not connect within 10 s")

    async def _originate_audio(self, port: int) -> None:
        params: dict[str, str | int] = {"endpoint": self._endpoint(port), "channelId": self.audio_channel_id}
        if self.local:
            self._stasis[self.audio_channel_id] = asyncio.get_running_loop().create_future()
            params["app"] = self.ari.app
        else:
            o = self.options
            params.update(context=o.context, extension=o.extension, priority=1, callerId=o.caller_id)
        await self.ari.post("channels", **params)

    async def _dial_gate(self) -> None:
        """Local mode: bridge our AudioSocket channel with one half of a Local pair whose other half is the gate."""
        await asyncio.wait_for(self._stasis[self.audio_channel_id], CONNECT_TIMEOUT_S)
        await self.asterisk.create_bridge(self.tag)
        self._bridged = True
        await self.asterisk.add_to_bridge(self.tag, [self.audio_channel_id])
        answered = self._stasis[self.line_channel_id] = asyncio.get_running_loop().create_future()
        o = self.options
        await self.ari.post(
            "channels",
            endpoint=f"Local/{o.extension}@{o.context}/n",
            app=self.ari.app,
            channelId=self.line_channel_id,
            otherChannelId=self.gate_channel_id,
            callerId=o.caller_id,
            timeout=ANSWER_TIMEOUT_S,
        )
        await answered  # StasisStart of our half: the gate side was answered
        self.answered_at = time.monotonic()
        self.answered.set()
        await self.asterisk.add_to_bridge(self.tag, [self.line_channel_id])
        self._log(f"answered: gate channel {self.gate_channel_id}")

    async def _on_event(self, event: RawEvent) -> None:
        channel_id = (event.get("channel") or {}).get("id")
        waiter = self._stasis.get(channel_id or "")
        match event.get("type"):
            case "StasisStart" if waiter is not None and not waiter.done():
                waiter.set_result(event)
            case "StasisEnd" | "ChannelDestroyed" if channel_id in (self.line_channel_id, self.audio_channel_id):
                if waiter is not None and not waiter.done():
                    waiter.set_exception(
                        PhoneError(f"the call ended before it was answered (is Portaria running?): {channel_id}")
                    )
                self._end("asterisk")

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connection.done():
            writer.close()  # one call per phone
            return
        self._tasks.append(asyncio.create_task(self._handshake(reader, writer)))

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder, frames = Decoder(), list[Frame]()
        try:
            async with asyncio.timeout(5):
                while not frames:
                    data = await reader.read(4096)
                    if not data:
                        raise ConnectionError("closed before the UUID")
                    frames = decoder.feed(data)
        except (TimeoutError, ConnectionError, ProtocolError) as error:
            self._log(f"refused a connection: {error or type(error).__name__}")
            writer.close()
            return
        if frames[0] != Uuid(self.uuid):
            self._log(f"refused a connection that sent {frames[0]!r} instead of our UUID")
            writer.close()
            return
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._connection.done():
            self._connection.set_result((reader, writer, decoder, frames[1:]))

    # Talking ---------------------------------------------------------------------------------------------------

    async def _receive(self, reader: asyncio.StreamReader, decoder: Decoder, frames: list[Frame]) -> None:
        try:
            while True:
                for frame in frames:
                    self._on_frame(frame)
                data = await reader.read(4096)
                if not data:
                    break
                frames = decoder.feed(data)
        except (ConnectionError, ProtocolError) as error:
            self._log(f"connection lost: {error}")
        self._end("asterisk")

    def _on_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        match frame:
            case Audio(pcm=pcm, sample_rate=rate) if rate == RATE:
                self.report.bytes_in += len(pcm)
                if self.listener is not None:
                    self.listener("in", pcm, now)
                if self._recorder is not None:
                    self._recorder.write(pcm, now)
                if self.sound is not None:
                    self.sound.play(pcm)
                self._speaking_changed(self._detector.feed(pcm, now))
            case Audio(sample_rate=rate):
                self._log(f"ignored a {rate} Hz frame (the call was set up for {RATE} Hz)")
            case Dtmf(digit=digit):
                self._log(f"Asterisk sent DTMF {digit!r} (the concierge pressed a key, e.g. to open the gate)")
            case Hangup():
                self._end("asterisk")
            case Error(code=code):
                self._log(f"Asterisk reported AudioSocket error 0x{code:02x}")

    def _speaking_changed(self, speaking: bool | None) -> None:
        if speaking is None:
            return
        traffic = f"in {self.report.bytes_in / 1000:.1f} kB, out {self.report.bytes_out / 1000:.1f} kB"
        if speaking:
            self._log(f"concierge speaking ({traffic})")
        else:
            self._log(f"concierge silent after {self._detector.spoke_s:.2f} s of speech ({traffic})")
            self._turn_over.set()

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        pacer, loop = Pacer(), asyncio.get_running_loop()
        silence = bytes(FRAME_BYTES)
        try:
            while True:
                await asyncio.sleep(pacer.delay(loop.time()))
                if self._speech:
                    frame = self._speech.popleft()
                    if not self._speech:
                        self._said.set()
                elif self.sound is not None and not self.sound.mic.empty():
                    frame = self.sound.mic.get_nowait()
                else:
                    frame = silence
                writer.write(encode(Audio(frame, RATE)))
                if self.listener is not None:
                    self.listener("out", frame, time.monotonic())
                self.report.bytes_out += len(frame)
                await writer.drain()
        except ConnectionError:
            self._end("asterisk")

    async def _tick(self) -> None:
        last_stats = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            self._speaking_changed(self._detector.tick(now))
            if now - last_stats >= 5:
                last_stats = now
                self._log(f"in {self.report.bytes_in / 1000:.1f} kB, out {self.report.bytes_out / 1000:.1f} kB")

    async def _script(self) -> None:
        for step in self.options.steps:
            self._turn_over.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._turn_over.wait(), self.options.gap_s)
            match step:
                case Say(name=name, pcm=pcm):
                    self._log(f"saying {name} ({step.seconds:.2f} s)", step=True)
                    await self.say(pcm)
                case Press(digits=digits):
                    await self._press(digits)
        if self.options.linger_s is not None:
            await asyncio.sleep(self.options.linger_s)
            self._end("phone")

    async def _press(self, digits: str) -> None:
        if not self.local:
            self._log("no keypad with --via direct: chan_audiosocket carries no DTMF from the phone")
            return
        self._log(f"pressing {digits}", step=True)
        try:
            await self.asterisk.send_dtmf(self.line_channel_id, digits, between_ms=250, duration_ms=100)
        except AriError as error:
            self._log(f"DTMF not sent: {error}")

    # Ending ----------------------------------------------------------------------------------------------------

    def _end(self, by: str) -> None:
        if not self._ended.is_set():
            self.report.ended_by = by
            self._ended.set()

    async def _teardown(self, events_stop: asyncio.Event) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(ConnectionError):
                writer.write(encode(Hangup()))
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        channels = [self.line_channel_id, self.audio_channel_id] if self.local else [self.gate_channel_id]
        for channel_id in channels:
            with contextlib.suppress(AriError):
                await self.asterisk.hang_up(channel_id)
        if self._bridged:
            with contextlib.suppress(AriError):
                await self.asterisk.destroy_bridge(self.tag)
        events_stop.set()
        if self._events_task is not None:
            with contextlib.suppress(Exception):
                await self._events_task
        now = time.monotonic()
        if self._recorder is not None:
            self._recorder.close(now)
        if self.sound is not None:
            self.sound.close()
        self.report.seconds = now - self._t0
        self._log(
            f"hung up ({self.report.ended_by or 'error'}): in {self.report.bytes_in / 1000:.1f} kB, "
            f"out {self.report.bytes_out / 1000:.1f} kB"
        )

    def _spawn(self, *coroutines: Any) -> None:
        self._tasks.extend(asyncio.create_task(c) for c in coroutines)

    def _log(self, message: str, *, step: bool = False) -> None:
        elapsed = time.monotonic() - self._t0
        if step:
            self.report.steps.append((elapsed, message))
        print(f"[{elapsed:6.2f}s] {message}", file=self.out, flush=True)
