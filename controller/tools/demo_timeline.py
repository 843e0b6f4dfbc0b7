"""The demo's closing summary: one call's milestones and turn latencies, from its per-call events.

Milestones, each the first event of its kind on the call (times from the greeting's first frame):

- ``greeting``: the first prompt frame leaving us on the gate leg (``playout_start``);
- ``request``: the end of the visitor's speech that got the resident rung (the last gate ``speech_end`` before
  ``resident_dial``, minus its endpointing delay: when the visitor stopped talking, not when we noticed);
- ``ring``: ``resident_dial`` (the originate to the resident's phone);
- ``answered``, ``decision`` (``audit_written``: the decision is on record) and ``gate opened``.

The same figures feed the request-to-ring and greeting-to-gate benchmark (bench/bench_call.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.tools.report import collect

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeline:
    greeting: float | None
    request: float | None
    ring: float | None
    answered: float | None
    decision: float | None
    decision_kind: str | None
    gate_opened: float | None
    turns_ms: tuple[float, ...]  # every visitor/resident turn: end of speech to the first frame of the reply

    @property
    def request_to_ring_s(self) -> float | None:
        return None if self.request is None or self.ring is None else self.ring - self.request

    @property
    def greeting_to_gate_s(self) -> float | None:
        return None if self.greeting is None or self.gate_opened is None else self.gate_opened - self.greeting


def _first(events: list[Event], name: str, leg: str | None = None) -> Event | None:
    return next((e for e in events if e["event"] == name and (leg is None or e.get("leg") == leg)), None)


def _mono(event: Event | None) -> float | None:
    return None if event is None else float(event["mono"])


def timeline(events: Iterable[Event], call_id: str) -> Timeline:
    mine = sorted((e for e in events if e.get("call_id") == call_id and "mono" in e), key=lambda e: e["mono"])
    dial = _first(mine, "resident_dial")
    request = None
    if dial is not None:
        ends = [e for e in mine if e["event"] == "speech_end" and e.get("leg") == "gate" and e["mono"] <= dial["mono"]]
        if ends:
            request = float(ends[-1]["mono"]) - float(ends[-1].get("endpointing_delay_ms", 0)) / 1000
    decision = _first(mine, "audit_written")
    turns = tuple(sample.ms for sample in collect(mine) if sample.stage == "turn")
    return Timeline(
        greeting=_mono(_first(mine, "playout_start", "gate")),
        request=request,
        ring=_mono(dial),
        answered=_mono(_first(mine, "resident_answered")),
        decision=_mono(decision),
        decision_kind=None if decision is None else str(decision.get("decision")),
        gate_opened=_mono(_first(mine, "gate_opened")),
        turns_ms=turns,
    )


def render(line: Timeline) -> str:
    """The summary as the demo prints it, in pt-BR for the people watching."""
    start = line.greeting

    def at(moment: float | None) -> str:
        return "—" if moment is None or start is None else f"{moment - start:6.1f} s"

    rows = [
        ("Saudação", at(line.greeting)),
        ("Fim do pedido do visitante", at(line.request)),
        ("Chamando o morador", at(line.ring)),
        ("Morador atendeu", at(line.answered)),
        (f"Decisão registrada ({line.decision_kind or '—'})", at(line.decision)),
        ("Portão aberto", at(line.gate_opened)),
    ]
    width = max(len(label) for label, _ in rows)
    out = ["", "Linha do tempo da chamada:"]
    out += [f"  {label:<{width}}  {value}" for label, value in rows]
    if line.request_to_ring_s is not None:
        out.append(f"  Do fim do pedido até chamar o morador: {line.request_to_ring_s:.1f} s")
    if line.greeting_to_gate_s is not None:
        out.append(f"  Da saudação ao portão aberto: {line.greeting_to_gate_s:.1f} s")
    if line.turns_ms:
        turns = ", ".join(f"{ms / 1000:.2f} s" for ms in line.turns_ms)
        out.append(f"  Tempo de resposta em cada turno (fim da fala até a resposta): {turns}")
    return "\n".join(out)
