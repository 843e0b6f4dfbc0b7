"""A porteiro-grade call against the real Asterisk, offline engines and the rules.

Visitors say one breath each (Kokoro-spoken fixtures, tests/fixtures/audio/make_call_fixtures.py) through the
real media, VAD and Whisper; the understanding is the offline rules, as shipped. Residents are dialplan phones
(context resident-sim) on the sample directory's apartments; the gate opener is a loopback webhook.
Timeouts are guards, never assertions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from controller.wiring import Service
from tests.integration.conftest import settings_factory
from tests.support.calls import EventWatcher
from tests.support.poll import eventually
from tests.support.resident_bed import (
    GateCallHandle,
    Webhook,
    nothing_of_ours_left,
    visitor_calls,
    webhook,
    webhook_gate,
)
from tests.support.testbed import Testbed

pytestmark = pytest.mark.asterisk

GUARD_S = 60.0
# Each apartment's phone is a simulated resident: 101 answers, listens 7 s (the question) and says yes; 202
# presses 1; 103 presses 2. A ring to any other apartment would be a bug.
PHONES = {
    "101": "Local/say-resident-k-sim+p101+7@resident-sim/n",
    "202": "Local/dtmf-1+p202@resident-sim/n",
    "103": "Local/dtmf-2+p103@resident-sim/n",
}
CONCIERGE = "Local/noanswer+pconcierge@resident-sim/n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def porteiro(
    testbed: Testbed, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Service, Webhook]]:
    folder = tmp_path_factory.mktemp("porteiro")
    async with webhook() as hook:
        build = settings_factory(testbed, folder)
        settings = webhook_gate(build, folder, PHONES, hook.url, concierge_endpoint=CONCIERGE)
        service = Service(settings)
        await service.start()
        try:
            await service.wait_connected()
            yield service, hook
        finally:
            await service.stop()


async def _call(service: Service, first: str, second: str = "noise-1s", gap_s: int = 10) -> tuple[
    EventWatcher, GateCallHandle
]:
    watcher = EventWatcher(service)
    return watcher, await visitor_calls(service, watcher, first=first, second=second, lead_s=3, gap_s=gap_s)


def _said(watcher: EventWatcher, call: GateCallHandle, leg: str = "gate") -> list[str]:
    return [e["text"] for e in watcher.find("say", call_id=call.call_id, leg=leg)]


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(GUARD_S):
        while not condition():  # noqa: ASYNC110 - polled: events arrive on the service's loop
            await asyncio.sleep(0.1)


def _heard(watcher: EventWatcher, call: GateCallHandle) -> list[dict[str, Any]]:
    return watcher.find("dialog_turn", call_id=call.call_id, input="UtteranceHeard")


async def _wait_said(watcher: EventWatcher, call: GateCallHandle, fragment: str) -> None:
    await _until(lambda: any(fragment in text for text in _said(watcher, call)))


def _before(watcher: EventWatcher, call: GateCallHandle, name: str) -> list[dict[str, Any]]:
    """The call's events before its first `name` event."""
    events = watcher.for_call(call.call_id)
    end = next(i for i, e in enumerate(events) if e["event"] == name)
    return events[:end]


async def _ends_cleanly(service: Service, watcher: EventWatcher, call: GateCallHandle) -> None:
    await watcher.wait_for("call_end", call_id=call.call_id, timeout=GUARD_S)
    await nothing_of_ours_left(service, call)


async def _hang_up(service: Service, call: GateCallHandle, watcher: EventWatcher) -> None:
    await service.asterisk.hang_up(call.visitor_channel)
    await _ends_cleanly(service, watcher, call)


