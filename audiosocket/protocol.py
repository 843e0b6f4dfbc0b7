"""AudioSocket wire protocol, sans I/O: bytes in, typed frames out, and back.

Every message is a 3-byte header (kind, 16-bit big-endian payload length) followed by the payload.
Asterisk sends one UUID frame first, then audio (signed 16-bit little-endian mono PCM), DTMF, hangup and
error frames. The server may send only audio and hangup: a DTMF frame sent to Asterisk hangs the channel up,
so :func:`encode` refuses it.

Nothing here imports asyncio or touches a socket; the server feeds :class:`Decoder` whatever the network
delivers, split anywhere, and gets whole frames back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER_SIZE = 3
# The largest frame Asterisk emits is 20 ms at 192 kHz (7680 bytes); anything beyond this is garbage.
MAX_PAYLOAD = 8192


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN_8K = 0x10
    SLIN_12K = 0x11
    SLIN_16K = 0x12
    SLIN_24K = 0x13
    SLIN_32K = 0x14
    SLIN_44K = 0x15
    SLIN_48K = 0x16
    SLIN_96K = 0x17
    SLIN_192K = 0x18
    ERROR = 0xFF


SAMPLE_RATES: dict[Kind, int] = {
    Kind.SLIN_8K: 8000,
    Kind.SLIN_12K: 12000,
    Kind.SLIN_16K: 16000,
    Kind.SLIN_24K: 24000,
    Kind.SLIN_32K: 32000,
    Kind.SLIN_44K: 44100,
    Kind.SLIN_48K: 48000,
    Kind.SLIN_96K: 96000,
    Kind.SLIN_192K: 192000,
}
AUDIO_KINDS: dict[int, Kind] = {rate: kind for kind, rate in SAMPLE_RATES.items()}


class ErrorCode(IntEnum):
    NONE = 0x00
    CALLER_HANGUP = 0x01
    FRAME_FORWARDING = 0x02
    MEMORY = 0x04


class ProtocolError(Exception):
    """The peer sent bytes that are not AudioSocket; the connection must be closed."""


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Uuid:
    value: uuid.UUID


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Audio:
    pcm: bytes
    sample_rate: int

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate * 1000


@dataclass(frozen=True, slots=True)
class Error:
    code: int


Frame = Hangup | Uuid | Dtmf | Audio | Error

_DTMF_DIGITS = frozenset("0123456789*#ABCD")


def _decode_payload(kind: Kind, payload: bytes) -> Frame:
    """The frame a payload carries; its kind and length were already judged by :func:`_check_header`."""
    match kind:
        case Kind.HANGUP:
            return Hangup()
        case Kind.UUID:
            return Uuid(uuid.UUID(bytes=payload))
        case Kind.DTMF:
            digit = payload.decode("ascii", errors="replace")
            if digit not in _DTMF_DIGITS:
                raise ProtocolError(f"DTMF frame must carry one digit, got {payload!r}")
            return Dtmf(digit)
        case Kind.ERROR:
            return Error(payload[0] if payload else ErrorCode.NONE)
        case _:
            return Audio(payload, SAMPLE_RATES[kind])


_FIXED_LENGTHS = {Kind.UUID: 16, Kind.DTMF: 1}


def _check_header(kind_byte: int, length: int, max_payload: int) -> Kind:
    try:
        kind = Kind(kind_byte)
    except ValueError:
        raise ProtocolError(f"unknown frame kind 0x{kind_byte:02x}") from None
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the {max_payload}-byte limit")
    expected = _FIXED_LENGTHS.get(kind)
    if expected is not None and length != expected:
        raise ProtocolError(f"{kind.name} frame must carry {expected} bytes, got {length}")
    if kind in SAMPLE_RATES and length % 2:
        raise ProtocolError(f"audio frame with odd length {length}")
    return kind


class Decoder:
    """Resumable frame parser: feed it any slice of the stream, get the complete frames it finished."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= HEADER_SIZE:
            length = int.from_bytes(self._buffer[1:3], "big")
            # Judge the header before waiting for its payload: garbage (an HTTP request, a port scanner) is
            # refused on its first 3 bytes instead of after up to MAX_PAYLOAD more.
            kind = _check_header(self._buffer[0], length, self._max_payload)
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[HEADER_SIZE:end])
            del self._buffer[:end]
            if kind in SAMPLE_RATES and not payload:
                continue  # no samples: nothing to hear, and a zero-length frame would upset frame timing
            frames.append(_decode_payload(kind, payload))
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held back (non-zero at EOF means the peer cut a frame)."""
        return len(self._buffer)


def header(kind: Kind, length: int) -> bytes:
    return bytes((kind,)) + length.to_bytes(2, "big")


def encode(frame: Frame, *, as_asterisk: bool = False) -> bytes:
    """Serialize one frame. Refuses sizes the wire cannot carry, and DTMF unless the caller plays
    Asterisk's side (a simulator or the microphone client): sent *to* Asterisk, DTMF hangs the channel up."""
    match frame:
        case Hangup():
            return header(Kind.HANGUP, 0)
        case Uuid(value):
            return header(Kind.UUID, 16) + value.bytes
        case Audio(pcm, rate):
            kind = AUDIO_KINDS.get(rate)
            if kind is None:
                raise ValueError(f"no AudioSocket kind for {rate} Hz")
            if len(pcm) > MAX_PAYLOAD or len(pcm) % 2:
                raise ValueError(f"audio payload of {len(pcm)} bytes cannot be sent")
            return header(kind, len(pcm)) + pcm
        case Error(code):
            return header(Kind.ERROR, 1) + bytes((code,))
        case Dtmf(digit):
            if not as_asterisk:
                raise ValueError("DTMF must never be sent to Asterisk: it hangs the channel up")
            if digit not in _DTMF_DIGITS:
                raise ValueError(f"not a DTMF digit: {digit!r}")
            return header(Kind.DTMF, 1) + digit.encode("ascii")
    raise TypeError(f"not a frame: {frame!r}")


def frame_bytes(sample_rate: int, ms: int = 20) -> int:
    """Bytes of signed 16-bit mono PCM in `ms` milliseconds (320 for 20 ms at 8 kHz)."""
    return sample_rate * ms // 1000 * 2
