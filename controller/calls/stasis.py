"""The Stasis application: turns the ARI event stream into per-call work.

Events arrive on one websocket in Asterisk's order. Each gate call gets its own queue, so a slow call never
delays another, and events of one call are never reordered (one consumer per queue). Events for channels no
call owns are ignored: with Local channels Asterisk also reports the half that is not in Stasis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from controller.ari.client import AriClient, AriError, AriNotFound, Event
from controller.calls.gate_call import CallDeps, GateCall

log = logging.getLogger(__name__)

GATE_ARG = "gate"


class StasisApp:
    def __init__(self, ari: AriClient, deps_for_call: Callable[[], CallDeps]) -> None:
        self._ari = ari
        self._deps_for_call = deps_for_call
        self._calls: dict[str, GateCall] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def handle(self, event: Event) -> None:
        channel = event.get("channel") or {}
        channel_id = channel.get("id")
        if event.get("type") == "StasisStart" and channel_id:
            owner = self._owner(channel_id)
            if owner is not None:
                owner.deliver(event)
            elif GATE_ARG in event.get("args", []):
                self._start_call(channel)
            else:
                log.info("StasisStart for channel %s with args %s: not ours, ignored", channel_id, event.get("args"))
            return
        # Dial events name the dialled channel as "peer" (the caller side may be absent on an originate).
        for candidate in (channel_id, (event.get("peer") or {}).get("id")):
            owner = self._owner(candidate) if candidate else None
            if owner is not None:
                owner.deliver(event)
                return

    def _owner(self, channel_id: str) -> GateCall | None:
        for call in self._calls.values():
            if call.owns(channel_id):
                return call
        return None

    def _start_call(self, channel: dict[str, object]) -> None:
        call = GateCall(channel=dict(channel), deps=self._deps_for_call())
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
                await self._ari.get(f"channels/{call.gate_channel_id}")
            except AriNotFound:
                call.deliver({"type": "ChannelDestroyed", "channel": {"id": call.gate_channel_id}, "cause": 0})
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
