"""The console's pages, rendered to HTML strings (pt-BR). Everything that came from a call or a person is escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from controller.ops.live import CallView
from controller.records.audit import AuditEntry

DECISION_LABELS = {
    "authorised": "liberado",
    "denied": "recusado",
    "no_answer": "morador não atendeu",
    "no_decision": "sem decisão",
    "transferred": "transferido",
    "abandoned": "visitante desligou",
    "error": "erro",
}


def _page(title: str, body: str, *, user: str = "", csrf: str = "") -> str:
    nav = ""
    if user:
        nav = (
            '<nav><a href="/console">Chamadas</a> <a href="/console/audit">Decisões</a>'
            f'<form method="post" action="/console/logout" class="inline">{_csrf(csrf)}'
            f'<button type="submit">Sair ({escape(user)})</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Portaria</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head>'
        f"<body><header><h1>Portaria</h1>{nav}</header><main>{body}</main></body></html>"
    )


def _csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(token)}">' if token else ""


def login_page(error: str) -> str:
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _page(
        "Entrar",
        f"<h2>Entrar</h2>{alert}"
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


def _actions(view: CallView, csrf: str) -> str:
    if view.ended:
        return ""
    cid = escape(view.call_id)
    return (
        f'<form method="post" action="/console/calls/{cid}/hangup" class="inline">{_csrf(csrf)}'
        '<button type="submit" class="danger">Desligar</button></form>'
        f'<form method="post" action="/console/calls/{cid}/handover" class="inline">{_csrf(csrf)}'
        '<button type="submit">Transferir para a portaria</button></form>'
    )


def _call_card(view: CallView, csrf: str) -> str:
    cid = escape(view.call_id)
    state = "ended" if view.ended else "live"
    return (
        f'<article class="call {state}" data-call="{cid}">'
        f'<h3><a href="/console/calls/{cid}">Chamada {cid}</a> <small>{escape(view.started[11:19])} · '
        f"interfone {escape(view.caller or '?')}</small></h3>"
        f'<p>Etapa: <b data-field="step">{escape(view.step)}</b> · Morador: '
        f'<span data-field="resident">{escape(view.resident or "-")}</span> · Decisão: '
        f'<span data-field="decision">{escape(view.decision or "-")}</span></p>'
        f"{_transcript(view)}{_actions(view, csrf)}</article>"
    )


def calls_page(calls: list[CallView], *, csrf: str, user: str) -> str:
    live = [c for c in calls if not c.ended]
    ended = [c for c in calls if c.ended]
    body = (
        '<h2>Chamadas em andamento</h2><div id="live" data-live="1">'
        + ("".join(_call_card(c, csrf) for c in live) or '<p class="empty">Nenhuma chamada agora.</p>')
        + "</div><h2>Últimas chamadas</h2><div id=\"ended\">"
        + ("".join(_call_card(c, csrf) for c in ended) or '<p class="empty">Nenhuma ainda.</p>')
        + "</div>"
    )
    return _page("Chamadas", body, user=user, csrf=csrf)


def _waterfall(view: CallView) -> str:
    """Each event as a mark on its leg's lane, left to right by time since the call began (SVG, no script)."""
    points = [e for e in view.timeline if isinstance(e.get("mono"), int | float)]
    if not points:
        return ""
    start, end = points[0]["mono"], points[-1]["mono"]
    span = max(end - start, 1.0)
    width, lane_h, left = 900, 28, 90
    lanes = {"gate": 0, "resident": 1}
    marks: list[str] = []
    for event in points:
        x = left + (event["mono"] - start) / span * (width - left - 10)
        y = 20 + lanes.get(str(event.get("leg")), 0) * lane_h * 3 + (len(marks) % 3) * lane_h
        label = escape(str(event.get("event", "")))
        offset = f"{event['mono'] - start:.1f} s"
        marks.append(
            f'<g><circle cx="{x:.1f}" cy="{y}" r="4"/><text x="{x + 6:.1f}" y="{y + 4}">{label}</text>'
            f"<title>{label} em {offset}</title></g>"
        )
    height = 20 + lane_h * 6
    axis = (
        f'<text x="4" y="40">portão</text><text x="4" y="{40 + lane_h * 3}">morador</text>'
        f'<line x1="{left}" y1="{height - 8}" x2="{width - 10}" y2="{height - 8}"/>'
        f'<text x="{left}" y="{height}">0 s</text><text x="{width - 60}" y="{height}">{span:.1f} s</text>'
    )
    return (
        f'<svg class="waterfall" viewBox="0 0 {width} {height + 6}" role="img" '
        f'aria-label="Linha do tempo da chamada">{axis}{"".join(marks)}</svg>'
    )


def call_page(view: CallView, *, csrf: str, user: str) -> str:
    body = (
        f'<div data-call-page="{escape(view.call_id)}">{_call_card(view, csrf)}'
        f"<h2>Linha do tempo</h2>{_waterfall(view)}</div>"
    )
    return _page(f"Chamada {view.call_id}", body, user=user, csrf=csrf)


def audit_page(entries: list[AuditEntry], filters: dict[str, str], *, csrf: str, user: str) -> str:
    def field(name: str, label: str, kind: str = "text") -> str:
        return f'<label>{label} <input name="{name}" type="{kind}" value="{escape(filters.get(name, ""))}"></label>'

    query = escape(urlencode({k: v for k, v in filters.items() if v}))
    rows = "".join(
        f"<tr><td>{escape(e.time[:19].replace('T', ' '))}</td><td>{escape(e.apartment)}"
        f"{escape(' bloco ' + e.block) if e.block else ''}</td><td>{escape(e.visitor_name)}</td>"
        f"<td>{escape(e.intent)}</td><td>{escape(e.resident)}</td>"
        f"<td>{escape(DECISION_LABELS.get(e.decision, e.decision))}</td><td>{escape(e.how)}</td></tr>"
        for e in entries
    )
    body = (
        '<h2>Decisões</h2><form method="get" action="/console/audit" class="filters">'
        f'{field("since", "Desde", "date")}{field("apartment", "Apartamento")}{field("name", "Nome")}'
        f'<button type="submit">Filtrar</button> <a href="/console/audit.csv?{query}">Exportar CSV</a></form>'
        '<table class="audit"><thead><tr><th>Quando (UTC)</th><th>Apartamento</th><th>Visitante</th>'
        "<th>Motivo</th><th>Morador</th><th>Decisão</th><th>Como</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=7>Nenhuma decisão.</td></tr>'}</tbody></table>"
    )
    return _page("Decisões", body, user=user, csrf=csrf)
