"""`python -m controller phone`: a test phone that speaks AudioSocket, through the real Asterisk.

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

import argparse
import asyncio
import contextlib
import importlib
import math
import signal
import socket
import sys
import threading
import time
import uuid
import wave
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import soxr

from audiosocket.protocol import Audio, Decoder, Dtmf, Error, Frame, Hangup, ProtocolError, Uuid, encode, frame_bytes
from controller.ari import AriClient, AriError, Event
from controller.settings import Settings, SettingsError, load_settings

RATE = 8000
FRAME_S = 0.02
FRAME_BYTES = frame_bytes(RATE)
DTMF_DIGITS = frozenset("0123456789*#ABCD")
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 30


class PhoneError(Exception):
    """Something the person running the phone must fix; reported in one line."""


# Audio ---------------------------------------------------------------------------------------------------------


def load_wav(path: Path, rate: int = RATE) -> bytes:
    """A PCM WAV file (8/16/24/32-bit, any rate, any channels) as signed 16-bit mono at `rate`."""
    try:
        with wave.open(str(path), "rb") as handle:
            width, channels, source_rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            raw = handle.readframes(handle.getnframes())
    except FileNotFoundError:
        raise PhoneError(f"{path}: no such file") from None
    except (wave.Error, EOFError) as error:
        raise PhoneError(f"{path}: not a PCM WAV file ({error or 'truncated'})") from None
    except OSError as error:
        raise PhoneError(f"{path}: {error.strerror or error}") from None
    samples = _to_float(raw, width, path)
    mono = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if mono.size == 0:
        raise PhoneError(f"{path}: no audio in the file")
    if source_rate != rate:
        mono = np.asarray(soxr.resample(mono, source_rate, rate, quality="HQ"), dtype=np.float32)
    return bytes(np.clip((mono * 32768).round(), -32768, 32767).astype("<i2").tobytes())


def _to_float(raw: bytes, width: int, path: Path) -> np.ndarray:
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    if width == 3:  # 24-bit: each sample into the top three bytes of an int32
        padded = np.zeros((len(raw) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(raw, np.uint8)[: len(padded) * 3].reshape(-1, 3)
        raw, width = padded.tobytes(), 4
    if width in (2, 4):
        samples: np.ndarray = np.frombuffer(raw, f"<i{width}").astype(np.float32) / 2 ** (8 * width - 1)
        return samples
    raise PhoneError(f"{path}: unsupported sample width of {width} bytes")


def split_frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """20 ms frames; the last one is padded with silence."""
    return [pcm[i : i + size].ljust(size, b"\0") for i in range(0, len(pcm), size)]


def dbfs(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    return 20 * math.log10(max(math.sqrt(float(np.mean(samples**2))) / 32768, 1e-10))


class Pacer:
    """Frame n is due at start + n * period, on an absolute clock: a late wake-up shortens the next wait instead
    of shifting every later frame. After a stall longer than `max_lag` (a suspended laptop) it re-anchors rather
    than bursting the backlog at Asterisk, which would play it as a speed-up."""

    def __init__(self, period: float = FRAME_S, *, max_lag: float = 0.2) -> None:
        self.period = period
        self.max_lag = max_lag
        self._due: float | None = None

    def delay(self, now: float) -> float:
        """Seconds to wait before sending the next frame (0 when it is already due)."""
        if self._due is None or now - self._due > self.max_lag:
            self._due = now
        wait = max(0.0, self._due - now)
        self._due += self.period
        return wait


class EnergyDetector:
    """Speaking as soon as a frame is louder than `threshold_dbfs`; silent after `hold_s` of wall clock without
    one (a bridge sends no frames while nobody talks, so silence is a matter of time, not of silent frames)."""

    def __init__(self, threshold_dbfs: float = -45.0, hold_s: float = 0.6) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.hold_s = hold_s
        self.speaking = False
        self.since = 0.0
        self.spoke_s = 0.0
        """How long the last speech lasted, from its first to its last loud frame."""
        self._last_loud = -math.inf

    def feed(self, pcm: bytes, now: float) -> bool | None:
        """The new state if this frame changed it, else None."""
        if dbfs(pcm) > self.threshold_dbfs:
            self._last_loud = now
            if not self.speaking:
                self.speaking, self.since = True, now
                return True
            return None
        return self.tick(now)

    def tick(self, now: float) -> bool | None:
        if self.speaking and now - self._last_loud >= self.hold_s:
            self.spoke_s = self._last_loud + FRAME_S - self.since
            self.speaking, self.since = False, now
            return False
        return None


class Recorder:
    """What the phone hears, as a WAV at wall-clock positions: a gap where Asterisk sent nothing becomes silence."""

    def __init__(self, path: Path, start: float, rate: int = RATE) -> None:
        self.path = path
        self.rate = rate
        self.start = start
        self.samples = 0
        self._file = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(rate)

    def write(self, pcm: bytes, now: float) -> None:
        self._pad_to(now - len(pcm) / 2 / self.rate)
        self._file.writeframes(pcm)
        self.samples += len(pcm) // 2

    def close(self, now: float) -> None:
        self._pad_to(now)
        self._file.close()

    def _pad_to(self, when: float) -> None:
        missing = int((when - self.start) * self.rate) - self.samples
        if missing > 2 * self.rate * FRAME_S:  # more than two frames late: Asterisk sent nothing meanwhile
            self._file.writeframes(bytes(2 * missing))
            self.samples += missing


class SoundCard:
    """A headset through the optional sounddevice package: microphone frames into `mic`, received audio out."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            sd: Any = importlib.import_module("sounddevice")
        except (ImportError, OSError):
            raise PhoneError(
                "--mic needs the sounddevice package: pip install sounddevice (and PortAudio: apt-get install "
                "libportaudio2)"
            ) from None
        self.mic: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
        self._speaker = bytearray()
        self._lock = threading.Lock()

        def offer(pcm: bytes) -> None:
            if self.mic.full():
                self.mic.get_nowait()  # the sound card's clock runs a little fast: drop, never build latency
            self.mic.put_nowait(pcm)

        def callback(indata: Any, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
            loop.call_soon_threadsafe(offer, bytes(indata))
            size = len(outdata)
            with self._lock:
                chunk = bytes(self._speaker[:size])
                del self._speaker[:size]
            outdata[:] = chunk.ljust(size, b"\0")

        try:
            self._stream = sd.RawStream(
                samplerate=RATE, blocksize=RATE // 50, channels=1, dtype="int16", callback=callback
            )
        except Exception as error:  # PortAudioError: no device, or it refuses 8 kHz mono
            raise PhoneError(f"cannot open the sound device: {error}") from None

    def start(self) -> None:
        self._stream.start()

    def play(self, pcm: bytes) -> None:
        with self._lock:
            self._speaker += pcm
            excess = len(self._speaker) - RATE  # keep at most 0.5 s queued for the speaker
            if excess > 0:
                del self._speaker[:excess]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
            self._stream.close()


# The call ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    name: str
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


@dataclass(frozen=True, slots=True)
class Press:
    digits: str


Step = Say | Press


@dataclass(frozen=True)
class PhoneOptions:
    steps: tuple[Step, ...] = ()
    listen: tuple[str, int] = ("127.0.0.1", 0)
    advertise: str = ""
    """Host Asterisk dials to reach the phone; by default the listen host (loopback for a wildcard)."""
    via: str = "local"
    context: str = "from-gate"
    extension: str = "s"
    caller_id: str = "Telefone de teste <2000>"
    gap_s: float = 8.0
    max_seconds: float = 60.0
    linger_s: float | None = None
    """Hang up this long after the last step; None keeps listening until max_seconds."""
    record: Path | None = None


@dataclass
class PhoneReport:
    connected: bool = False
    ended_by: str = ""
    seconds: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    steps: list[tuple[float, str]] = field(default_factory=list)
    """(seconds since the phone started, what it did)."""


class Phone:
    """One call from the test phone; `run()` places it, talks, hangs up and cleans up whatever it created."""

    def __init__(
        self, ari: AriClient, options: PhoneOptions, *, out: TextIO | None = None, sound: SoundCard | None = None
    ) -> None:
        self.ari = ari
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
        self._t0 = time.monotonic()
        self._ended = asyncio.Event()
        self._turn_over = asyncio.Event()
        self._said = asyncio.Event()
        self._connection: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter, Decoder, list[Frame]]]
        self._writer: asyncio.StreamWriter | None = None
        self._speech: deque[bytes] = deque()
        self._detector = EnergyDetector()
        self._recorder: Recorder | None = None
        self._stasis: dict[str, asyncio.Future[Event]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._bridged = False
        self._events_task: asyncio.Task[None] | None = None

    # Public ----------------------------------------------------------------------------------------------------

    def hangup(self) -> None:
        self._end("phone")

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
        await self.ari.post("bridges", type="mixing", bridgeId=self.tag, name=self.tag)
        self._bridged = True
        await self.ari.post(f"bridges/{self.tag}/addChannel", channel=self.audio_channel_id)
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
        await self.ari.post(f"bridges/{self.tag}/addChannel", channel=self.line_channel_id)
        self._log(f"answered: gate channel {self.gate_channel_id}")

    async def _on_event(self, event: Event) -> None:
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
                    self._said.clear()
                    self._speech.extend(split_frames(pcm))
                    await self._said.wait()
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
            await self.ari.post(f"channels/{self.line_channel_id}/dtmf", dtmf=digits, between=250, duration=100)
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
                await self.ari.delete_quietly(f"channels/{channel_id}")
        if self._bridged:
            with contextlib.suppress(AriError):
                await self.ari.delete_quietly(f"bridges/{self.tag}")
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


# Command line --------------------------------------------------------------------------------------------------


def _digits(value: str) -> tuple[str, str]:
    if not value or set(value) - DTMF_DIGITS:
        raise argparse.ArgumentTypeError(f"{value!r}: DTMF digits are 0-9, *, #, A-D")
    return ("dtmf", value)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected host:port, e.g. 127.0.0.1:0")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m controller phone",
        description="Call the concierge through Asterisk from a test phone that speaks AudioSocket "
        "(see docs/phone.md). Digits typed on stdin followed by Enter are pressed on the keypad; q hangs up.",
    )
    steps = parser.add_argument_group("what the phone does, in the order given")
    steps.add_argument(
        "--say",
        dest="steps",
        action="append",
        type=lambda v: ("say", v),
        metavar="FILE.wav",
        help="say a WAV file once the concierge is silent (any PCM WAV; resampled to 8 kHz)",
    )
    steps.add_argument(
        "--dtmf",
        dest="steps",
        action="append",
        type=_digits,
        metavar="DIGITS",
        help="press keypad digits once the concierge is silent, e.g. 101#",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=8.0,
        metavar="S",
        help="do the next step after S seconds even if the concierge has not finished (8)",
    )
    parser.add_argument("--mic", action="store_true", help="talk and listen with a headset (needs sounddevice)")
    parser.add_argument("--record", type=Path, metavar="OUT.wav", help="record what the phone hears")
    parser.add_argument("--max-seconds", type=float, default=60.0, metavar="S", help="hang up after S seconds (60)")
    parser.add_argument("--linger", type=float, metavar="S", help="hang up S seconds after the last step")
    parser.add_argument(
        "--listen",
        type=_host_port,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where the phone's AudioSocket server listens (127.0.0.1:0: loopback, any port)",
    )
    parser.add_argument("--advertise", default="", metavar="HOST", help="address Asterisk dials (the listen host)")
    parser.add_argument(
        "--via",
        choices=("local", "direct"),
        default="local",
        help="local: through a Local channel, keypad works (default); direct: the AudioSocket "
        "channel enters the dialplan itself, no keypad",
    )
    parser.add_argument("--context", default="from-gate", help="dialplan context of the gate (from-gate)")
    parser.add_argument("--extension", default="s", help="extension in that context (s)")
    parser.add_argument("--caller-id", default="Telefone de teste <2000>", help="caller ID the concierge sees")
    return parser


