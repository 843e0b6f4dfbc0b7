"""Polling an outside system (Asterisk's REST state, files it writes) until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(condition: Callable[[], Awaitable[bool]], *, within: float = 5.0, every: float = 0.1) -> None:
    """Wait until `condition()` is true; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 - Asterisk has no event for "state settled"
            await asyncio.sleep(every)
