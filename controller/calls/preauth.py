"""The pre-authorisations a gate call starts with: those of its site valid now (controller/records/passes_store.py).

Looked up once, when the call starts, so the conversation stays a pure function of its events. A store that
fails or is slow costs the pass, never the gate's safety: the call goes on without passes and rings the
resident, as any visit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from controller.conversation.passes import Pass
from controller.records.passes_store import PassBook, PassError

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_S = 2.0


async def passes_for(book: PassBook | None, site: str, now: datetime, emit: Callable[..., None]) -> tuple[Pass, ...]:
    if book is None:
        return ()
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            found = await book.valid(site, now)
    except (PassError, TimeoutError) as error:
        message = str(error) or f"no answer within {LOOKUP_TIMEOUT_S:g} s"
        log.warning("pre-authorisations unavailable, the resident will be rung: %s", message)
        emit("error", stage="passes", message=message)
        return ()
    if found:
        emit("passes", count=len(found))
    return found
