"""ARI faults against the real Asterisk: a blackholed events websocket is noticed by the heartbeat.

A blackhole is what a stateful firewall or a NAT that forgot the flow does: the TCP connection stays open and
nothing flows either way, so no error ever arrives. Between the service and Asterisk sits a TCP proxy of the
test that can blackhole the connections open at that moment (new ones pass, as after the flow expired).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from controller.ari.client import AriConnectionError, AriNotFound
from controller.wiring import Service
from tests.integration.conftest import SettingsFactory
from tests.support.calls import EventWatcher, a_new_call_is_answered
from tests.support.net import Link, TcpProxy
from tests.support.poll import eventually
from tests.support.resident_bed import (
    GateCallHandle,
    NotTaken,
    nothing_of_ours_left,
    running,
    visitor_calls,
    webhook,
    webhook_gate,
)
from tests.support.testbed import Testbed, run_testbed

pytestmark = pytest.mark.asterisk


class Proxy(TcpProxy):
    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(upstream)
        self.connected_at: list[float] = []
        self._holes: set[int] = set()  # connection numbers that are blackholed
        self._websockets: dict[int, Link] = {}  # the events websockets open now
        self.drops = 0
        self.dark = False  # everything blackholed, connections opened from now on too

    def blackhole_open_connections(self) -> None:
        self._holes = set(range(1, self.connections + 1))

    @property
    def websockets_open(self) -> int:
        return len(self._websockets)

    def drop_websockets(self) -> None:
        """What a network reset does to the events websocket: both ends closed at once (REST is left alone)."""
        for link in self._websockets.values():
            link.client.transport.abort()
            link.upstream.transport.abort()
        self._websockets.clear()
        self.drops += 1

    def opened(self, link: Link) -> None:
        self.connected_at.append(time.monotonic())

    def forward(self, link: Link, from_client: bool, data: bytes) -> bytes:
        if from_client and data.startswith(b"GET /ari/events"):
            self._websockets[link.number] = link
        return b"" if link.number in self._holes or self.dark else data

    def closed(self, link: Link) -> None:
        self._websockets.pop(link.number, None)


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
                await a_new_call_is_answered(service, watcher)
            finally:
                watcher.close()
        finally:
            await service.stop()


# Each apartment's phone is a simulated resident: 101 listens 7 s (the question) and says yes; 202 presses 1.
CHAOS_PHONES = {"101": "Local/say-resident-k-sim+c101+7@resident-sim/n", "202": "Local/dtmf-1+c202@resident-sim/n"}
CHAOS_VISITORS = ("visitor-demo", "visitor-k-entrega-202")
DROPS = 50


async def test_the_events_websocket_dropped_50_times_during_calls_leaves_nothing_and_never_opens_unasked(
    make_settings: SettingsFactory, testbed: Testbed, tmp_path: Path
) -> None:
    """Calls run back to back, two at a time, while the events websocket is reset at random moments. Events of
    the gaps are lost; each call must still end by itself (continued, or ended politely), leave nothing in
    Asterisk, and the gate opens only after a resident's yes with its audit row written first."""
    target = urlsplit(testbed.ari_url)
    rng = random.Random(15)
    async with Proxy((target.hostname or "127.0.0.1", target.port or 80)).running() as proxy, webhook() as hook:
        settings = webhook_gate(make_settings, tmp_path, CHAOS_PHONES, hook.url, ari_url=f"http://127.0.0.1:{proxy.port}")
        async with running(settings) as (service, watcher):
            calls: list[GateCallHandle] = []
            chaos_done = asyncio.Event()

            async def reconnected() -> bool:
                return proxy.websockets_open > 0

            async def chaos() -> None:
                for _ in range(DROPS):
                    await eventually(reconnected, within=30)  # then drop it again a moment later
                    await asyncio.sleep(rng.uniform(0.2, 1.0))  # up 0.2-1 s, then down ~0.5 s (the backoff)
                    proxy.drop_websockets()
                chaos_done.set()

            refused: list[str] = []

            async def caller(first: str) -> None:
                while not chaos_done.is_set():
                    try:
                        call = await visitor_calls(service, watcher, first=first, second="noise-1s", lead_s=3)
                    except NotTaken as missed:
                        # Placed while the websocket was down: Asterisk deems the app inactive and Stasis() fails
                        # (the production dialplan then rings the concierge). What must never be is a visitor
                        # left sitting in our app with nobody handling the call.
                        with pytest.raises(AriNotFound):
                            await service.ari.get(f"channels/{missed.gate_channel}")
                        refused.append(missed.gate_channel)
                        continue
                    calls.append(call)
                    await watcher.wait_for("call_end", call_id=call.call_id, timeout=120)

            await asyncio.gather(chaos(), *(caller(first) for first in CHAOS_VISITORS))
            assert proxy.drops == DROPS and service.ari_reconnects >= DROPS
            for call in calls:
                await nothing_of_ours_left(service, call)
                names = [e["event"] for e in watcher.for_call(call.call_id)]
                assert "error" not in names, (names, watcher.find("error", call_id=call.call_id))
                if "gate_opened" in names:
                    assert "resident_answered" in names and names.index("audit_written") < names.index("gate_opened")
                    assert watcher.find("audit_written", call_id=call.call_id)[0]["decision"] == "authorised"
            opened = {request["body"]["call_id"] for request in hook.requests}
            assert opened <= {c.call_id for c in calls if watcher.find("gate_opened", call_id=c.call_id)}
            print(f"{len(calls)} calls, {len(opened)} opened, {len(refused)} not taken (placed in a gap), "
                  f"{service.ari_reconnects} reconnects")
            assert calls
            for call in calls:
                kept = ("resident_dial", "resident_answered", "resident_unavailable", "audit_written", "gate_opened")
                print(call.call_id, [e["event"] for e in watcher.for_call(call.call_id) if e["event"] in kept])


