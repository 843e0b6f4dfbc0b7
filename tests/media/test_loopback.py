"""The real AudioSocketServer over loopback with a simulated Asterisk client: structure, not timing.

The client sends a UUID, paced speech frames, a DTMF digit, then nothing (as Asterisk does in silence), and
records the frames our playout sends back. Assertions are on counts, order and content; the one statistic on
intervals is deliberately loose (a loaded CI machine must not fail it).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import uuid
import wave
from pathlib import Path

import numpy as np
import pytest

from audiosocket.media_leg import LegClosed, MediaLeg, UtteranceEnded, UtteranceStarted
from audiosocket.protocol import Audio, Decoder, Dtmf, Uuid, encode
from audiosocket.server import AudioSocketServer
from audiosocket.vad import make_vad

from .fakes import RecordingSink

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "media" / "mercado.wav"


def numbered_prompt(frames: int, rate: int) -> bytes:
    """Each 20 ms frame filled with its own index, so the receiver can check order and gaps."""
    size = rate // 50
    return b"".join(np.full(size, n + 1, dtype="<i2").tobytes() for n in range(frames))


def speech_16k() -> bytes:
    with wave.open(str(FIXTURE)) as wav:
        return bytes(wav.readframes(wav.getnframes()))


async def test_loopback_call_leg() -> None:
    rate = 16000
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    connection_id = uuid.uuid4()
    accepted = server.expect(connection_id, "call-1", "gate")
    sink = RecordingSink()
    received: list[tuple[float, Audio]] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode(Uuid(connection_id)))
        connection = await asyncio.wait_for(accepted, 5)

        async def listen() -> None:
            decoder = Decoder()
            while data := await reader.read(65536):
                now = time.monotonic()
                for frame in decoder.feed(data):
                    assert isinstance(frame, Audio)
                    received.append((now, frame))

        async def talk() -> None:
            pcm = speech_16k()
            size = rate // 50 * 2
            start = time.monotonic()
            for n, offset in enumerate(range(0, len(pcm) - size + 1, size)):
                await asyncio.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
                writer.write(encode(Audio(pcm[offset : offset + size], rate), as_asterisk=True))
            writer.write(encode(Dtmf("5"), as_asterisk=True))

        listener = asyncio.create_task(listen())
        async with MediaLeg(
            connection, rate, vad=make_vad("silero", rate), events=sink, call_id="call-1", leg="gate"
        ) as leg:
            talker = asyncio.create_task(talk())
            result = await leg.say(numbered_prompt(100, rate), protected=True)
            await talker
            events: list[object] = []
            while not any(isinstance(e, UtteranceEnded) for e in events) or leg.dtmf_frames < 1:
                events.append(await asyncio.wait_for(leg.next_event(), 10))
            writer.close()
            closed = await asyncio.wait_for(leg.next_event(), 5)
        listener.cancel()
    finally:
        await server.stop()

    assert not result.interrupted and result.played_ms == 2000
    indexes = [int.from_bytes(frame.pcm[:2], "little") for _, frame in received]
    first = indexes.index(1)
    assert indexes[first : first + 100] == list(range(1, 101))  # every frame, in order, no gaps
    assert set(indexes[:first] + indexes[first + 100 :]) <= {0}  # idle silence around the prompt
    assert all(len(frame.pcm) == 640 and frame.sample_rate == rate for _, frame in received)
    intervals = [b - a for (a, _), (b, _) in zip(received, received[1:], strict=False)]
    assert 0.010 < statistics.median(intervals) < 0.030
    assert (received[first + 99][0] - received[first][0]) > 99 * 0.02 * 0.8  # paced, not dumped at once

    started = [e for e in events if isinstance(e, UtteranceStarted)]
    ended = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(started) == 1 and len(ended) == 1
    assert 500 < ended[0].duration_ms < 2000
    assert leg.dtmf_frames == 1  # the DTMF frame was read and set aside (the call takes digits from ARI)
    assert isinstance(closed, LegClosed)
    assert [e["event"] for e in sink.events if e["event"].startswith("playout")] == ["playout_start", "playout_stop"]


async def test_stopping_the_server_with_live_connections_logs_no_asyncio_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    connection_id = uuid.uuid4()
    accepted = server.expect(connection_id, "call-1", "gate")
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode(Uuid(connection_id)))
    connection = await asyncio.wait_for(accepted, 5)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        await server.stop()
        await asyncio.sleep(0.05)
    writer.close()
    assert connection.closed.is_set() and connection.close_reason == "server stopping"
    assert "Exception in callback" not in caplog.text
