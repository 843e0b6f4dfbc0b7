"""ARI events, parsed once at the edge into typed values.

Asterisk sends JSON objects with a ``type`` and nested ``channel``/``peer`` objects. :func:`parse_event` turns the
ones we act on into frozen dataclasses and everything else into :class:`OtherEvent`, so call code matches on types
and fields instead of indexing dicts (where a missing key used to mean "no match" silently). An event we act on
that lacks what we need raises :class:`MalformedEvent` with the reason; the caller logs it and drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Channel states and hang-up causes we look at (Q.850 cause codes, as Asterisk reports them).
BUSY_STATE = "Busy"
CAUSE_BUSY = 17
CAUSE_NO_USER_RESPONDING = 18
CAUSE_NO_ANSWER = 19
CAUSE_CALL_REJECTED = 21


class MalformedEvent(ValueError):
    """An ARI event of a kind we act on, without the fields that kind must carry."""


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    state: str = ""
    caller_number: str = ""


@dataclass(frozen=True, slots=True)
class StasisStart:
    channel: Channel
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StasisEnd:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest:
    channel: Channel
    cause: int = 0


@dataclass(frozen=True, slots=True)
class ChannelDestroyed:
    channel: Channel
    cause: int = 0


@dataclass(frozen=True, slots=True)
class ChannelStateChange:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived:
    channel: Channel
    digit: str


@dataclass(frozen=True, slots=True)
class ChannelTalkingStarted:
    """TALK_DETECT heard the caller start talking on the channel (energy above its threshold)."""

    channel: Channel


@dataclass(frozen=True, slots=True)
class Dial:
    """A dial's progress; `peer` is the dialled channel (the caller side is absent on an originate)."""

    peer: Channel
    dialstatus: str = ""


@dataclass(frozen=True, slots=True)
class ApplicationReplaced:
    application: str = ""


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A kind we do not act on; kept with its channel id (if any) so it can still be routed and logged."""

    type: str
    channel_id: str | None = None


AriEvent = (
    StasisStart
    | StasisEnd
    | ChannelHangupRequest
    | ChannelDestroyed
    | ChannelStateChange
    | ChannelDtmfReceived
    | ChannelTalkingStarted
    | Dial
    | ApplicationReplaced
    | OtherEvent
)
ChannelEnded = StasisEnd | ChannelHangupRequest | ChannelDestroyed


def is_end(event: AriEvent) -> bool:
    """The channel is leaving us (hang-up requested, left Stasis, or destroyed)."""
    return isinstance(event, StasisEnd | ChannelHangupRequest | ChannelDestroyed)


def hangup_cause(event: AriEvent) -> int | None:
    """The Q.850 cause of a hang-up or a destroyed channel; None for any other event (StasisEnd has none)."""
    return event.cause if isinstance(event, ChannelHangupRequest | ChannelDestroyed) else None


def channel_id(event: AriEvent) -> str | None:
    """The channel the event is about (a Dial's is the dialled one)."""
    match event:
        case Dial(peer=peer):
            return peer.id
        case OtherEvent(channel_id=found):
            return found
        case ApplicationReplaced():
            return None
    return event.channel.id


def parse_event(raw: Mapping[str, Any]) -> AriEvent:
    """The typed event for one decoded ARI message; MalformedEvent when a kind we act on lacks its fields."""
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"an event must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedEvent("event without a type")
    match kind:
        case "StasisStart":
            args = raw.get("args", [])
            if not isinstance(args, list):
                raise MalformedEvent("StasisStart: args is not a list")
            return StasisStart(_channel(raw, "channel", kind), tuple(str(arg) for arg in args))
        case "StasisEnd":
            return StasisEnd(_channel(raw, "channel", kind))
        case "ChannelHangupRequest":
            return ChannelHangupRequest(_channel(raw, "channel", kind), _cause(raw))
        case "ChannelDestroyed":
            return ChannelDestroyed(_channel(raw, "channel", kind), _cause(raw))
        case "ChannelStateChange":
            return ChannelStateChange(_channel(raw, "channel", kind))
        case "ChannelDtmfReceived":
            digit = raw.get("digit")
            if not isinstance(digit, str) or len(digit) != 1:
                raise MalformedEvent(f"ChannelDtmfReceived: digit {digit!r} is not one character")
            return ChannelDtmfReceived(_channel(raw, "channel", kind), digit)
        case "ChannelTalkingStarted":
            return ChannelTalkingStarted(_channel(raw, "channel", kind))
        case "Dial":
            return Dial(_channel(raw, "peer", kind), str(raw.get("dialstatus", "") or ""))
        case "ApplicationReplaced":
            return ApplicationReplaced(str(raw.get("application", "")))
    channel = raw.get("channel")
    found = channel.get("id") if isinstance(channel, Mapping) else None
    return OtherEvent(kind, found if isinstance(found, str) else None)


def _channel(raw: Mapping[str, Any], key: str, kind: str) -> Channel:
    data = raw.get(key)
    if not isinstance(data, Mapping):
        raise MalformedEvent(f"{kind}: no {key} object")
    return parse_channel(data, f"{kind}: {key}")


def parse_channel(data: Mapping[str, Any], what: str = "channel") -> Channel:
    """A channel object as ARI gives it, in an event or from GET /channels."""
    identifier = data.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise MalformedEvent(f"{what} without an id")
    caller = data.get("caller")
    number = caller.get("number", "") if isinstance(caller, Mapping) else ""
    return Channel(identifier, str(data.get("state", "") or ""), str(number or ""))


def _cause(raw: Mapping[str, Any]) -> int:
    try:
        return int(raw.get("cause", 0) or 0)
    except (TypeError, ValueError):
        return 0
