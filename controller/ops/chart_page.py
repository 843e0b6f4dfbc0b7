"""The charts page (pt-BR): turn latency and calls per hour, outcomes per day, each an SVG drawn here from
:mod:`controller.ops.charts` with the geometry of :mod:`controller.ops.svg` (no script, no library)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from controller.ops.audit_page import DECISION_LABELS
from controller.ops.charts import DAYS, HOURS, NO_DECISION, Charts, CountBucket, LatencyBucket, OutcomeBucket
from controller.ops.layout import page
from controller.ops.svg import Plot, bars, label_every, nice_ceiling, polylines, stacked_bars, ticks

OUTCOME_LABELS = {**DECISION_LABELS, NO_DECISION: "encerrada sem decisão"}
# Outcomes in the order they are stacked (bottom first); any other outcome goes on top, in name order.
OUTCOME_ORDER = ("authorised", "denied", "no_answer", "transferred", "abandoned", NO_DECISION)
PLOT = Plot()


def _hour_label(start: datetime) -> str:
    return start.strftime("%d/%m %Hh") if start.hour == 0 else start.strftime("%Hh")


def _frame(labels: Sequence[str], top_value: float, unit: str, chart: str, title: str, body: str) -> str:
    """Gridlines with their values, the slots' labels (one in a few) and the chart's own marks."""
    grid = "".join(
        f'<line class="grid" x1="{PLOT.left}" x2="{PLOT.width - PLOT.right}" y1="{PLOT.y(v, top_value):.1f}" '
        f'y2="{PLOT.y(v, top_value):.1f}"/><text class="tick" x="{PLOT.left - 6}" y="{PLOT.y(v, top_value) + 4:.1f}" '
        f'text-anchor="end">{_number(v)}{escape(unit)}</text>'
        for v in ticks(top_value)
    )
    every = label_every(len(labels), PLOT)
    names = "".join(
        f'<text class="slot" x="{PLOT.x(i, len(labels)):.1f}" y="{PLOT.height - PLOT.bottom + 16}" '
        f'text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    )
    return (
        f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {PLOT.width:.0f} {PLOT.height:.0f}" role="img" '
        f'aria-label="{escape(title)}">{grid}{body}{names}</svg>'
    )


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def latency_chart(buckets: Sequence[LatencyBucket]) -> str:
    if not any(b.count for b in buckets):
        return '<p class="empty">Sem dados: nenhum turno de conversa nesse período.</p>'
    seconds = [
        (None if b.p50_ms is None else b.p50_ms / 1000, None if b.p95_ms is None else b.p95_ms / 1000) for b in buckets
    ]
    top = nice_ceiling(max(p95 or p50 or 0 for p50, p95 in seconds))
    marks = []
    for series, index in (("p95", 1), ("p50", 0)):
        values = [pair[index] for pair in seconds]
        for run in polylines(values, PLOT, top):
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            marks.append(f'<polyline class="{series}" points="{points}"/>')
        for i, value in enumerate(values):
            if value is not None:
                count = buckets[i].count
                tip = f"{_hour_label(buckets[i].start)}: {series} {value:.2f} s ({count} turnos)".replace(".", ",")
                marks.append(
                    f'<circle class="{series}" cx="{PLOT.x(i, len(values)):.1f}" '
                    f'cy="{PLOT.y(value, top):.1f}" r="3"><title>{escape(tip)}</title></circle>'
                )
    labels = [_hour_label(b.start) for b in buckets]
    title = "Latência de turno por hora (p50 e p95)"
    return _frame(labels, top, " s", "latency", title, "".join(marks)) + (
        '<p class="legend"><span class="key p50"></span> p50 (mediana) <span class="key p95"></span> p95 '
        "(fim da fala de quem ligou até o primeiro som da resposta)</p>"
    )


def calls_chart(buckets: Sequence[CountBucket]) -> str:
    if not any(b.count for b in buckets):
        return '<p class="empty">Sem dados: nenhuma chamada nesse período.</p>'
    top = nice_ceiling(max(b.count for b in buckets))
    marks = "".join(
        f'<rect class="calls" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
        f"<title>{escape(_hour_label(b.start))}: {b.count} chamada(s)</title></rect>"
        for (x, y, w, h), b in zip(bars([b.count for b in buckets], PLOT, top), buckets, strict=True)
        if b.count
    )
    return _frame([_hour_label(b.start) for b in buckets], top, "", "calls", "Chamadas por hora", marks)


def outcomes_chart(buckets: Sequence[OutcomeBucket]) -> str:
    if not any(b.counts for b in buckets):
        return '<p class="empty">Sem dados: nenhuma chamada terminada nesse período.</p>'
    seen = {outcome for b in buckets for outcome in b.counts}
    order = [o for o in OUTCOME_ORDER if o in seen] + sorted(seen - set(OUTCOME_ORDER))
    top = nice_ceiling(max(sum(b.counts.values()) for b in buckets))
    stacks = stacked_bars([[b.counts.get(o, 0) for o in order] for b in buckets], PLOT, top)
    marks = "".join(
        f'<rect class="outcome o-{escape(outcome)}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
        f"<title>{b.day:%d/%m}: {b.counts[outcome]} {escape(OUTCOME_LABELS.get(outcome, outcome))}</title></rect>"
        for boxes, b in zip(stacks, buckets, strict=True)
        for (x, y, w, h), outcome in zip(boxes, order, strict=True)
        if b.counts.get(outcome)
    )
    legend = " ".join(f'<span class="key o-{escape(o)}"></span> {escape(OUTCOME_LABELS.get(o, o))}' for o in order)
    svg = _frame([f"{b.day:%d/%m}" for b in buckets], top, "", "outcomes", "Resultado das chamadas por dia", marks)
    return svg + f'<p class="legend">{legend}</p>'


def charts_page(charts: Charts, *, zone_label: str, csrf: str, user: str) -> str:
    if charts.empty:
        body = (
            '<h2>Gráficos</h2><p class="empty" data-charts-empty>Sem dados: nenhuma chamada nas últimas '
            f"{HOURS} horas nem nos últimos {DAYS} dias.</p>"
        )
    else:
        body = (
            f"<h2>Gráficos</h2><p>Horários em {escape(zone_label)}, a partir do registro de eventos das chamadas.</p>"
            f"<h3>Latência de turno por hora, últimas {HOURS} horas</h3>{latency_chart(charts.latency)}"
            f"<h3>Chamadas por hora, últimas {HOURS} horas</h3>{calls_chart(charts.calls)}"
            f"<h3>Resultado das chamadas por dia, últimos {DAYS} dias</h3>{outcomes_chart(charts.outcomes)}"
        )
    return page("Gráficos", body, user=user, csrf=csrf, here="/console/charts")
