"""Silent media against the real Asterisk (asterisk/asterisk#2089): the call is up, the visitor
talks, and none of their audio reaches our AudioSocket server.

Between Asterisk's AudioSocket client and our server sits a TCP proxy of the test. Muted, it passes the
connection's UUID frame and then drops everything Asterisk sends (what a res_audiosocket that stopped
delivering looks like from our side); our prompts still reach the visitor.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from audiosocket.protocol import HEADER_SIZE
from tests.integration.conftest import SettingsFactory
from tests.support.net import Link, TcpProxy, free_port
from tests.support.poll import eventually
from tests.support.resident_bed import nothing_of_ours_left, resident, running, visitor_calls, webhook, webhook_gate

pytestmark = pytest.mark.asterisk

UUID_FRAME_BYTES = HEADER_SIZE + 16


class MediaProxy(TcpProxy):
    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", upstream_port))
        self.muted = False  # connections opened from now on deliver nothing after their UUID
        self.inbound_bytes = 0  # what Asterisk sent, delivered or not
        self._passed: dict[int, int] = {}  # bytes passed so far by each muted connection

    def opened(self, link: Link) -> None:
        if self.muted:
            self._passed[link.number] = 0

    def forward(self, link: Link, from_client: bool, data: bytes) -> bytes:
        if not from_client:
            return data  # our prompts still reach the visitor
        self.inbound_bytes += len(data)
        passed = self._passed.get(link.number)
        if passed is None:
            return data
        data = data[: max(0, UUID_FRAME_BYTES - passed)]
        self._passed[link.number] = passed + len(data)
        return data


async def test_a_visitor_whose_audio_never_reaches_us_is_handed_over_within_seconds(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    concierge = resident("noanswer", f"{tag}c")
    bind = free_port()
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
