"""The console's login, calls and call pages, rendered to HTML strings (pt-BR). Everything that came from a call or
a person is escaped. The other pages: :mod:`audit_page`, :mod:`admin_pages`, :mod:`chart_page`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from controller.ops.layout import alert, csrf_field, page
from controller.ops.live import CallView


def login_page(error: str) -> str:
    return page(
        "Entrar",
        f"<h2>Entrar</h2>{alert(error)}"
        '<form method="post" action="/console/login" class="login">'
        '<label>Usuário <input name="user" autocomplete="username" required></label>'
        '<label>Senha <input name="password" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">Entrar</button></form>',
    )


def _transcript(view: CallView) -> str:
    lines = "".join(
        f'<li class="{escape(line["leg"])}"><b>{escape(line["who"])}:</b> {escape(line["text"])}</li>'
        for line in view.transcript
    )
    return f'<ol class="transcript" data-transcript="{escape(view.call_id)}">{lines}</ol>'


def _actions(view: CallView, csrf: str, hands_over: bool) -> str:
    if view.ended:
        return ""
    if view.instance:  # another instance's call (seen through Redis): only that instance can act on it
        return '<p class="remote"><small>Chamada atendida por outra instância do Portaria.</small></p>'
    cid = escape(view.call_id)
    hand_over = (
        (
            f'<form method="post" action="/console/calls/{cid}/handover" class="inline">{csrf_field(csrf)}'
            '<button type="submit">Transferir para a portaria</button></form>'
        )
        if hands_over
        else ""
    )  # with no concierge configured, a hand-over would only hang the visitor up
    return (
        f'<form method="post" action="/console/calls/{cid}/hangup" class="inline">{csrf_field(csrf)}'
        f'<button type="submit" class="danger">Desligar</button></form>{hand_over}'
    )


def _legs(view: CallView) -> str:
    return " · ".join(
        f'{who}: <span data-field="leg-{leg}">{escape(view.legs.get(leg, "-"))}</span>'
        for leg, who in (("gate", "Visitante"), ("resident", "Morador"))
    )


def _clock_time(ts: str, zone: tzinfo) -> str:
    """HH:MM:SS of an event's UTC time, in the zone the console shows times in."""
    try:
        return datetime.fromisoformat(ts).astimezone(zone).strftime("%H:%M:%S")
    except ValueError:
        return ts[11:19]


def _where(view: CallView) -> str:
    """' · jardins, portão 4001' with a sites file; nothing for the one-site default."""
    if not view.site or view.site == "default":
        return ""
    return f" · {escape(view.site)}" + (f", portão {escape(view.gate)}" if view.gate else "")


def _call_card(view: CallView, csrf: str, zone: tzinfo, hands_over: bool) -> str:
    cid = escape(view.call_id)
    state = "ended" if view.ended else "live"
    return (
        f'<article class="call {state}" data-call="{cid}">'
        f'<h3><a href="/console/calls/{cid}">Chamada {cid}</a> <small>{escape(_clock_time(view.started, zone))} · '
        f"interfone {escape(view.caller or '?')}{_where(view)}</small></h3>"
        f'<p>Etapa: <b data-field="step">{escape(view.step)}</b> · Morador: '
        f'<span data-field="resident">{escape(view.resident or "-")}</span> · Decisão: '
        f'<span data-field="decision">{escape(view.decision or "-")}</span></p>'
        f'<p class="legs">{_legs(view)}</p>'
        f"{_transcript(view)}{_actions(view, csrf, hands_over)}</article>"
    )


def calls_page(calls: list[CallView], *, csrf: str, user: str, seq: int, zone: tzinfo, hands_over: bool = True) -> str:
    live = [c for c in calls if not c.ended]
    ended = [c for c in calls if c.ended]
    cards = ["".join(_call_card(c, csrf, zone, hands_over) for c in group) for group in (live, ended)]
    body = (
        f'<h2>Chamadas em andamento</h2><div id="live" data-live="1" data-seq="{seq}">'
        + (cards[0] or '<p class="empty">Nenhuma chamada agora.</p>')
        + '</div><h2>Últimas chamadas</h2><div id="ended">'
        + (cards[1] or '<p class="empty">Nenhuma ainda.</p>')
        + "</div>"
    )
    return page("Chamadas", body, user=user, csrf=csrf, here="/console")


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    leg: str
    start: float
    end: float
    note: str = ""


LEG_NAMES = {"gate": "portão", "resident": "morador"}
POINTS = {
    "audit_written": "decisão registrada",
    "gate_opened": "portão aberto",
    "fallback": "transferido",
    "hangup": "desligou",
    "media_silent": "áudio mudo",
    "error": "erro",
}


