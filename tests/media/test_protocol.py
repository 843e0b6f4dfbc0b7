"""The AudioSocket codec, sans I/O: a table of (frame, bytes) checked both ways, every input split at every offset."""

from __future__ import annotations

import uuid

import pytest

from audiosocket.protocol import (
    MAX_PAYLOAD,
    SAMPLE_RATES,
    Audio,
    Decoder,
    Dtmf,
    Error,
    ErrorCode,
    Frame,
    Hangup,
    Kind,
    ProtocolError,
    Uuid,
    encode,
    frame_bytes,
)

CALL = uuid.UUID("12345678-1234-5678-1234-567812345678")
PCM = bytes(range(8)) * 2

# (frame, its bytes on the wire): every kind, every sample rate.
TABLE: list[tuple[Frame, bytes]] = [
    (Hangup(), b"\x00\x00\x00"),
    (Uuid(CALL), b"\x01\x00\x10" + CALL.bytes),
    (Error(ErrorCode.CALLER_HANGUP), b"\xff\x00\x01\x01"),
    (Error(ErrorCode.FRAME_FORWARDING), b"\xff\x00\x01\x02"),
    (Error(ErrorCode.MEMORY), b"\xff\x00\x01\x04"),
    *[(Audio(PCM, rate), bytes((kind, 0, len(PCM))) + PCM) for kind, rate in SAMPLE_RATES.items()],
]
DTMF_TABLE: list[tuple[Frame, bytes]] = [(Dtmf(d), b"\x03\x00\x01" + d.encode()) for d in "0123456789*#ABCD"]


@pytest.mark.parametrize(("frame", "wire"), TABLE + DTMF_TABLE)
def test_decode_table(frame: Frame, wire: bytes) -> None:
    assert Decoder().feed(wire) == [frame]


@pytest.mark.parametrize(("frame", "wire"), TABLE)
def test_encode_table(frame: Frame, wire: bytes) -> None:
    assert encode(frame) == wire


@pytest.mark.parametrize(("frame", "wire"), DTMF_TABLE)
def test_dtmf_is_encoded_only_for_the_asterisk_side(frame: Frame, wire: bytes) -> None:
    with pytest.raises(ValueError, match="hangs the channel up"):
        encode(frame)
    assert encode(frame, as_asterisk=True) == wire


def test_every_sample_rate_has_a_distinct_kind() -> None:
    assert sorted(SAMPLE_RATES.values()) == [8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000]
    assert [int(k) for k in SAMPLE_RATES] == list(range(0x10, 0x19))


def test_audio_duration_and_frame_size() -> None:
    assert frame_bytes(8000) == 320
    assert frame_bytes(16000) == 640
    assert frame_bytes(192000) == 7680 <= MAX_PAYLOAD
    assert Audio(bytes(640), 16000).duration_ms == 20


def test_a_stream_split_at_every_offset_decodes_to_the_same_frames() -> None:
    frames = [frame for frame, _ in TABLE + DTMF_TABLE]
    stream = b"".join(wire for _, wire in TABLE + DTMF_TABLE)
    for cut in range(len(stream) + 1):
        decoder = Decoder()
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert got == frames, cut
        assert decoder.pending == 0


def test_byte_by_byte_feeding() -> None:
    stream = b"".join(wire for _, wire in TABLE)
    decoder = Decoder()
    got: list[Frame] = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert got == [frame for frame, _ in TABLE]


def test_a_cut_frame_is_reported_as_pending() -> None:
    decoder = Decoder()
    assert decoder.feed(encode(Audio(bytes(320), 8000))[:100]) == []
    assert decoder.pending == 100


def test_largest_real_frame_is_accepted() -> None:
    big = Audio(bytes(frame_bytes(192000)), 192000)
    assert Decoder().feed(encode(big)) == [big]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x10" + (MAX_PAYLOAD + 1).to_bytes(2, "big"), "exceeds"),
        (b"\xff\xff\xff", "exceeds"),
        (b"GET / HTTP/1.1\r\n", "unknown frame kind 0x47"),
        (b"\x02\x00\x00", "unknown frame kind 0x02"),
        (b"\x19\x00\x02\x00\x00", "unknown frame kind 0x19"),
        (b"\x01\x00\x0f" + bytes(15), "UUID frame must carry 16"),
        (b"\x01\x00\x11" + bytes(17), "UUID frame must carry 16"),
        (b"\x03\x00\x02" + b"12", "DTMF frame must carry 1"),
        (b"\x03\x00\x01" + b"x", "one digit"),
        (b"\x03\x00\x00", "DTMF frame must carry 1"),
        (b"\x10\x00\x03" + bytes(3), "odd length"),
        (b"\x12\x00\x01" + bytes(1), "odd length"),
    ],
)
def test_malformed_input_raises_protocol_error(wire: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        Decoder().feed(wire)


def test_garbage_is_refused_on_its_header_before_the_payload_arrives() -> None:
    with pytest.raises(ProtocolError):
        Decoder().feed(b"\x47\x45\x54")


def test_frames_before_a_malformed_one_are_not_lost_silently() -> None:
    decoder = Decoder()
    assert decoder.feed(encode(Hangup())) == [Hangup()]
    with pytest.raises(ProtocolError):
        decoder.feed(b"\x7f\x00\x00")


def test_smaller_payload_limit() -> None:
    with pytest.raises(ProtocolError, match="exceeds the 320-byte limit"):
        Decoder(max_payload=320).feed(encode(Audio(bytes(640), 16000)))


def test_error_frame_without_payload_means_no_code() -> None:
    assert Decoder().feed(b"\xff\x00\x00") == [Error(ErrorCode.NONE)]


@pytest.mark.parametrize(
    "frame",
    [Audio(bytes(3), 8000), Audio(bytes(MAX_PAYLOAD + 2), 8000), Audio(bytes(2), 11025), Dtmf("x")],
)
def test_encode_refuses_what_the_wire_cannot_carry(frame: Frame) -> None:
    with pytest.raises(ValueError):
        encode(frame, as_asterisk=True)


def test_encode_refuses_non_frames() -> None:
    with pytest.raises(TypeError):
        encode(object())  # type: ignore[arg-type]


def test_kind_values_match_the_asterisk_header() -> None:
    assert (Kind.HANGUP, Kind.UUID, Kind.DTMF, Kind.SLIN_8K, Kind.SLIN_16K, Kind.ERROR) == (0, 1, 3, 0x10, 0x12, 0xFF)


def test_an_audio_frame_without_samples_is_skipped() -> None:
    """Found by tests/media/test_fuzz.py: a zero-length audio frame decoded to an Audio with no samples."""
    assert Decoder().feed(b"\x10\x00\x00" + b"\x00\x00\x00") == [Hangup()]
