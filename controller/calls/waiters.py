"""Futures that resolve on the first ARI event matching a predicate: how a call waits for Asterisk.

A call registers what it waits for *before* the request that causes it (the event may come back before the
HTTP answer does), then awaits the future. :meth:`EventWaiters.offer` is called for every event of the call, in
order; each waiter takes the first event it matches, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from controller.ari.events import AriEvent

Match = Callable[[AriEvent], bool]


@dataclass(slots=True)
class _Waiter:
    matches: Match
    future: asyncio.Future[AriEvent]


class EventWaiters:
    def __init__(self) -> None:
        self._waiting: list[_Waiter] = []

    def wait_for(self, matches: Match) -> asyncio.Future[AriEvent]:
        future: asyncio.Future[AriEvent] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(matches, future))
        return future

    def forget(self, *futures: asyncio.Future[AriEvent]) -> None:
        """Stop waiting (the outcome was learnt another way); the futures are cancelled."""
        dropped = set(map(id, futures))
        self._waiting = [waiter for waiter in self._waiting if id(waiter.future) not in dropped]
        for future in futures:
            future.cancel()

    def offer(self, event: AriEvent) -> None:
        for waiter in list(self._waiting):
            if not waiter.future.done() and waiter.matches(event):
                waiter.future.set_result(event)
                self._waiting.remove(waiter)

    def __len__(self) -> int:
        return len(self._waiting)
