"""The charts: bucketing of the per-call events (turn latency p50/p95 and calls per hour, outcomes per day, in a
zone), the SVG geometry, and the page over real HTTP, with data and with none."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from controller.ops.chart_page import charts_page
from controller.ops.charts import HOURS, build_charts, call_outcomes, last_hours
from controller.ops.svg import Plot, bars, label_every, nice_ceiling, polylines, stacked_bars, ticks
from controller.records.call_samples import collect
from tests.ops.test_console import NOW, console

BRASILIA = timezone(timedelta(hours=-3))


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def ev(call: str, name: str, when: datetime, mono: float, leg: str = "gate", **fields: Any) -> dict[str, Any]:
    return {"call_id": call, "leg": leg, "event": name, "mono": mono, "ts": when.isoformat(timespec="milliseconds"),
            **fields}


def call(
    call_id: str, start: datetime, turns_ms: list[int], *ending: tuple[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A call from `start`: one visitor turn per latency (end of speech to the reply's first frame), then its
    ending events."""
    events = [ev(call_id, "stasis_start", start, 0.0)]
    mono, when = 1.0, start
    for latency in turns_ms:
        events += [
            ev(call_id, "speech_end", when, mono, endpointing_delay_ms=0),
            ev(call_id, "say", when, mono + 0.001, text="Certo."),
            ev(call_id, "tts_first_audio", when, mono + 0.002, latency_ms=0),
            ev(call_id, "playout_start", when + timedelta(milliseconds=latency), mono + latency / 1000),
        ]
        mono += 10
        when += timedelta(seconds=10)
    events += [ev(call_id, name, when, mono, **fields) for name, fields in ending]
    return events


def test_turn_latency_percentiles_per_hour() -> None:
    events = [
        *call("a", at(8, 5), [1000, 2000]), *call("b", at(8, 40), [3000, 4000]),  # hour 8: 1, 2, 3, 4 s
        *call("c", at(9, 10), [500]),  # hour 9: one turn
    ]
    assert sorted(s.ms for s in collect(events) if s.stage == "turn") == pytest.approx([500, 1000, 2000, 3000, 4000])
    charts = build_charts(events, now=NOW, zone=UTC)
    by_hour = {b.start: b for b in charts.latency}
    assert len(charts.latency) == HOURS and charts.latency[-1].start == at(10)  # ends at now's hour
    assert (by_hour[at(8)].count, by_hour[at(8)].p50_ms, by_hour[at(8)].p95_ms) == (4, pytest.approx(2500),
                                                                                 pytest.approx(3850))
    assert (by_hour[at(9)].count, by_hour[at(9)].p50_ms, by_hour[at(9)].p95_ms) == (1, 500, 500)
    assert (by_hour[at(7)].count, by_hour[at(7)].p50_ms) == (0, None)
    assert [b.count for b in charts.calls if b.count] == [2, 1]


def test_hours_and_days_are_the_zones() -> None:
    events = [*call("late", at(2, 30), [1000]), *call("next", at(3, 30), [1000])]  # 23:30 and 00:30 in Brasília
    charts = build_charts(events, now=NOW, zone=BRASILIA)
    assert {b.start.hour: b.count for b in charts.calls if b.count} == {23: 1, 0: 1}
    assert charts.calls[-1].start == datetime(2026, 12, 2, 7, tzinfo=BRASILIA)
    outcomes = {b.day: b.counts for b in charts.outcomes}
    assert charts.outcomes[-1].day == date(2026, 12, 2)
    assert outcomes[date(2026, 12, 1)] == {} and outcomes[date(2026, 12, 2)] == {}  # neither ended yet


