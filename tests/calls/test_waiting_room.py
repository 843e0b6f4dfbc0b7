"""Past the conversation limit a visitor waits, their intercom ringing, for the first place to free (fake Asterisk;
the real one: tests/integration/test_call_limit.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.calls.stasis import StasisApp
from controller.records.resource_journal import ResourceJournal
from controller.settings import Settings
from controller.tools.check import run_check
from controller.wiring.parts import call_limit
from tests.calls.bed import GREETING, GUARD_S, Bed, gate_bed
from tests.calls.fakes import settle

CONCIERGE = "PJSIP/concierge"


@asynccontextmanager
async def limited(bed: Bed, *, wait_s: float = 30.0, max_calls: int = 1) -> AsyncIterator[StasisApp]:
    app = StasisApp(bed.ari, lambda gate: bed.deps, "portaria", max_calls=max_calls, queue_wait_s=wait_s)
    bed.ari.listener = app.handle
    try:
        yield app
    finally:
        await app.shutdown()


async def greeted(bed: Bed, channel: str) -> dict[str, Any]:
    """The stasis_start of `channel`'s conversation, once its greeting has reached the caller."""
    async with asyncio.timeout(GUARD_S):
        started = await bed.events.wait_for("stasis_start", channel=channel)
        await bed.events.wait_for("media_connected", call_id=started["call_id"])
        await bed.ari.media[f"portaria-media-{started['call_id']}-gate"].wait_heard(GREETING)
    return started


async def one_talking_and_waiting(bed: Bed, *waiting: str) -> list[dict[str, Any]]:
    """visitor-1 greeted in the one place, then `waiting` calling behind it, in order: their call_queued events."""
    bed.ari.caller_dials_in("visitor-1")
    await greeted(bed, "visitor-1")
    queued = []
    for channel in waiting:
        bed.ari.caller_dials_in(channel)
        async with asyncio.timeout(GUARD_S):
            queued.append(await bed.events.wait_for("call_queued", channel=channel))
    return queued


async def ended(bed: Bed, channel: str) -> None:
    started = bed.events.named("stasis_start", channel=channel)[0]
    async with asyncio.timeout(GUARD_S):
        await bed.events.wait_for("call_end", call_id=started["call_id"])


async def test_a_visitor_past_the_limit_rings_unanswered_and_takes_the_first_place_that_frees() -> None:
    async with gate_bed() as bed, limited(bed) as app:
        [queued] = await one_talking_and_waiting(bed, "visitor-2")
        await settle()
        assert (queued["position"], queued["active"]) == (1, 1)
        assert bed.ari.called("ring") == [("visitor-2",)]
        assert bed.ari.called("answer") == [("visitor-1",)]  # not answered while waiting: it rings
        assert (app.active_calls, app.waiting_calls) == (1, 1)
        assert not bed.events.named("stasis_start", channel="visitor-2")

        bed.ari.caller_hangs_up("visitor-1")
        second = await greeted(bed, "visitor-2")
        assert second["call_id"] == queued["call_id"]  # one visitor, one call id, from the queue to the end
        [left] = bed.events.named("queue_left", call_id=queued["call_id"])
        assert left["outcome"] == "admitted" and left["wait_ms"] >= 0
        assert (app.active_calls, app.waiting_calls) == (1, 0)
        bed.ari.caller_hangs_up("visitor-2")
        await ended(bed, "visitor-2")
        await settle()
        assert bed.ari.leftovers() == ([], [])


async def test_places_go_oldest_first_and_the_limit_holds_as_they_do() -> None:
    async with gate_bed() as bed, limited(bed, max_calls=2) as app:
        for n in (1, 2):
            bed.ari.caller_dials_in(f"visitor-{n}")
            await greeted(bed, f"visitor-{n}")
        for n in (3, 4):
            bed.ari.caller_dials_in(f"visitor-{n}")
            async with asyncio.timeout(GUARD_S):
                await bed.events.wait_for("call_queued", channel=f"visitor-{n}")
        assert [e["position"] for e in bed.events.named("call_queued")] == [1, 2]
        bed.ari.caller_hangs_up("visitor-2")
        await greeted(bed, "visitor-3")
        await settle()
        assert (app.active_calls, app.waiting_calls) == (2, 1)
        assert not bed.events.named("stasis_start", channel="visitor-4")
        bed.ari.caller_hangs_up("visitor-1")
        await greeted(bed, "visitor-4")
        for n in (3, 4):
            bed.ari.caller_hangs_up(f"visitor-{n}")
            await ended(bed, f"visitor-{n}")


