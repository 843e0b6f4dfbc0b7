"""One gate call: the ARI resources around the conversation, from StasisStart to teardown.

The call owns everything it creates (mixing bridges, externalMedia channels and their AudioSocket connections,
the resident's channel) and removes all of it when it ends, whatever the reason. Its ARI events arrive typed and
in Asterisk's order on its own queue (filled by :class:`~controller.calls.stasis.StasisApp`); each goes to the
waiters (what the call is waiting for from Asterisk) and, for hang-ups and keypad digits, to the runner.

Sequence::

    StasisStart(gate) -> answer -> CallMedia.open(gate)  [bridge + externalMedia + AudioSocket + MediaLeg]
      -> CallRunner(conversation) starts: the greeting plays from the prompt cache
      -> the conversation's actions that need Asterisk come back here (this class is the runner's CallControl):
         ring the resident (calls.dialling), write the audit row, open the gate, bridge the callers, hand over
      -> the gate channel ends (or the conversation ends the call) -> teardown

A lost leg is reported to the conversation from one place, :meth:`GateCall._leg_left`, whether Asterisk said so
(hang-up events) or the media did (the AudioSocket connection closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from controller.ari.client import AriError, AriNotFound
from controller.ari.events import (
    AriEvent,
    Channel,
    ChannelDtmfReceived,
    ChannelTalkingStarted,
    channel_id,
    hangup_cause,
    is_end,
)
from controller.calls import dialling
from controller.calls.deps import CONCIERGE_VARIABLE, CallDeps
from controller.calls.endpoints import resolve_endpoint
from controller.calls.media import CallMedia, MediaSetup
from controller.calls.notes import send_delivery_note
from controller.calls.preauth import passes_for
from controller.calls.recovery import JournaledAsterisk
from controller.calls.resident_leg import ResidentChannels
from controller.calls.runner import CallRunner, LegIO
from controller.calls.waiters import EventWaiters
from controller.conversation.dialog import Dialog
from controller.conversation.events import (
    AuditRecord,
    CallStarted,
    DialResident,
    DtmfReceived,
    ErrorOccurred,
    Leg,
    NotifyResident,
    OpenGate,
    ResidentAnswered,
    ResidentRinging,
    ResidentUnavailable,
    Unavailable,
)
from controller.conversation.phases import Conversation
from controller.records.audit import AuditError
from controller.records.gate_opener import GateContext, GateOpenError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class GateCall:
    """Runs one gate call from StasisStart to teardown. `deliver()` feeds it ARI events in order."""

    channel: Channel
    deps: CallDeps
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    queue: asyncio.Queue[AriEvent] = field(default_factory=asyncio.Queue)
    owned_channels: set[str] = field(default_factory=set)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    return_to_dialplan: bool = False
    waiters: EventWaiters = field(default_factory=EventWaiters)
    _media: CallMedia | None = None
    _runner: CallRunner | None = None
    _left: set[Leg] = field(default_factory=set)
    _handed_over: bool = False
    _resident: ResidentChannels = field(init=False)

    def __post_init__(self) -> None:
        self._resident = ResidentChannels(self.call_id, self.owned_channels)
        if self.deps.journal is not None:
            self.deps = replace(self.deps, ari=JournaledAsterisk(self.deps.ari, self.deps.journal, self.call_id))

    @property
    def gate_channel_id(self) -> str:
        return self.channel.id

    def owns(self, channel_id: str) -> bool:
        return channel_id == self.gate_channel_id or channel_id in self.owned_channels

    def deliver(self, event: AriEvent) -> None:
        self.queue.put_nowait(event)

    def emit(self, event: str, leg: str = Leg.GATE, **fields: Any) -> None:
        self.deps.events.emit(self.call_id, str(leg), event, **fields)

    async def run(self) -> None:
        deps, config = self.deps, self.deps.config
        started = deps.clock()
        self.emit(
            "stasis_start",
            channel=self.gate_channel_id,
            caller=self.channel.caller_number,
            site=deps.site,
            gate=deps.gate,
            **({"voice": deps.speech.voice} if deps.speech.voice else {}),  # a site's own voice
        )
        self._media = CallMedia(
            self.call_id,
            asterisk=deps.ari,
            server=deps.media,
            vads=deps.vads,
            waiters=self.waiters,
            setup=MediaSetup(
                config.media_address, config.media_format, config.leg, config.setup_timeout_s, config.media_silence_s
            ),
            events=deps.events,
            frame_clock=deps.frame_clock,
            own=self.owned_channels.add,
            clock=deps.clock,
            on_silent=self._media_silent,
        )
        pump = asyncio.create_task(self._pump_events(), name=f"call-{self.call_id}-events")
        runner_task: asyncio.Task[None] | None = None
        try:
            await deps.ari.answer(self.gate_channel_id)
            self.emit("answered", ms=self._ms_since(started))
            media_leg = await self._media.open(Leg.GATE, self.gate_channel_id, started)
            passes = await passes_for(deps.passes, deps.site, deps.wall_clock(), self.emit)
            conversation = Conversation(Dialog(deps.directory.current(), config.policy, passes=passes))
            runner = deps.runner(
                self.call_id, conversation, self, deps.events, deps.store, deps.understanding, clock=deps.clock
            )
            runner.attach(Leg.GATE, LegIO(media_leg, deps.speech.for_call(self.call_id, Leg.GATE, deps.events)))
            self._runner = runner
            for leg in self._left:
                runner.leg_gone(leg)  # a caller who left while the call was being set up
            runner_task = asyncio.create_task(runner.run(CallStarted(at=deps.clock())), name=f"call-{self.call_id}")
            hangup = asyncio.create_task(self.hung_up.wait())
            await asyncio.wait({hangup, runner_task}, return_when=asyncio.FIRST_COMPLETED)
            hangup.cancel()
            if not runner_task.done():
                # The visitor has gone: the conversation may still tell the resident, then it ends the call.
                await asyncio.wait({runner_task}, timeout=config.end_grace_s)
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
            if deps.journal is not None:
                deps.journal.ended(self.call_id)
            self.emit("call_end", duration_ms=round((deps.clock() - started) * 1000))

    # CallControl: what the conversation asks of Asterisk, the audit log and the gate ----------------------------

    async def hangup(self, leg: Leg) -> None:
        if leg is Leg.GATE:
            self.emit("hangup_by_us")
            await self.deps.ari.hang_up(self.gate_channel_id)
        elif self._resident.channel is not None:
            self.emit("hangup_by_us", Leg.RESIDENT)
            await asyncio.gather(*(_quietly(self.deps.ari.hang_up(other)) for other in self._resident.also_ringing))
            await self.deps.ari.hang_up(self._resident.channel)

    async def end_call(self) -> None:
        """The conversation is over: hang up whoever is still on the line (teardown removes the rest)."""
        await asyncio.gather(*(_quietly(self.deps.ari.hang_up(other)) for other in self._resident.also_ringing))
        if self._resident.channel is not None:
            await _quietly(self.deps.ari.hang_up(self._resident.channel))
        if not self.hung_up.is_set() and not self._handed_over:
            await _quietly(self.deps.ari.hang_up(self.gate_channel_id))

    def _media_silent(self, leg: Leg) -> None:
        """The caller talks and we hear nothing: the conversation fails over as for any broken part."""
        log.warning("call %s: no audio from the %s leg while its caller talks; handing over", self.call_id, leg)
        if self._runner is not None:
            self._runner.post(ErrorOccurred(f"no audio reaches us from the {leg} leg"))

    def leg_lost(self, leg: Leg, reason: str) -> None:
        """The leg's media connection closed (the runner saw it)."""
        self.emit("leg_media_closed", leg, reason=reason)
        self._leg_left(leg)

    async def dial_resident(self, action: DialResident) -> None:
        """Ring the resident (a ring-all step: all its phones at once); the runner hears ResidentRinging, then
        ResidentAnswered or ResidentUnavailable."""
        deps, runner = self.deps, self._runner
        assert runner is not None and self._media is not None
        self._left.discard(Leg.RESIDENT)  # a new resident leg: its own hang-up must be reported again
        try:
            endpoints = [resolve_endpoint(e, deps.config.endpoint_template) for e in action.target.endpoints]
        except ValueError as error:  # a directory entry or template we cannot dial: this target is unreachable
            self.emit("resident_unavailable", Leg.RESIDENT, reason="failed", cause=str(error))
            runner.post(ResidentUnavailable(action.target, action.attempt, Unavailable.FAILED))
            return
        dials = self._resident.ring(endpoints)
        for _, endpoint in dials:
            self.emit(
                "resident_dial", Leg.RESIDENT, endpoint=endpoint, attempt=action.attempt, timeout_s=action.timeout_s
            )
        started = deps.clock()
        outcome = await dialling.ring_first(
            deps.ari,
            self.waiters,
            dials,
            app_args=f"resident,{self.call_id}",
            caller_id=deps.config.caller_id,
            timeout_s=action.timeout_s,
            clock=deps.clock,
            on_ringing=lambda: runner.post(ResidentRinging(action.target, action.attempt)),
        )
        self._resident.rung()
        if isinstance(outcome, list):
            for (channel, endpoint), missed in zip(dials, outcome, strict=True):
                self.emit("resident_unavailable", Leg.RESIDENT, endpoint=endpoint, **dialling.why_fields(missed))
                self._resident.forget(channel)
            reason = dialling.why_none_answered(outcome)
            runner.post(ResidentUnavailable(action.target, action.attempt, reason))
            return
        index, answered = outcome
        channel, endpoint = dials[index]
        self._resident.picked_up(channel, dials)
        self.emit(
            "resident_answered",
            Leg.RESIDENT,
            ring_ms=answered.ring_ms,
            resident=action.target.resident,
            endpoint=endpoint,
        )
        try:
            media_leg = await self._media.open(Leg.RESIDENT, channel, started)
        except (AriError, TimeoutError) as error:
            # Not reached after all: the dial ends as any dial does, with ResidentUnavailable (a LegHungUp here
            # would reach the conversation while it still waits for the dial's outcome, which it then never gets).
            self.emit("error", Leg.RESIDENT, stage="resident_media", message=str(error))
            # Before hanging up: its end is ours, not the resident leaving. Still owned: teardown hangs it up too.
            self._resident.dropped()
            await _quietly(deps.ari.hang_up(channel))
            runner.post(ResidentUnavailable(action.target, action.attempt, Unavailable.FAILED))
            return
        runner.attach(Leg.RESIDENT, LegIO(media_leg, deps.speech.for_call(self.call_id, Leg.RESIDENT, deps.events)))
        runner.post(ResidentAnswered(action.target, action.target.endpoints[index] if len(dials) > 1 else ""))

    async def write_audit(self, record: AuditRecord) -> bool:
        try:
            await self.deps.audit.write(
                record,
                gate_channel=self.gate_channel_id,
                resident_channel=self._resident.channel,
                site=self.deps.site,
                gate=self.deps.gate,
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

    def notify_resident(self, action: NotifyResident) -> None:
        deps = self.deps
        send_delivery_note(deps.notifier, action, site=deps.site, gate=deps.gate, call_id=self.call_id, emit=self.emit)

    async def bridge_callers(self) -> None:
        """Visitor and resident talk directly: our media legs leave, the resident joins the gate's bridge."""
        runner, media, resident = self._runner, self._media, self._resident.channel
        if runner is None or media is None or resident is None or not media.bridges:
            return
        for leg in (Leg.GATE, Leg.RESIDENT):
            await runner.detach(leg)
        await media.hang_up_channels()
        gate_bridge, *others = media.bridges
        for bridge_id in others:
            await _quietly(self.deps.ari.remove_from_bridge(bridge_id, resident))
        await self.deps.ari.add_to_bridge(gate_bridge, [resident])
        self.emit("callers_bridged", bridge=gate_bridge)

    async def fallback(self, reason: str) -> None:
        """Hand the visitor to a person: back to the dialplan, which dials the concierge; else end politely."""
        config = self.deps.config
        if self._handed_over:
            return
        self._handed_over = True
        if not config.concierge_endpoint:
            self.emit("fallback", reason=reason, to="none")
            await self.hangup(Leg.GATE)
            return
        self.emit("fallback", reason=reason, to=config.concierge_endpoint)
        try:
            await self.deps.ari.set_variable(self.gate_channel_id, CONCIERGE_VARIABLE, config.concierge_endpoint)
            self.return_to_dialplan = True
            await self.deps.ari.continue_in_dialplan(self.gate_channel_id, config.fallback_context)
        except AriNotFound:  # they hung up as we handed them over: nobody to hand, nothing failed
            self.emit("hangup", via="hand_over")
        self.hung_up.set()  # the caller left Stasis: this call's part is over
        self._leg_left(Leg.GATE)

    # ARI events ------------------------------------------------------------------------------------------------

    async def _pump_events(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                self._on_event(event)
            except Exception:  # one bad event must not leave the call deaf to its hang-up
                log.exception("call %s: cannot handle ARI event %s", self.call_id, type(event).__name__)

    def _on_event(self, event: AriEvent) -> None:
        leg = self._leg_of(channel_id(event))
        if isinstance(event, ChannelDtmfReceived) and leg is not None:
            # The one keypad path: ARI names the channel, so the leg is known (the copy Asterisk also forwards
            # to the AudioSocket is dropped by the media leg).
            self.emit("dtmf", leg, digit=event.digit, via="ari")
            if self._runner is not None:
                self._runner.post(DtmfReceived(event.digit, leg=leg))
        elif isinstance(event, ChannelTalkingStarted) and leg is not None and self._media is not None:
            self._media.talking(event.channel.id)
        elif is_end(event) and leg is not None:
            cause = hangup_cause(event)
            if leg is Leg.GATE and not self.hung_up.is_set():
                self.emit("hangup", cause=cause, via=type(event).__name__)
                self.hung_up.set()
                self._leg_left(Leg.GATE)
            elif leg is Leg.RESIDENT and Leg.RESIDENT not in self._left:
                self.emit("hangup", Leg.RESIDENT, cause=cause, via=type(event).__name__)
                self._leg_left(Leg.RESIDENT)
        self.waiters.offer(event)

    def _leg_of(self, channel_id: str | None) -> Leg | None:
        if channel_id == self.gate_channel_id:
            return Leg.GATE
        if self._resident.is_leg(channel_id):
            return Leg.RESIDENT
        return None

    def _leg_left(self, leg: Leg) -> None:
        """The one place the conversation learns that a caller is gone (once per leg)."""
        if leg in self._left:
            return
        self._left.add(leg)
        if self._runner is not None:
            self._runner.leg_gone(leg)

    # Teardown --------------------------------------------------------------------------------------------------

    async def _teardown(self) -> None:
        ari, media = self.deps.ari, self._media
        if media is not None:
            await media.close()
        for channel in sorted(self.owned_channels):
            await _quietly(ari.hang_up(channel))
        for bridge_id in media.bridges if media is not None else []:
            await _quietly(ari.destroy_bridge(bridge_id))
        if not self.hung_up.is_set():
            if self.return_to_dialplan:
                # We are shutting down: the dialplan's fallback context hands the caller to a person.
                await _quietly(ari.continue_in_dialplan(self.gate_channel_id, self.deps.config.fallback_context))
                self.emit("returned_to_dialplan")
            else:
                await _quietly(ari.hang_up(self.gate_channel_id))

    def _ms_since(self, started: float) -> float:
        return round((self.deps.clock() - started) * 1000, 1)


async def _quietly(request: Any) -> None:
    """Teardown must go on even if Asterisk is unreachable: log and continue."""
    try:
        await request
    except AriError as error:
        log.warning("teardown: %s", error)