def test_outcomes_per_day_from_the_last_decision() -> None:
    events = [
        *call("yes", at(8, day=1), [], ("audit_written", {"decision": "authorised"}), ("call_end", {})),
        *call("failed", at(9, day=1), [], ("audit_written", {"decision": "authorised"}),
              ("audit_written", {"decision": "gate_failed"}), ("call_end", {})),
        *call("handed", at(10, day=1), [], ("fallback", {"reason": "asked"}), ("call_end", {})),
        *call("quiet", at(11, day=2), [], ("call_end", {})),
        *call("going", at(10, 20, day=2), []),
        *call("no", at(9, day=2), [], ("audit_written", {"decision": "denied"})),
        *call("old", at(9, day=2) - timedelta(days=40), [], ("audit_written", {"decision": "denied"})),
    ]
    assert call_outcomes(events)["failed"] == "gate_failed" and "going" not in call_outcomes(events)
    outcomes = {b.day: b.counts for b in build_charts(events, now=NOW, zone=UTC).outcomes}
    assert outcomes[date(2026, 12, 1)] == {"authorised": 1, "gate_failed": 1, "transferred": 1}
    assert outcomes[date(2026, 12, 2)] == {"none": 1, "denied": 1}
    assert sum(sum(c.values()) for c in outcomes.values()) == 5  # the 40-day-old call is out of the window


def test_an_empty_or_stale_log_gives_a_no_data_page() -> None:
    for events in ([], call("old", NOW - timedelta(days=60), [800], ("call_end", {}))):
        charts = build_charts(events, now=NOW, zone=UTC)
        assert charts.empty
        page = charts_page(charts, zone_label="UTC", csrf="t", user="u")
        assert "Sem dados" in page and "<svg" not in page


def test_the_hours_step_over_a_zone_change_without_a_gap() -> None:
    starts = last_hours(datetime(2026, 12, 2, 10, 30, tzinfo=UTC), BRASILIA, 3)
    assert [s.hour for s in starts] == [5, 6, 7]
    assert all(b - a == timedelta(hours=1) for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize(("value", "ceiling"), [
    (0, 1), (-3, 1), (float("nan"), 1), (0.3, 0.5), (1, 1), (1.01, 2), (2, 2), (2.5, 5), (7, 10), (12, 20), (20, 20),
    (51, 100), (3850, 5000),
])
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_plot_geometry() -> None:
    plot = Plot(width=100, height=60, left=10, right=10, top=10, bottom=10)
    assert ticks(5, 4) == [0, 1.25, 2.5, 3.75, 5]
    assert (plot.y(0, 5), plot.y(5, 5), plot.y(2.5, 5), plot.y(99, 5)) == (50, 10, 30, 10)  # clipped at the top
    assert [plot.x(i, 4) for i in range(4)] == [20, 40, 60, 80]
    assert polylines([1, 2, None, 4, None], plot, 4) == [[(18.0, 40.0), (34.0, 30.0)], [(66.0, 10.0)]]
    assert bars([0, 2, 4], plot, 4, fill=0.5) == [
        pytest.approx((x - 20 / 3, y, 40 / 3, h)) for x, y, h in ((70 / 3, 50, 0), (50, 30, 20), (230 / 3, 10, 40))
    ]
    (low, high), = stacked_bars([[1, 3]], plot, 4, fill=1)
    assert low == (10, 40, 80, 10) and high == (10, 10, 80, 30)  # the second sits on the first
    assert label_every(48, Plot()) == 3 and label_every(5, Plot()) == 1


async def test_the_charts_page_draws_the_log(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        empty = await bed.http.get(bed.url + "/console/charts")
        assert empty.status == 200 and "data-charts-empty" in await empty.text()
        bed.logged.extend([
            *call("a", at(8, 5), [1200, 2400], ("audit_written", {"decision": "authorised"}), ("call_end", {})),
            *call("b", at(9, 5), [700], ("audit_written", {"decision": "denied"}), ("call_end", {})),
        ])
        page = await (await bed.http.get(bed.url + "/console/charts")).text()
        for chart in ("latency", "calls", "outcomes"):
            assert f'data-chart="{chart}"' in page, chart
        assert page.count('<rect class="calls"') == 2 and page.count('<rect class="outcome') == 2
        assert "08h: p95 2,34 s (2 turnos)" in page and "liberado" in page and "recusado" in page
        assert 'aria-current="page"' in page and "<script>" not in page.split("</head>", 1)[1]


def test_no_events_file_yet_is_no_events(tmp_path: Path) -> None:
    from controller.wiring.console import logged_events

    assert logged_events(tmp_path / "events.jsonl") == []
    (tmp_path / "events.jsonl").write_text('{"call_id": "a", "event": "stasis_start"}\n{"cut sh', encoding="utf-8")
    assert logged_events(tmp_path / "events.jsonl") == [{"call_id": "a", "event": "stasis_start"}]
