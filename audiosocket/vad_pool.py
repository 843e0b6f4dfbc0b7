"""Ready-made VADs for new call legs.

Building a Silero VAD takes ~100 ms (ONNX session start-up), which would delay every greeting. The pool builds
them ahead, off the event loop, hands one to each new leg at once, and takes it back (reset) when the leg ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from audiosocket.vad import Vad


class VadPool:
    def __init__(self, build: Callable[[], Awaitable[Vad]], *, ready: int = 2, keep: int = 8) -> None:
        self._build = build
        self._target = ready
        self._keep = keep
        self._idle: list[Vad] = []
        self._refill: asyncio.Task[None] | None = None

    async def warm(self) -> None:
        while len(self._idle) < self._target:
            self._idle.append(await self._build())

    async def acquire(self) -> Vad:
        """A ready VAD (built now only if the pool ran dry); the pool refills in the background."""
        vad = self._idle.pop() if self._idle else await self._build()
        if len(self._idle) < self._target and (self._refill is None or self._refill.done()):
            self._refill = asyncio.create_task(self.warm(), name="vad-pool-refill")
        return vad

    def release(self, vad: Vad) -> None:
        if len(self._idle) < self._keep:
            vad.reset()
            self._idle.append(vad)

    async def aclose(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refill
        self._idle.clear()
