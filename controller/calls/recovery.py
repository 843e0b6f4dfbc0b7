"""After a crash: remove what a dead run left in Asterisk, and hand any visitor it left to the concierge.

:class:`JournaledAsterisk` is one call's view of :class:`~controller.ari.asterisk.AsteriskOps` that notes in the
:class:`~controller.records.resource_journal.ResourceJournal` what it is about to create and what it removed.
:func:`sweep` runs once at start-up, when the events websocket is first up (a caller can only be sent on from
our Stasis app while it is registered), before any new call: it destroys the bridges, hangs up the channels we
had made (media, the resident's phone) and sends each visitor still waiting to the fallback context. No gate
opens here: opening needs the conversation, which died with the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError, AriNotFound
from controller.calls.deps import to_the_fallback
from controller.records.resource_journal import ResourceJournal

log = logging.getLogger(__name__)


class JournaledAsterisk:
    """`inner`, noting creations (before) and removals (after) for `call_id`."""

    def __init__(self, inner: AsteriskOps, journal: ResourceJournal, call_id: str) -> None:
        self._inner = inner
        self._journal = journal
        self._call = call_id

    # What makes or removes nothing passes straight through.

    @property
    def app(self) -> str:
        return self._inner.app

    async def channel(self, channel_id: str) -> dict[str, Any]:
        return await self._inner.channel(channel_id)

    async def channels(self) -> list[dict[str, Any]]:
        return await self._inner.channels()

    async def bridges(self) -> list[dict[str, Any]]:
        return await self._inner.bridges()

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self._inner.set_variable(channel_id, name, value)

    async def ring(self, channel_id: str) -> None:
        await self._inner.ring(channel_id)

    async def send_dtmf(
        self, channel_id: str, digits: str, *, between_ms: int | None = None, duration_ms: int | None = None
    ) -> None:
        await self._inner.send_dtmf(channel_id, digits, between_ms=between_ms, duration_ms=duration_ms)

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._inner.add_to_bridge(bridge_id, channel_ids)

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self._inner.remove_from_bridge(bridge_id, channel_id)

    # What makes or removes something is noted.

    async def answer(self, channel_id: str) -> None:
        self._journal.created(self._call, "caller", channel_id)
        await self._inner.answer(channel_id)

    async def create_bridge(self, bridge_id: str) -> None:
        self._journal.created(self._call, "bridge", bridge_id)
        await self._inner.create_bridge(bridge_id)

    async def external_media(self, channel_id: str, *, host: str, media_format: str, connection_id: str) -> None:
        self._journal.created(self._call, "channel", channel_id)
        await self._inner.external_media(channel_id, host=host, media_format=media_format, connection_id=connection_id)

    async def originate(
        self, channel_id: str, endpoint: str, *, app_args: str, caller_id: str, timeout_s: float
    ) -> None:
        self._journal.created(self._call, "channel", channel_id)
        await self._inner.originate(channel_id, endpoint, app_args=app_args, caller_id=caller_id, timeout_s=timeout_s)

    async def hang_up(self, channel_id: str) -> bool:
        done = await self._inner.hang_up(channel_id)
        self._journal.removed(self._call, channel_id)
        return done

    async def destroy_bridge(self, bridge_id: str) -> bool:
        done = await self._inner.destroy_bridge(bridge_id)
        self._journal.removed(self._call, bridge_id)
        return done

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str = "s", priority: int = 1
    ) -> None:
        await self._inner.continue_in_dialplan(channel_id, context, extension, priority)
        self._journal.removed(self._call, channel_id)  # the caller left our app


@dataclass(frozen=True, slots=True)
class Swept:
    bridges: int = 0
    channels: int = 0
    handed_over: int = 0  # visitors still waiting, sent to the fallback context
    failed: int = 0


async def sweep(
    asterisk: AsteriskOps, journal: ResourceJournal, *, concierge_endpoint: str, fallback_context: str
) -> Swept:
    """Deal with every leftover of an earlier run; an Asterisk error on one does not stop the others."""
    bridges = channels = handed = failed = 0
    leftovers = journal.leftovers()
    for item in sorted(leftovers, key=lambda left: left.kind != "channel"):  # the phones first, then the rest
        try:
            if item.kind == "bridge":
                bridges += await asterisk.destroy_bridge(item.id)
            elif item.kind == "channel":
                channels += await asterisk.hang_up(item.id)
            elif await _still_there(asterisk, item.id):
                if concierge_endpoint:
                    await to_the_fallback(asterisk, item.id, concierge=concierge_endpoint, context=fallback_context)
                else:
                    await asterisk.hang_up(item.id)
                handed += 1
        except AriError as error:
            failed += 1
            log.error("recovery: cannot clean %s %s of call %s: %s", item.kind, item.id, item.call_id, error)
    result = Swept(bridges, channels, handed, failed)
    if leftovers:
        log.warning(
            "recovery: an earlier run left %d resources of %d calls: removed %d bridges and %d channels, "
            "handed %d waiting visitors over, %d failed",
            len(leftovers),
            len({item.call_id for item in leftovers}),
            bridges,
            channels,
            handed,
            failed,
        )
    return result


async def _still_there(asterisk: AsteriskOps, channel_id: str) -> bool:
    try:
        await asterisk.channel(channel_id)
    except AriNotFound:
        return False
    return True
