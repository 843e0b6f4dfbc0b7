"""A fake Asterisk with the methods of :class:`controller.ari.asterisk.Asterisk` (it is an ``AsteriskOps``).

It records every request in order, keeps the channels and bridges that exist, and answers the way ARI does: the
raw JSON events a request causes go, in order and asynchronously (as over the events websocket), to a listener
(the test's router, or the real :class:`~controller.calls.stasis.StasisApp`). An ``externalMedia`` request makes a
:class:`FakeAudioSocketClient` dial the real AudioSocket server, as Asterisk would.

Scripting: `endpoints` says how each dialled endpoint behaves (:class:`Ring`); :meth:`fail` makes a method raise an
AriError; :meth:`after` runs a coroutine when a method has done its work, before it returns (a race on cue).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from audiosocket.protocol import Audio, Decoder, Dtmf, Uuid, encode
from controller.ari.client import AriConflict, AriError, AriNotFound
from tests.calls.fakes import FRAME_BYTES, PHRASES, RATE

Raw = dict[str, Any]
Listener = Callable[[Raw], Awaitable[None]]
CAUSE_NORMAL = 16


@dataclass(frozen=True)
class Ring:
    """How a dialled endpoint behaves, `after_s` after the originate."""

    outcome: Literal["answer", "busy", "noanswer", "reject", "silent"] = "answer"  # silent: the test says
    after_s: float = 0.0


@dataclass
class FakeChannel:
    id: str
    state: str = "Up"
    caller: str = ""
    in_stasis: bool = True
    ours: bool = True  # created by a request (originate, externalMedia), not by a caller dialling in


@dataclass(frozen=True)
class Request:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class FakeAudioSocketClient:
    """Asterisk's end of one externalMedia channel: dials our server, sends its UUID, keeps every non-silent frame
    it hears, and sends paced 20 ms frames when the test makes the caller speak."""

    def __init__(self, channel_id: str, connection_id: str, address: str) -> None:
        self.channel_id = channel_id
        self.connection_id = uuid.UUID(connection_id)
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.heard = bytearray()
        self.frames_in = 0
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        try:
            reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._writer.write(encode(Uuid(self.connection_id)))
            self.connected.set()
            decoder = Decoder()
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    if isinstance(frame, Audio):
                        self.frames_in += 1
                        if any(frame.pcm):
                            self.heard += frame.pcm
                            self._changed.set()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            self._changed.set()
            self.close()

    def texts(self) -> list[str]:
        """What the caller heard, as phrases in order."""
        return PHRASES.texts(bytes(self.heard))

    async def wait_heard(self, text: str) -> None:
        while text not in self.texts():
            if self.closed.is_set():
                raise AssertionError(f"media closed before {text!r} was heard; heard {self.texts()}")
            self._changed.clear()
            await self._changed.wait()

    async def speak(self, text: str, ms: int = 200) -> None:
        """The caller says `text`, then is silent (nothing is sent, as Asterisk sends nothing in silence).

        The 20 ms frames go in one burst: endpointing counts audio by its length and silence from the last frame,
        so this is a turn like any other, and a busy test machine cannot split it with a late frame."""
        await self.connected.wait()
        pcm = PHRASES.pcm(text, ms)
        frames = (
            encode(Audio(pcm[i : i + FRAME_BYTES], RATE), as_asterisk=True) for i in range(0, len(pcm), FRAME_BYTES)
        )
        self._send(b"".join(frames))

    def press(self, digit: str) -> None:
        """The copy of a keypad digit the bridge forwards to the AudioSocket (the call takes digits from ARI)."""
        self._send(encode(Dtmf(digit), as_asterisk=True))

    def _send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()


class FakeAsterisk:
    def __init__(self, app: str = "portaria") -> None:
        self._app = app
        self.requests: list[Request] = []
        self.live_channels: dict[str, FakeChannel] = {}
        self.live_bridges: dict[str, list[str]] = {}
        self.endpoints: dict[str, Ring] = {}
        self.connect_media = True
        self.media_stasis_start = True  # False: an externalMedia channel's StasisStart is lost (a websocket gap)
        self.media: dict[str, FakeAudioSocketClient] = {}  # by externalMedia channel id
        self.listener: Listener | None = None
        self._failures: list[tuple[str, Callable[..., bool], AriError]] = []
        self._after: dict[str, Callable[..., Awaitable[None]]] = {}
        self._outbox: asyncio.Queue[Raw] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None

    # Test side ---------------------------------------------------------------------------------------------------

    def start(self, listener: Listener) -> None:
        self.listener = listener
        self._pump = asyncio.create_task(self._deliver())

    async def aclose(self) -> None:
        for client in self.media.values():
            client.close()
        tasks = [*self._tasks, *([self._pump] if self._pump else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drained(self) -> None:
        """Every event emitted so far has been handed to the listener."""
        await self._outbox.join()

    def fail(self, method: str, status: int = 500, *, when: Callable[..., bool] = lambda *a, **k: True) -> None:
        """`method` raises AriError(status) from now on, for the calls `when(*args, **kwargs)` accepts."""
        error_type = AriNotFound if status == 404 else AriConflict if status in (409, 422) else AriError
        self._failures.append((method, when, error_type(status, "POST", method, "scripted failure")))

    def after(self, method: str, hook: Callable[..., Awaitable[None]]) -> None:
        """Run `hook(*args)` once, when `method` has done its work and before it returns."""
        self._after[method] = hook

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [request.args for request in self.requests if request.method == method]

    def methods(self) -> list[str]:
        return [request.method for request in self.requests]

    def leftovers(self) -> tuple[list[str], list[str]]:
        """Channels created by requests that still exist, and bridges that still exist."""
        return sorted(c.id for c in self.live_channels.values() if c.ours), sorted(self.live_bridges)

    def caller_dials_in(self, channel_id: str, caller: str = "1001", args: tuple[str, ...] = ("gate",)) -> None:
        """A call enters our app from the dialplan (Stasis(portaria,gate))."""
        self.caller_in_stasis(channel_id, caller)
        self.emit("StasisStart", channel_id, args=list(args))

    def caller_in_stasis(self, channel_id: str, caller: str = "1001") -> None:
        """A caller's channel exists and is in our app (its StasisStart already handled)."""
        self.live_channels[channel_id] = FakeChannel(channel_id, "Ring", caller, ours=False)

    def caller_presses(self, channel_id: str, digit: str) -> None:
        self.emit("ChannelDtmfReceived", channel_id, digit=digit, duration_ms=120)

    def caller_hangs_up(self, channel_id: str) -> None:
        self.emit("ChannelHangupRequest", channel_id, cause=CAUSE_NORMAL)
        self._end(channel_id, CAUSE_NORMAL)

    def emit(self, kind: str, channel_id: str | None = None, **fields: Any) -> None:
        raw: Raw = {"type": kind, "application": self._app, **fields}
        if channel_id is not None:
            channel = self.live_channels.get(channel_id) or FakeChannel(channel_id)
            raw["channel"] = {"id": channel.id, "state": channel.state, "caller": {"number": channel.caller}}
        self._outbox.put_nowait(raw)

    def emit_raw(self, raw: Raw) -> None:
        self._outbox.put_nowait(raw)

    # Asterisk's methods ----------------------------------------------------------------------------------------

    @property
    def app(self) -> str:
        return self._app

    async def answer(self, channel_id: str) -> None:
        await self._request("answer", channel_id)
        self._channel(channel_id).state = "Up"
        await self._done("answer", channel_id)

    async def ring(self, channel_id: str) -> None:
        await self._request("ring", channel_id)
        self._channel(channel_id)

    async def hang_up(self, channel_id: str) -> bool:
        await self._request("hang_up", channel_id)
        if channel_id not in self.live_channels:
            return False
        self._end(channel_id, CAUSE_NORMAL)
        await self._done("hang_up", channel_id)
        return True

    async def channel(self, channel_id: str) -> dict[str, Any]:
        await self._request("channel", channel_id)
        found = self._channel(channel_id)
        return {"id": found.id, "state": found.state}

    async def channels(self) -> list[dict[str, Any]]:
        await self._request("channels")
        return [
            {"id": c.id, "state": c.state, "caller": {"number": c.caller}, "dialplan": self._dialplan(c)}
            for c in self.live_channels.values()
        ]

    def _dialplan(self, channel: FakeChannel) -> dict[str, Any]:
        """As Asterisk lists a channel: in Stasis, with the args it entered with (callers: gate)."""
        if not channel.in_stasis:
            return {"app_name": "Dial", "app_data": ""}
        return {"app_name": "Stasis", "app_data": f"{self._app},{'resident' if channel.ours else 'gate'}"}

    async def originate(
        self, channel_id: str, endpoint: str, *, app_args: str, caller_id: str, timeout_s: float
    ) -> None:
        await self._request(
            "originate", channel_id, endpoint, app_args=app_args, caller_id=caller_id, timeout_s=timeout_s
        )
        self._create(channel_id, state="Down", in_stasis=False)
        local = endpoint.lower().startswith("local/")
        if local:
            self._create(f"{channel_id};2", state="Down", in_stasis=False)
        self._spawn(self._ring(channel_id, self.endpoints.get(endpoint, Ring()), local, app_args))
        await self._done("originate", channel_id, endpoint)

    async def external_media(self, channel_id: str, *, host: str, media_format: str, connection_id: str) -> None:
        await self._request(
            "external_media", channel_id, host=host, media_format=media_format, connection_id=connection_id
        )
        self._create(channel_id)
        if self.media_stasis_start:
            self.emit("StasisStart", channel_id, args=[])
        if self.connect_media:
            client = self.media[channel_id] = FakeAudioSocketClient(channel_id, connection_id, host)
            self._spawn(client.run())
        await self._done("external_media", channel_id)

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str = "s", priority: int = 1
    ) -> None:
        await self._request("continue_in_dialplan", channel_id, context, extension, priority)
        channel = self._channel(channel_id)
        self._leave_bridges(channel_id)
        if channel.in_stasis:
            channel.in_stasis = False
            self.emit("StasisEnd", channel_id)
        await self._done("continue_in_dialplan", channel_id)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self._request("set_variable", channel_id, name, value)
        self._channel(channel_id)

    async def send_dtmf(
        self, channel_id: str, digits: str, *, between_ms: int | None = None, duration_ms: int | None = None
    ) -> None:
        await self._request("send_dtmf", channel_id, digits, between_ms=between_ms, duration_ms=duration_ms)
        self._channel(channel_id)

    async def create_bridge(self, bridge_id: str) -> None:
        await self._request("create_bridge", bridge_id)
        self.live_bridges.setdefault(bridge_id, [])
        await self._done("create_bridge", bridge_id)

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._request("add_to_bridge", bridge_id, list(channel_ids))
        if bridge_id not in self.live_bridges:
            raise AriNotFound(404, "POST", f"bridges/{bridge_id}/addChannel", "Bridge not found")
        for channel_id in channel_ids:
            if channel_id not in self.live_channels:
                raise AriError(400, "POST", f"bridges/{bridge_id}/addChannel", "Channel not found")
        for channel_id in channel_ids:
            self._leave_bridges(channel_id)
            self.live_bridges[bridge_id].append(channel_id)
        await self._done("add_to_bridge", bridge_id, list(channel_ids))

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self._request("remove_from_bridge", bridge_id, channel_id)
        if channel_id in self.live_bridges.get(bridge_id, []):
            self.live_bridges[bridge_id].remove(channel_id)

    async def destroy_bridge(self, bridge_id: str) -> bool:
        await self._request("destroy_bridge", bridge_id)
        return self.live_bridges.pop(bridge_id, None) is not None

    async def bridges(self) -> list[dict[str, Any]]:
        await self._request("bridges")
        return [{"id": b, "channels": list(members)} for b, members in self.live_bridges.items()]

    # Internals -------------------------------------------------------------------------------------------------

    async def _request(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.requests.append(Request(method, args, kwargs))
        await asyncio.sleep(0)  # the HTTP round trip: other tasks run meanwhile
        for name, when, error in self._failures:
            if name == method and when(*args, **kwargs):
                raise error

    async def _done(self, method: str, *args: Any) -> None:
        hook = self._after.pop(method, None)
        if hook is not None:
            await hook(*args)

    def _channel(self, channel_id: str) -> FakeChannel:
        if channel_id not in self.live_channels:
            raise AriNotFound(404, "GET", f"channels/{channel_id}", "Channel not found")
        return self.live_channels[channel_id]

    def _create(self, channel_id: str, state: str = "Up", in_stasis: bool = True) -> None:
        if channel_id in self.live_channels:
            raise AriConflict(409, "POST", "channels", f"Channel with id {channel_id} already exists")
        self.live_channels[channel_id] = FakeChannel(channel_id, state, in_stasis=in_stasis)

    async def _ring(self, channel_id: str, ring: Ring, local: bool, app_args: str) -> None:
        await asyncio.sleep(ring.after_s)
        channel = self.live_channels.get(channel_id)
        if channel is None:
            return  # hung up while ringing
        match ring.outcome:
            case "answer":
                channel.state, channel.in_stasis = "Up", True
                self.emit("StasisStart", channel_id, args=app_args.split(","))
            case "busy" if local:
                # A Local channel ends with cause 0; its other half says busy, on its own topic, a moment later.
                self._end(channel_id, 0, with_other_half=False)
                await asyncio.sleep(0.01)
                self.live_channels[f"{channel_id};2"].state = "Busy"
                self.emit("ChannelStateChange", f"{channel_id};2")
                self._end(f"{channel_id};2", 17)
            case "busy":
                self._end(channel_id, 17)
            case "noanswer":
                self._end(channel_id, 19)
            case "reject":
                self._end(channel_id, 21)

    def _end(self, channel_id: str, cause: int, *, with_other_half: bool = True) -> None:
        channel = self.live_channels.pop(channel_id, None)
        if channel is None:
            return
        self._leave_bridges(channel_id)
        if channel.in_stasis:
            self.emit("StasisEnd", channel_id)
        self._outbox.put_nowait(
            {"type": "ChannelDestroyed", "cause": cause, "channel": {"id": channel_id, "state": channel.state}}
        )
        client = self.media.get(channel_id)
        if client is not None:
            client.close()
        if with_other_half and not channel_id.endswith(";2"):
            self._end(f"{channel_id};2", cause)

    def _leave_bridges(self, channel_id: str) -> None:
        for bridge_id, members in self.live_bridges.items():
            if channel_id in members:
                members.remove(channel_id)
                self._outbox.put_nowait(
                    {"type": "ChannelLeftBridge", "bridge": {"id": bridge_id}, "channel": {"id": channel_id}}
                )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self) -> None:
        while True:
            raw = await self._outbox.get()
            try:
                if self.listener is not None:
                    await self.listener(raw)
            finally:
                self._outbox.task_done()
