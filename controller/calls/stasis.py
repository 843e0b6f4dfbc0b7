"""The Stasis application: turns the ARI event stream into per-call work.

Events arrive on one websocket in Asterisk's order. Each gate call gets its own queue, so a slow call never
delays another, and events of one call are never reordered (one consumer per queue). Events for channels no
call owns are ignored: with Local channels Asterisk also reports the half that is not in Stasis.

Events that happen while the websocket is down are lost, and the channels stay in Stasis. So after a
reconnect the app asks Asterisk what exists and tells each call what it missed: a channel of its that is gone
(ChannelDestroyed), or one that entered our app meanwhile, such as the resident who answered (StasisStart); and
a visitor who called meanwhile gets a call of their own instead of waiting in silence.

Past `max_calls` conversations at once, a new visitor waits in the :class:`WaitingRoom`, their intercom ringing,
until a place frees (calls/waiting_room.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError
from controller.ari.events import (
    Channel,
    ChannelDestroyed,
    MalformedEvent,
    StasisStart,
    channel_id,
    is_end,
    parse_channel,
    parse_event,
)
from controller.calls.deps import FALLBACK_CONTEXT, CallDeps
from controller.calls.gate_call import GateCall
from controller.calls.waiting_room import Waiting, WaitingRoom
from controller.conversation.events import Leg

log = logging.getLogger(__name__)

GATE_ARG = "gate"
RESIDENT_ARG = "resident"  # a resident's phone we dialled: args (resident, <call id>), see GateCall.dial_resident


def gate_key(args: tuple[str, ...]) -> str:
    """The gate's key: the argument after "gate" (``Stasis(portaria,gate,<key>)``), "" when there is none."""
    index = args.index(GATE_ARG)
    return args[index + 1] if index + 1 < len(args) else ""


