"""Property-based fuzzing of the AudioSocket decoder and of the live server (hostile input).

The suite runs a few thousand generated inputs per property (``HYPOTHESIS_PROFILE=ci``, the default here); the
long run, ``HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/media/test_fuzz.py``, generates over 100,000 and
its result is in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiosocket.protocol import (
    SAMPLE_RATES,
    Audio,
    Decoder,
    Dtmf,
    Error,
    Frame,
    Hangup,
    ProtocolError,
    Uuid,
    encode,
)
from audiosocket.server import AudioSocketServer

settings.register_profile("ci", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=60000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_KINDS = [0x00, 0x01, 0x03, *SAMPLE_RATES, 0xFF]
_header_then_noise = st.builds(
    lambda kind, length, payload: bytes([kind]) + length.to_bytes(2, "big") + payload,
    st.sampled_from(_KINDS) | st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.binary(max_size=64),
)
_hostile = st.lists(st.binary(max_size=300) | _header_then_noise, min_size=1, max_size=8).map(b"".join)

_valid_frame: st.SearchStrategy[Frame] = st.one_of(
    st.just(Hangup()),
    st.uuids().map(Uuid),
    st.sampled_from("0123456789*#").map(Dtmf),
    st.builds(
        Audio,
        st.integers(1, 160).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n)),
        st.sampled_from(sorted(set(SAMPLE_RATES.values()))),
    ),
)


def _feed_in_pieces(data: bytes, cuts: list[int]) -> list[Frame]:
    decoder, frames, start = Decoder(), [], 0
    for cut in sorted(min(c, len(data)) for c in cuts) + [len(data)]:
        frames += decoder.feed(data[start:cut])
        start = cut
    return frames


@given(_hostile, st.lists(st.integers(0, 2400), max_size=6))
def test_hostile_bytes_give_frames_or_a_protocol_error_never_a_crash(data: bytes, cuts: list[int]) -> None:
    try:
        frames = _feed_in_pieces(data, cuts)
    except ProtocolError:
        return
    assert all(isinstance(frame, Hangup | Uuid | Dtmf | Audio | Error) for frame in frames)
    assert all(len(frame.pcm) % 2 == 0 and frame.pcm for frame in frames if isinstance(frame, Audio))


@given(st.lists(_valid_frame, min_size=1, max_size=20), st.lists(st.integers(0, 4000), max_size=10))
def test_valid_streams_decode_to_the_same_frames_however_they_are_split(frames: list[Frame], cuts: list[int]) -> None:
    wire = b"".join(encode(frame, as_asterisk=True) for frame in frames)
    assert _feed_in_pieces(wire, cuts) == frames


@settings(max_examples=40 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 800)
@given(st.lists(_hostile, min_size=1, max_size=12))
def test_the_live_server_refuses_hostile_connections_and_a_call_beside_them_is_unaffected(
    garbage: list[bytes],
) -> None:
    asyncio.run(_live(garbage))


async def _live(garbage: list[bytes]) -> None:
    server = AudioSocketServer("127.0.0.1", 0, uuid_timeout=0.5)
    await server.start()
    try:
        call = uuid.uuid4()
        expected = server.expect(call, "fuzz", "gate")
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode(Uuid(call)))
        connection = await asyncio.wait_for(expected, 5)
        got: list[Audio | Dtmf] = []
        arrived = asyncio.Event()

        def receive(item: Audio | Dtmf) -> None:
            got.append(item)
            arrived.set()

        connection.receive(receive)

        async def hostile(data: bytes) -> None:
            _, bad = await asyncio.open_connection("127.0.0.1", server.port)
            bad.write(data)
            await bad.drain()
            bad.close()

        frames = [Audio(bytes([n]) * 320, 8000) for n in range(1, 26)]
        for index, frame in enumerate(frames):  # the call's audio, interleaved with the attack
            writer.write(encode(frame, as_asterisk=True))
            if index < len(garbage):
                await hostile(garbage[index])
        await writer.drain()
        async with asyncio.timeout(5):
            while len(got) < len(frames):
                arrived.clear()
                await arrived.wait()
        assert got == frames and not connection.closed.is_set()
        writer.close()
        del reader
    finally:
        await server.stop()
