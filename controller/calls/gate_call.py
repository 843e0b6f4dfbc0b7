"""One gate call: the ARI call control around the conversation.

The call owns everything it creates (mixing bridges, externalMedia channels, their AudioSocket connections,
the resident's channel) and removes all of it when it ends, whatever the reason. Events for its channels
arrive, in Asterisk's order, on its own queue (filled by :class:`controller.calls.stasis.StasisApp`).

Sequence::

    StasisStart(gate) -> answer -> create bridge -> expect UUID -> POST externalMedia
      -> wait StasisStart(externalMedia) -> add both to bridge  [event "bridged", ms since StasisStart]
      -> AudioSocket connects -> MediaLeg -> CallRunner(dialog) starts: the greeting plays from the prompt cache
      -> ... the dialog asks, the runner carries out its actions through this class (CallControl) ...
      -> hang-up of the gate channel -> teardown
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import LegConfig, MediaLeg
from audiosocket.server import AudioSocketServer, MediaConnection
from audiosocket.speech.factory import SpeechEngines
from audiosocket.vad import Vad
from audiosocket.vad_pool import VadPool
from controller.ari.client import AriClient, AriConflict, AriError, Event
from controller.calls.endpoints import resolve_endpoint
from controller.calls.runner import CallRunner, LegIO
from controller.conversation import CallStarted, Dialog, DialogPolicy, DtmfReceived, Leg
from controller.conversation.call import Conversation
from controller.conversation.events import (
    AuditRecord,
    DialResident,
    OpenGate,
    ResidentAnswered,
    ResidentRinging,
    ResidentUnavailable,
    Unavailable,
)
from controller.conversation.understanding import Understanding
from controller.records.audit import AuditError, AuditLog
from controller.records.call_log import EventSink
from controller.records.directory_file import LiveDirectory
from controller.records.gate_opener import GateContext, GateOpener, GateOpenError
from controller.records.store import ConversationStore

log = logging.getLogger(__name__)

END_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})
LOCAL_HALF_GRACE_S = 1.0  # after a Local dial's channel ended, how long its other half may take to say why


@dataclass(frozen=True, slots=True)
class CallConfig:
    app: str
    media_address: str
    media_format: str
    leg: LegConfig
    policy: DialogPolicy
    endpoint_template: str = ""
    caller_id: str = "Portaria"
    concierge_endpoint: str = ""  # empty: a hand-over ends the call politely instead
    setup_timeout_s: float = 5.0
    fallback_context: str = "portaria-fallback"
    end_grace_s: float = 20.0  # after the visitor hangs up, time left to tell the resident and end


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDeps:
    ari: AriClient
    media: AudioSocketServer
    events: EventSink
    config: CallConfig
    speech: SpeechEngines
    directory: LiveDirectory
    store: ConversationStore
    vads: VadPool
    understanding: Understanding
    audit: AuditLog
    opener: GateOpener
    frame_clock: FrameClock
    clock: Callable[[], float] = time.monotonic


@dataclass(slots=True)
class _Waiter:
    predicate: Callable[[Event], bool]
    future: asyncio.Future[Event]


@dataclass(slots=True)
class _MediaChannel:
    channel_id: str
    connection_id: uuid.UUID
    connection: MediaConnection | None = None
    leg: MediaLeg | None = None
    vad: Vad | None = None


@dataclass(eq=False)
class GateCall:
    """Runs one gate call from StasisStart to teardown. `deliver()` feeds it ARI events in order."""

    channel: dict[str, Any]
    deps: CallDeps
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    owned_channels: set[str] = field(default_factory=set)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    return_to_dialplan: bool = False
    _waiters: list[_Waiter] = field(default_factory=list)
    _bridges: list[str] = field(default_factory=list)
    _media: list[_MediaChannel] = field(default_factory=list)
    _runner: CallRunner | None = None
    _handed_over: bool = False
    _resident_channel: str | None = None
    _resident_answered: bool = False
    _dials: int = 0

    @property
    def gate_channel_id(self) -> str:
        return str(self.channel["id"])

    def owns(self, channel_id: str) -> bool:
        return channel_id == self.gate_channel_id or channel_id in self.owned_channels

    def deliver(self, event: Event) -> None:
        self.queue.put_nowait(event)

    def emit(self, event: str, leg: str = Leg.GATE, **fields: Any) -> None:
        self.deps.events.emit(self.call_id, str(leg), event, **fields)

    async def run(self) -> None:
        deps = self.deps
        started = deps.clock()
        caller = self.channel.get("caller", {})
        self.emit("stasis_start", channel=self.gate_channel_id, caller=caller.get("number", ""))
        pump = asyncio.create_task(self._pump_events(), name=f"call-{self.call_id}-events")
        runner_task: asyncio.Task[None] | None = None
        try:
            await deps.ari.post(f"channels/{self.gate_channel_id}/answer")
            self.emit("answered", ms=_ms_since(started, deps.clock))
            media_leg = await self._open_leg(Leg.GATE, self.gate_channel_id, started)
            dialog = Conversation(Dialog(deps.directory.current(), deps.config.policy))
            runner = CallRunner(
                self.call_id, dialog, self, deps.events, deps.store, deps.understanding, clock=deps.clock
            )
            runner.attach(Leg.GATE, LegIO(media_leg, deps.speech.for_call(self.call_id, Leg.GATE, deps.events)))
            self._runner = runner
            runner_task = asyncio.create_task(runner.run(CallStarted(at=deps.clock())), name=f"call-{self.call_id}")
            hangup = asyncio.create_task(self.hung_up.wait())
            await asyncio.wait({hangup, runner_task}, return_when=asyncio.FIRST_COMPLETED)
            hangup.cancel()
            if not runner_task.done():
                # The visitor hung up: the conversation may still tell the resident, then ends the call.
                runner.leg_gone(Leg.GATE)
                await asyncio.wait({runner_task}, timeout=deps.config.end_grace_s)
            if runner_task.done() and not runner_task.cancelled() and runner_task.exception() is not None:
                raise runner_task.exception()  # type: ignore[misc]
        except AriError as error:
            self.emit("error", stage="call_control", status=error.status, message=str(error))
            log.warning("call %s: %s", self.call_id, error)
        except TimeoutError as error:
            self.emit("error", stage="call_setup", message=f"timed out: {error}")
        finally:
            if runner_task is not None:
                runner_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner_task
            await self._teardown()
            pump.cancel()
            self.emit("call_end", duration_ms=round((deps.clock() - started) * 1000))

    # Legs ------------------------------------------------------------------------------------------------------

    async def _open_leg(self, leg: Leg, channel_id: str, started: float) -> MediaLeg:
        """Bridge `channel_id` with a new externalMedia channel and return its running MediaLeg."""
        deps, config = self.deps, self.deps.config
        bridge_id = f"portaria-{self.call_id}-{leg}"
        await deps.ari.post("bridges", type="mixing", bridgeId=bridge_id, name=bridge_id)
        self._bridges.append(bridge_id)
        media = _MediaChannel(f"portaria-media-{self.call_id}-{leg}", uuid.uuid4())
        self._media.append(media)
        media.vad = await deps.vads.acquire()
        connected = deps.media.expect(media.connection_id, self.call_id, str(leg))
        self.owned_channels.add(media.channel_id)
        media_started = self._wait_for(
            lambda event: event["type"] == "StasisStart" and event["channel"]["id"] == media.channel_id
        )
        await deps.ari.post(
            "channels/externalMedia",
            app=config.app,
            channelId=media.channel_id,
            external_host=config.media_address,
            encapsulation="audiosocket",
            transport="tcp",
            format=config.media_format,
            data=str(media.connection_id),
        )
        await asyncio.wait_for(media_started, config.setup_timeout_s)
        await self._add_to_bridge(bridge_id, [channel_id, media.channel_id])
        self.emit("bridged", leg, ms=_ms_since(started, deps.clock), bridge=bridge_id)
        media.connection = await asyncio.wait_for(connected, config.setup_timeout_s)
        self.emit("media_connected", leg, ms=_ms_since(started, deps.clock), format=config.media_format)
        media.leg = MediaLeg.configured(
            media.connection,
            config.leg,
            events=deps.events,
            call_id=self.call_id,
            leg=str(leg),
            vad=media.vad,
            frame_clock=deps.frame_clock,
        )
        media.leg.start()
        return media.leg

    async def _add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        # Asterisk answers 422 if a channel is not yet fully in Stasis; a short retry covers that race.
        for attempt in range(3):
            try:
                await self.deps.ari.post(f"bridges/{bridge_id}/addChannel", channel=",".join(channels))
                return
            except AriConflict:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    # CallControl (what the conversation asks of Asterisk) -------------------------------------------------------

    async def hangup(self, leg: Leg) -> None:
        if leg is Leg.GATE:
            self.emit("hangup_by_us")
            await self.deps.ari.delete_quietly(f"channels/{self.gate_channel_id}")
        elif self._resident_channel is not None:
            self.emit("hangup_by_us", Leg.RESIDENT)
            await self.deps.ari.delete_quietly(f"channels/{self._resident_channel}")

    async def end_call(self) -> None:
        """The conversation is over: hang up whoever is still on the line (teardown removes the rest)."""
        if self._resident_channel is not None:
            await _quietly(self.deps.ari.delete_quietly(f"channels/{self._resident_channel}"))
        if not self.hung_up.is_set() and not self._handed_over:
            await _quietly(self.deps.ari.delete_quietly(f"channels/{self.gate_channel_id}"))

    async def dial_resident(self, action: DialResident) -> None:
        """Originate to the resident into our app and report how it went, from the channel's fate."""
        deps, runner = self.deps, self._runner
        assert runner is not None
        self._dials += 1
        channel_id = f"portaria-resident-{self.call_id}-{self._dials}"
        endpoint = resolve_endpoint(action.target.endpoint, deps.config.endpoint_template)
        self.owned_channels.add(channel_id)
        self._resident_channel = channel_id
        entered = self._wait_for(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == channel_id)
        gone = self._wait_for(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == channel_id)
        # The dial's outcome. A Local channel (a forward, a ring group, the test bed's phones) ends with cause 0
        # even when the phone behind it is busy: its other half (";2", whose events we then receive) shows it.
        # A Dial event about our channel, when it reaches us, says it for any technology.
        other_half = f"{channel_id};2" if endpoint.lower().startswith("local/") else None
        if other_half is not None:
            self.owned_channels.add(other_half)
        dialled = self._wait_for(
            lambda e: (
                e["type"] == "Dial"
                and e.get("peer", {}).get("id") == channel_id
                and str(e.get("dialstatus", "")) in _DIAL_OUTCOMES
            )
        )
        busy = self._wait_for(
            lambda e: (
                e.get("channel", {}).get("id") in (channel_id, other_half)
                and (
                    (e["type"] == "ChannelStateChange" and e["channel"].get("state") == "Busy")
                    or (e["type"] in END_EVENTS and int(e.get("cause", 0) or 0) == 17)
                )
            )
        )
        other_gone = self._wait_for(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == other_half)
        started = deps.clock()
        self.emit("resident_dial", Leg.RESIDENT, endpoint=endpoint, attempt=action.attempt, timeout_s=action.timeout_s)
        try:
            await deps.ari.post(
                "channels",
                endpoint=endpoint,
                app=deps.config.app,
                appArgs=f"resident,{self.call_id}",
                channelId=channel_id,
                callerId=deps.config.caller_id,
                timeout=max(1, round(action.timeout_s)),
            )
        except AriError as error:
            self.emit("resident_unavailable", Leg.RESIDENT, reason="failed", status=error.status)
            for waiter in (entered, gone, other_gone, dialled, busy):
                self._forget_waiter(waiter)
            self._forget_resident(channel_id)
            runner.post(ResidentUnavailable(action.target, action.attempt, Unavailable.FAILED))
            return
        runner.post(ResidentRinging(action.target, action.attempt))
        done, _ = await asyncio.wait({entered, gone}, return_when=asyncio.FIRST_COMPLETED)
        ring_ms = _ms_since(started, deps.clock)
        if entered not in done and other_half is not None and not (busy.done() or dialled.done()):
            # The two halves' events come on separate topics: the other half's end may arrive just after ours.
            await asyncio.wait({other_gone, busy}, timeout=LOCAL_HALF_GRACE_S, return_when=asyncio.FIRST_COMPLETED)
        self._forget_waiter(other_gone)
        status = str(dialled.result().get("dialstatus", "")) if dialled.done() else ""
        if not status and busy.done():
            status = "BUSY"
        self._forget_waiter(dialled)
        self._forget_waiter(busy)
        if entered not in done:
            event = gone.result()
            reason = _unavailable(int(event.get("cause", 0) or 0), ring_ms / 1000, action.timeout_s, status)
            self.emit(
                "resident_unavailable",
                Leg.RESIDENT,
                reason=str(reason),
                cause=event.get("cause"),
                dialstatus=status,
                ring_ms=ring_ms,
            )
            self._forget_resident(channel_id)
            runner.post(ResidentUnavailable(action.target, action.attempt, reason))
            return
        self.emit("resident_answered", Leg.RESIDENT, ring_ms=ring_ms, resident=action.target.resident)
        self._resident_answered = True
        try:
            media_leg = await self._open_leg(Leg.RESIDENT, channel_id, started)
        except (AriError, TimeoutError) as error:
            self.emit("error", Leg.RESIDENT, stage="resident_media", message=str(error))
            await _quietly(deps.ari.delete_quietly(f"channels/{channel_id}"))
            runner.leg_gone(Leg.RESIDENT)
            return
        runner.attach(Leg.RESIDENT, LegIO(media_leg, deps.speech.for_call(self.call_id, Leg.RESIDENT, deps.events)))
        runner.post(ResidentAnswered(action.target))

    def _forget_resident(self, channel_id: str) -> None:
        self.owned_channels.discard(channel_id)
        self.owned_channels.discard(f"{channel_id};2")
        if self._resident_channel == channel_id:
            self._resident_channel = None

    async def write_audit(self, record: AuditRecord) -> bool:
        try:
            await self.deps.audit.write(
                record, gate_channel=self.gate_channel_id, resident_channel=self._resident_channel
            )
        except AuditError as error:
            self.emit("audit_failed", decision=str(record.decision), cause=str(error))
            return False
        self.emit("audit_written", decision=str(record.decision), how=str(record.how))
        return True

    async def open_gate(self, action: OpenGate) -> bool:
        context = GateContext.from_request(action.request, self.gate_channel_id)
        try:
            await self.deps.opener.open(context)
        except GateOpenError as error:
            self.emit("gate_open_failed", attempt=action.attempt, cause=str(error))
            return False
        self.emit("gate_opened", attempt=action.attempt)
        return True

    async def bridge_callers(self) -> None:
        """Visitor and resident talk directly: our media legs leave, the resident joins the gate's bridge."""
        runner = self._runner
        if runner is None or self._resident_channel is None or not self._bridges:
            return
        for leg in (Leg.GATE, Leg.RESIDENT):
            await runner.detach(leg)
        for media in self._media:
            await _quietly(self.deps.ari.delete_quietly(f"channels/{media.channel_id}"))
        gate_bridge = self._bridges[0]
        for bridge_id in self._bridges[1:]:
            await _quietly(self.deps.ari.post(f"bridges/{bridge_id}/removeChannel", channel=self._resident_channel))
        await self._add_to_bridge(gate_bridge, [self._resident_channel])
        self.emit("callers_bridged", bridge=gate_bridge)

    async def fallback(self, reason: str) -> None:
        """Hand the visitor to a person: back to the dialplan, which dials the concierge; else end politely."""
        config = self.deps.config
        concierge = config.concierge_endpoint
        if self._handed_over:
            return
        self._handed_over = True
        if not concierge:
            self.emit("fallback", reason=reason, to="none")
            await self.hangup(Leg.GATE)
            return
        self.emit("fallback", reason=reason, to=concierge)
        await self.deps.ari.post(
            f"channels/{self.gate_channel_id}/variable", variable="PORTARIA_CONCIERGE", value=concierge
        )
        self.return_to_dialplan = True
        await self.deps.ari.post(
            f"channels/{self.gate_channel_id}/continue", context=config.fallback_context, extension="s", priority=1
        )
        self.hung_up.set()  # the caller left Stasis: this call's part is over

    # ARI events ------------------------------------------------------------------------------------------------

    async def _pump_events(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                self._on_event(event)
            except Exception:  # one malformed event must not leave the call deaf to its hang-up
                log.exception("call %s: cannot handle ARI event %s", self.call_id, event.get("type"))

    def _on_event(self, event: Event) -> None:
        channel_id = event.get("channel", {}).get("id")
        kind = event["type"]
        leg = self._leg_of(channel_id)
        if kind == "ChannelDtmfReceived" and leg is not None:
            digit = str(event.get("digit", ""))
            self.emit("dtmf", leg, digit=digit, via="ari")
            if self._runner is not None and digit:
                self._runner.post(DtmfReceived(digit, leg=leg))
        if kind in END_EVENTS and leg is Leg.GATE and not self.hung_up.is_set():
            self.emit("hangup", cause=event.get("cause", ""), via=kind)
            self.hung_up.set()
        if kind in END_EVENTS and leg is Leg.RESIDENT and self._runner is not None:
            self.emit("hangup", Leg.RESIDENT, cause=event.get("cause", ""), via=kind)
            self._runner.leg_gone(Leg.RESIDENT)
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            try:
                matched = waiter.predicate(event)
            except (KeyError, TypeError, AttributeError):
                matched = False  # an event without the fields this waiter looks at
            if matched:
                waiter.future.set_result(event)
                self._waiters.remove(waiter)

    def _leg_of(self, channel_id: str | None) -> Leg | None:
        if channel_id == self.gate_channel_id:
            return Leg.GATE
        if channel_id is not None and channel_id == self._resident_channel and self._resident_answered:
            return Leg.RESIDENT
        return None

    def _forget_waiter(self, future: asyncio.Future[Event]) -> None:
        self._waiters = [waiter for waiter in self._waiters if waiter.future is not future]
        future.cancel()

    def _wait_for(self, predicate: Callable[[Event], bool]) -> asyncio.Future[Event]:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(predicate, future))
        return future

    # Teardown --------------------------------------------------------------------------------------------------

    async def _teardown(self) -> None:
        ari = self.deps.ari
        for media in self._media:
            self.deps.media.forget(media.connection_id)
            if media.leg is not None:
                with contextlib.suppress(Exception):
                    await media.leg.aclose()
            if media.vad is not None:
                self.deps.vads.release(media.vad)
            if media.connection is not None:
                stats = media.connection.stats
                self.emit("audio_in", frames=stats.frames_in, bytes=stats.audio_bytes_in, dropped=stats.dropped_in)
                media.connection.close("call ended")
        for channel_id in sorted(self.owned_channels):
            await _quietly(ari.delete_quietly(f"channels/{channel_id}"))
        for bridge_id in self._bridges:
            await _quietly(ari.delete_quietly(f"bridges/{bridge_id}"))
        if not self.hung_up.is_set():
            if self.return_to_dialplan:
                # We are shutting down: the dialplan's fallback context hands the caller to a person.
                await _quietly(
                    ari.post(
                        f"channels/{self.gate_channel_id}/continue",
                        context=self.deps.config.fallback_context,
                        extension="s",
                        priority=1,
                    )
                )
                self.emit("returned_to_dialplan")
            else:
                await _quietly(ari.delete_quietly(f"channels/{self.gate_channel_id}"))


