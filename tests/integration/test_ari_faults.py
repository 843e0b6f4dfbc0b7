"""ARI faults against the real Asterisk (issue 15): a blackholed events websocket is noticed by the heartbeat.

A blackhole is what a stateful firewall or a NAT that forgot the flow does: the TCP connection stays open and
nothing flows either way, so no error ever arrives. Between the service and Asterisk sits a TCP proxy of the
test that can blackhole the connections open at that moment (new ones pass, as after the flow expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest

from controller.tools.simulator import SimulatedVisitor, call_gate
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher
from tests.support.testbed import Testbed

pytestmark = pytest.mark.asterisk


class Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0
        self.connected_at: list[float] = []
        self._holes: set[int] = set()  # connection numbers that are blackholed
        self._tasks: set[asyncio.Task[None]] = set()

    def blackhole_open_connections(self) -> None:
        self._holes = set(range(1, self.connections + 1))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.connected_at.append(time.monotonic())
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    if number not in self._holes:
                        sink.write(data)
                        await sink.drain()
            sink.close()

        tasks = [asyncio.create_task(pump(reader, up_writer)), asyncio.create_task(pump(up_reader, writer))]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Proxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in self._tasks:
                task.cancel()


async def test_a_blackholed_events_websocket_is_noticed_and_the_service_takes_calls_again(
    make_settings: SettingsFactory, testbed: Testbed
) -> None:
    target = urlsplit(testbed.ari_url)
    async with Proxy((target.hostname or "127.0.0.1", target.port or 80)).running() as proxy:
        service = Service(make_settings(ari_url=f"http://127.0.0.1:{proxy.port}"))
        await service.start()
        try:
            await service.wait_connected()
            service.connected.clear()
            websockets_before = proxy.connections
            holed_at = time.monotonic()
            proxy.blackhole_open_connections()
            async with asyncio.timeout(20):
                await service.connected.wait()  # reconnected through a fresh connection
            detected_s = next(t for t in proxy.connected_at[websockets_before:]) - holed_at
            print(f"blackhole noticed and a new connection opened after {detected_s:.1f} s")
            watcher = EventWatcher(service)
            try:
                visitor = SimulatedVisitor("none", f"t-{uuid.uuid4().hex[:8]}")
                channel = await call_gate(service.ari, visitor)
                start = await watcher.wait_for("stasis_start", channel=channel["id"], timeout=15)
                await watcher.wait_for("media_connected", call_id=start["call_id"], timeout=15)
                await service.asterisk.hang_up(channel["id"])
                await watcher.wait_for("call_end", call_id=start["call_id"], timeout=15)
            finally:
                watcher.close()
        finally:
            await service.stop()