async def test_a_visitor_who_hangs_up_while_waiting_leaves_the_queue_and_no_call_starts_for_them(
    tmp_path: Path,
) -> None:
    journal = ResourceJournal(tmp_path / "journal.jsonl")
    journal.start()
    async with gate_bed() as bed:
        bed.deps = replace(bed.deps, journal=journal)
        async with limited(bed) as app:
            [queued] = await one_talking_and_waiting(bed, "visitor-2")
            noted = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
            assert {"call": queued["call_id"], "op": "+", "kind": "caller", "id": "visitor-2"} in noted

            bed.ari.caller_hangs_up("visitor-2")
            async with asyncio.timeout(GUARD_S):
                left = await bed.events.wait_for("queue_left", call_id=queued["call_id"])
            assert left["outcome"] == "hung_up"
            assert app.waiting_calls == 0
            bed.ari.caller_hangs_up("visitor-1")
            await ended(bed, "visitor-1")
            await settle()
            assert app.active_calls == 0
            assert not bed.events.named("stasis_start", channel="visitor-2")
            assert bed.ari.called("answer") == [("visitor-1",)]
    journal.close()
    assert ResourceJournal(tmp_path / "journal.jsonl").leftovers() == []  # nothing for a restart to clean


async def test_after_the_wait_a_visitor_goes_to_the_concierge_unanswered() -> None:
    async with gate_bed(concierge=CONCIERGE) as bed, limited(bed, wait_s=0.2) as app:
        [queued] = await one_talking_and_waiting(bed, "visitor-2")
        async with asyncio.timeout(GUARD_S):
            left = await bed.events.wait_for("queue_left", call_id=queued["call_id"])
        assert left["outcome"] == "handed_over" and left["wait_ms"] >= 200
        [fallback] = bed.events.named("fallback", call_id=queued["call_id"])
        assert (fallback["reason"], fallback["to"]) == ("busy", CONCIERGE)
        assert bed.ari.called("set_variable") == [("visitor-2", "PORTARIA_CONCIERGE", CONCIERGE)]
        assert bed.ari.called("continue_in_dialplan") == [("visitor-2", "portaria-fallback", "s", 1)]
        assert bed.ari.called("answer") == [("visitor-1",)]
        assert app.waiting_calls == 0
        bed.ari.caller_hangs_up("visitor-1")
        await ended(bed, "visitor-1")
        await settle()
        assert not bed.events.named("stasis_start", channel="visitor-2")  # the freed place is nobody's


async def test_with_no_concierge_the_visitor_is_taken_over_the_limit_after_the_wait() -> None:
    async with gate_bed() as bed, limited(bed, wait_s=0.2) as app:
        await one_talking_and_waiting(bed, "visitor-2")
        second = await greeted(bed, "visitor-2")
        [left] = bed.events.named("queue_left", call_id=second["call_id"])
        assert (left["outcome"], left["over_limit"]) == ("admitted", True)
        assert app.active_calls == 2
        assert not bed.events.named("fallback")
        for n in (1, 2):
            bed.ari.caller_hangs_up(f"visitor-{n}")
            await ended(bed, f"visitor-{n}")


async def test_a_refused_ring_keeps_the_visitor_in_line() -> None:
    async with gate_bed() as bed, limited(bed) as app:
        bed.ari.fail("ring")
        await one_talking_and_waiting(bed, "visitor-2")
        await settle()
        assert app.waiting_calls == 1
        bed.ari.caller_hangs_up("visitor-1")
        await greeted(bed, "visitor-2")
        bed.ari.caller_hangs_up("visitor-2")
        await ended(bed, "visitor-2")


async def test_a_concierge_that_cannot_be_reached_leaves_the_visitor_taken_over_the_limit() -> None:
    async with gate_bed(concierge=CONCIERGE) as bed, limited(bed, wait_s=0.1) as app:
        bed.ari.fail("continue_in_dialplan")
        await one_talking_and_waiting(bed, "visitor-2")
        second = await greeted(bed, "visitor-2")
        [left] = bed.events.named("queue_left", call_id=second["call_id"])
        assert (left["outcome"], left["over_limit"]) == ("admitted", True)
        assert not bed.events.named("fallback", call_id=second["call_id"])
        assert app.active_calls == 2
        for n in (1, 2):
            bed.ari.caller_hangs_up(f"visitor-{n}")
            await ended(bed, f"visitor-{n}")


