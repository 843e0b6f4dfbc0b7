"""The console's view of the calls, from the per-call events."""

from __future__ import annotations

from typing import Any

from controller.ops.live import KEPT_ENDED, LiveCalls


def ev(call_id: str, name: str, leg: str = "gate", **fields: Any) -> dict[str, Any]:
    return {"call_id": call_id, "event": name, "leg": leg, "mono": 1.0, "ts": "2026-12-02T10:00:00.000+00:00",
            **fields}


def test_a_call_goes_through_its_steps_to_the_decision_and_its_end() -> None:
    live = LiveCalls()
    steps = []
    for event in (
        ev("c", "stasis_start", caller="1000"),
        ev("c", "media_connected"),
        ev("c", "resident_dial", "resident", endpoint="PJSIP/101"),
        ev("c", "resident_answered", "resident", resident="Renata Souza"),
        ev("c", "audit_written", decision="denied", how="voice"),
        ev("c", "call_end"),
    ):
        live.on_event(event)
        view = live.get("c")
        assert view is not None
        steps.append(view.step)
    assert steps == ["atendendo", "conversando", "chamando morador", "aguardando decisão", "recusado", "recusado"]
    assert view.ended and view.decision == "recusado" and view.resident == "Renata Souza" and view.caller == "1000"


async def test_a_visitor_waiting_for_a_place_shows_as_ringing_then_as_the_call_or_how_they_left() -> None:
    live = LiveCalls()
    live.on_event(ev("a", "call_queued", caller="1000", site="jardins", position=1, active=4))
    live.on_event(ev("b", "call_queued", caller="1001", position=2, active=4))
    a, b = live.get("a"), live.get("b")
    assert a is not None and b is not None
    assert (a.step, a.caller, a.site, a.ended) == ("na fila, tocando", "1000", "jardins", False)
    live.on_event(ev("a", "queue_left", outcome="admitted", wait_ms=4000))
    live.on_event(ev("a", "stasis_start", caller="1000"))
    assert (a.step, a.ended) == ("atendendo", False)
    live.on_event(ev("b", "queue_left", outcome="hung_up", wait_ms=9000))
    assert (b.step, b.ended) == ("desligou na fila", True)
    async with live.stream() as page:  # what an open page was sent last
        sent = [page.get_nowait() for _ in range(page.qsize())]
    assert sent[-1] is not None and (sent[-1]["call_id"], sent[-1]["step"], sent[-1]["ended"]) == (
        "b",
        "desligou na fila",
        True,
    )
    assert [view.call_id for view in live.calls()] == ["a", "b"]  # in progress first


def test_calls_that_began_before_the_console_and_events_of_no_call_are_not_shown() -> None:
    live = LiveCalls()
    live.on_event(ev("old", "media_connected"))
    live.on_event({"event": "stasis_start", "call_id": ""})
    assert live.calls() == []


def test_calls_in_progress_come_first_and_only_the_last_ended_ones_are_kept() -> None:
    live = LiveCalls()
    for number in range(KEPT_ENDED + 5):
        live.on_event(ev(f"e{number}", "stasis_start"))
        live.on_event(ev(f"e{number}", "call_end"))
    live.on_event(ev("now", "stasis_start"))
    calls = live.calls()
    assert calls[0].call_id == "now" and len(calls) == KEPT_ENDED + 1
    assert calls[1].call_id == f"e{KEPT_ENDED + 4}" and live.get("e0") is None


def test_the_transcript_keeps_each_turns_words_on_both_legs_and_what_we_said() -> None:
    live = LiveCalls()
    live.on_event(ev("c", "stasis_start"))
    live.on_event(ev("c", "say", text="Condomínio Apoena, em que posso ajudar?"))
    live.on_event(ev("c", "transcript", text="Entrega.", early=True))  # early: the early recognition stood
    live.on_event(ev("c", "transcript", text="  ", early=False))
    live.on_event(ev("c", "say", text="(fallback)"))
    live.on_event(ev("c", "transcript", "resident", text="Pode subir."))
    view = live.get("c")
    assert view is not None
    assert [(line["who"], line["text"]) for line in view.transcript] == [
        ("Portaria", "Condomínio Apoena, em que posso ajudar?"), ("Visitante", "Entrega."), ("Morador", "Pode subir."),
    ]


