"""RTP for the SIP test phones: packets 20 ms apart, written as a pcap that sipp plays (`play_pcap_audio`).

Audio frames in G.711 or G.722 (encoded elsewhere), silence as a gap in the packets (an intercom with silence
suppression), RFC 4733 keypad events, and in-band DTMF tones to mix into audio.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CODECS = {"ulaw": (0, "PCMU/8000"), "alaw": (8, "PCMA/8000"), "g722": (9, "G722/8000")}
DTMF_PT = 101
FRAME_BYTES = 160  # 20 ms of G.711 (8 kHz, 8 bits) and of G.722 (64 kbit/s)
FRAME_TICKS = 160  # RTP clock ticks per 20 ms: 8000 Hz for all three (G.722's clock is 8000 by RFC 3551)
_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
DTMF_TONES = {  # DTMF row / column frequencies
    "1": (697, 1209),
    "2": (697, 1336),
    "3": (697, 1477),
    "4": (770, 1209),
    "5": (770, 1336),
    "6": (770, 1477),
    "7": (852, 1209),
    "8": (852, 1336),
    "9": (852, 1477),
    "*": (941, 1209),
    "0": (941, 1336),
    "#": (941, 1477),
}


def tones(digits: str, rate: int = 16000, on_s: float = 0.15, off_s: float = 0.15) -> np.ndarray:
    """In-band DTMF: each digit's two tones for `on_s` at about -9 dBFS each, then `off_s` of silence."""
    out = []
    t = np.arange(int(on_s * rate)) / rate
    for digit in digits:
        low, high = DTMF_TONES[digit]
        out.append((0.35 * np.sin(2 * np.pi * low * t) + 0.35 * np.sin(2 * np.pi * high * t)) * 32767)
        out.append(np.zeros(int(off_s * rate)))
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(payload: bytes) -> bytes:
    """Ethernet / IPv4 / UDP around one RTP packet; sipp replaces the addresses and ports when it plays it."""
    udp = struct.pack("!HHHH", 10000, 20000, 8 + len(payload), 0) + payload
    loopback = bytes([127, 0, 0, 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, loopback, loopback)
    ip = ip[:10] + struct.pack("!H", _ipv4_checksum(ip)) + ip[12:]
    return b"\0" * 6 + b"\0" * 6 + b"\x08\x00" + ip + udp


@dataclass(frozen=True, slots=True)
class Impairment:
    """A street-side network: 20 +- 15 ms of jitter and 2 % loss by default."""

    delay_ms: float = 20.0
    jitter_ms: float = 15.0
    loss: float = 0.02
    seed: int = 7


class RtpPcap:
    """An RTP stream (one SSRC, 20 ms apart) written as a pcap sipp can play (`play_pcap_audio`)."""

    def __init__(self) -> None:
        self._packets: list[tuple[float, bytes]] = []
        self._seq = 1
        self._ticks = 0
        self._at = 0.0
        self.lost = 0
        self.reordered = 0

    def _rtp(self, payload_type: int, payload: bytes, *, marker: bool = False, ticks: int | None = None) -> None:
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | payload_type,
            self._seq & 0xFFFF,
            self._ticks if ticks is None else ticks,
            0x5EED5EED,
        )
        self._packets.append((self._at, _packet(header + payload)))
        self._seq += 1
        self._at += 0.02

    def audio(self, payload_type: int, encoded: bytes) -> None:
        for start in range(0, len(encoded), FRAME_BYTES):
            self._rtp(payload_type, encoded[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff"))
            self._ticks += FRAME_TICKS

    def silence(self, seconds: float) -> None:
        """No packets for `seconds` (an intercom with silence suppression), the clock going on."""
        frames = round(seconds / 0.02)
        self._at += frames * 0.02
        self._ticks += frames * FRAME_TICKS

    def events(self, digits: str, on_s: float = 0.2, off_s: float = 0.2) -> None:
        """RFC 4733: per digit, updates every 20 ms with the event's start timestamp, then three end packets."""
        for digit in digits:
            start, steps = self._ticks, round(on_s / 0.02)
            for step in range(1, steps + 1):
                payload = struct.pack("!BBH", _EVENTS[digit], 10, step * FRAME_TICKS)
                self._rtp(DTMF_PT, payload, marker=step == 1, ticks=start)
            for _ in range(3):  # the end is sent three times (RFC 4733 2.5.1.4): a lost packet must not hold a key
                payload = struct.pack("!BBH", _EVENTS[digit], 0x80 | 10, steps * FRAME_TICKS)
                self._rtp(DTMF_PT, payload, ticks=start)
            self._ticks += steps * FRAME_TICKS
            self.silence(off_s)

    def impair(self, impairment: Impairment) -> None:
        """The network between intercom and Asterisk, in the send times: each packet late by a random 0 to
        2 x `jitter_ms` around `delay_ms` (so later packets overtake earlier ones: reordering), and `loss` of them
        never sent. Seeded: the same impairment every run."""
        rng = random.Random(impairment.seed)
        kept = []
        for at, packet in self._packets:
            if rng.random() < impairment.loss:
                continue
            late = impairment.delay_ms + rng.uniform(-impairment.jitter_ms, impairment.jitter_ms)
            kept.append((at + max(0.0, late) / 1000, packet))
        self.lost = len(self._packets) - len(kept)
        self.reordered = sum(1 for one, two in zip(kept, kept[1:], strict=False) if two[0] < one[0])
        self._packets = sorted(kept, key=lambda item: item[0])

    def write(self, path: Path) -> None:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for at, packet in self._packets:
            seconds, micros = divmod(round(at * 1e6), 1_000_000)
            out.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)) + packet)
        path.write_bytes(b"".join(out))

    @property
    def seconds(self) -> float:
        return self._at
