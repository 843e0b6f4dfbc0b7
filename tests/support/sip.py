"""A SIP gate intercom for tests: sipp (in the test bed's chroot) calling Asterisk over real SIP and RTP.

The intercom's audio is a pcap of RTP packets built here from a fixture WAV, encoded by the test bed's own
Asterisk (``file convert``: ulaw, alaw, g722), so the codec is Asterisk's. Keypad digits go the three ways
intercoms send them: RFC 4733 events in the RTP stream, SIP INFO (``application/dtmf-relay``), or tones in the
audio. The scenario is written per call; the call ends when Asterisk sends BYE (the test or the concierge hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.rtp_listen import RtpListener
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
    door_info: int = 0  # SIP INFO requests Asterisk sends it (a door code, dtmf_mode=info), answered before the BYE


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
STALE_S = 3600.0  # a call's folder older than this is removed (no call or benchmark run keeps one that long)
EAR_OFFSET = 4  # the ear listens on sipp's media port + this (sipp binds the port and the port + 2)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def _free_media_port() -> int:
    """An even port whose next one is free too (sipp uses media_port and media_port + 2 for audio and RTCP)."""
    for _ in range(50):
        port = _free_udp_port() & ~1
        if all(_free(candidate) for candidate in (port, port + 1, port + 2, port + 3)):
            return port
    raise RuntimeError("no free UDP ports for sipp's media")


async def open_ear() -> RtpListener:
    """A listener for the intercom's RTP from Asterisk, on a port `EAR_OFFSET` above free ports for sipp."""
    for _ in range(50):
        ear = await RtpListener.bind(0)
        if ear.port - EAR_OFFSET >= 1024 and all(_free(ear.port - n) for n in range(1, EAR_OFFSET + 1)):
            return ear
        ear.close()
    raise RuntimeError("no free UDP ports below an ear's")