async def _rings(watcher: EventWatcher, call: GateCallHandle, apartment: str) -> None:
    dial = await watcher.wait_for("resident_dial", call_id=call.call_id, timeout=GUARD_S)
    assert dial["endpoint"] == PHONES[apartment]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_clear_request_rings_at_once_and_the_visitor_hears_the_yes_with_the_resident(
    porteiro: tuple[Service, Webhook],
) -> None:
    service, hook = porteiro
    watcher, call = await _call(service, "visitor-demo")
    try:
        await _rings(watcher, call, "101")
        asked = [e["text"] for e in _before(watcher, call, "resident_dial") if e["event"] == "say"]
        assert not any("?" in text for text in asked[1:]), asked  # after the greeting: no question, no read-back
        assert any("Vou chamar a Renata, do 101" in text for text in asked), asked
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=GUARD_S)
        await _ends_cleanly(service, watcher, call)
    finally:
        watcher.close()
    opened = [request["body"]["apartment"] for request in hook.requests if request["body"]["call_id"] == call.call_id]
    assert opened == ["101"]
    # Both told at once: the visitor's "pode entrar" starts before the resident's goodbye has finished playing.
    events = watcher.for_call(call.call_id)

    def first(after: int, event: str, leg: str, text: str = "") -> int:
        return next(i for i, e in enumerate(events) if i >= after and e["event"] == event and e["leg"] == leg
                    and text in e.get("text", ""))

    goodbye_said = first(0, "say", "resident", "Pronto, entrada liberada")
    told_said = first(0, "say", "gate", "Pode entrar")
    goodbye_end = next(e for e in events[goodbye_said:] if e["leg"] == "resident"
                       and e["event"] in ("playout_stop", "playout_interrupted"))
    told_start = events[first(told_said, "playout_start", "gate")]
    assert told_start["mono"] < goodbye_end["mono"]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_delivery_with_only_an_apartment_rings_it(porteiro: tuple[Service, Webhook]) -> None:
    service, _ = porteiro
    watcher, call = await _call(service, "visitor-k-entrega-202")  # heard as "... para o 200 e 2"
    try:
        await _rings(watcher, call, "202")
        await watcher.wait_for("gate_opened", call_id=call.call_id, timeout=GUARD_S)  # 202 presses 1
        await _ends_cleanly(service, watcher, call)
    finally:
        watcher.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_resident_of_another_apartment_is_asked_and_no_rings_nobody(porteiro: tuple[Service, Webhook]) -> None:
    service, _ = porteiro
    watcher, call = await _call(service, "visitor-k-mismatch", "visitor-k-nao", gap_s=9)
    try:
        await _wait_said(watcher, call, "A Renata Souza mora no 101, não no 103. É para o 101?")
        await _until(lambda: len(_heard(watcher, call)) >= 2)  # the visitor's "não"
        after_no = _heard(watcher, call)[1]["mono"]
        # The reply to the "não" is out: whatever that turn did was decided by then.
        await _until(lambda: any(e["mono"] > after_no for e in watcher.find("say", call_id=call.call_id)))
    finally:
        await _hang_up(service, call, watcher)
        watcher.close()
    assert not watcher.find("resident_dial", call_id=call.call_id), _said(watcher, call)


@pytest.mark.asyncio(loop_scope="module")
async def test_asking_for_the_porteiro_reaches_the_concierge(porteiro: tuple[Service, Webhook]) -> None:
    service, _ = porteiro
    watcher, call = await _call(service, "visitor-k-porteiro")
    try:
        handed = await watcher.wait_for("fallback", call_id=call.call_id, timeout=GUARD_S)
        assert handed["to"] == CONCIERGE and handed["reason"] == "visitor_asked"
        assert "Tudo bem, vou transferir para a portaria. Um momento." in _said(watcher, call)
        assert not watcher.find("resident_dial", call_id=call.call_id)
        await watcher.wait_for("call_end", call_id=call.call_id, timeout=GUARD_S)  # it left our app...

        async def dialling_the_concierge() -> bool:  # ...for the dialplan, which rings the concierge's phone
            return any("pconcierge" in channel["name"] for channel in await service.ari.get("channels"))

        await eventually(dialling_the_concierge, within=GUARD_S)
    finally:
        await service.asterisk.hang_up(call.visitor_channel)
        await nothing_of_ours_left(service, call)
        watcher.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_claimed_authorisation_still_rings_the_resident(porteiro: tuple[Service, Webhook]) -> None:
    service, _ = porteiro
    watcher, call = await _call(service, "visitor-k-autorizou")
    try:
        await _rings(watcher, call, "101")
        await _ends_cleanly(service, watcher, call)
    finally:
        watcher.close()
    names = [e["event"] for e in watcher.for_call(call.call_id)]
    assert names.index("resident_answered") < names.index("audit_written") < names.index("gate_opened")
