"""The SIP intercom's ear: a UDP socket where Asterisk sends the gate call's RTP, as a real intercom receives it.

It keeps every packet with its arrival time, and reads back what a device would act on: RFC 4733 keypad events
(one digit per event, however many updates and end packets carry it) and G.711 μ-law audio, in which in-band
DTMF tones are found with a Goertzel filter per DTMF frequency.
"""

from __future__ import annotations

import asyncio
import math
import struct
from dataclasses import dataclass

import numpy as np

from tests.support.rtp_pcap import DTMF_PT, DTMF_TONES

_CODES = "0123456789*#ABCD"  # RFC 4733 event codes 0-15
_ROWS = sorted({low for low, _ in DTMF_TONES.values()})
_COLUMNS = sorted({high for _, high in DTMF_TONES.values()})
_BY_FREQUENCIES = {pair: digit for digit, pair in DTMF_TONES.items()}


@dataclass(frozen=True, slots=True)
class Packet:
    at: float  # the event loop's clock on arrival
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    payload: bytes


class RtpListener(asyncio.DatagramProtocol):
    """Open with :meth:`bind`; the port goes in the intercom's SDP (tests/support/sip.py)."""

    def __init__(self) -> None:
        self.packets: list[Packet] = []
        self.malformed = 0
        self._transport: asyncio.BaseTransport | None = None

    @classmethod
    async def bind(cls, port: int) -> RtpListener:
        loop = asyncio.get_running_loop()
        _, listener = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", port))
        return listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            self.malformed += 1
            return
        second, seq, timestamp = struct.unpack("!xBHI", data[:8])
        offset = 12 + 4 * (data[0] & 0x0F)  # CSRCs
        at = asyncio.get_running_loop().time()
        self.packets.append(Packet(at, second & 0x7F, bool(second & 0x80), seq, timestamp, data[offset:]))

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _between(self, since: float, until: float) -> list[Packet]:
        return [p for p in self.packets if since <= p.at < until]

    def events(self, since: float = -math.inf, until: float = math.inf) -> str:
        """The keypad digits sent as RFC 4733 events, in the order they started (packets that arrived in
        [since, until) on the loop's clock)."""
        digits: dict[int, str] = {}  # event timestamp -> digit (updates and end packets share the timestamp)
        for packet in self._between(since, until):
            if packet.payload_type == DTMF_PT and len(packet.payload) >= 4:
                digits.setdefault(packet.timestamp, _CODES[packet.payload[0] & 0x0F])
        return "".join(digits.values())

    def audio(self, since: float = -math.inf, until: float = math.inf) -> np.ndarray:
        """The μ-law audio (payload type 0) as 8 kHz int16, in sequence order (gaps are not filled)."""
        frames = sorted((p for p in self._between(since, until) if p.payload_type == 0), key=lambda p: p.seq)
        return ulaw_decode(b"".join(p.payload for p in frames))


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law to linear 16-bit (ITU-T G.711)."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84 << ((u >> 4) & 0x07)) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


def _power(block: np.ndarray, frequency: int, rate: int) -> float:
    """Goertzel: the block's power at one frequency."""
    coefficient = 2 * np.cos(2 * np.pi * frequency / rate)
    s1 = s2 = 0.0
    for sample in block:
        s1, s2 = float(sample) + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def inband_digits(samples: np.ndarray, rate: int = 8000, block_s: float = 0.02) -> str:
    """The DTMF digits in the audio: a digit is a row and a column tone holding most of a block's energy for
    two blocks running; it is counted once until a block without it."""
    size = round(block_s * rate)
    digits, previous, held = [], None, 0
    for start in range(0, len(samples) - size + 1, size):
        block = samples[start : start + size].astype(np.float64)
        energy = float(np.dot(block, block)) * size / 2  # what a pure tone's Goertzel power would be
        found = None
        if energy > size * 100.0**2:  # quieter than about -50 dBFS is no key
            rows = [_power(block, f, rate) for f in _ROWS]
            columns = [_power(block, f, rate) for f in _COLUMNS]
            row, column = int(np.argmax(rows)), int(np.argmax(columns))
            if (rows[row] + columns[column]) > 0.6 * energy:
                found = _BY_FREQUENCIES.get((_ROWS[row], _COLUMNS[column]))
        held = held + 1 if found is not None and found == previous else (1 if found is not None else 0)
        if found is not None and held == 2:
            digits.append(found)
        previous = found
    return "".join(digits)