class SipGate:
    """Runs :class:`Intercom` calls with sipp inside the test bed's chroot."""

    def __init__(self, testbed: Testbed, fixtures: Path) -> None:
        self.testbed = testbed
        self.fixtures = fixtures
        self.sip_port = int(testbed.env.get("PORTARIA_TESTBED_SIP_PORT", "5060"))
        self.sent: RtpPcap | None = None  # the last call's RTP, as sent (impairment included)
        self.work: Path | None = None  # the last call's folder (its scenario, pcap and sipp's message log)

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
        """A fresh folder inside the chroot: (its path here, its path for sipp). Folders of calls long over
        (older than `STALE_S`) go first: the chroot outlives test sessions."""
        parent = self.testbed.root / "tmp" / "portaria-sip"
        if parent.is_dir():
            for old in parent.iterdir():
                with contextlib.suppress(OSError):
                    if old.is_dir() and time.time() - old.stat().st_mtime > STALE_S:
                        shutil.rmtree(old)
        work = parent / uuid.uuid4().hex[:8]
        work.mkdir(parents=True)
        return work, "/" + str(work.relative_to(self.testbed.root))

    async def _sipp(
        self, inside: str, *args: str, timeout_s: float, media_port: int | None = None
    ) -> asyncio.subprocess.Process:
        media_port = _free_media_port() if media_port is None else media_port
        return await asyncio.create_subprocess_exec(
            "chroot",
            str(self.testbed.root),
            "sipp",
            *args,
            "-sf",
            f"{inside}/scenario.xml",
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-mp",
            str(media_port),
            "-trace_msg",
            "-message_file",
            f"{inside}/messages.log",
            "-timeout",
            f"{round(timeout_s)}s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-error_file",
            f"{inside}/errors.log",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def answer(self, phone: ResidentPhone, *, timeout_s: float = 120.0) -> asyncio.subprocess.Process:
        """Start the resident's phone (a sipp UAS on `PHONE_PORT`) before Portaria rings `PHONE_ENDPOINT`; the
        process ends with the call (exit 0 when its scenario went through)."""
        work, inside = self._workdir()
        pcap = self._audio(work, "ulaw", phone.utterance, phone.digits, "rfc4733")
        pcap.write(work / "audio.pcap")
        (work / "scenario.xml").write_text(resident_scenario(phone, f"{inside}/audio.pcap" if pcap.seconds else None))
        return await self._sipp(inside, "-p", str(PHONE_PORT), timeout_s=timeout_s)

    async def call(
        self, intercom: Intercom, *, ear: RtpListener | None = None, timeout_s: float = 120.0
    ) -> asyncio.subprocess.Process:
        """Start the call; the returned sipp process ends when Asterisk hangs it up (exit 0 when all went well).
        With an `ear` (:func:`open_ear`), the intercom's SDP and its RTP's source port are the ear's, so Asterisk
        sends the call's RTP there (symmetric RTP or not)."""
        work, inside = self._workdir()
        self.work = work
        pcap = self._audio(work, intercom.codec, intercom.utterance, intercom.digits, intercom.dtmf)
        if intercom.impairment is not None:
            pcap.impair(intercom.impairment)
        pcap.write(work / "audio.pcap")
        self.sent = pcap
        scenario = intercom_scenario(
            intercom, f"{inside}/audio.pcap" if pcap.seconds else None, media_offset=EAR_OFFSET if ear else 0
        )
        (work / "scenario.xml").write_text(scenario)
        media_port = ear.port - EAR_OFFSET if ear else None
        return await self._sipp(inside, f"127.0.0.1:{self.sip_port}", timeout_s=timeout_s, media_port=media_port)

    def info_digits(self) -> str:
        """The keypad digits of the SIP INFO requests the last call received (from sipp's message log)."""
        assert self.work is not None, "no call yet"
        log = (self.work / "messages.log").read_text(errors="replace")
        requests = re.split(r"^-+ [^\n]*\n", log, flags=re.MULTILINE)
        return "".join(
            match.group(1)
            for request in requests
            if "message received" in request and re.search(r"^INFO sip:", request, re.MULTILINE)
            for match in [re.search(r"^Signal=\s*([0-9A-Da-d*#])", request, re.MULTILINE)]
            if match
        )


# Scenarios. sipp fills the [keywords]; a reply's [last_*] copy the headers of the last message received.


def _message(first_line: str, headers: list[str], body: str = "", *, retrans: bool = False) -> str:
    lines = [first_line, *headers]
    if body:
        lines += ["Content-Length: [len]", "", *body.splitlines()]
    else:
        lines.append("Content-Length: 0")
    text = "\n".join(f"      {line}" if line else "" for line in lines)
    send = '<send retrans="500">' if retrans else "<send>"
    return f"  {send}\n    <![CDATA[\n{text}\n    ]]>\n  </send>\n"


def _request(method: str, cseq: int, endpoint: str, *, dialog: bool, body: str = "", content: str = "") -> str:
    """A request of the intercom's call; `dialog`: inside the call (the To carries Asterisk's tag)."""
    me = f"sip:{endpoint}@[local_ip]:[local_port]"
    headers = [
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        f"From: <{me}>;tag=[call_number]",
        "To: <sip:s@[remote_ip]:[remote_port]>" + ("[peer_tag_param]" if dialog else ""),
        "Call-ID: [call_id]",
        f"CSeq: {cseq} {method}",
        f"Contact: <{me}>",
        "Max-Forwards: 70",
        *([f"Content-Type: {content}"] if content else []),
    ]
    return _message(f"{method} sip:s@[remote_ip]:[remote_port] SIP/2.0", headers, body, retrans=method != "ACK")


def _response(
    status: str, *, our_tag: bool = True, cseq: str = "[last_CSeq:]", contact: str = "", sdp: str = ""
) -> str:
    """A reply to the last request received; `our_tag` adds the To tag this side chose (absent from the
    INVITE and the CANCEL, already in a BYE's To)."""
    headers = [
        "[last_Via:]",
        "[last_From:]",
        "[last_To:]" + (";tag=[pid]SIPpTag01[call_number]" if our_tag else ""),
        "[last_Call-ID:]",
        cseq,
        *([f"Contact: <sip:{contact}@[local_ip]:[local_port]>"] if contact else []),
        *(["Content-Type: application/sdp"] if sdp else []),
    ]
    return _message(f"SIP/2.0 {status}", headers, sdp, retrans=bool(sdp))


def _sdp(origin: str, payload_type: int, rtpmap: str, media_offset: int = 0) -> str:
    return "\n".join(
        [
            "v=0",
            f"o={origin} 1 1 IN IP[local_ip_type] [local_ip]",
            "s=-",
            "c=IN IP[media_ip_type] [media_ip]",
            "t=0 0",
            f"m=audio [media_port{f'+{media_offset}' if media_offset else ''}] RTP/AVP {payload_type} {DTMF_PT}",
            f"a=rtpmap:{payload_type} {rtpmap}",
            f"a=rtpmap:{DTMF_PT} telephone-event/8000",
            f"a=fmtp:{DTMF_PT} 0-15",
            "a=ptime:20",
            "a=sendrecv",
        ]
    )


def _play(pcap: str | None) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n' if pcap else ""


def _scenario(name: str, steps: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="{name}">\n{steps}</scenario>\n'
    )


def _until_bye(contact: str = "") -> str:
    """Wait for Asterisk's BYE (the test or the concierge hangs up) and answer it."""
    return '  <recv request="BYE" timeout="90000"/>\n' + _response("200 OK", our_tag=False, contact=contact)


def intercom_scenario(intercom: Intercom, pcap: str | None, *, media_offset: int = 0) -> str:
    """The gate's call: INVITE, `lead_s`, then the pcap plays (in the background) while SIP INFO digits, if any,
    go out; then it answers `door_info` INFO requests from Asterisk and waits for its BYE. The pcap is sent
    from the SDP's port: sipp's media port + `media_offset`."""
    endpoint = intercom.endpoint
    payload_type, rtpmap = CODECS[intercom.codec]
    info = "".join(
        '  <pause milliseconds="400"/>\n'
        + _request(
            "INFO",
            2 + index,
            endpoint,
            dialog=True,
            body=f"Signal={digit}\nDuration=250",
            content="application/dtmf-relay",
        )
        + '  <recv response="200"/>\n'
        for index, digit in enumerate(intercom.digits if intercom.dtmf == "info" else "")
    )
    steps = (
        _request(
            "INVITE",
            1,
            endpoint,
            dialog=False,
            body=_sdp("intercom", payload_type, rtpmap, media_offset),
            content="application/sdp",
        )
        + "".join(f'  <recv response="{code}" optional="true"/>\n' for code in (100, 180, 183))
        + '  <recv response="200" rtd="true"/>\n'
        + _request("ACK", 1, endpoint, dialog=True)
        + f'  <pause milliseconds="{round(intercom.lead_s * 1000)}"/>\n'
        + _play(pcap)
        + info
        + ('  <recv request="INFO" timeout="90000"/>\n' + _response("200 OK", our_tag=False)) * intercom.door_info
        + _until_bye(endpoint)
    )
    return _scenario("Portaria gate intercom", steps)


def resident_scenario(phone: ResidentPhone, pcap: str | None) -> str:
    """The resident's phone: rings, then is busy, never answers (until Asterisk cancels), or answers, listens
    `listen_s`, plays the pcap and waits for Asterisk's BYE."""
    cseq = '<action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/></action>'
    steps = f'  <recv request="INVITE" crlf="true">{cseq if phone.behaviour == "noanswer" else ""}</recv>\n'
    steps += _response("180 Ringing", contact="sipres")
    match phone.behaviour:
        case "busy":
            steps += _response("486 Busy Here") + '  <recv request="ACK"/>\n'
        case "noanswer":
            steps += '  <recv request="CANCEL" timeout="90000"/>\n' + _response("200 OK")
            steps += _response("487 Request Terminated", cseq="CSeq: [$cseq] INVITE") + '  <recv request="ACK"/>\n'
        case _:
            steps += _response("200 OK", contact="sipres", sdp=_sdp("resident", 0, "PCMU/8000"))
            steps += '  <recv request="ACK" crlf="true"/>\n'
            steps += f'  <pause milliseconds="{round(phone.listen_s * 1000)}"/>\n' + _play(pcap)
            steps += _until_bye()
    return _scenario("Portaria resident phone", steps)
