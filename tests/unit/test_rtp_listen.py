"""The intercom's ear (tests/support/rtp_listen.py) decides the door-code tests: it must read RTP the way a
device would, over a real UDP socket."""

from __future__ import annotations

import asyncio
import socket
import struct

import numpy as np

from tests.support.rtp_listen import RtpListener, inband_digits, ulaw_decode
from tests.support.rtp_pcap import DTMF_PT, tones


def _rtp(payload_type: int, seq: int, timestamp: int, payload: bytes, *, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type, seq, timestamp, 1) + payload


def test_ulaw_decodes_the_g711_reference_points() -> None:
    decoded = ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E, 0xEF]))
    assert decoded.tolist() == [0, 0, 32124, -32124, 8, -8, 132]


def test_inband_digits_are_found_once_each_in_order() -> None:
    signal = tones("*7#0", rate=8000, on_s=0.1, off_s=0.1)
    assert inband_digits(signal) == "*7#0"


def test_inband_digits_ignore_speech_like_noise_and_quiet_tones() -> None:
    rng = np.random.default_rng(3)
    noise = (rng.normal(0, 3000, 8000)).astype(np.int16)
    quiet = (tones("5", rate=8000) / 1000).astype(np.int16)  # about -60 dBFS
    assert inband_digits(np.concatenate([noise, quiet])) == ""


def test_a_key_held_across_a_gap_is_two_presses_but_one_held_key_is_one() -> None:
    held = tones("9", rate=8000, on_s=0.5, off_s=0.0)
    assert inband_digits(held) == "9"
    assert inband_digits(np.concatenate([held, np.zeros(400, np.int16), held])) == "99"


async def test_events_and_audio_come_back_from_real_datagrams() -> None:
    listener = await RtpListener.bind(0)
    port = listener.port
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sent = [
                _rtp(0, 2, 160, b"\xff" * 160),
                _rtp(0, 1, 0, b"\x80" * 160),  # reordered: audio() puts it first
                *(_rtp(DTMF_PT, 3 + i, 320, bytes([11, 10]) + struct.pack("!H", 160 * i), marker=i == 0)
                  for i in range(4)),  # "#": updates then ends, one event timestamp
                *(_rtp(DTMF_PT, 7 + i, 960, bytes([1, 0x8A, 0, 160])) for i in range(3)),  # "1": only its ends
                b"\x00\x01",  # not RTP
            ]
            for datagram in sent:
                sender.sendto(datagram, ("127.0.0.1", port))
        for _ in range(100):
            if len(listener.packets) + listener.malformed == len(sent):
                break
            await asyncio.sleep(0.01)
        assert listener.malformed == 1
        assert listener.events() == "#1"
        audio = listener.audio()
        assert len(audio) == 320 and audio[0] == 32124 and audio[-1] == 0
    finally:
        listener.close()
