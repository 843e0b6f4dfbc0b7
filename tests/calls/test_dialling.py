"""Dialling a resident: the pure outcome rule (why_not_reached), ring() against the fake Asterisk, EventWaiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from controller.ari.events import (
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Dial,
    OtherEvent,
    StasisStart,
    parse_event,
)
from controller.calls.dialling import (
    Answered,
    NotReached,
    local_other_half,
    ring,
    ring_first,
    why_none_answered,
    why_not_reached,
)
from controller.calls.waiters import EventWaiters
from controller.conversation.events import Unavailable
from tests.calls.fake_asterisk import FakeAsterisk, Raw, Ring
from tests.support.poll import eventually

CHANNEL = "portaria-resident-c1-1"
GUARD_S = 5.0


@pytest.mark.parametrize(
    ("cause", "rang_s", "dialstatus", "expected"),
    [
        (0, 1.0, "BUSY", Unavailable.BUSY),
        (0, 1.0, "NOANSWER", Unavailable.NO_ANSWER),
        (0, 1.0, "CHANUNAVAIL", Unavailable.FAILED),
        (0, 1.0, "CONGESTION", Unavailable.FAILED),
        (17, 1.0, "NOANSWER", Unavailable.NO_ANSWER),  # the Dial event's status wins over the cause
        (21, 1.0, "BUSY", Unavailable.BUSY),
        (17, 1.0, "", Unavailable.BUSY),
        (21, 1.0, "", Unavailable.REJECTED),
        (18, 1.0, "", Unavailable.NO_ANSWER),
        (19, 1.0, "", Unavailable.NO_ANSWER),
        (0, 24.0, "", Unavailable.NO_ANSWER),  # cause 0 on a ring timeout: how long it rang tells
        (0, 23.9, "", Unavailable.FAILED),
        (0, 1.0, "", Unavailable.FAILED),
        (16, 1.0, "", Unavailable.FAILED),
        (0, 1.0, "CANCEL", Unavailable.FAILED),
        (17, 30.0, "", Unavailable.BUSY),  # a busy cause is busy however long it took
    ],
)
def test_why_a_dial_gave_no_resident(cause: int, rang_s: float, dialstatus: str, expected: Unavailable) -> None:
    assert why_not_reached(cause, rang_s, 25.0, dialstatus) is expected


@pytest.mark.parametrize(
    ("endpoint", "half"),
    [("Local/101@residents", f"{CHANNEL};2"), ("LOCAL/101@residents/n", f"{CHANNEL};2"), ("PJSIP/101", None)],
)
def test_only_a_local_dial_has_an_other_half_to_watch(endpoint: str, half: str | None) -> None:
    assert local_other_half(CHANNEL, endpoint) == half


# ring() against the fake Asterisk ---------------------------------------------------------------------------


@asynccontextmanager
async def asterisk() -> AsyncIterator[tuple[FakeAsterisk, EventWaiters]]:
    """Every event goes to one EventWaiters, as the gate call routes its resident channel's events."""
    ari, waiters = FakeAsterisk(), EventWaiters()

    async def route(raw: Raw) -> None:
        waiters.offer(parse_event(raw))

    ari.start(route)
    try:
        yield ari, waiters
    finally:
        await ari.aclose()


async def dial(ari: FakeAsterisk, waiters: EventWaiters, endpoint: str, rung: list[str]) -> Answered | NotReached:
    return await asyncio.wait_for(
        ring(
            ari,
            waiters,
            CHANNEL,
            endpoint,
            app_args="resident,c1",
            caller_id="Portaria",
            timeout_s=25.0,
            clock=asyncio.get_running_loop().time,
            on_ringing=lambda: rung.append("ringing"),
        ),
        GUARD_S,
    )


