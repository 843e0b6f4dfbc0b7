"""The media side of one call's legs: per leg a mixing bridge, an externalMedia channel in it, its AudioSocket
connection, and the :class:`~audiosocket.media_leg.MediaLeg` on that connection.

Opening a leg::

    create bridge -> expect the connection's UUID -> POST externalMedia -> its StasisStart
      -> add caller + externalMedia to the bridge  [event "bridged"]
      -> AudioSocket connects with the UUID -> MediaLeg starts  [event "media_connected"]
      -> TALK_DETECT on the caller's channel: talking with no frames arriving is a broken leg  [calls.media_watch]

The UUID is registered with the AudioSocket server before Asterisk is asked for the channel, so the connection
is claimed by this call only. :meth:`CallMedia.close` releases everything, whatever state opening reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from audiosocket.events import EventSink
from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import LegConfig, MediaLeg
from audiosocket.server import AudioSocketServer, MediaConnection
from audiosocket.vad import Vad
from audiosocket.vad_pool import VadPool
from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError, AriNotFound
from controller.ari.events import StasisStart
from controller.calls.media_watch import SilenceWatch
from controller.calls.waiters import EventWaiters
from controller.conversation.events import Leg

log = logging.getLogger(__name__)

_ENTERED_POLL_S = 1.0  # a StasisStart normally comes within milliseconds; past this, ask Asterisk


@dataclass(frozen=True, slots=True)
class MediaSetup:
    address: str  # host:port Asterisk dials for AudioSocket
    media_format: str  # slin or slin16
    leg: LegConfig
    timeout_s: float = 5.0
    silence_window_s: float = 0.0  # talking heard by Asterisk with no frames for this long: broken. 0: off


@dataclass(slots=True)
class _MediaChannel:
    leg: Leg
    caller_channel: str
    channel_id: str
    connection_id: uuid.UUID
    connection: MediaConnection | None = None
    media: MediaLeg | None = None
    vad: Vad | None = None
    watch: SilenceWatch | None = None


class CallMedia:
    def __init__(
        self,
        call_id: str,
        *,
        asterisk: AsteriskOps,
        server: AudioSocketServer,
        vads: VadPool,
        waiters: EventWaiters,
        setup: MediaSetup,
        events: EventSink,
        frame_clock: FrameClock,
        own: Callable[[str], None],
        clock: Callable[[], float],
        on_silent: Callable[[Leg], None] = lambda leg: None,
    ) -> None:
        self._call_id = call_id
        self._asterisk = asterisk
        self._server = server
        self._vads = vads
        self._waiters = waiters
        self._setup = setup
        self._events = events
        self._frame_clock = frame_clock
        self._own = own
        self._clock = clock
        self._on_silent = on_silent
        self.bridges: list[str] = []
        self._channels: list[_MediaChannel] = []
        self._checks: set[asyncio.TimerHandle] = set()
        self._creating: set[asyncio.Future[None]] = set()

    async def _settled(self, request: Coroutine[Any, Any, None]) -> None:
        """Run a request that creates something in Asterisk to its end even if the call is cancelled meanwhile:
        Asterisk acts on a request whose reply we stopped waiting for, and a teardown that raced ahead of it would
        find nothing to remove and leave it behind. :meth:`close` waits for these first."""
        creating = asyncio.ensure_future(request)
        self._creating.add(creating)
        creating.add_done_callback(_forget_creation(self._creating))
        await asyncio.shield(creating)

    async def open(self, leg: Leg, caller_channel: str, started: float) -> MediaLeg:
        """Bridge `caller_channel` with a new externalMedia channel and return its running MediaLeg."""
        setup, asterisk = self._setup, self._asterisk
        # A leg opened again (a resident dialled after a failed set-up) gets new ids: the failed attempt's
        # channel and bridge stay until teardown, and Asterisk refuses an id that is still in use.
        tries = sum(1 for known in self._channels if known.leg is leg)
        suffix = f"{leg}" if tries == 0 else f"{leg}-{tries + 1}"
        bridge_id = f"portaria-{self._call_id}-{suffix}"
        self.bridges.append(bridge_id)  # before asking: a call ended mid-request must still destroy it
        await self._settled(asterisk.create_bridge(bridge_id))
        media = _MediaChannel(leg, caller_channel, f"portaria-media-{self._call_id}-{suffix}", uuid.uuid4())
        self._channels.append(media)
        media.vad = await self._vads.acquire()
        connected = self._server.expect(media.connection_id, self._call_id, str(leg))
        self._own(media.channel_id)
        entered = self._waiters.wait_for(lambda e: isinstance(e, StasisStart) and e.channel.id == media.channel_id)
        await self._settled(
            asterisk.external_media(
                media.channel_id,
                host=setup.address,
                media_format=setup.media_format,
                connection_id=str(media.connection_id),
            )
        )
        await self._entered(media.channel_id, entered)
        await asterisk.add_to_bridge(bridge_id, [caller_channel, media.channel_id])
        self._emit(leg, "bridged", ms=self._ms_since(started), bridge=bridge_id)
        media.connection = await asyncio.wait_for(connected, setup.timeout_s)
        self._emit(leg, "media_connected", ms=self._ms_since(started), format=setup.media_format)
        media.media = MediaLeg.configured(
            media.connection,
            setup.leg,
            vad=media.vad,
            events=self._events,
            call_id=self._call_id,
            leg=str(leg),
            frame_clock=self._frame_clock,
        )
        media.media.start()
        if setup.silence_window_s > 0:
            await self._detect_talking(media, setup.silence_window_s)
        return media.media

    async def _entered(self, channel_id: str, entered: asyncio.Future[Any]) -> None:
        """Wait until the externalMedia channel is in our app. Its StasisStart can fall in an events-websocket gap
        and a reconnect does not re-deliver it (the channel never went through the dialplan), so past a short wait
        ask Asterisk: the channel existing under our id means it is in the app."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._setup.timeout_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._waiters.forget(entered)
                raise TimeoutError(f"externalMedia channel {channel_id} never entered the app")
            try:
                await asyncio.wait_for(asyncio.shield(entered), min(_ENTERED_POLL_S, remaining))
                return
            except TimeoutError:
                pass
            with contextlib.suppress(AriNotFound):
                await self._asterisk.channel(channel_id)
                log.warning("call %s: no StasisStart for %s; Asterisk has it, going on", self._call_id, channel_id)
                self._waiters.forget(entered)
                return

    async def _detect_talking(self, media: _MediaChannel, window_s: float) -> None:
        try:
            await self._asterisk.set_variable(media.caller_channel, "TALK_DETECT(set)", "")
        except AriError as error:  # the call works without the watch; say so, since #2089 would then go unseen
            log.warning("call %s: no talk detection on the %s leg: %s", self._call_id, media.leg, error)
            return
        media.watch = SilenceWatch(window_s)

    def talking(self, caller_channel: str) -> None:
        """Asterisk heard `caller_channel` start talking (ChannelTalkingStarted)."""
        for media in self._channels:
            if media.caller_channel == caller_channel and media.watch is not None and media.connection is not None:
                due = media.watch.talking(self._clock(), media.connection.stats.frames_in)
                if due is not None:
                    self._check_after(media, due)

    def _check_after(self, media: _MediaChannel, delay_s: float) -> None:
        def check() -> None:
            self._checks.discard(handle)
            watch, connection = media.watch, media.connection
            if watch is None or connection is None or connection.closed.is_set():
                return
            due = watch.due_in(self._clock(), connection.stats.frames_in)
            if due is None:
                return
            if due > 0:
                self._check_after(media, due)
                return
            media.watch = None  # once per leg: the call is handed over from here
            self._emit(media.leg, "media_silent", window_s=watch.window_s, frames=connection.stats.frames_in)
            self._on_silent(media.leg)

        handle = asyncio.get_running_loop().call_later(delay_s, check)
        self._checks.add(handle)

    async def hang_up_channels(self) -> None:
        """Remove the externalMedia channels (the callers then talk directly); teardown still closes the rest."""
        for media in self._channels:
            media.watch = None  # from here no audio of theirs is meant to reach us
            await self._asterisk.hang_up(media.channel_id)

    async def close(self) -> None:
        if self._creating:  # bounded: the ARI client times its requests out
            await asyncio.wait(set(self._creating), timeout=self._setup.timeout_s)
        for handle in self._checks:
            handle.cancel()
        self._checks.clear()
        for media in self._channels:
            self._server.forget(media.connection_id)
            if media.media is not None:
                with contextlib.suppress(Exception):
                    await media.media.aclose()
            if media.vad is not None:
                self._vads.release(media.vad)
                media.vad = None
            if media.connection is not None:
                stats = media.connection.stats
                self._emit(
                    media.leg, "audio_in", frames=stats.frames_in, bytes=stats.audio_bytes_in, dropped=stats.dropped_in
                )
                media.connection.close("call ended")

    def _emit(self, leg: Leg, event: str, **fields: object) -> None:
        self._events.emit(self._call_id, str(leg), event, **fields)

    def _ms_since(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 1)


def _forget_creation(pending: set[asyncio.Future[None]]) -> Callable[[asyncio.Future[None]], None]:
    def done(creating: asyncio.Future[None]) -> None:
        pending.discard(creating)
        if not creating.cancelled():
            creating.exception()  # seen by the awaiting open(), or after a cancel not wanted any more

    return done