async def test_stopping_sends_waiting_visitors_to_a_person() -> None:
    async with gate_bed(concierge=CONCIERGE) as bed:
        app = StasisApp(bed.ari, lambda gate: bed.deps, "portaria", max_calls=1, queue_wait_s=30)
        bed.ari.listener = app.handle
        [queued] = await one_talking_and_waiting(bed, "visitor-2")
        await app.shutdown()
        assert ("visitor-2", "portaria-fallback", "s", 1) in bed.ari.called("continue_in_dialplan")
        assert [e["outcome"] for e in bed.events.named("queue_left", call_id=queued["call_id"])] == ["shutdown"]
        assert not bed.events.named("stasis_start", channel="visitor-2")


async def test_after_a_reconnect_a_waiting_visitor_is_neither_started_twice_nor_kept_once_gone() -> None:
    async with gate_bed() as bed, limited(bed) as app:
        await one_talking_and_waiting(bed, "visitor-2", "visitor-3")
        del bed.ari.live_channels["visitor-3"]  # hung up while the events socket was down: no event reached us
        await app.on_connect(reconnected=True)
        await settle()
        assert (app.active_calls, app.waiting_calls) == (1, 1)
        assert [e["outcome"] for e in bed.events.named("queue_left")] == ["hung_up"]
        assert len(bed.events.named("stasis_start")) == 1
        bed.ari.caller_hangs_up("visitor-1")
        await greeted(bed, "visitor-2")
        bed.ari.caller_hangs_up("visitor-2")
        await ended(bed, "visitor-2")


def test_the_default_limit_is_two_conversations_per_core_with_whisper_and_none_with_azure() -> None:
    assert call_limit(Settings(), cpus=2) == 4
    assert call_limit(Settings(), cpus=8) == 16
    assert call_limit(Settings(stt_engine="azure"), cpus=2) == 0
    assert call_limit(Settings(max_calls=3), cpus=8) == 3
    assert call_limit(Settings()) >= 2  # this machine's own cores


async def test_an_operator_can_hand_over_or_hang_up_a_waiting_visitor() -> None:
    async with gate_bed(concierge=CONCIERGE) as bed, limited(bed) as app:
        second, third = await one_talking_and_waiting(bed, "visitor-2", "visitor-3")
        assert await app.hand_over(second["call_id"])
        assert bed.ari.called("continue_in_dialplan") == [("visitor-2", "portaria-fallback", "s", 1)]
        [fallback] = bed.events.named("fallback", call_id=second["call_id"])
        assert fallback["reason"] == "operator"
        assert await app.hang_up(third["call_id"])
        async with asyncio.timeout(GUARD_S):
            left = await bed.events.wait_for("queue_left", call_id=third["call_id"])
        assert left["outcome"] == "hung_up" and "visitor-3" not in bed.ari.live_channels
        assert app.waiting_calls == 0
        assert not await app.hand_over("nobody") and not await app.hang_up("nobody")
        bed.ari.caller_hangs_up("visitor-1")
        await ended(bed, "visitor-1")


def test_check_says_how_many_conversations_the_instance_takes() -> None:
    def capacity(**settings: object) -> str:
        lines: list[str] = []
        run_check(lambda ok, line: lines.append(line), ari_password="x", ari_url="http://127.0.0.1:9",
                  audiosocket_bind="127.0.0.1:0", **settings)
        return next(line for line in lines if line.startswith("capacity: "))

    limited_to_three = capacity(max_calls=3, queue_wait_s=20)
    assert limited_to_three == "capacity: up to 3 conversations at once, then a visitor rings up to 20 s"
    assert capacity(stt_engine="azure", azure_speech_key="k", azure_speech_region="brazilsouth").startswith(
        "capacity: no limit"
    )


async def test_a_hand_over_the_operator_asks_for_that_asterisk_refuses_keeps_the_visitor_their_place() -> None:
    async with gate_bed(concierge=CONCIERGE) as bed, limited(bed) as app:
        second, _ = await one_talking_and_waiting(bed, "visitor-2", "visitor-3")
        bed.ari.fail("continue_in_dialplan", 500)
        assert not await app.hand_over(second["call_id"])
        assert app.waiting_calls == 2 and not bed.events.named("queue_left")
        bed.ari.caller_hangs_up("visitor-1")
        await greeted(bed, "visitor-2")  # the one the operator tried to hand over still waited longest
        await settle()
        assert not bed.events.named("stasis_start", channel="visitor-3") and app.waiting_calls == 1
        bed.ari.caller_hangs_up("visitor-2")
        await greeted(bed, "visitor-3")
