"""A SIP gate intercom for tests: sipp (in the test bed's chroot) calling Asterisk over real SIP and RTP.

The intercom's audio is a pcap of RTP packets built here from a fixture WAV, encoded by the test bed's own
Asterisk (``file convert``: ulaw, alaw, g722), so the codec is Asterisk's. Keypad digits go the three ways
intercoms send them: RFC 4733 events in the RTP stream, SIP INFO (``application/dtmf-relay``), or tones in the
audio. The scenario is written per call; the call ends when Asterisk sends BYE (the test or the concierge hangs up).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.testbed import Testbed

CODECS = {"ulaw": (0, "PCMU/8000"), "alaw": (8, "PCMA/8000"), "g722": (9, "G722/8000")}
DTMF_PT = 101
FRAME_BYTES = 160  # 20 ms of G.711 (8 kHz, 8 bits) and of G.722 (64 kbit/s)
FRAME_TICKS = 160  # RTP clock ticks per 20 ms: 8000 Hz for all three (G.722's clock is 8000 by RFC 3551)
_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
_TONES = {  # DTMF row / column frequencies
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
}


@dataclass(frozen=True, slots=True)
class Intercom:
    """What one call of the intercom does."""

    endpoint: str  # the pjsip endpoint it presents as (tests/asterisk/pjsip-test.conf)
    codec: str = "ulaw"
    utterance: str | None = None  # tests/fixtures/audio/<name>.wav, said after `lead_s`
    digits: str = ""  # keyed after the utterance, the way `dtmf` says
    dtmf: str = "rfc4733"  # rfc4733 | info | inband
    lead_s: float = 4.0  # the greeting plays meanwhile


def tones(digits: str, rate: int = 16000, on_s: float = 0.15, off_s: float = 0.15) -> np.ndarray:
    """In-band DTMF: each digit's two tones for `on_s` at about -9 dBFS each, then `off_s` of silence."""
    out = []
    t = np.arange(int(on_s * rate)) / rate
    for digit in digits:
        low, high = _TONES[digit]
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


class RtpPcap:
    """An RTP stream (one SSRC, 20 ms apart) written as a pcap sipp can play (`play_pcap_audio`)."""

    def __init__(self) -> None:
        self._packets: list[tuple[float, bytes]] = []
        self._seq = 1
        self._ticks = 0
        self._at = 0.0

    def _rtp(self, payload_type: int, payload: bytes, *, marker: bool = False, ticks: int | None = None) -> None:
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | payload_type, self._seq & 0xFFFF,
            self._ticks if ticks is None else ticks, 0x5EED5EED,
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

    def write(self, path: Path) -> None:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for at, packet in self._packets:
            seconds, micros = divmod(round(at * 1e6), 1_000_000)
            out.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)) + packet)
        path.write_bytes(b"".join(out))

    @property
    def seconds(self) -> float:
        return self._at


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free_media_port() -> int:
    """An even port whose next one is free too (sipp uses media_port and media_port + 2 for audio and RTCP)."""
    for _ in range(50):
        port = _free_udp_port() & ~1
        try:
            for candidate in (port, port + 1, port + 2, port + 3):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP ports for sipp's media")


class SipGate:
    """Runs :class:`Intercom` calls with sipp inside the test bed's chroot."""

    def __init__(self, testbed: Testbed, fixtures: Path) -> None:
        self.testbed = testbed
        self.fixtures = fixtures
        self.sip_port = int(testbed.env.get("PORTARIA_TESTBED_SIP_PORT", "5060"))

    def _encode(self, pcm16k: np.ndarray, codec: str, work: Path) -> bytes:
        source = work / "audio.wav16"
        with wave.open(str(source), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(pcm16k.astype("<i2").tobytes())
        inside = "/" + str(work.relative_to(self.testbed.root))
        self.testbed.cli(f"file convert {inside}/audio.wav16 {inside}/audio.{codec}")
        return (work / f"audio.{codec}").read_bytes()

    def _audio(self, intercom: Intercom, work: Path) -> RtpPcap:
        pcap = RtpPcap()
        parts: list[np.ndarray] = []
        if intercom.utterance is not None:
            with wave.open(str(self.fixtures / f"{intercom.utterance}.wav")) as handle:
                assert handle.getframerate() == 16000, "fixtures are 16 kHz"
                parts.append(np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2"))
        if intercom.digits and intercom.dtmf == "inband":
            parts += [np.zeros(8000, np.int16), tones(intercom.digits)]
        payload_type = CODECS[intercom.codec][0]
        if parts:
            pcap.audio(payload_type, self._encode(np.concatenate(parts), intercom.codec, work))
        if intercom.digits and intercom.dtmf == "rfc4733":
            pcap.silence(0.5)
            pcap.events(intercom.digits)
        return pcap

    def scenario(self, intercom: Intercom, pcap: str | None) -> str:
        """The call: INVITE, `lead_s`, then the pcap plays (in the background) while SIP INFO digits, if any, go
        out; then it waits for Asterisk's BYE."""
        payload_type, rtpmap = CODECS[intercom.codec]
        sdp_formats = f"{payload_type} {DTMF_PT}"
        info = "".join(
            _INFO.format(endpoint=intercom.endpoint, cseq=2 + index, digit=digit)
            for index, digit in enumerate(intercom.digits if intercom.dtmf == "info" else "")
        )
        return _SCENARIO.format(
            endpoint=intercom.endpoint, formats=sdp_formats, payload_type=payload_type, rtpmap=rtpmap,
            dtmf_pt=DTMF_PT, lead_ms=round(intercom.lead_s * 1000),
            play=f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>' if pcap else "",
            info=info,
        )

    async def call(self, intercom: Intercom, *, timeout_s: float = 120.0) -> asyncio.subprocess.Process:
        """Start the call; the returned sipp process ends when Asterisk hangs it up (exit 0 when all went well)."""
        work = self.testbed.root / "tmp" / "portaria-sip" / uuid.uuid4().hex[:8]
        work.mkdir(parents=True)
        pcap = self._audio(intercom, work)
        pcap.write(work / "audio.pcap")
        inside = "/" + str(work.relative_to(self.testbed.root))
        (work / "gate.xml").write_text(self.scenario(intercom, f"{inside}/audio.pcap" if pcap.seconds else None))
        return await asyncio.create_subprocess_exec(
            "chroot", str(self.testbed.root), "sipp", f"127.0.0.1:{self.sip_port}",
            "-sf", f"{inside}/gate.xml", "-m", "1", "-i", "127.0.0.1", "-mp", str(_free_media_port()),
            "-timeout", f"{round(timeout_s)}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", f"{inside}/errors.log",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )


_INFO = """
  <pause milliseconds="400"/>
  <send retrans="500">
    <![CDATA[
      INFO sip:s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{endpoint}@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:s@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:{endpoint}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=250
    ]]>
  </send>
  <recv response="200"/>
"""

_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="Portaria gate intercom">
  <send retrans="500">
    <![CDATA[
      INVITE sip:s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{endpoint}@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:s@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{endpoint}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=intercom 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP {formats}
      a=rtpmap:{payload_type} {rtpmap}
      a=rtpmap:{dtmf_pt} telephone-event/8000
      a=fmtp:{dtmf_pt} 0-15
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:s@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{endpoint}@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:s@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{endpoint}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="{lead_ms}"/>
{play}
{info}
  <recv request="BYE" timeout="90000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{endpoint}@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""