async def test_a_rest_request_that_hangs_times_out_and_the_service_goes_on(
    make_settings: SettingsFactory, testbed: Testbed
) -> None:
    target = urlsplit(testbed.ari_url)
    async with Proxy((target.hostname or "127.0.0.1", target.port or 80)).running() as proxy:
        async with running(make_settings(ari_url=f"http://127.0.0.1:{proxy.port}")) as (service, watcher):
            proxy.dark = True  # Asterisk's HTTP server stops answering: requests are sent, nothing comes back
            async with asyncio.timeout(15):  # a guard: the client's own timeout (5 s) must end the wait first
                with pytest.raises(AriConnectionError, match="timed out"):
                    await service.ari.get("asterisk/info")
            proxy.dark = False
            service.connected.clear()
            async with asyncio.timeout(30):
                await service.connected.wait()  # the silent events socket was noticed and replaced too
            await a_new_call_is_answered(service, watcher)


@pytest.mark.restarts_asterisk
async def test_asterisk_restarted_mid_call_ends_the_call_and_the_service_recovers_by_itself(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Asterisk stops while the resident's phone rings (the visitor's channel dies with it), then starts again."""
    # Nothing listens at the opener's address: an opening would be an error event.
    settings = webhook_gate(make_settings, tmp_path, CHAOS_PHONES, "http://127.0.0.1:9/open")
    async with running(settings) as (service, watcher):
        call = await visitor_calls(service, watcher, first="visitor-demo", second="noise-1s", lead_s=3)
        await watcher.wait_for("resident_dial", call_id=call.call_id, timeout=60)
        service.connected.clear()
        run_testbed("stop")
        run_testbed("start")
        async with asyncio.timeout(30):
            await service.connected.wait()
        await watcher.wait_for("call_end", call_id=call.call_id, timeout=30)
        names = [e["event"] for e in watcher.for_call(call.call_id)]
        assert "gate_opened" not in names, names
        decisions = [e["decision"] for e in watcher.find("audit_written", call_id=call.call_id)]
        assert "authorised" not in decisions  # what happened is recorded; it was no yes
        await nothing_of_ours_left(service, call)
        again = await visitor_calls(service, watcher, first="noise-1s", second="noise-1s", lead_s=3)
        await watcher.wait_for("media_connected", call_id=again.call_id, timeout=15)
        await service.asterisk.hang_up(again.gate_channel)
        await watcher.wait_for("call_end", call_id=again.call_id, timeout=30)
