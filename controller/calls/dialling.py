"""Ringing a resident: originate into our app, then tell from the channel's fate whether they answered, and if not why.

:func:`ring` does the I/O (one originate, then waiting on the call's events); :func:`why_not_reached` is the pure
rule that reads the evidence. The evidence is untidy on purpose of Asterisk, not ours:

- a Local channel (a forward, a ring group, the test bed's phones) ends with cause 0 even when the phone behind it
  is busy; its other half (``;2``, whose events we then receive) shows it, on its own event topic, so its end may
  arrive just after ours;
- a Dial event about our channel (``peer``), when it reaches us, gives the dial status for any technology;
- an originate that times out may be reported with cause 0 instead of 19, so how long it rang counts too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from controller.ari.asterisk import AsteriskOps
from controller.ari.client import AriError
from controller.ari.events import (
    BUSY_STATE,
    CAUSE_BUSY,
    CAUSE_CALL_REJECTED,
    CAUSE_NO_ANSWER,
    CAUSE_NO_USER_RESPONDING,
    AriEvent,
    ChannelDestroyed,
    ChannelStateChange,
    Dial,
    StasisStart,
    channel_id,
    hangup_cause,
)
from controller.calls.waiters import EventWaiters
from controller.conversation.events import Unavailable

LOCAL_HALF_GRACE_S = 1.0  # after a Local dial's channel ended, how long its other half may take to say why
DIAL_OUTCOMES = frozenset({"BUSY", "NOANSWER", "CHANUNAVAIL", "CONGESTION", "CANCEL"})


@dataclass(frozen=True, slots=True)
class Answered:
    channel_id: str
    ring_ms: float


@dataclass(frozen=True, slots=True)
class NotReached:
    reason: Unavailable
    ring_ms: float = 0.0
    cause: int | None = None
    dialstatus: str = ""
    http_status: int | None = None  # set when the originate request itself failed


def local_other_half(channel_id: str, endpoint: str) -> str | None:
    """The ``;2`` half whose events tell a Local dial's real outcome (None for other technologies)."""
    return f"{channel_id};2" if endpoint.lower().startswith("local/") else None


def why_not_reached(cause: int, rang_s: float, timeout_s: float, dialstatus: str = "") -> Unavailable:
    """Why a dial gave no resident: the Dial event's status when there is one, else the hang-up cause, else how
    long it rang (Asterisk may report cause 0 on a ring timeout)."""
    if dialstatus == "BUSY":
        return Unavailable.BUSY
    if dialstatus == "NOANSWER":
        return Unavailable.NO_ANSWER
    if dialstatus in ("CHANUNAVAIL", "CONGESTION"):
        return Unavailable.FAILED
    if cause == CAUSE_BUSY:
        return Unavailable.BUSY
    if cause == CAUSE_CALL_REJECTED:
        return Unavailable.REJECTED
    if cause in (CAUSE_NO_USER_RESPONDING, CAUSE_NO_ANSWER) or rang_s >= timeout_s - 1.0:
        return Unavailable.NO_ANSWER
    return Unavailable.FAILED