def parse_options(argv: list[str]) -> tuple[PhoneOptions, bool]:
    """(options, use the microphone). Raises SystemExit on usage errors and PhoneError on unreadable WAVs."""
    args = build_parser().parse_args(argv)
    if args.max_seconds <= 0 or args.gap < 0 or (args.linger is not None and args.linger < 0):
        raise PhoneError("--max-seconds must be positive, --gap and --linger not negative")
    steps: list[Step] = []
    for kind, value in args.steps or []:
        steps.append(Say(Path(value).name, load_wav(Path(value))) if kind == "say" else Press(value))
    if args.via == "direct" and any(isinstance(step, Press) for step in steps):
        raise PhoneError("--dtmf needs --via local: chan_audiosocket carries no DTMF from the phone to Asterisk")
    options = PhoneOptions(
        steps=tuple(steps),
        listen=args.listen,
        advertise=args.advertise,
        via=args.via,
        context=args.context,
        extension=args.extension,
        caller_id=args.caller_id,
        gap_s=args.gap,
        max_seconds=args.max_seconds,
        linger_s=args.linger,
        record=args.record,
    )
    return options, bool(args.mic)


async def run_phone(
    argv: list[str], *, settings: Settings | None = None, out: TextIO | None = None, interactive: bool | None = None
) -> int:
    """The command: 0 after a call, 1 if the call could not be made, 2 on a usage or settings error.
    `interactive` (default: stdin is a terminal) reads keypad digits from stdin and hangs up on Ctrl-C."""
    try:
        options, mic = parse_options(argv)
        settings = settings or load_settings()
        password = settings.require_ari().get_secret_value()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except (PhoneError, SettingsError) as error:
        print(f"phone: {error}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    try:
        sound = SoundCard(loop) if mic else None
    except PhoneError as error:
        print(f"phone: {error}", file=sys.stderr)
        return 2
    app = f"portaria-phone-{uuid.uuid4().hex[:8]}"
    interactive = sys.stdin.isatty() if interactive is None else interactive
    async with AriClient(settings.ari_base, settings.ari_user, password, app, timeout=settings.ari_timeout_s) as ari:
        phone = Phone(ari, options, out=out, sound=sound)
        if interactive:
            _attach_terminal(loop, phone)
        try:
            report = await phone.run()
        except (PhoneError, AriError) as error:
            print(f"phone: {error}", file=sys.stderr)
            return 1
        finally:
            if interactive:
                _detach_terminal(loop)
    return 0 if report.connected else 1


def _attach_terminal(loop: asyncio.AbstractEventLoop, phone: Phone) -> None:
    def on_line() -> None:
        line = sys.stdin.readline()
        command = line.strip().replace(" ", "")
        if not line or command.lower() in ("q", "quit"):
            phone.hangup()
        elif command and not set(command) - DTMF_DIGITS:
            phone.press(command)
        elif command:
            print(f"not DTMF: {command!r} (0-9 * # A-D, or q to hang up)", file=phone.out, flush=True)

    loop.add_reader(sys.stdin.fileno(), on_line)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, phone.hangup)


def _detach_terminal(loop: asyncio.AbstractEventLoop) -> None:
    loop.remove_reader(sys.stdin.fileno())
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)


def main(argv: list[str]) -> int:
    return asyncio.run(run_phone(argv))
