"""The channel and bridge operations Portaria asks of Asterisk, each one named, in one place.

Call code says ``await asterisk.answer(channel)`` instead of building REST paths: the paths, the parameter names
ARI expects and the known races (a channel not yet in Stasis answers 422 to addChannel) live here only.
Errors are the client's :class:`~controller.ari.client.AriError` family.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from controller.ari.client import AriClient, AriConflict, AriNotFound

ADD_TO_BRIDGE_TRIES = 3


class AsteriskOps(Protocol):
    """What call code asks of Asterisk: :class:`Asterisk` over ARI, or a test's fake with the same methods."""

    @property
    def app(self) -> str: ...

    async def answer(self, channel_id: str) -> None: ...

    async def ring(self, channel_id: str) -> None: ...

    async def hang_up(self, channel_id: str) -> bool: ...

    async def channel(self, channel_id: str) -> dict[str, Any]: ...

    async def channels(self) -> list[dict[str, Any]]: ...

    async def originate(
        self, channel_id: str, endpoint: str, *, app_args: str, caller_id: str, timeout_s: float
    ) -> None: ...

    async def external_media(self, channel_id: str, *, host: str, media_format: str, connection_id: str) -> None: ...

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str = "s", priority: int = 1
    ) -> None: ...

    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...

    async def send_dtmf(
        self, channel_id: str, digits: str, *, between_ms: int | None = None, duration_ms: int | None = None
    ) -> None: ...

    async def create_bridge(self, bridge_id: str) -> None: ...

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> bool: ...

    async def bridges(self) -> list[dict[str, Any]]: ...


class Asterisk:
    def __init__(self, client: AriClient) -> None:
        self.client = client

    @property
    def app(self) -> str:
        return self.client.app

    # Channels

    async def answer(self, channel_id: str) -> None:
        await self.client.post(f"channels/{channel_id}/answer")

    async def ring(self, channel_id: str) -> None:
        """Tell the caller their call rings (SIP 180): a visitor kept waiting hears ringback, not silence."""
        await self.client.post(f"channels/{channel_id}/ring")

    async def hang_up(self, channel_id: str) -> bool:
        """Hang up; "already gone" is not an error. True if we hung it up."""
        return await self.client.delete_quietly(f"channels/{channel_id}")

    async def channel(self, channel_id: str) -> dict[str, Any]:
        """The channel as Asterisk sees it now; AriNotFound if it is gone."""
        found: dict[str, Any] = await self.client.get(f"channels/{channel_id}")
        return found

    async def channels(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.client.get("channels")
        return found

    async def originate(
        self, channel_id: str, endpoint: str, *, app_args: str, caller_id: str, timeout_s: float
    ) -> None:
        """Dial `endpoint` into our app; the answered channel enters Stasis with `app_args`."""
        await self.client.post(
            "channels",
            endpoint=endpoint,
            app=self.app,
            appArgs=app_args,
            channelId=channel_id,
            callerId=caller_id,
            timeout=max(1, round(timeout_s)),
        )

    async def external_media(self, channel_id: str, *, host: str, media_format: str, connection_id: str) -> None:
        """An AudioSocket externalMedia channel that dials `host` and introduces itself with `connection_id`."""
        await self.client.post(
            "channels/externalMedia",
            app=self.app,
            channelId=channel_id,
            external_host=host,
            encapsulation="audiosocket",
            transport="tcp",
            format=media_format,
            data=connection_id,
        )

    async def continue_in_dialplan(
        self, channel_id: str, context: str, extension: str = "s", priority: int = 1
    ) -> None:
        await self.client.post(
            f"channels/{channel_id}/continue", context=context, extension=extension, priority=priority
        )

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.client.post(f"channels/{channel_id}/variable", variable=name, value=value)

    async def send_dtmf(
        self, channel_id: str, digits: str, *, between_ms: int | None = None, duration_ms: int | None = None
    ) -> None:
        timing = {"between": between_ms, "duration": duration_ms}
        await self.client.post(
            f"channels/{channel_id}/dtmf", dtmf=digits, **{k: v for k, v in timing.items() if v is not None}
        )

    # Bridges

    async def create_bridge(self, bridge_id: str) -> None:
        await self.client.post("bridges", type="mixing", bridgeId=bridge_id, name=bridge_id)

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        # Asterisk answers 422 if a channel is not yet fully in Stasis; a short retry covers that race.
        for attempt in range(ADD_TO_BRIDGE_TRIES):
            try:
                await self.client.post(f"bridges/{bridge_id}/addChannel", channel=",".join(channel_ids))
                return
            except AriConflict:
                if attempt == ADD_TO_BRIDGE_TRIES - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        try:
            await self.client.post(f"bridges/{bridge_id}/removeChannel", channel=channel_id)
        except AriNotFound:
            pass  # the bridge or the channel is gone already: nothing to remove

    async def destroy_bridge(self, bridge_id: str) -> bool:
        return await self.client.delete_quietly(f"bridges/{bridge_id}")

    async def bridges(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.client.get("bridges")
        return found
