"""The demo's (and bench_call's) call timeline, from per-call events."""

from __future__ import annotations

from typing import Any

from controller.tools.demo_timeline import render, timeline


def ev(name: str, mono: float, leg: str = "gate", call_id: str = "c1", **fields: Any) -> dict[str, Any]:
    return {"event": name, "mono": mono, "leg": leg, "call_id": call_id, **fields}


EVENTS = [
    ev("answered", 10.0),
    ev("say", 10.05, text="Condomínio Apoena, em que posso ajudar?"),
    ev("playout_start", 10.1),
    ev("speech_end", 16.0, endpointing_delay_ms=600),  # the visitor stopped at 15.4
    ev("say", 17.0, text="Certo. Vou chamar o apartamento 101. Um momento."),
    ev("playout_start", 17.1),
    ev("resident_dial", 17.2, leg="resident"),
    ev("resident_answered", 19.0, leg="resident"),
    ev("speech_end", 26.0, leg="resident", endpointing_delay_ms=500),
    ev("audit_written", 27.0, decision="authorised"),
    ev("gate_opened", 27.3),
    ev("speech_end", 40.0, call_id="other"),  # another call's events never count
    ev("call_end", 30.0),
]


def test_the_milestones_of_one_call() -> None:
    line = timeline(EVENTS, "c1")
    assert line.greeting == 10.1 and line.ring == 17.2 and line.gate_opened == 27.3
    assert line.request == 15.4  # end of speech as the visitor made it, not when endpointing decided
    assert round(line.request_to_ring_s or 0, 2) == 1.8
    assert round(line.greeting_to_gate_s or 0, 2) == 17.2
    assert line.decision_kind == "authorised"


def test_a_call_that_never_rang_has_no_request_to_ring() -> None:
    line = timeline([e for e in EVENTS if e["event"] not in ("resident_dial", "gate_opened")], "c1")
    assert line.request is None and line.request_to_ring_s is None and line.greeting_to_gate_s is None
    assert "Portão aberto" in render(line) and "Da saudação ao portão aberto" not in render(line)


def test_the_summary_states_both_figures() -> None:
    text = render(timeline(EVENTS, "c1"))
    assert "Do fim do pedido até chamar o morador: 1.8 s" in text
    assert "Da saudação ao portão aberto: 17.2 s" in text
