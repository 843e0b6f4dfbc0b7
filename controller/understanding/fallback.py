"""A deadline on a slow understanding backend, with the rules as the answer when it is late or fails."""

from __future__ import annotations

import asyncio
import logging

from controller.conversation.understanding import (
    Parser,
    Understanding,
    UnderstandingContext,
    UnderstandingError,
    Understood,
)

log = logging.getLogger(__name__)


class WithFallback:
    """`primary` within `timeout_s`, else (timeout or any error) the synchronous `fallback`."""

    def __init__(self, primary: Understanding, fallback: Parser, timeout_s: float) -> None:
        self._primary = primary
        self._fallback = fallback
        self._timeout_s = timeout_s

    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        try:
            return await asyncio.wait_for(self._primary.understand(text, context), self._timeout_s)
        except TimeoutError:
            log.warning("understanding took over %.1f s; using the rules", self._timeout_s)
        except UnderstandingError as error:
            log.warning("understanding backend failed (%s); using the rules", error)
        except Exception:
            log.exception("understanding backend failed; using the rules")
        return self._fallback.parse(text, context)
