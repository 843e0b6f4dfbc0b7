"""A SIP gate intercom for tests: sipp (in the test bed's chroot) calling Asterisk over real SIP and RTP.

The intercom's audio is a pcap of RTP packets built here from a fixture WAV, encoded by the test bed's own
Asterisk (``file convert``: ulaw, alaw, g722), so the codec is Asterisk's. Keypad digits go the three ways
intercoms send them: RFC 4733 events in the RTP stream, SIP INFO (``application/dtmf-relay``), or tones in the
audio. The scenario is written per call; the call ends when Asterisk sends BYE (the test or the concierge hangs up).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.rtp_pcap import CODECS, DTMF_PT, Impairment, RtpPcap, tones
from tests.support.testbed import Testbed


@dataclass(frozen=True, slots=True)
class Intercom:
    """What one call of the intercom does."""

    endpoint: str  # the pjsip endpoint it presents as (tests/asterisk/pjsip-test.conf)
    codec: str = "ulaw"
    utterance: str | None = None  # tests/fixtures/audio/<name>.wav, said after `lead_s`
    digits: str = ""  # keyed after the utterance, the way `dtmf` says
    dtmf: str = "rfc4733"  # rfc4733 | info | inband
    lead_s: float = 4.0  # the greeting plays meanwhile
    impairment: Impairment | None = None  # jitter, loss and reordering on the way to Asterisk


@dataclass(frozen=True, slots=True)
class ResidentPhone:
    """What a resident's SIP phone does when Portaria rings it: endpoint `sipres` (tests/asterisk/pjsip-test.conf),
    whose contact is this phone on 127.0.0.1:`PHONE_PORT`."""

    behaviour: str = "answer"  # answer | busy | noanswer
    utterance: str | None = None  # said `listen_s` after answering (the question plays meanwhile)
    digits: str = ""  # keyed as RFC 4733 events after that
    listen_s: float = 7.0


PHONE_PORT = 5070
PHONE_ENDPOINT = "PJSIP/sipres"


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
        self.sent: RtpPcap | None = None  # the last call's RTP, as sent (impairment included)

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

    def _audio(self, work: Path, codec: str, utterance: str | None, digits: str, dtmf: str) -> RtpPcap:
        pcap = RtpPcap()
        parts: list[np.ndarray] = []
        if utterance is not None:
            with wave.open(str(self.fixtures / f"{utterance}.wav")) as handle:
                assert handle.getframerate() == 16000, "fixtures are 16 kHz"
                parts.append(np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2"))
        if digits and dtmf == "inband":
            parts += [np.zeros(8000, np.int16), tones(digits)]
        if parts:
            pcap.audio(CODECS[codec][0], self._encode(np.concatenate(parts), codec, work))
        if digits and dtmf == "rfc4733":
            pcap.silence(0.5)
            pcap.events(digits)
        return pcap

    def _workdir(self) -> tuple[Path, str]:
        """A fresh folder inside the chroot: (its path here, its path for sipp)."""
        work = self.testbed.root / "tmp" / "portaria-sip" / uuid.uuid4().hex[:8]
        work.mkdir(parents=True)
        return work, "/" + str(work.relative_to(self.testbed.root))

    async def _sipp(self, inside: str, *args: str, timeout_s: float) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "chroot", str(self.testbed.root), "sipp", *args,
            "-sf", f"{inside}/scenario.xml", "-m", "1", "-i", "127.0.0.1", "-mp", str(_free_media_port()),
            "-timeout", f"{round(timeout_s)}s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", f"{inside}/errors.log",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )

    async def answer(self, phone: ResidentPhone, *, timeout_s: float = 120.0) -> asyncio.subprocess.Process:
        """Start the resident's phone (a sipp UAS on `PHONE_PORT`) before Portaria rings `PHONE_ENDPOINT`; the
        process ends with the call (exit 0 when its scenario went through)."""
        work, inside = self._workdir()
        pcap = self._audio(work, "ulaw", phone.utterance, phone.digits, "rfc4733")
        pcap.write(work / "audio.pcap")
        body = {"busy": _UAS_BUSY, "noanswer": _UAS_NO_ANSWER}.get(phone.behaviour)
        if body is None:
            play = f'<nop><action><exec play_pcap_audio="{inside}/audio.pcap"/></action></nop>' if pcap.seconds else ""
            body = _UAS_ANSWER.format(listen_ms=round(phone.listen_s * 1000), play=play, dtmf_pt=DTMF_PT)
        head = _UAS_HEAD.format(cseq=_CSEQ_EREG if phone.behaviour == "noanswer" else "")
        (work / "scenario.xml").write_text(head + body + "</scenario>\n")
        return await self._sipp(inside, "-p", str(PHONE_PORT), timeout_s=timeout_s)

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
        work, inside = self._workdir()
        pcap = self._audio(work, intercom.codec, intercom.utterance, intercom.digits, intercom.dtmf)
        if intercom.impairment is not None:
            pcap.impair(intercom.impairment)
        pcap.write(work / "audio.pcap")
        self.sent = pcap
        (work / "scenario.xml").write_text(self.scenario(intercom, f"{inside}/audio.pcap" if pcap.seconds else None))
        return await self._sipp(inside, f"127.0.0.1:{self.sip_port}", timeout_s=timeout_s)


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

# The resident's phone (a UAS). [last_*] copy the INVITE's headers; the To tag is ours, the same in every reply.
_CSEQ_EREG = '<action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/></action>'
_UAS_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="Portaria resident phone">
  <recv request="INVITE" crlf="true">{cseq}</recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipres@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
"""
_UAS_BUSY = """  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
"""
_UAS_NO_ANSWER = """  <recv request="CANCEL" timeout="90000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$cseq] INVITE
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
"""
_UAS_ANSWER = """  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipres@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=resident 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 {dtmf_pt}
      a=rtpmap:0 PCMU/8000
      a=rtpmap:{dtmf_pt} telephone-event/8000
      a=fmtp:{dtmf_pt} 0-15
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="{listen_ms}"/>
  {play}
  <recv request="BYE" timeout="90000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""
