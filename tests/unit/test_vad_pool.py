from __future__ import annotations

import asyncio

from audiosocket.vad import Vad
from audiosocket.vad_pool import VadPool


class CountingVad:
    def __init__(self, number: int) -> None:
        self.number = number
        self.resets = 0

    @property
    def sample_rate(self) -> int:
        return 8000

    def is_speech(self, pcm: bytes) -> bool:
        return False

    def reset(self) -> None:
        self.resets += 1


async def test_legs_get_a_ready_vad_and_the_pool_refills_and_recycles() -> None:
    built: list[CountingVad] = []

    async def build() -> Vad:
        vad = CountingVad(len(built))
        built.append(vad)
        return vad

    pool = VadPool(build, ready=2, keep=3)
    await pool.warm()
    assert len(built) == 2
    first = await pool.acquire()
    assert len(built) == 2, "acquire hands out a ready one; it does not build while the caller waits"
    await asyncio.sleep(0)
    assert len(built) == 3, "the pool refills in the background"
    pool.release(first)
    assert isinstance(first, CountingVad) and first.resets == 1, "a returned VAD is reset before reuse"
    again = [await pool.acquire() for _ in range(3)]
    assert first in again
    await pool.aclose()
