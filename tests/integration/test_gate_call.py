"""A gate call against the real Asterisk: Stasis, answer, bridge, AudioSocket media, greeting, teardown."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from pathlib import Path

import numpy as np
import pytest

from audiosocket.protocol import Audio, Uuid, encode
from controller.tools.simulator import SimulatedVisitor, call_gate, recording
from controller.wiring import Service
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.testbed import Testbed, read_wav, voiced_span_s, wav_written

pytestmark = [pytest.mark.asterisk, pytest.mark.paced, pytest.mark.asyncio(loop_scope="module")]  # one shared service


async def _ours_left(service: Service, call_id: str, gate_channel: str) -> tuple[list[str], list[str]]:
    channels = await service.ari.get("channels")
    bridges = await service.ari.get("bridges")
    ours_c = [c["id"] for c in channels if c["id"] == gate_channel or call_id in c["id"]]
    ours_b = [b["id"] for b in bridges if call_id in b["id"]]
    return ours_c, ours_b


async def _nothing_of_ours_left(service: Service, call_id: str, gate_channel: str) -> None:
    async def clean() -> bool:
        return not any(await _ours_left(service, call_id, gate_channel))

    await eventually(clean)


async def _wait_file(path: Path) -> None:
    async def written() -> bool:
        return wav_written(path)  # noqa: ASYNC240 - a tiny read in a test

    await eventually(written, within=10)


async def test_gate_call_is_answered_bridged_greets_and_hears_the_visitor(
    service: Service, watcher: EventWatcher, testbed: Testbed
) -> None:
    visitor = SimulatedVisitor("visitor-hello", f"t-{uuid.uuid4().hex[:8]}", lead_s=5)
    channel = await call_gate(service.ari, visitor)
    start = await watcher.wait_for("stasis_start", channel=channel["id"])
    call_id = start["call_id"]

    bridged = await watcher.wait_for("bridged", call_id=call_id)
    assert 0 < bridged["ms"] < 1000
    await watcher.wait_for("media_connected", call_id=call_id)
    said = await watcher.wait_for("say", call_id=call_id)
    assert said["text"] == service.settings.greeting
    played = await watcher.wait_for("playout_stop", call_id=call_id)
    assert played["played_ms"] > 1000
    # The visitor speaks after 5 s of listening: the controller must detect voice in the frames it receives.
    await watcher.wait_for("speech_start", call_id=call_id, timeout=15)
    await watcher.wait_for("speech_end", call_id=call_id, timeout=15)

    await service.ari.delete(f"channels/{channel['id']}")
    await watcher.wait_for("call_end", call_id=call_id)
    summary = watcher.find("audio_in", call_id=call_id)[0]
    assert summary["frames"] > 250  # ~50 frames/s while the simulated phone sends audio

    await _nothing_of_ours_left(service, call_id, channel["id"])

    heard = recording(testbed.root, visitor.recording_id, "heard")
    await _wait_file(heard)
    samples, rate = read_wav(heard)
    rate_ours = service.settings.media_format.sample_rate
    greeting_pcm = service.speech.prompts.get(service.settings.greeting, rate_ours)
    assert greeting_pcm
    greeting = np.frombuffer(greeting_pcm, dtype=np.int16)
    g_first, g_last = voiced_span_s(greeting, rate_ours)
    first, last = voiced_span_s(samples[: int(rate * 5)], rate)  # before the visitor speaks at 5 s
    assert first < 0.5, "the greeting should start right after the answer"
    # What the visitor heard is the whole greeting: same voiced length as the audio we sent (±100 ms).
    assert abs((last - first) - (g_last - g_first)) < 0.1, (first, last, g_first, g_last)


async def test_unknown_uuid_and_garbage_are_refused_while_a_call_goes_on(
    service: Service, watcher: EventWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="audiosocket.server")
    visitor = SimulatedVisitor("none", f"t-{uuid.uuid4().hex[:8]}", lead_s=0)
    channel = await call_gate(service.ari, visitor)
    start = await watcher.wait_for("stasis_start", channel=channel["id"])
    call_id = start["call_id"]
    await watcher.wait_for("media_connected", call_id=call_id)

    refused_before = service.media.refused
    port = service.media.port
    for payload in (
        encode(Uuid(uuid.uuid4())) + encode(Audio(bytes(320), 8000)),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes([0x10, 0xFF, 0xFF]) + bytes(100),
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b"", "the server must close a refused connection"
        writer.close()
    assert service.media.refused == refused_before + 3
    assert "unknown connection UUID" in caplog.text
    assert "not a UUID" in caplog.text or "unknown frame kind" in caplog.text
    assert "exceeds" in caplog.text

    await watcher.wait_for("playout_stop", call_id=call_id)
    await asyncio.sleep(1)
    await service.ari.delete(f"channels/{channel['id']}")
    await watcher.wait_for("call_end", call_id=call_id)
    assert not watcher.find("error", call_id=call_id)
    summary = watcher.find("audio_in", call_id=call_id)[0]
    # ~4 s of call at 50 frames/s: the refused connections did not disturb this call's media.
    assert summary["frames"] > 150


async def test_a_connection_that_never_sends_a_uuid_is_dropped(service: Service) -> None:
    service.media._uuid_timeout = 0.3
    sock = socket.create_connection(("127.0.0.1", service.media.port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        assert await loop.sock_recv(sock, 10) == b""
    sock.close()


async def test_two_gate_calls_at_once_each_get_their_own_media(service: Service, watcher: EventWatcher) -> None:
    visitors = [SimulatedVisitor("visitor-hello", f"t-{uuid.uuid4().hex[:8]}", lead_s=1) for _ in range(2)]
    channels = await asyncio.gather(*(call_gate(service.ari, v) for v in visitors))
    call_ids = [(await watcher.wait_for("stasis_start", channel=c["id"]))["call_id"] for c in channels]
    assert len(set(call_ids)) == 2
    for call_id in call_ids:
        await watcher.wait_for("speech_end", call_id=call_id)
    for channel in channels:
        await service.ari.delete(f"channels/{channel['id']}")
    for call_id, channel in zip(call_ids, channels, strict=True):
        await watcher.wait_for("call_end", call_id=call_id)
        await _nothing_of_ours_left(service, call_id, channel["id"])
