"""The test phone's audio, without Asterisk: WAV files as 8 kHz slin cut into 20 ms frames, pacing on an
absolute clock, energy detection and recording on the wall clock, and an optional headset (sounddevice).

`PhoneError` lives here, the lowest of the phone's modules, because loading a WAV or opening the sound card are
the first things that can go wrong; `controller.tools.phone_call` and `controller.tools.phone` raise it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from audiosocket.protocol import frame_bytes

RATE = 8000
FRAME_S = 0.02
FRAME_BYTES = frame_bytes(RATE)


class PhoneError(Exception):
    """Something the person running the phone must fix; reported in one line."""


def load_wav(path: Path, rate: int = RATE) -> bytes:
    """A PCM WAV file (8/16/24/32-bit, any rate, any channels) as signed 16-bit mono at `rate`."""
    try:
        with wave.open(str(path), "rb") as handle:
            width, channels, source_rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            raw = handle.readframes(handle.getnframes())
    except FileNotFoundError:
        raise PhoneError(f"{path}: no such file") from None
    except (wave.Error, EOFError) as error:
        raise PhoneError(f"{path}: not a PCM WAV file ({error or 'truncated'})") from None
    except OSError as error:
        raise PhoneError(f"{path}: {error.strerror or error}") from None
    samples = _to_float(raw, width, path)
    mono = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if mono.size == 0:
        raise PhoneError(f"{path}: no audio in the file")
    if source_rate != rate:
        mono = np.asarray(soxr.resample(mono, source_rate, rate, quality="HQ"), dtype=np.float32)
    return bytes(np.clip((mono * 32768).round(), -32768, 32767).astype("<i2").tobytes())


def _to_float(raw: bytes, width: int, path: Path) -> np.ndarray:
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    if width == 3:  # 24-bit: each sample into the top three bytes of an int32
        padded = np.zeros((len(raw) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(raw, np.uint8)[: len(padded) * 3].reshape(-1, 3)
        raw, width = padded.tobytes(), 4
    if width in (2, 4):
        samples: np.ndarray = np.frombuffer(raw, f"<i{width}").astype(np.float32) / 2 ** (8 * width - 1)
        return samples
    raise PhoneError(f"{path}: unsupported sample width of {width} bytes")


def split_frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """20 ms frames; the last one is padded with silence."""
    return [pcm[i : i + size].ljust(size, b"\0") for i in range(0, len(pcm), size)]


def dbfs(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    return 20 * math.log10(max(math.sqrt(float(np.mean(samples**2))) / 32768, 1e-10))


class Pacer:
    """Frame n is due at start + n * period, on an absolute clock: a late wake-up shortens the next wait instead
    of shifting every later frame. After a stall longer than `max_lag` (a suspended laptop) it re-anchors rather
    than bursting the backlog at Asterisk, which would play it as a speed-up."""

    def __init__(self, period: float = FRAME_S, *, max_lag: float = 0.2) -> None:
        self.period = period
        self.max_lag = max_lag
        self._due: float | None = None

    def delay(self, now: float) -> float:
        """Seconds to wait before sending the next frame (0 when it is already due)."""
        if self._due is None or now - self._due > self.max_lag:
            self._due = now
        wait = max(0.0, self._due - now)
        self._due += self.period
        return wait


class EnergyDetector:
    """Speaking as soon as a frame is louder than `threshold_dbfs`; silent after `hold_s` of wall clock without
    one (a bridge sends no frames while nobody talks, so silence is a matter of time, not of silent frames)."""

    def __init__(self, threshold_dbfs: float = -45.0, hold_s: float = 0.6) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.hold_s = hold_s
        self.speaking = False
        self.since = 0.0
        self.spoke_s = 0.0
        """How long the last speech lasted, from its first to its last loud frame."""
        self._last_loud = -math.inf

    def feed(self, pcm: bytes, now: float) -> bool | None:
        """The new state if this frame changed it, else None."""
        if dbfs(pcm) > self.threshold_dbfs:
            self._last_loud = now
            if not self.speaking:
                self.speaking, self.since = True, now
                return True
            return None
        return self.tick(now)

    def tick(self, now: float) -> bool | None:
        if self.speaking and now - self._last_loud >= self.hold_s:
            self.spoke_s = self._last_loud + FRAME_S - self.since
            self.speaking, self.since = False, now
            return False
        return None


class Recorder:
    """What the phone hears, as a WAV at wall-clock positions: a gap where Asterisk sent nothing becomes silence."""

    def __init__(self, path: Path, start: float, rate: int = RATE) -> None:
        self.path = path
        self.rate = rate
        self.start = start
        self.samples = 0
        self._file = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(rate)

    def write(self, pcm: bytes, now: float) -> None:
        self._pad_to(now - len(pcm) / 2 / self.rate)
        self._file.writeframes(pcm)
        self.samples += len(pcm) // 2

    def close(self, now: float) -> None:
        self._pad_to(now)
        self._file.close()

    def _pad_to(self, when: float) -> None:
        missing = int((when - self.start) * self.rate) - self.samples
        if missing > 2 * self.rate * FRAME_S:  # more than two frames late: Asterisk sent nothing meanwhile
            self._file.writeframes(bytes(2 * missing))
            self.samples += missing


class SoundCard:
    """A headset through the optional sounddevice package: microphone frames into `mic`, received audio out."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            sd: Any = importlib.import_module("sounddevice")
        except (ImportError, OSError):
            raise PhoneError(
                "--mic needs the sounddevice package: pip install sounddevice (and PortAudio: apt-get install "
                "libportaudio2)"
            ) from None
        self.mic: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
        self._speaker = bytearray()
        self._lock = threading.Lock()

        def offer(pcm: bytes) -> None:
            if self.mic.full():
                self.mic.get_nowait()  # the sound card's clock runs a little fast: drop, never build latency
            self.mic.put_nowait(pcm)

        def callback(indata: Any, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
            loop.call_soon_threadsafe(offer, bytes(indata))
            size = len(outdata)
            with self._lock:
                chunk = bytes(self._speaker[:size])
                del self._speaker[:size]
            outdata[:] = chunk.ljust(size, b"\0")

        try:
            self._stream = sd.RawStream(
                samplerate=RATE, blocksize=RATE // 50, channels=1, dtype="int16", callback=callback
            )
        except Exception as error:  # PortAudioError: no device, or it refuses 8 kHz mono
            raise PhoneError(f"cannot open the sound device: {error}") from None

    def start(self) -> None:
        self._stream.start()

    def play(self, pcm: bytes) -> None:
        with self._lock:
            self._speaker += pcm
            excess = len(self._speaker) - RATE  # keep at most 0.5 s queued for the speaker
            if excess > 0:
                del self._speaker[:excess]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
            self._stream.close()
