"""The Stasis application: turns the ARI event stream into per-call work.

Events arrive on one websocket in Asterisk's order. Each gate call gets its own queue, so a slow call never
delays another, and events of one call are never reordered (one consumer per queue). Events for channels no
call owns are ignored: with Local channels Asterisk also reports the half that is not in Stasis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError, AriNotFound
from controller.ari.events import Channel, ChannelDestroyed, MalformedEvent, StasisStart, channel_id, parse_event
from controller.calls.gate_call import CallDeps, GateCall

log = logging.getLogger(__name__)

GATE_ARG = "gate"


class StasisApp:
    def __init__(self, ari: AsteriskOps, deps_for_call: Callable[[], CallDeps]) -> None:
        self._ari = ari
        self._deps_for_call = deps_for_call
        self._calls: dict[str, GateCall] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def handle(self, raw: dict[str, Any]) -> None:
        """One decoded ARI message: parsed here, once, then routed to the call that owns its channel."""
        try:
            event = parse_event(raw)
        except MalformedEvent as error:
            log.warning("ARI event dropped: %s", error)
            return
        found = channel_id(event)
        if found is None:
            return
        owner = self._owner(found)
        if owner is not None:
            owner.deliver(event)
        elif isinstance(event, StasisStart):
            if GATE_ARG in event.args:
                self._start_call(event.channel)
            else:
                log.info("StasisStart for channel %s with args %s: not ours, ignored", found, list(event.args))

    def _owner(self, channel_id: str) -> GateCall | None:
        for call in self._calls.values():
            if call.owns(channel_id):
                return call
        return None

    def _start_call(self, channel: Channel) -> None:
        call = GateCall(channel=channel, deps=self._deps_for_call())
        self._calls[call.call_id] = call
        task = asyncio.create_task(self._run(call), name=f"call-{call.call_id}")
        self._tasks[call.call_id] = task

    async def _run(self, call: GateCall) -> None:
        try:
            await call.run()
        except Exception:
            # One broken call must never take the application down.
            log.exception("call %s failed", call.call_id)
        finally:
            self._calls.pop(call.call_id, None)
            self._tasks.pop(call.call_id, None)

    async def on_connect(self, reconnected: bool) -> None:
        """After a reconnect, events may have been lost: end calls whose gate channel is gone."""
        if not reconnected:
            return
        for call in list(self._calls.values()):
            try:
                await self._ari.channel(call.gate_channel_id)
            except AriNotFound:
                call.deliver(ChannelDestroyed(Channel(call.gate_channel_id)))
            except AriError as error:
                log.warning("cannot check channel %s after reconnect: %s", call.gate_channel_id, error)

    async def shutdown(self) -> None:
        """Hand callers back to the dialplan (which falls back to the concierge) and remove what we created."""
        for call in self._calls.values():
            call.return_to_dialplan = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