@pytest.mark.parametrize(
    ("endpoint", "behaviour", "reason", "cause"),
    [
        ("PJSIP/101", "busy", Unavailable.BUSY, 17),
        ("Local/101@residents", "busy", Unavailable.BUSY, 0),  # told by the other half, after ours ended
        ("PJSIP/101", "noanswer", Unavailable.NO_ANSWER, 19),
        ("Local/101@residents", "noanswer", Unavailable.NO_ANSWER, 19),
        ("PJSIP/101", "reject", Unavailable.REJECTED, 21),
    ],
)
async def test_a_dial_that_ends_unanswered_says_why(
    endpoint: str, behaviour: str, reason: Unavailable, cause: int
) -> None:
    async with asterisk() as (ari, waiters):
        ari.endpoints[endpoint] = Ring(behaviour, after_s=0.01)  # type: ignore[arg-type]
        rung: list[str] = []
        outcome = await dial(ari, waiters, endpoint, rung)
        assert isinstance(outcome, NotReached)
        assert (outcome.reason, outcome.cause, outcome.http_status) == (reason, cause, None)
        assert rung == ["ringing"]
        assert len(waiters) == 0  # nothing left waiting


async def test_an_answered_dial_is_its_channel_entering_stasis() -> None:
    async with asterisk() as (ari, waiters):
        rung: list[str] = []
        outcome = await dial(ari, waiters, "PJSIP/101", rung)
        assert outcome == Answered(CHANNEL, outcome.ring_ms)
        assert ari.called("originate") == [(CHANNEL, "PJSIP/101")]
        assert ari.requests[0].kwargs == {"app_args": "resident,c1", "caller_id": "Portaria", "timeout_s": 25.0}
        assert rung == ["ringing"] and len(waiters) == 0


async def test_the_dial_event_status_is_used_when_asterisk_sends_one() -> None:
    async with asterisk() as (ari, waiters):
        ari.endpoints["PJSIP/101"] = Ring("silent")

        async def dialled(*_: object) -> None:
            ari.emit_raw({"type": "Dial", "peer": {"id": CHANNEL}, "dialstatus": "RINGING"})  # progress: not an end
            ari.emit_raw({"type": "Dial", "peer": {"id": CHANNEL}, "dialstatus": "NOANSWER"})
            ari.emit_raw({"type": "ChannelDestroyed", "cause": 0, "channel": {"id": CHANNEL}})

        ari.after("originate", dialled)
        outcome = await dial(ari, waiters, "PJSIP/101", [])
        assert isinstance(outcome, NotReached)
        assert (outcome.reason, outcome.dialstatus, outcome.cause) == (Unavailable.NO_ANSWER, "NOANSWER", 0)


async def test_an_originate_asterisk_refuses_is_failed_and_never_rang() -> None:
    async with asterisk() as (ari, waiters):
        ari.fail("originate", 503)
        rung: list[str] = []
        outcome = await dial(ari, waiters, "PJSIP/101", rung)
        assert outcome == NotReached(Unavailable.FAILED, http_status=503)
        assert rung == [] and len(waiters) == 0


# EventWaiters -----------------------------------------------------------------------------------------------


def enters(channel: str) -> Callable[[AriEvent], bool]:
    return lambda event: isinstance(event, StasisStart) and event.channel.id == channel


async def test_a_waiter_takes_the_first_matching_event_once() -> None:
    waiters = EventWaiters()
    first = StasisStart(Channel("a"), ("1",))
    future = waiters.wait_for(enters("a"))
    waiters.offer(StasisStart(Channel("b")))
    assert not future.done() and len(waiters) == 1
    waiters.offer(first)
    waiters.offer(StasisStart(Channel("a"), ("2",)))
    assert future.result() is first and len(waiters) == 0


async def test_every_waiter_matching_one_event_gets_it() -> None:
    waiters = EventWaiters()
    gone = ChannelDestroyed(Channel("a"), 17)
    by_channel = waiters.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == "a")
    by_cause = waiters.wait_for(lambda e: getattr(e, "cause", 0) == 17)
    other = waiters.wait_for(enters("a"))
    waiters.offer(gone)
    assert by_channel.result() is gone and by_cause.result() is gone
    assert not other.done() and len(waiters) == 1


async def test_forgotten_waiters_are_cancelled_and_match_nothing() -> None:
    waiters = EventWaiters()
    kept, dropped = waiters.wait_for(enters("a")), waiters.wait_for(enters("a"))
    waiters.forget(dropped)
    assert dropped.cancelled() and len(waiters) == 1
    waiters.offer(StasisStart(Channel("a")))
    assert kept.done() and dropped.cancelled()