def spans(timeline: list[dict[str, Any]]) -> list[Span]:
    """The waterfall's rows, in time order: speech, recognition, each reply (with the turn's latency as the
    caller heard it: the end of their speech, before the silence that ended the turn, to the reply's first
    sound), the resident's ring, and the decisive moments."""
    rows: list[Span] = []
    open_at: dict[tuple[str, str], float] = {}
    spoke_until: dict[str, float] = {}
    early_at: dict[str, float] = {}  # the early end of speech, where recognition starts (unless speech resumed)
    recognising_from: dict[str, float] = {}
    for event in timeline:
        name, leg, at = str(event.get("event")), str(event.get("leg", "gate")), event.get("mono")
        if not isinstance(at, int | float):
            continue
        where = LEG_NAMES.get(leg, leg)
        if name in ("speech_start", "resident_dial", "say"):
            open_at[(name, leg)] = at
        elif name == "speech_early_end":
            early_at[leg] = at
        elif name == "speech_resumed":
            early_at.pop(leg, None)
        elif name == "speech_end" and ("speech_start", leg) in open_at:
            delay = event.get("endpointing_delay_ms")
            ended = at - float(delay) / 1000 if isinstance(delay, int | float) else at
            rows.append(Span(f"fala ({where})", leg, open_at.pop(("speech_start", leg)), ended))
            spoke_until[leg] = ended
            recognising_from[leg] = min(early_at.pop(leg, at), at)
        elif name == "transcript" and leg in recognising_from:
            rows.append(Span(f"reconhecimento ({where})", leg, recognising_from.pop(leg), at))
        elif name == "playout_start" and ("say", leg) in open_at:
            began = open_at.pop(("say", leg))
            heard = spoke_until.pop(leg, None)
            note = f"turno {at - heard:.1f} s" if heard is not None else ""
            rows.append(Span(f"resposta ({where})", leg, began if heard is None else heard, at, note))
        elif name in ("resident_answered", "resident_unavailable") and ("resident_dial", leg) in open_at:
            answered = "atendeu" if name == "resident_answered" else "não atendeu"
            rows.append(Span(f"toque do morador ({answered})", leg, open_at.pop(("resident_dial", leg)), at))
        elif name in POINTS:
            rows.append(Span(f"{POINTS[name]} ({where})" if name == "hangup" else POINTS[name], leg, at, at))
    return sorted(rows, key=lambda row: row.start)


def waterfall(view: CallView) -> str:
    """Rows of bars (SVG, no script): what happened on each leg, left to right from the call's start."""
    moments = [e["mono"] for e in view.timeline if isinstance(e.get("mono"), int | float)]
    rows = spans(view.timeline)
    if not moments or not rows:
        return ""
    start, span = moments[0], max(moments[-1] - moments[0], 1.0)
    width, row_h, left, right = 900, 20, 230, 70
    scale = (width - left - right) / span
    parts = []
    for number, row in enumerate(rows):
        y = 10 + number * row_h
        x = left + (row.start - start) * scale
        bar = max((row.end - row.start) * scale, 3)
        note = f" · {row.note}" if row.note else ""
        parts.append(
            f'<g class="{escape(row.leg)}"><text x="4" y="{y + 13}">{escape(row.label)}</text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{bar:.1f}" height="{row_h - 6}"/>'
            f'<text x="{x + bar + 4:.1f}" y="{y + 13}">{row.start - start:.1f} s{escape(note)}</text></g>'
        )
    height = 20 + len(rows) * row_h
    axis = (
        f'<line x1="{left}" y1="{height - 8}" x2="{width - right}" y2="{height - 8}"/>'
        f'<text x="{left}" y="{height + 6}">0 s</text>'
        f'<text x="{width - right - 30}" y="{height + 6}">{span:.1f} s</text>'
    )
    return (
        f'<svg class="waterfall" viewBox="0 0 {width} {height + 10}" role="img" '
        f'aria-label="Linha do tempo da chamada">{"".join(parts)}{axis}</svg>'
    )


def call_page(view: CallView, *, csrf: str, user: str, seq: int, zone: tzinfo, hands_over: bool = True) -> str:
    live = "" if view.ended else ' data-timeline-live="1"'  # the page redraws it as the call goes on
    body = (
        f'<div data-call-page="{escape(view.call_id)}" data-seq="{seq}">{_call_card(view, csrf, zone, hands_over)}'
        f'<h2>Linha do tempo</h2><div class="timeline"{live}>{waterfall(view)}</div></div>'
    )
    return page(f"Chamada {view.call_id}", body, user=user, csrf=csrf)
