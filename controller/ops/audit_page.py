"""The decisions page: its filters read from the query string (pure) and the table of what the search found."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from html import escape
from urllib.parse import urlencode

from controller.ops.layout import alert, page
from controller.records.audit import AuditEntry, AuditPage, AuditSearch

FILTERS = ("from", "to", "apartment", "name")
LONGEST_FILTER = 100
DECISION_LABELS = {
    "authorised": "liberado",
    "denied": "recusado",
    "wait": "pediu para esperar",
    "front_desk": "deixar na portaria",
    "talked": "conversaram",
    "no_decision": "sem decisão",
    "resident_hung_up": "morador desligou",
    "no_answer": "morador não atendeu",
    "abandoned": "visitante desligou",
    "transferred": "transferido",
    "gate_failed": "portão não abriu",
    "error": "erro",
}


HOW_LABELS = {"voice": "por voz", "dtmf": "pelo teclado", "none": "-"}


def parse_search(query: Mapping[str, str], zone: tzinfo) -> tuple[dict[str, str], AuditSearch | None, str]:
    """The filters as typed (to show them again), the search they make, or None and why not (pt-BR)."""
    filters = {key: str(query.get(key, "")).strip() for key in FILTERS}
    if any(len(value) > LONGEST_FILTER for value in filters.values()):
        return filters, None, f"Filtro longo demais (no máximo {LONGEST_FILTER} caracteres)."
    days: dict[str, date | None] = {}
    for key, label in (("from", "De"), ("to", "Até")):
        try:
            days[key] = _day(filters[key])
        except ValueError:
            return filters, None, f"Data inválida em “{label}”: {filters[key]!r}. Use o formato AAAA-MM-DD."
    day_from, day_to = days["from"], days["to"]
    if day_from is not None and day_to is not None and day_from > day_to:
        return filters, None, "A data “De” é depois da data “Até”."
    search = AuditSearch(day_from, day_to, filters["apartment"], filters["name"], zone=zone)
    return filters, search, ""


def _day(text: str) -> date | None:
    if not text:
        return None
    day = date.fromisoformat(text)  # ValueError: not a date
    if not 1900 <= day.year <= 9000:  # a day out there would overflow once moved to UTC
        raise ValueError(text)
    return day


def shown_time(entry: AuditEntry, zone: tzinfo) -> str:
    return datetime.fromisoformat(entry.time).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def zone_name(zone: tzinfo) -> str:
    return datetime.now(zone).tzname() or "local"


def audit_page(
    found: AuditPage | None, filters: dict[str, str], *, error: str, zone: tzinfo, csrf: str, user: str
) -> str:
    def field(name: str, label: str, kind: str = "text") -> str:
        value = escape(filters.get(name, ""))
        return f'<label>{label} <input name="{name}" type="{kind}" value="{value}"></label>'

    query = escape(urlencode({k: v for k, v in filters.items() if v}))
    form = (
        '<form method="get" action="/console/audit" class="filters">'
        f"{field('from', 'De', 'date')}{field('to', 'Até', 'date')}{field('apartment', 'Apartamento')}"
        f'{field("name", "Nome")}<button type="submit">Filtrar</button>'
        f' <a href="/console/audit.csv?{query}">Exportar CSV</a></form>'
    )
    if found is None:
        return page("Decisões", f"<h2>Decisões</h2>{form}{alert(error)}", user=user, csrf=csrf, here="/console/audit")
    rows = "".join(
        f"<tr><td>{escape(shown_time(e, zone))}</td><td>{escape(e.apartment)}"
        f"{escape(' bloco ' + e.block) if e.block else ''}</td><td>{escape(e.visitor_name)}</td>"
        f"<td>{escape(e.intent)}</td><td>{escape(e.resident)}</td>"
        f"<td>{escape(DECISION_LABELS.get(e.decision, e.decision))}</td>"
        f"<td>{escape(HOW_LABELS.get(e.how, e.how))}</td></tr>"
        for e in found.entries
    )
    body = (
        f'<h2>Decisões</h2>{form}<p class="count" data-total="{found.total}">'
        f"mostrando {len(found.entries)} de {found.total}</p>"
        f'<table class="audit"><thead><tr><th>Quando ({escape(zone_name(zone))})</th><th>Apartamento</th>'
        "<th>Visitante</th><th>Motivo</th><th>Morador</th><th>Decisão</th><th>Como</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=7>Nenhuma decisão.</td></tr>'}</tbody></table>"
    )
    return page("Decisões", body, user=user, csrf=csrf, here="/console/audit")
