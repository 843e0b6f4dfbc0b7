"""Text-to-speech with espeak-ng (voice pt-br): offline, ~10 ms to first audio, robotic but intelligible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import soxr

from audiosocket.speech.base import EngineError

ESPEAK_RATE = 22050
_CHUNK = 4410 * 2  # 200 ms of espeak output


class EspeakTTS:
    def __init__(self, voice: str = "pt-br", words_per_minute: int = 160, binary: str = "espeak-ng") -> None:
        self._voice = voice
        self._wpm = words_per_minute
        self._binary = binary

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary, "-v", self._voice, "-s", str(self._wpm), "--stdout", "--", text,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise EngineError(f"espeak-ng cannot run: {error}") from None
        assert process.stdout is not None
        resampler = soxr.ResampleStream(ESPEAK_RATE, sample_rate, 1, dtype="int16")
        try:
            header = await process.stdout.readexactly(44)
            if header[:4] != b"RIFF":
                raise EngineError("espeak-ng did not produce WAV audio")
            tail = b""
            while True:
                data = await process.stdout.read(_CHUNK)
                last = not data
                data = tail + data
                usable = len(data) - len(data) % 2
                tail = data[usable:]
                samples = np.frombuffer(data[:usable], dtype=np.int16)
                out = resampler.resample_chunk(samples, last=last)
                if out.size:
                    yield out.astype(np.int16).tobytes()
                if last:
                    break
        except asyncio.IncompleteReadError:
            raise EngineError("espeak-ng produced no audio") from None
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