class StasisApp:
    def __init__(
        self,
        ari: AsteriskOps,
        deps_for_call: Callable[[str], CallDeps | None],
        app: str,
        *,
        fallback_context: str = FALLBACK_CONTEXT,
        max_calls: int = 0,
        queue_wait_s: float = 15.0,
    ) -> None:
        """`deps_for_call(gate)` gives what a call from the gate keyed `gate` uses, None for a gate nobody
        configured: that caller goes to `fallback_context` (a person) instead of waiting in silence.
        `max_calls` conversations run at once (0: no limit); the next visitors wait up to `queue_wait_s`."""
        self._ari = ari
        self._app = app
        self._fallback_context = fallback_context
        self._deps_for_call = deps_for_call
        self._calls: dict[str, GateCall] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._orphans: set[asyncio.Task[None]] = set()
        self._max_calls = max_calls
        self._room = WaitingRoom(ari, wait_s=queue_wait_s, admit=self._admit)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def waiting_calls(self) -> int:
        return len(self._room)

    @property
    def _full(self) -> bool:
        return bool(self._max_calls) and len(self._calls) >= self._max_calls

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
        elif self._room.holds(found):
            if is_end(event):
                self._room.gone(found)
        elif isinstance(event, StasisStart):
            if GATE_ARG in event.args:
                self._start_call(event.channel, event.args)
            elif event.args[:1] == (RESIDENT_ARG,):
                # A resident who answered after their call stopped waiting (it ended, or a reconnect took their
                # phone for gone): nobody would ever talk to them or hang up.
                log.warning(
                    "resident channel %s answered for call %s, which no longer waits: hung up",
                    found,
                    event.args[1] if len(event.args) > 1 else "?",
                )
                self._hang_up_orphan(found)
            else:
                log.info("StasisStart for channel %s with args %s: not ours, ignored", found, list(event.args))

    # What an operator may do from the console (controller.ops.console.CallActions) --------------------------

    async def hang_up(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        if call is not None:
            await call.hangup(Leg.GATE)
            return True
        waiting = self._room.channel_of(call_id)
        if waiting is None:
            return False
        await self._ari.hang_up(waiting)  # its end event takes the visitor out of the line
        return True

    async def hand_over(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        if call is None:
            return await self._room.hand_over(call_id, "operator")
        await call.fallback("operator")
        return True

    def _hang_up_orphan(self, channel_id: str) -> None:
        async def hang_up() -> None:
            try:
                await self._ari.hang_up(channel_id)
            except AriError as error:
                log.warning("cannot hang up orphan channel %s: %s", channel_id, error)

        task = asyncio.create_task(hang_up(), name=f"orphan-{channel_id}")
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    def _hand_to_fallback(self, channel_id: str) -> None:
        async def hand_over() -> None:
            try:
                await self._ari.continue_in_dialplan(channel_id, self._fallback_context, "s", 1)
            except AriError as error:
                log.warning("cannot hand channel %s to %s: %s", channel_id, self._fallback_context, error)

        task = asyncio.create_task(hand_over(), name=f"unknown-gate-{channel_id}")
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)

    def _owner(self, channel_id: str) -> GateCall | None:
        for call in self._calls.values():
            if call.owns(channel_id):
                return call
        return None

    def _start_call(self, channel: Channel, args: tuple[str, ...]) -> None:
        gate = gate_key(args)
        deps = self._deps_for_call(gate)
        if deps is None:
            log.error(
                "call on channel %s from gate %r, which no site has (sites file): handed to the %s context",
                channel.id,
                gate,
                self._fallback_context,
            )
            self._hand_to_fallback(channel.id)
            return
        call_id = uuid.uuid4().hex[:12]
        if self._full:
            self._room.enter(call_id, channel, deps, active=len(self._calls))
            return
        self._launch(call_id, channel, deps)

    def _launch(self, call_id: str, channel: Channel, deps: CallDeps) -> None:
        call = GateCall(channel=channel, deps=deps, call_id=call_id)
        self._calls[call_id] = call
        self._tasks[call_id] = asyncio.create_task(self._run(call), name=f"call-{call_id}")

    def _admit(self, waiting: Waiting) -> None:
        self._launch(waiting.call_id, waiting.channel, waiting.deps)

    async def _run(self, call: GateCall) -> None:
        try:
            await call.run()
        except Exception:
            # One broken call must never take the application down.
            log.exception("call %s failed", call.call_id)
        finally:
            self._calls.pop(call.call_id, None)
            self._tasks.pop(call.call_id, None)
            while not self._full and (waiting := self._room.next()) is not None:
                self._admit(waiting)

    async def on_connect(self, reconnected: bool) -> None:
        """After a reconnect, events may have been lost: rebuild from what Asterisk has now."""
        if not reconnected:
            return
        try:
            present = {raw["id"]: raw for raw in await self._ari.channels() if isinstance(raw.get("id"), str)}
        except AriError as error:
            log.warning("cannot list channels after reconnect: %s", error)
            return
        missed = 0
        for waiting_channel in self._room.channels():
            if waiting_channel not in present:
                self._room.gone(waiting_channel)
        for call in list(self._calls.values()):
            for owned in (call.gate_channel_id, *sorted(call.owned_channels)):
                raw = present.get(owned)
                if raw is None:
                    call.deliver(ChannelDestroyed(Channel(owned)))
                    missed += owned == call.gate_channel_id
                elif owned != call.gate_channel_id and raw.get("state") == "Up":
                    args = self._stasis_args(raw)
                    if args is not None:  # harmless if it was not missed: nothing waits for a StasisStart twice
                        call.deliver(StasisStart(parse_channel(raw), args))
        adopted = 0
        for found, raw in present.items():
            args = self._stasis_args(raw)
            if args is None or self._owner(found) is not None or self._room.holds(found):
                continue
            if GATE_ARG in args:
                self._start_call(parse_channel(raw), args)
                adopted += 1
            elif args[:1] == (RESIDENT_ARG,):
                log.warning("after reconnect: resident channel %s belongs to no call: hung up", found)
                self._hang_up_orphan(found)
        if missed or adopted:
            log.warning("after reconnect: %d calls had ended meanwhile, %d visitors called meanwhile", missed, adopted)

    def _stasis_args(self, raw: dict[str, Any]) -> tuple[str, ...] | None:
        """The args of a channel that sits in our Stasis app; None for any other channel."""
        dialplan = raw.get("dialplan")
        if not isinstance(dialplan, dict) or str(dialplan.get("app_name", "")).lower() != "stasis":
            return None
        app, *args = str(dialplan.get("app_data", "")).split(",")
        if app != self._app:
            return None
        return tuple(arg.strip() for arg in args)

    async def shutdown(self) -> None:
        """Hand callers back to the dialplan (which falls back to the concierge) and remove what we created."""
        for call in self._calls.values():
            call.return_to_dialplan = True
        await self._room.shutdown()
        tasks = [*self._tasks.values(), *self._orphans]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
