"""`python -m controller phone`: a test phone that speaks AudioSocket, through the real Asterisk (docs/phone.md).

This module is the command line: arguments, keypad digits typed on the terminal, exit codes. The call itself
is `controller.tools.phone_call` (`Phone`: ARI and the AudioSocket session), the audio parts are
`controller.tools.phone_audio` (WAV loading, pacing, energy detection, recording, the sound card); their public
names are re-exported here, so `from controller.tools.phone import ...` gives the whole phone.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from pathlib import Path
from typing import TextIO

from controller.ari.client import AriClient, AriError
from controller.settings import Settings, SettingsError, load_settings
from controller.tools.phone_audio import (
    FRAME_BYTES,
    FRAME_S,
    RATE,
    EnergyDetector,
    Pacer,
    PhoneError,
    Recorder,
    SoundCard,
    dbfs,
    load_wav,
    split_frames,
)
from controller.tools.phone_call import Phone
from controller.tools.phone_options import (
    ANSWER_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    PhoneOptions,
    PhoneReport,
    Press,
    Say,
    Step,
)

__all__ = [
    "ANSWER_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "DTMF_DIGITS",
    "FRAME_BYTES",
    "FRAME_S",
    "RATE",
    "EnergyDetector",
    "Pacer",
    "Phone",
    "PhoneError",
    "PhoneOptions",
    "PhoneReport",
    "Press",
    "Recorder",
    "Say",
    "SoundCard",
    "Step",
    "build_parser",
    "dbfs",
    "load_wav",
    "main",
    "parse_options",
    "run_phone",
    "split_frames",
]

DTMF_DIGITS = frozenset("0123456789*#ABCD")


def _digits(value: str) -> tuple[str, str]:
    if not value or set(value) - DTMF_DIGITS:
        raise argparse.ArgumentTypeError(f"{value!r}: DTMF digits are 0-9, *, #, A-D")
    return ("dtmf", value)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: expected host:port, e.g. 127.0.0.1:0")
    return host.strip("[]") or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m controller phone",
        description="Call the concierge through Asterisk from a test phone that speaks AudioSocket "
        "(see docs/phone.md). Digits typed on stdin followed by Enter are pressed on the keypad; q hangs up.",
    )
    steps = parser.add_argument_group("what the phone does, in the order given")
    steps.add_argument(
        "--say",
        dest="steps",
        action="append",
        type=lambda v: ("say", v),
        metavar="FILE.wav",
        help="say a WAV file once the concierge is silent (any PCM WAV; resampled to 8 kHz)",
    )
    steps.add_argument(
        "--dtmf",
        dest="steps",
        action="append",
        type=_digits,
        metavar="DIGITS",
        help="press keypad digits once the concierge is silent, e.g. 101#",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=8.0,
        metavar="S",
        help="do the next step after S seconds even if the concierge has not finished (8)",
    )
    parser.add_argument("--mic", action="store_true", help="talk and listen with a headset (needs sounddevice)")
    parser.add_argument("--record", type=Path, metavar="OUT.wav", help="record what the phone hears")
    parser.add_argument("--max-seconds", type=float, default=60.0, metavar="S", help="hang up after S seconds (60)")
    parser.add_argument("--linger", type=float, metavar="S", help="hang up S seconds after the last step")
    parser.add_argument(
        "--listen",
        type=_host_port,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where the phone's AudioSocket server listens (127.0.0.1:0: loopback, any port)",
    )
    parser.add_argument("--advertise", default="", metavar="HOST", help="address Asterisk dials (the listen host)")
    parser.add_argument(
        "--via",
        choices=("local", "direct"),
        default="local",
        help="local: through a Local channel, keypad works (default); direct: the AudioSocket "
        "channel enters the dialplan itself, no keypad",
    )
    parser.add_argument("--context", default="from-gate", help="dialplan context of the gate (from-gate)")
    parser.add_argument("--extension", default="s", help="extension in that context (s)")
    parser.add_argument("--caller-id", default="Telefone de teste <2000>", help="caller ID the concierge sees")
    return parser


def parse_options(argv: list[str]) -> tuple[PhoneOptions, bool]:
    """(options, use the microphone). Raises SystemExit on usage errors and PhoneError on unreadable WAVs."""
    args = build_parser().parse_args(argv)
    if args.max_seconds <= 0 or args.gap < 0 or (args.linger is not None and args.linger < 0):
        raise PhoneError("--max-seconds must be positive, --gap and --linger not negative")
    steps: list[Step] = []
    for kind, value in args.steps or []:
        steps.append(Say(Path(value).name, load_wav(Path(value))) if kind == "say" else Press(value))
    if args.via == "direct" and any(isinstance(step, Press) for step in steps):
        raise PhoneError("--dtmf needs --via local: chan_audiosocket carries no DTMF from the phone to Asterisk")
    options = PhoneOptions(
        steps=tuple(steps),
        listen=args.listen,
        advertise=args.advertise,
        via=args.via,
        context=args.context,
        extension=args.extension,
        caller_id=args.caller_id,
        gap_s=args.gap,
        max_seconds=args.max_seconds,
        linger_s=args.linger,
        record=args.record,
    )
    return options, bool(args.mic)


async def run_phone(
    argv: list[str], *, settings: Settings | None = None, out: TextIO | None = None, interactive: bool | None = None
) -> int:
    """The command: 0 after a call, 1 if the call could not be made, 2 on a usage or settings error.
    `interactive` (default: stdin is a terminal) reads keypad digits from stdin and hangs up on Ctrl-C."""
    try:
        options, mic = parse_options(argv)
        settings = settings or load_settings()
        password = settings.require_ari().get_secret_value()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except (PhoneError, SettingsError) as error:
        print(f"phone: {error}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    try:
        sound = SoundCard(loop) if mic else None
    except PhoneError as error:
        print(f"phone: {error}", file=sys.stderr)
        return 2
    app = f"portaria-phone-{uuid.uuid4().hex[:8]}"
    interactive = sys.stdin.isatty() if interactive is None else interactive
    async with AriClient(settings.ari_base, settings.ari_user, password, app, timeout=settings.ari_timeout_s) as ari:
        phone = Phone(ari, options, out=out, sound=sound)
        if interactive:
            _attach_terminal(loop, phone)
        try:
            report = await phone.run()
        except (PhoneError, AriError) as error:
            print(f"phone: {error}", file=sys.stderr)
            return 1
        finally:
            if interactive:
                _detach_terminal(loop)
    return 0 if report.connected else 1


def _attach_terminal(loop: asyncio.AbstractEventLoop, phone: Phone) -> None:
    def on_line() -> None:
        line = sys.stdin.readline()
        command = line.strip().replace(" ", "")
        if not line or command.lower() in ("q", "quit"):
            phone.hangup()
        elif command and not set(command) - DTMF_DIGITS:
            phone.press(command)
        elif command:
            print(f"not DTMF: {command!r} (0-9 * # A-D, or q to hang up)", file=phone.out, flush=True)

    loop.add_reader(sys.stdin.fileno(), on_line)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, phone.hangup)


def _detach_terminal(loop: asyncio.AbstractEventLoop) -> None:
    loop.remove_reader(sys.stdin.fileno())
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)


def main(argv: list[str]) -> int:
    return asyncio.run(run_phone(argv))