async def _quietly(request: Any) -> None:
    """Teardown must go on even if Asterisk is unreachable: log and continue."""
    try:
        await request
    except AriError as error:
        log.warning("teardown: %s", error)


_DIAL_OUTCOMES = frozenset({"BUSY", "NOANSWER", "CHANUNAVAIL", "CONGESTION", "CANCEL"})


def _unavailable(cause: int, rang_s: float, timeout_s: float, dialstatus: str = "") -> Unavailable:
    """Why a dial gave no resident, from the channel's fate: the Dial event's status when there is one (a Local
    channel ends with cause 0 even when the phone behind it is busy), else the hangup cause, else how long it
    rang (Asterisk may report cause 0 on a ring timeout)."""
    if dialstatus == "BUSY":
        return Unavailable.BUSY
    if dialstatus == "NOANSWER":
        return Unavailable.NO_ANSWER
    if dialstatus in ("CHANUNAVAIL", "CONGESTION"):
        return Unavailable.FAILED
    if cause == 17:
        return Unavailable.BUSY
    if cause == 21:
        return Unavailable.REJECTED
    if cause in (18, 19) or rang_s >= timeout_s - 1.0:
        return Unavailable.NO_ANSWER
    return Unavailable.FAILED


def _ms_since(start: float, clock: Callable[[], float]) -> float:
    return round((clock() - start) * 1000, 1)
