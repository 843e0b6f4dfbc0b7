"""What the console shows of the calls in progress (and the last ones that ended), built from the per-call events.

:class:`LiveCalls` subscribes to the service's event log; each event updates one call's view (its step in
pt-BR, the transcript of both legs, the resident being rung, the decision) and is passed on, reduced to what a
page needs, to every open event stream (server-sent events). Nothing here acts on a call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

STEPS = {
    "call_queued": "na fila, tocando",
    "stasis_start": "atendendo",
    "media_connected": "conversando",
    "resident_dial": "chamando morador",
    "resident_answered": "aguardando decisão",
    "gate_opened": "liberado",
    "fallback": "transferido",
    "call_end": "encerrada",
}
LEG_STATES = {  # what each leg is doing, as its events tell
    "media_connected": "em linha",
    "speech_start": "falando",
    "speech_end": "aguardando resposta",
    "playout_start": "ouvindo a portaria",
    "playout_stop": "em linha",
    "resident_dial": "tocando",
    "resident_answered": "atendeu",
    "resident_unavailable": "não atendeu",
    "hangup": "desligou",
    "leg_closed": "encerrada",
}
TIMELINE_FIELDS = ("mono", "leg", "event", "endpointing_delay_ms")
DECISIONS = {"authorised": "liberado", "denied": "recusado"}
LEFT_THE_QUEUE = {"hung_up": "desligou na fila", "handed_over": "transferido", "shutdown": "transferido"}
OPENERS = ("stasis_start", "call_queued")  # the events a call's view begins with
KEPT_ENDED = 50
QUEUE_EVENTS = 1000  # a stream that falls this far behind is dropped: its page reconnects and reloads
REPLAY = 500  # updates kept for a page that (re)connects: it asks for those after the last one it has


@dataclass
class CallView:
    call_id: str
    started: str
    caller: str = ""
    site: str = ""  # the condominium of the gate (sites file; "default" without one)
    gate: str = ""
    instance: str = ""  # another instance's id when the call came through Redis; "" for this instance's
    step: str = "atendendo"
    resident: str = ""
    decision: str = ""
    ended: bool = False
    legs: dict[str, str] = field(default_factory=dict)  # "gate" / "resident" -> its state (LEG_STATES)
    transcript: list[dict[str, str]] = field(default_factory=list)  # {"ts", "leg", "who", "text"}
    timeline: list[dict[str, Any]] = field(default_factory=list)  # {"mono", "leg", "event", ...}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LiveCalls:
    def __init__(self) -> None:
        self._calls: OrderedDict[str, CallView] = OrderedDict()
        self._streams: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.seq = 0  # the number of the last update: a page rendered now has everything up to it
        self._recent: deque[dict[str, Any]] = deque(maxlen=REPLAY)

    def calls(self) -> list[CallView]:
        """Calls in progress first (newest first), then the ended ones (newest first)."""
        views = list(reversed(self._calls.values()))
        return [v for v in views if not v.ended] + [v for v in views if v.ended]

    def get(self, call_id: str) -> CallView | None:
        return self._calls.get(call_id)

    def on_event(self, event: dict[str, Any]) -> None:
        call_id, name = str(event.get("call_id", "")), str(event.get("event", ""))
        if not call_id:
            return
        view = self._calls.get(call_id)
        if view is None:
            if name not in OPENERS:
                return  # a call that began before the console: not shown
            view = self._calls[call_id] = CallView(
                call_id,
                str(event.get("ts", "")),
                str(event.get("caller") or ""),
                str(event.get("site") or ""),
                str(event.get("gate") or ""),
                str(event.get("instance") or ""),
            )
        update = self._apply(view, name, event)
        if update is not None:
            self._publish({"call_id": call_id, **update})
        if name == "call_end" or (name == "queue_left" and view.ended):
            self._forget_old()

    def _apply(self, view: CallView, name: str, event: dict[str, Any]) -> dict[str, Any] | None:
        leg = str(event.get("leg", "gate"))
        view.timeline.append({k: event[k] for k in TIMELINE_FIELDS if k in event})
        leg_changed = False
        state, was = LEG_STATES.get(name), view.legs.get(leg)
        # A leg that hung up only closes after it; a closed one stays closed (late playout events, say).
        if state is not None and was != "encerrada" and (was != "desligou" or state == "encerrada"):
            leg_changed = was != state
            view.legs[leg] = state
        if name in STEPS and not view.ended and not (name == "call_end" and view.decision):
            view.step = STEPS[name]  # an ended call keeps showing its decision, if it had one
        if name == "call_end":
            view.ended = True
        if name == "queue_left" and str(event.get("outcome")) in LEFT_THE_QUEUE:
            view.step, view.ended = LEFT_THE_QUEUE[str(event.get("outcome"))], True  # no conversation of ours
        if name == "resident_dial":
            view.resident = str(event.get("endpoint", ""))
        if name == "resident_answered" and event.get("resident"):
            view.resident = str(event["resident"])
        if name == "audit_written":
            view.decision = DECISIONS.get(str(event.get("decision")), str(event.get("decision", "")))
            if view.decision in ("liberado", "recusado") and not view.ended:
                view.step = view.decision
        line = None
        if name == "transcript" and str(event.get("text", "")).strip():  # one per turn, its final words
            line = {"ts": str(event.get("ts", "")), "leg": leg, "who": _speaker(leg), "text": str(event["text"])}
        elif name == "say" and event.get("text") and event.get("text") != "(fallback)":
            who = "Portaria (ao morador)" if leg == "resident" else "Portaria"
            line = {"ts": str(event.get("ts", "")), "leg": leg, "who": who, "text": str(event["text"])}
        if line is not None:
            view.transcript.append(line)
        if line is None and name not in STEPS and name not in ("audit_written", "queue_left") and not leg_changed:
            return None
        return {
            "step": view.step,
            "resident": view.resident,
            "decision": view.decision,
            "ended": view.ended,
            "legs": dict(view.legs),
            "line": line,
        }

    def _forget_old(self) -> None:
        ended = [call_id for call_id, view in self._calls.items() if view.ended]
        for call_id in ended[: max(0, len(ended) - KEPT_ENDED)]:
            del self._calls[call_id]

    def _publish(self, update: dict[str, Any]) -> None:
        self.seq += 1
        update = {"seq": self.seq, **update}
        self._recent.append(update)
        for queue in list(self._streams):
            if queue.qsize() >= QUEUE_EVENTS:
                self._streams.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(update)

    def end_streams(self) -> None:
        for queue in self._streams:
            queue.put_nowait(None)
        self._streams.clear()

    @contextlib.asynccontextmanager
    async def stream(self, after: int = 0) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of the updates after number `after`, then each new one, for one open page; None means it
        fell behind and must reload. Updates that happened between the page's rendering and its connecting
        are replayed, so nothing of a call is lost in between."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=QUEUE_EVENTS + 1)
        missed = [update for update in self._recent if update["seq"] > after]
        if after and self._recent and self._recent[0]["seq"] > after + 1:
            queue.put_nowait(None)  # older than what is kept: the page must reload
        else:
            for update in missed[-QUEUE_EVENTS:]:
                queue.put_nowait(update)
        self._streams.add(queue)
        try:
            yield queue
        finally:
            self._streams.discard(queue)


def replay(events: Iterable[dict[str, Any]], call_id: str) -> CallView | None:
    """A past call's view rebuilt from the events log (one that ended before the kept ones, or before a restart)."""
    calls = LiveCalls()
    for event in events:
        if event.get("call_id") == call_id:
            calls.on_event(event)
    return calls.get(call_id)


def _speaker(leg: str) -> str:
    return "Morador" if leg == "resident" else "Visitante"
