"""Silent media against the real Asterisk (issue 15, asterisk/asterisk#2089): the call is up, the visitor
talks, and none of their audio reaches our AudioSocket server.

Between Asterisk's AudioSocket client and our server sits a TCP proxy of the test. Muted, it passes the
connection's UUID frame and then drops everything Asterisk sends (what a res_audiosocket that stopped
delivering looks like from our side); our prompts still reach the visitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from audiosocket.protocol import HEADER_SIZE
from tests.integration.conftest import SettingsFactory
from tests.support.poll import eventually
from tests.support.resident_bed import nothing_of_ours_left, resident, running, visitor_calls, webhook, webhook_gate

pytestmark = pytest.mark.asterisk

UUID_FRAME_BYTES = HEADER_SIZE + 16


class MediaProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.muted = False  # connections opened from now on deliver nothing after their UUID
        self.inbound_bytes = 0  # what Asterisk sent, delivered or not
        self._tasks: set[asyncio.Task[None]] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        muted = self.muted

        async def inbound() -> None:
            passed = 0
            while data := await reader.read(65536):
                self.inbound_bytes += len(data)
                if muted:
                    data = data[: max(0, UUID_FRAME_BYTES - passed)]
                passed += len(data)
                if data:
                    up_writer.write(data)
                    await up_writer.drain()

        async def outbound() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        async def pump(direction: Coroutine[None, None, None], sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                await direction
            sink.close()

        tasks = [asyncio.create_task(pump(inbound(), up_writer)), asyncio.create_task(pump(outbound(), writer))]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[MediaProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in self._tasks:
                task.cancel()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_visitor_whose_audio_never_reaches_us_is_handed_over_within_seconds(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    concierge = resident("noanswer", f"{tag}c")
    bind = _free_port()
    async with MediaProxy(bind).running() as proxy, webhook() as hook:
        settings = webhook_gate(
            make_settings,
            tmp_path,
            {"101": resident("dtmf-1", f"{tag}r")},
            hook.url,
            audiosocket_bind=f"127.0.0.1:{bind}",
            audiosocket_advertise=f"127.0.0.1:{proxy.port}",
            concierge_endpoint=concierge,
            media_silence_s=3,
        )
        async with running(settings) as (service, watcher):
            proxy.muted = True
            call = await visitor_calls(service, watcher, lead_s=1)
            connected = await watcher.wait_for("media_connected", call_id=call.call_id, leg="gate", timeout=30)
            silent = await watcher.wait_for("media_silent", call_id=call.call_id, timeout=30)
            # The visitor speaks from about 1 s after answering (lead_s): noticed within the window after that.
            detected_s = silent["mono"] - connected["mono"]
            print(f"silent media noticed {detected_s:.1f} s after the media leg connected")
            assert silent["leg"] == "gate" and detected_s < settings.media_silence_s + 4
            fallback = await watcher.wait_for("fallback", call_id=call.call_id, timeout=30)
            assert (fallback["reason"], fallback["to"]) == ("internal_error", concierge)
            assert proxy.inbound_bytes > UUID_FRAME_BYTES  # Asterisk did send the visitor's audio
            assert not watcher.find("speech_start", call_id=call.call_id)  # and none of it reached us
            await watcher.wait_for("call_end", call_id=call.call_id, timeout=30)

            async def handed_over() -> bool:
                channels = await service.ari.get("channels")
                return any(f"+{tag}c@resident-sim" in c["name"] for c in channels)

            await eventually(handed_over)
            await service.ari.delete(f"channels/{call.gate_channel}")
            await nothing_of_ours_left(service, call)
            assert not hook.requests and not watcher.find("gate_opened", call_id=call.call_id)