async def test_events_that_match_no_waiter_are_simply_passed_over() -> None:
    waiters = EventWaiters()
    future = waiters.wait_for(lambda e: isinstance(e, Dial) and e.dialstatus == "BUSY")
    for event in (
        OtherEvent("ChannelVarset", "a"),
        ChannelDtmfReceived(Channel("a"), "1"),
        Dial(Channel("a"), "RINGING"),
    ):
        waiters.offer(event)
    assert not future.done()
    waiters.offer(Dial(Channel("a"), "BUSY"))
    assert future.done()


async def test_a_waiter_whose_future_was_cancelled_by_its_owner_is_skipped() -> None:
    waiters = EventWaiters()
    abandoned, live = waiters.wait_for(enters("a")), waiters.wait_for(enters("a"))
    abandoned.cancel()  # e.g. a wait_for() timeout cancelled it
    waiters.offer(StasisStart(Channel("a")))
    assert abandoned.cancelled() and live.done()


def ring_all(ari: FakeAsterisk, waiters: EventWaiters, rung: list[str]) -> asyncio.Task[object]:
    dials = [(f"{CHANNEL}", "PJSIP/101"), (f"{CHANNEL}-2", "PJSIP/cel"), (f"{CHANNEL}-3", "PJSIP/bloco")]
    return asyncio.ensure_future(
        ring_first(
            ari,
            waiters,
            dials,
            app_args="resident,c1",
            caller_id="Portaria",
            timeout_s=25.0,
            clock=asyncio.get_running_loop().time,
            on_ringing=lambda: rung.append("ringing"),
        )
    )


async def test_ring_all_takes_the_first_to_answer_and_hangs_up_the_others() -> None:
    async with asterisk() as (ari, waiters):
        ari.endpoints["PJSIP/101"] = Ring("silent")
        ari.endpoints["PJSIP/cel"] = Ring("answer", after_s=0.05)
        ari.endpoints["PJSIP/bloco"] = Ring("answer", after_s=0.5)  # too late: already hung up
        rung: list[str] = []
        outcome = await asyncio.wait_for(ring_all(ari, waiters, rung), GUARD_S)
        assert isinstance(outcome, tuple) and outcome[0] == 1 and outcome[1].channel_id == f"{CHANNEL}-2"
        assert sorted(args[0] for args in ari.called("hang_up")) == [CHANNEL, f"{CHANNEL}-3"]
        assert rung == ["ringing"], "the visitor is told once that the phones ring"
        assert f"{CHANNEL}-2" in ari.live_channels and CHANNEL not in ari.live_channels
        assert len(waiters) == 0


async def test_ring_all_that_nobody_answers_says_why_for_each_phone() -> None:
    async with asterisk() as (ari, waiters):
        ari.endpoints["PJSIP/101"] = Ring("noanswer", after_s=0.01)
        ari.endpoints["PJSIP/cel"] = Ring("busy", after_s=0.02)
        ari.endpoints["PJSIP/bloco"] = Ring("reject", after_s=0.03)
        outcome = await asyncio.wait_for(ring_all(ari, waiters, []), GUARD_S)
        assert isinstance(outcome, list)
        reasons = [missed.reason for missed in outcome]
        assert reasons == [Unavailable.NO_ANSWER, Unavailable.BUSY, Unavailable.REJECTED]
        assert why_none_answered(outcome) is Unavailable.NO_ANSWER
        assert why_none_answered(outcome[1:]) is Unavailable.BUSY
        assert why_none_answered([]) is Unavailable.FAILED


async def test_ring_all_cancelled_while_ringing_hangs_up_every_phone() -> None:
    """The visitor left, or the call ended: no phone of the step may go on ringing."""
    async with asterisk() as (ari, waiters):
        for endpoint in ("PJSIP/101", "PJSIP/cel", "PJSIP/bloco"):
            ari.endpoints[endpoint] = Ring("silent")
        task = ring_all(ari, waiters, [])

        async def all_ringing() -> bool:
            return len(ari.called("originate")) == 3

        await eventually(all_ringing, within=GUARD_S, every=0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(args[0] for args in ari.called("hang_up")) == [CHANNEL, f"{CHANNEL}-2", f"{CHANNEL}-3"]
        assert len(waiters) == 0