async def ring(
    asterisk: AsteriskOps,
    waiters: EventWaiters,
    channel: str,
    endpoint: str,
    *,
    app_args: str,
    caller_id: str,
    timeout_s: float,
    clock: Callable[[], float],
    on_ringing: Callable[[], None] = lambda: None,
) -> Answered | NotReached:
    """Dial `endpoint` as channel `channel` and wait until it answers (enters Stasis) or ends.

    The caller must already route events of `channel` and of its Local other half to `waiters`.
    `on_ringing` runs once the originate was accepted.
    """
    other_half = local_other_half(channel, endpoint)
    entered = waiters.wait_for(lambda e: isinstance(e, StasisStart) and e.channel.id == channel)
    gone = waiters.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == channel)
    dialled = waiters.wait_for(lambda e: isinstance(e, Dial) and e.peer.id == channel and e.dialstatus in DIAL_OUTCOMES)
    busy = waiters.wait_for(lambda e: channel_id(e) in (channel, other_half) and _shows_busy(e))
    other_gone = waiters.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == other_half)
    started = clock()
    try:
        await asterisk.originate(channel, endpoint, app_args=app_args, caller_id=caller_id, timeout_s=timeout_s)
    except AriError as error:
        waiters.forget(entered, gone, dialled, busy, other_gone)
        return NotReached(Unavailable.FAILED, http_status=error.status)
    on_ringing()
    try:
        done, _ = await asyncio.wait({entered, gone}, return_when=asyncio.FIRST_COMPLETED)
        ring_ms = round((clock() - started) * 1000, 1)
        if entered in done:
            return Answered(channel, ring_ms)
        if other_half is not None and not (busy.done() or dialled.done()):
            await asyncio.wait({other_gone, busy}, timeout=LOCAL_HALF_GRACE_S, return_when=asyncio.FIRST_COMPLETED)
        status = _dialstatus(dialled, busy)
        ended = gone.result()
        cause = ended.cause if isinstance(ended, ChannelDestroyed) else 0
        return NotReached(why_not_reached(cause, ring_ms / 1000, timeout_s, status), ring_ms, cause, status)
    finally:
        waiters.forget(entered, gone, dialled, busy, other_gone)


def _shows_busy(event: AriEvent) -> bool:
    if isinstance(event, ChannelStateChange):
        return event.channel.state == BUSY_STATE
    return hangup_cause(event) == CAUSE_BUSY


def _dialstatus(dialled: asyncio.Future[AriEvent], busy: asyncio.Future[AriEvent]) -> str:
    if dialled.done() and not dialled.cancelled():
        event = dialled.result()
        if isinstance(event, Dial):
            return event.dialstatus
    if busy.done() and not busy.cancelled():
        return "BUSY"
    return ""


async def ring_first(
    asterisk: AsteriskOps,
    waiters: EventWaiters,
    dials: list[tuple[str, str]],
    *,
    app_args: str,
    caller_id: str,
    timeout_s: float,
    clock: Callable[[], float],
    on_ringing: Callable[[], None] = lambda: None,
) -> tuple[int, Answered] | list[NotReached]:
    """Ring every (channel, endpoint) of `dials` at once: the first to answer is returned with its index and the
    others are hung up (one that answered in the same instant too); when none answers, why each did not."""
    rang = False

    def ringing() -> None:
        nonlocal rang
        if not rang:
            rang = True
            on_ringing()

    tasks = [
        asyncio.create_task(
            ring(
                asterisk,
                waiters,
                channel,
                endpoint,
                app_args=app_args,
                caller_id=caller_id,
                timeout_s=timeout_s,
                clock=clock,
                on_ringing=ringing,
            ),
            name=f"ring-{channel}",
        )
        for channel, endpoint in dials
    ]
    winner: int | None = None
    try:
        pending = set(tasks)
        while pending and winner is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            answered = [tasks.index(task) for task in done if isinstance(task.result(), Answered)]
            winner = min(answered) if answered else None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        losers = [channel for index, (channel, _) in enumerate(dials) if index != winner]
        if len(dials) > 1:
            await asyncio.gather(*(asterisk.hang_up(channel) for channel in losers), return_exceptions=True)
    if winner is not None:
        outcome = tasks[winner].result()
        assert isinstance(outcome, Answered)
        return winner, outcome
    return [outcome for task in tasks if isinstance(outcome := task.result(), NotReached)]


_PRIORITY = (Unavailable.NO_ANSWER, Unavailable.BUSY, Unavailable.REJECTED, Unavailable.FAILED)


def why_none_answered(outcomes: list[NotReached]) -> Unavailable:
    """One reason for a step whose phones all failed: rung out beats busy, busy beats declined, declined failed."""
    reasons = {outcome.reason for outcome in outcomes}
    return next((reason for reason in _PRIORITY if reason in reasons), Unavailable.FAILED)


def why_fields(outcome: NotReached) -> dict[str, object]:
    """What the resident_unavailable event says of a dial that reached nobody."""
    if outcome.http_status is not None:
        return {"reason": "failed", "status": outcome.http_status}
    return {
        "reason": str(outcome.reason),
        "cause": outcome.cause,
        "dialstatus": outcome.dialstatus,
        "ring_ms": outcome.ring_ms,
    }
