"""Text-to-speech with espeak-ng (voice pt-br): offline, ~10 ms to first audio, robotic but intelligible.

espeak-ng runs as a subprocess writing a WAV stream to stdout (22050 Hz for its own voices). We read it as it
comes and resample each piece to the leg's rate with a streaming resampler, so the first chunk leaves while
espeak is still speaking the rest of the sentence. Nothing blocks the event loop: the subprocess does the work.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import numpy as np
import soxr

from audiosocket.speech.base import EngineError

_HEADER = 44
_READ = 4096  # ~90 ms at 22050 Hz: small first chunk, few wake-ups


def _wav_rate(header: bytes) -> int:
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise EngineError("espeak-ng did not produce WAV audio")
    channels, rate = struct.unpack_from("<HI", header, 22)
    bits = struct.unpack_from("<H", header, 34)[0]
    if channels != 1 or bits != 16:
        raise EngineError(f"espeak-ng produced {channels}-channel {bits}-bit audio, expected mono 16-bit")
    return int(rate)


class EspeakTTS:
    """espeak-ng behind :class:`~audiosocket.speech.base.TextToSpeech`."""

    def __init__(
        self,
        voice: str = "pt-br",
        words_per_minute: int = 160,
        pitch: int = 50,
        binary: str = "espeak-ng",
    ) -> None:
        self._args = ["-v", voice, "-s", str(words_per_minute), "-p", str(pitch)]
        self._binary = binary

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary, *self._args, "--stdout", "--", text,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as error:
            raise EngineError(f"espeak-ng cannot run: {error}") from None
        assert process.stdout is not None
        try:
            try:
                header = await process.stdout.readexactly(_HEADER)
            except asyncio.IncompleteReadError:
                raise EngineError("espeak-ng produced no audio") from None
            resampler = soxr.ResampleStream(_wav_rate(header), sample_rate, 1, dtype="int16")
            tail = b""
            while True:
                data = await process.stdout.read(_READ)
                last = not data
                data = tail + data
                usable = len(data) - len(data) % 2
                tail = data[usable:]
                samples = np.frombuffer(data[:usable], dtype="<i2")
                out = resampler.resample_chunk(samples, last=last)
                if out.size:
                    yield out.astype("<i2").tobytes()
                if last:
                    break
            if await process.wait() != 0:
                raise EngineError(f"espeak-ng exited with status {process.returncode}")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
