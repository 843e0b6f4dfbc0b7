"""Metrics from the per-call events: what moves, and that no call or person appears in them."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from controller.ops.metrics import CallMetrics


def ev(name: str, mono: float, leg: str = "gate", **fields: Any) -> dict[str, Any]:
    return {"event": name, "mono": mono, "leg": leg, "call_id": "call-7f3a", **fields}


def samples(metrics: CallMetrics) -> dict[str, float]:
    text = metrics.exposition().decode()
    return {
        f"{s.name}{sorted(s.labels.items()) if s.labels else ''}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_call_moves_the_counters_and_histograms() -> None:
    refused = [3]
    metrics = CallMetrics({"portaria_audiosocket_refused": ("refused", lambda: refused[0])})
    for event in [
        ev("stasis_start", 1.0, caller="1001"),
        ev("speech_end", 5.0, endpointing_delay_ms=700),  # the visitor stopped at 4.3
        ev("stt_done", 5.4, latency_ms=400, text="entrega pro 101"),
        ev("tts_first_audio", 5.5, latency_ms=20),
        ev("playout_start", 5.5),
        ev("resident_answered", 9.0, leg="resident", ring_ms=3200, resident="Renata Souza"),
        ev("audit_written", 12.0, decision="authorised", how="dtmf"),
        ev("gate_opened", 12.1, attempt=1),
    ]:
        metrics.observe(event)
    during = samples(metrics)
    assert during["portaria_calls_active"] == 1
    assert during["portaria_turn_latency_seconds_count[('leg', 'gate')]"] == 1
    assert round(during["portaria_turn_latency_seconds_sum[('leg', 'gate')]"], 6) == 1.2
    assert during["portaria_stt_seconds_count"] == 1 and during["portaria_resident_ring_seconds_sum"] == 3.2
    assert during["portaria_decisions_total[('decision', 'authorised')]"] == 1
    assert during["portaria_gate_openings_total"] == 1 and during["portaria_audiosocket_refused"] == 3
    metrics.observe(ev("call_end", 20.0, duration_ms=19000))
    after = samples(metrics)
    assert after["portaria_calls_active"] == 0 and after["portaria_calls_total"] == 1
    # No per-call or personal labels. Label values, not the whole text: a _created timestamp can hold "1001".
    text = metrics.exposition().decode()
    labels = {v for family in text_string_to_metric_families(text) for s in family.samples for v in s.labels.values()}
    assert not {v for v in labels if "call-7f3a" in v or "Renata" in v or "1001" in v}
    assert "call-7f3a" not in text and "Renata" not in text


def test_a_reply_without_a_turn_before_it_is_no_latency() -> None:
    metrics = CallMetrics()
    metrics.observe(ev("playout_start", 1.0))  # the greeting: nobody spoke before it
    metrics.observe(ev("unknown_event", 2.0))
    assert samples(metrics).get("portaria_turn_latency_seconds_count[('leg', 'gate')]", 0) == 0


def test_cached_phrases_are_counted_apart_and_hand_overs_by_reason() -> None:
    metrics = CallMetrics()
    for event in [
        ev("tts_first_audio", 1.0, latency_ms=0, cached=True),  # the greeting, from the prompt cache
        ev("tts_first_audio", 2.0, latency_ms=350, cached=False),
        ev("fallback", 3.0, reason="no_answer", to="PJSIP/portaria"),
    ]:
        metrics.observe(event)
    values = samples(metrics)
    assert values["portaria_tts_first_audio_seconds_count"] == 1  # a cache hit's 0 would dilute the histogram
    assert round(values["portaria_tts_first_audio_seconds_sum"], 6) == 0.35
    assert values["portaria_tts_cached_total"] == 1
    assert values["portaria_handovers_total[('reason', 'no_answer')]"] == 1


def test_the_outcomes_are_also_counted_by_site() -> None:
    metrics = CallMetrics()
    for call, site in (("c1", "jardins"), ("c2", "apoena"), ("c3", None)):
        start = {"site": site} if site else {}
        for event in (
            ev("stasis_start", 1.0, **start),
            ev("audit_written", 2.0, decision="authorised"),
            ev("gate_opened", 2.1),
            ev("call_end", 3.0),
        ):
            metrics.observe({**event, "call_id": call})
    values = samples(metrics)
    for site in ("jardins", "apoena", "default"):
        assert values[f"portaria_site_calls_total[('site', '{site}')]"] == 1
        assert values[f"portaria_site_decisions_total[('decision', 'authorised'), ('site', '{site}')]"] == 1
        assert values[f"portaria_site_gate_openings_total[('site', '{site}')]"] == 1
    assert values["portaria_calls_total"] == 3 and metrics._sites == {}, "a call's site is forgotten at its end"
