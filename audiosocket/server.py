"""The AudioSocket media server, co-hosted in the controller's process.

Asterisk's externalMedia channel dials us and sends a UUID frame first. The controller registers that UUID
with :meth:`AudioSocketServer.expect` *before* asking Asterisk for the channel, so a connection whose UUID
nobody expects (a stray client, a late retry, garbage bytes) is refused and logged without touching any
call. Each accepted connection becomes a :class:`MediaConnection`: inbound frames go to a bounded queue
the call reads, outbound audio is written by the leg's playout.

How a connection lives::

    accept -> first frame within uuid_timeout -> UUID expected? -- no --> log, close
                                                   | yes
                                                   v
                              read loop: audio/DTMF -> queue; hangup/error/EOF/bad frame -> closed
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from audiosocket.protocol import Audio, Decoder, Dtmf, Error, Frame, Hangup, ProtocolError, Uuid

log = logging.getLogger(__name__)

READ_SIZE = 65536
# 10 s of 20 ms frames: a consumer that falls this far behind is broken; older audio is dropped, not hoarded.
INBOUND_QUEUE_FRAMES = 500


@dataclass(slots=True)
class ConnectionStats:
    frames_in: int = 0
    audio_bytes_in: int = 0
    dropped_in: int = 0
    bytes_out: int = 0


@dataclass(eq=False)
class MediaConnection:
    """One accepted AudioSocket connection (one call leg's media).

    Inbound frames go straight to the `receiver` a media leg registers (:meth:`receive`), as they are decoded:
    no queue between the socket and the leg. Until one is registered (the moments between the UUID frame and the
    leg's start) they wait in a bounded queue, which :meth:`frames` also serves to readers without a receiver.
    """

    id: uuid.UUID
    call_id: str
    leg: str
    _writer: asyncio.StreamWriter
    inbound: asyncio.Queue[Audio | Dtmf | None] = field(default_factory=lambda: asyncio.Queue(INBOUND_QUEUE_FRAMES))
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""
    stats: ConnectionStats = field(default_factory=ConnectionStats)
    _receiver: Callable[[Audio | Dtmf], None] | None = None

    def write(self, data: bytes) -> None:
        """Queue bytes for sending; never blocks (playout paces the writes, the kernel buffers them)."""
        if self.closed.is_set() or self._writer.is_closing():
            return
        self._writer.write(data)
        self.stats.bytes_out += len(data)

    def receive(self, receiver: Callable[[Audio | Dtmf], None]) -> None:
        """Hand every inbound frame to `receiver` from now on, after those that arrived before."""
        while not self.inbound.empty():
            item = self.inbound.get_nowait()
            if item is not None:
                receiver(item)
        self._receiver = receiver

    def deliver(self, item: Audio | Dtmf) -> None:
        if self._receiver is not None:
            self._receiver(item)
            return
        if self.inbound.full():
            self.inbound.get_nowait()
            self.stats.dropped_in += 1
        self.inbound.put_nowait(item)

    async def frames(self) -> AsyncIterator[Audio | Dtmf]:
        """Inbound audio and DTMF in arrival order, until the connection closes."""
        while True:
            item = await self.inbound.get()
            if item is None:
                return
            yield item

    def close(self, reason: str = "closed by us") -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()
            if self.inbound.full():
                self.inbound.get_nowait()
            self.inbound.put_nowait(None)
        if not self._writer.is_closing():
            self._writer.close()


@dataclass(slots=True)
class _Expected:
    call_id: str
    leg: str
    future: asyncio.Future[MediaConnection]


class AudioSocketServer:
    def __init__(self, host: str, port: int, *, uuid_timeout: float = 3.0) -> None:
        self._host = host
        self._port = port
        self._uuid_timeout = uuid_timeout
        self._server: asyncio.Server | None = None
        self._expected: dict[uuid.UUID, _Expected] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self.refused = 0

    @property
    def port(self) -> int:
        """The bound port (useful when configured with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._host, self._port, reuse_address=True)
        log.info("AudioSocket server listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for expected in self._expected.values():
            expected.future.cancel()
        self._expected.clear()

    def expect(self, connection_id: uuid.UUID, call_id: str, leg: str) -> asyncio.Future[MediaConnection]:
        """Accept one connection announcing `connection_id`; the future resolves when it arrives."""
        future: asyncio.Future[MediaConnection] = asyncio.get_running_loop().create_future()
        self._expected[connection_id] = _Expected(call_id, leg, future)
        return future

    def forget(self, connection_id: uuid.UUID) -> None:
        expected = self._expected.pop(connection_id, None)
        if expected is not None and not expected.future.done():
            expected.future.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = Decoder()
        connection: MediaConnection | None = None
        reason = "peer closed the connection"
        try:
            first, pending = await asyncio.wait_for(self._first_frame(reader, decoder), self._uuid_timeout)
            connection = self._claim(first, writer, peer)
            if connection is None:
                return
            self._dispatch(connection, pending)
            while not connection.closed.is_set():
                data = await reader.read(READ_SIZE)
                if not data:
                    if decoder.pending:
                        reason = f"peer closed mid-frame ({decoder.pending} bytes pending)"
                    break
                if self._dispatch(connection, decoder.feed(data)):
                    reason = connection.close_reason
                    break
        except TimeoutError:
            self.refused += 1
            log.warning("AudioSocket %s: no UUID frame within %.1f s; closing", peer, self._uuid_timeout)
        except ProtocolError as error:
            reason = f"protocol error: {error}"
            if connection is None:
                self.refused += 1
            log.warning("AudioSocket %s: %s; closing", peer, reason)
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            reason = f"connection lost: {error!r}"
        except asyncio.CancelledError:
            # stop() cancels live handlers. Python 3.11's start_server done-callback calls task.exception(),
            # which raises for a cancelled task and logs "Exception in callback ..." per connection: end normally.
            reason = "server stopping"
        finally:
            if connection is not None:
                connection.close(connection.close_reason or reason)
            elif not writer.is_closing():
                writer.close()

    async def _first_frame(self, reader: asyncio.StreamReader, decoder: Decoder) -> tuple[Frame, list[Frame]]:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                raise ProtocolError("connection closed before a UUID frame")
            frames = decoder.feed(data)
            if frames:
                return frames[0], frames[1:]

    def _claim(self, first: Frame, writer: asyncio.StreamWriter, peer: object) -> MediaConnection | None:
        if not isinstance(first, Uuid):
            self.refused += 1
            log.warning("AudioSocket %s: first frame is %s, not a UUID; closing", peer, type(first).__name__)
            writer.close()
            return None
        expected = self._expected.pop(first.value, None)
        if expected is None or expected.future.done():
            self.refused += 1
            log.warning("AudioSocket %s: unknown connection UUID %s; closing", peer, first.value)
            writer.close()
            return None
        connection = MediaConnection(first.value, expected.call_id, expected.leg, writer)
        expected.future.set_result(connection)
        log.debug("AudioSocket %s: call %s leg %s connected", peer, expected.call_id, expected.leg)
        return connection

    @staticmethod
    def _dispatch(connection: MediaConnection, frames: list[Frame]) -> bool:
        """Hand frames to the call; True when the peer ended the connection."""
        for frame in frames:
            match frame:
                case Audio() | Dtmf():
                    connection.stats.frames_in += 1
                    if isinstance(frame, Audio):
                        connection.stats.audio_bytes_in += len(frame.pcm)
                    connection.deliver(frame)
                case Hangup():
                    connection.close("peer sent hangup")
                    return True
                case Error(code):
                    connection.close(f"peer sent error 0x{code:02x}")
                    return True
                case Uuid():
                    raise ProtocolError("second UUID frame")
        return False
