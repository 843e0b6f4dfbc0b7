"""The test phone's ear: a `Phone` listener that logs every frame heard and sent, and waits on what was heard.

Timing is done afterwards on the log, by the pure functions of :mod:`controller.tools.phone_timing`.
"""

from __future__ import annotations

import asyncio
import time

from controller.tools.phone_timing import Heard, voiced

POLL_S = 0.01


class Ear:
    def __init__(self) -> None:
        self.heard: list[Heard] = []
        self.sent: list[Heard] = []

    def __call__(self, direction: str, pcm: bytes, at: float) -> None:
        (self.heard if direction == "in" else self.sent).append(Heard(at, voiced(pcm)))

    def last_voiced(self, after: float = 0.0) -> float | None:
        """Arrival of the last voiced frame heard after `after`."""
        return next((f.at for f in reversed(self.heard) if f.voiced and f.at > after), None)

    async def voiced_after(self, moment: float, *, timeout_s: float) -> bool:
        """Something voiced was heard after `moment`; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.last_voiced(moment) is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def quiet_for(self, seconds: float, *, after: float, timeout_s: float) -> bool:
        """Something voiced was heard after `after`, then `seconds` of nothing voiced; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = self.last_voiced(after)
            if last is not None and time.monotonic() - last >= seconds:
                return True
            await asyncio.sleep(POLL_S)
        return False
