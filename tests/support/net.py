"""Loopback networking for tests: a free port, and a TCP proxy whose subclasses decide what each chunk becomes.

class Muting(TcpProxy):
    def forward(self, link: Link, from_client: bool, data: bytes) -> bytes:
        return b"" if from_client else data     # b"": dropped, the connection stays open

async with Muting(("127.0.0.1", 8088)).running() as proxy:
    ...  # clients connect to 127.0.0.1:proxy.port
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Self


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(eq=False)
class Link:
    """One proxied connection: its number (from 1, in the order they came) and both ends' writers."""

    number: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def forward(self, link: Link, from_client: bool, data: bytes) -> bytes:
        """What of `data` goes on (all of it here); b"" drops it and keeps the connection."""
        return data

    def opened(self, link: Link) -> None:
        """`link` is connected both ways; nothing has flowed yet."""

    def closed(self, link: Link) -> None:
        """One direction of `link` ended."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        link = Link(number, writer, up_writer)
        self.opened(link)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_client: bool) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    if passed := self.forward(link, from_client, data):
                        sink.write(passed)
                        await sink.drain()
            sink.close()
            self.closed(link)

        tasks = [
            asyncio.create_task(pump(reader, up_writer, True)),
            asyncio.create_task(pump(up_reader, writer, False)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in self._tasks:
                task.cancel()