async def test_a_stream_that_falls_behind_is_told_to_reload() -> None:
    live = LiveCalls()
    async with live.stream() as queue:
        live.on_event(ev("c", "stasis_start"))
        for _ in range(1200):
            live.on_event(ev("c", "say", text="oi"))
        items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert items[-1] is None and len(items) <= 1001


def test_the_timeline_rows_are_speech_recognition_replies_with_their_latency_the_ring_and_the_decision() -> None:
    from controller.ops.pages import spans

    def at(name: str, mono: float, leg: str = "gate", **fields: Any) -> dict[str, Any]:
        return {"event": name, "mono": mono, "leg": leg, **fields}

    rows = spans([
        at("stasis_start", 0.0), at("say", 0.1), at("playout_start", 0.2), at("speech_start", 3.0),
        at("speech_early_end", 5.2), at("speech_resumed", 5.4),  # a pause inside the request: not its end
        at("speech_early_end", 6.2),  # the visitor stopped at 6.0 (the VAD's hangover), recognition starts
        at("speech_end", 6.7, endpointing_delay_ms=700), at("transcript", 6.8), at("say", 6.9),
        at("playout_start", 7.1),
        at("resident_dial", 7.2, "resident"), at("resident_answered", 10.2, "resident"),
        at("audit_written", 15.0), at("gate_opened", 15.2),
    ])
    assert [(r.label, r.start, r.end) for r in rows] == [
        ("resposta (portão)", 0.1, 0.2), ("fala (portão)", 3.0, 6.0), ("resposta (portão)", 6.0, 7.1),
        ("reconhecimento (portão)", 6.2, 6.8), ("toque do morador (atendeu)", 7.2, 10.2),
        ("decisão registrada", 15.0, 15.0), ("portão aberto", 15.2, 15.2),
    ]
    # What the caller heard: 1.1 s from their last word, not the 0.4 s after the turn was declared over.
    assert rows[2].note == "turno 1.1 s"


def test_a_turn_without_an_early_end_is_recognised_from_its_end() -> None:
    from controller.ops.pages import spans

    rows = spans([{"event": "speech_start", "mono": 1.0}, {"event": "speech_end", "mono": 2.0},
                  {"event": "transcript", "mono": 2.5}])
    assert [(r.label, r.start, r.end) for r in rows] == [
        ("fala (portão)", 1.0, 2.0), ("reconhecimento (portão)", 2.0, 2.5),
    ]


def test_each_legs_state_follows_its_events_and_a_closed_leg_stays_closed() -> None:
    live = LiveCalls()
    states = []
    for event in (
        ev("c", "stasis_start"), ev("c", "media_connected"), ev("c", "speech_start"), ev("c", "speech_end"),
        ev("c", "playout_start"), ev("c", "resident_dial", "resident"), ev("c", "resident_answered", "resident"),
        ev("c", "hangup", "resident"), ev("c", "playout_stop", "resident"), ev("c", "leg_closed", "resident"),
        ev("c", "playout_stop"), ev("c", "leg_closed"), ev("c", "playout_start"),
    ):
        live.on_event(event)
        view = live.get("c")
        assert view is not None
        states.append((view.legs.get("gate", "-"), view.legs.get("resident", "-")))
    assert states == [
        ("-", "-"), ("em linha", "-"), ("falando", "-"), ("aguardando resposta", "-"), ("ouvindo a portaria", "-"),
        ("ouvindo a portaria", "tocando"), ("ouvindo a portaria", "atendeu"), ("ouvindo a portaria", "desligou"),
        ("ouvindo a portaria", "desligou"), ("ouvindo a portaria", "encerrada"), ("em linha", "encerrada"),
        ("encerrada", "encerrada"), ("encerrada", "encerrada"),
    ]
