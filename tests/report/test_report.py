"""The latency report on synthetic event files: exact stats, stage pairing, prototype logs, CLI shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.__main__ import main as controller_main
from controller.tools.report import (
    PROTOTYPE_STAGES,
    STAGES,
    Stats,
    build_report,
    collect,
    load_events,
    main,
    percentile,
)

Event = dict[str, Any]


def ev(call: str, event: str, mono: float, leg: str = "gate", **fields: Any) -> Event:
    return {"call_id": call, "leg": leg, "event": event, "mono": mono, "ts": "2025-01-01T00:00:00.000+00:00", **fields}


def one_turn(call: str, t0: float, *, delay_ms: int = 500, stt_ms: int = 300, cached: bool = False) -> list[Event]:
    """A visitor turn ending at t0 (as Asterisk sent it) and the concierge's reply."""
    end = t0 + delay_ms / 1000
    return [
        ev(call, "speech_end", end, utterance_ms=1500, endpointing_delay_ms=delay_ms),
        ev(call, "stt_done", end + 0.05, latency_ms=stt_ms, audio_ms=1800, text="entrega"),
        ev(call, "transcript", end + 0.05, text="entrega", early=True),
        ev(call, "dialog_turn", end + 0.06, input="UtteranceHeard", ms=2.5, actions=["Say"]),
        ev(call, "say", end + 0.07, text="Para qual apartamento é a entrega?"),
        ev(call, "playout_start", end + 0.07, protected=False, queued_ms=0),
        ev(call, "tts_first_audio", end + 0.1, latency_ms=0 if cached else 30, cached=cached),
        ev(call, "playout_stop", end + 2.0, played_ms=1900),
    ]


def write(path: Path, events: list[Event], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail, encoding="utf-8")
    return path


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 90) == pytest.approx(90.1)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert Stats.of([7.0]) == Stats(1, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0)
    assert Stats.of([]).count == 0 and Stats.of([]).p50 is None
    stats = Stats.of([40.0, 10.0, 30.0, 20.0])
    assert (stats.min, stats.p50, stats.p90, stats.p95, stats.p99, stats.max) == (10, 25, 37, 38.5, 39.7, 40)


def test_turn_runs_from_speech_end_as_sent_to_the_first_frame_of_the_reply() -> None:
    events = [ev("c1", "stasis_start", 0.0)]
    events += one_turn("c1", 10.0, delay_ms=500)
    events += one_turn("c1", 20.0, delay_ms=700)
    events.append(ev("c1", "call_end", 30.0, duration_ms=30000))
    report = build_report(events)
    stages = report.stages
    # 0.5 s endpointing + 0.1 s to the first audio (later than playout_start): 600 ms; then 700 + 100.
    assert stages["turn"]["all"].count == 2
    assert stages["turn"]["all"].min == pytest.approx(600)
    assert stages["turn"]["all"].max == pytest.approx(800)
    assert stages["endpointing"]["all"].p50 == pytest.approx(600)
    assert stages["stt"]["all"].count == 2
    assert stages["understanding"]["all"].max == 2.5
    assert stages["tts_first_audio"]["all"].max == 30
    assert stages["playout_start"]["all"].min == pytest.approx(30)  # say at +0.07, first audio at +0.1
    assert stages["call"]["all"].max == 30000
    assert stages["resident_ring"]["all"].count == 0
    assert report.errors.unanswered_turns == 0


def test_a_prompt_queued_before_the_turn_ended_is_not_its_reply() -> None:
    events = [
        ev("c", "say", 0.9, text="Condomínio Apoena, em que posso ajudar?"),
        ev("c", "speech_end", 1.5, utterance_ms=400, endpointing_delay_ms=500),  # spoke over the greeting
        ev("c", "playout_start", 2.0),
        ev("c", "tts_first_audio", 2.0, latency_ms=0, cached=True),
        ev("c", "say", 3.0, text="Qual é o apartamento?"),
        ev("c", "tts_first_audio", 3.01, latency_ms=10, cached=False),  # synthesized while waiting its turn
        ev("c", "playout_start", 3.2),
    ]
    turn = build_report(events).stages["turn"]["all"]
    assert turn.count == 1
    assert turn.max == pytest.approx(2200)  # 1.0 (speech end as sent) -> 3.2


def test_cached_fallback_audio_and_failed_synthesis_keep_the_pairing() -> None:
    events = [
        ev("c", "speech_end", 5.0, endpointing_delay_ms=500),
        ev("c", "say", 5.1, text="Qual é o bloco?"),
        ev("c", "playout_start", 5.1),
        ev("c", "say_failed", 8.2, text="Qual é o bloco?", cause="tts failed"),  # no audio ever came
        ev("c", "playout_start", 8.3),  # the cached apology
        ev("c", "speech_end", 20.0, endpointing_delay_ms=500),
        ev("c", "say", 20.4, text="(fallback)", cause="stt"),
        ev("c", "playout_start", 20.5),
    ]
    report = build_report(events)
    assert sorted(s.ms for s in collect(events) if s.stage == "turn") == pytest.approx([1000, 3800])
    assert report.errors.failed["say_failed"] == 1


def test_errors_underruns_and_unanswered_turns_are_counted() -> None:
    events = [
        ev("c", "speech_end", 1.0, endpointing_delay_ms=700),
        ev("c", "stt_failed", 2.0, cause="timeout", consecutive=1, give_up=False),
        ev("c", "speech_end", 4.0, endpointing_delay_ms=700),
        ev("c", "error", 4.5, stage="call_control", status=500, message="boom"),
        ev("c", "playout_underrun", 5.0, played_ms=400),
        ev("c", "playout_underrun", 5.1, played_ms=600),
        ev("c", "tts_failed", 6.0, cause="x"),
    ]
    errors = build_report(events).errors
    assert errors.unanswered_turns == 1
    assert errors.underruns == 2
    assert errors.failed == {"stt_failed": 1, "tts_failed": 1}
    assert errors.errors == {"call_control: boom": 1}


def test_resident_ring_time_per_leg() -> None:
    events = [
        ev("c", "resident_dial", 10.0, leg="resident", endpoint="PJSIP/101"),
        ev("c", "resident_answered", 14.5, leg="resident"),
        ev("d", "resident_dial", 1.0, leg="resident"),
        ev("d", "resident_answered", 9.0, leg="resident", ring_ms=7500),
    ]
    ring = build_report(events).stages["resident_ring"]
    assert ring["resident"].count == 2
    assert (ring["resident"].min, ring["resident"].max) == (4500, 7500)


def test_call_filter_and_prefix(tmp_path: Path) -> None:
    events = one_turn("aaa111", 1.0, delay_ms=400) + one_turn("bbb222", 1.0, delay_ms=900)
    report = build_report(events, call_id="bbb")
    assert report.calls == ["bbb222"]
    assert report.stages["endpointing"]["all"].max == 900
    with pytest.raises(LookupError):
        build_report(events, call_id="zzz")
    path = write(tmp_path / "events.jsonl", events)
    assert main(["--events", str(path), "--call", "nope"]) == 1


def test_a_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    events = one_turn("c", 1.0)
    path = write(tmp_path / "events.jsonl", events, tail='{"call_id": "c", "leg": "gate", "event": "speech_e')
    assert len(load_events(path)) == len(events)
    assert build_report(load_events(path)).stages["turn"]["all"].count == 1


def test_json_output_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "events.jsonl", one_turn("c1", 1.0) + one_turn("c2", 1.0))
    assert controller_main(["report", "--all", "--json", "--events", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calls"] == ["c1", "c2"]
    assert set(STAGES) <= set(data["stages"])
    turn = data["stages"]["turn"]
    assert turn["title"] == "turn latency"
    assert set(turn["all"]) == {"count", "min", "p50", "p90", "p95", "p99", "max"}
    assert turn["all"]["count"] == 2 and turn["gate"]["count"] == 2
    assert data["stages"]["resident_ring"]["all"]["count"] == 0
    assert set(data["errors"]) == {"error", "failed", "playout_underrun", "unanswered_turns"}


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "events.jsonl", one_turn("c1", 1.0))
    assert main(["--events", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 call(s)" in out
    assert any(line.startswith("turn latency") and " 600 " in line for line in out.splitlines())


PROTOTYPE_LINES = [
    ("14:20:00.000", "INFO", "CALL_STARTED", {"elapsed_seconds": 0.0}),
    ("14:20:05.100", "INFO", "SILENCE_DETECTED", {"source": "visitor", "duration_ms": 2000, "elapsed_seconds": 5.1}),
    ("14:20:05.900", "INFO", "TRANSCRIPTION_COMPLETE", {"source": "visitor", "text": "entrega", "duration_ms": 800.5}),
    ("14:20:07.000", "INFO", "INTENT_EXTRACTION_COMPLETE", {"stage": "intent_type", "duration_ms": 1100}),
    ("14:20:09.000", "INFO", "AI_PROCESSING_COMPLETE", {"response": {}, "duration_ms": 3100}),
    ("14:20:09.600", "INFO", "SYNTHESIS_COMPLETE", {"target": "visitor", "duration_ms": 600}),
    ("14:20:30.000", "INFO", "TRANSCRIPTION_COMPLETE", {"source": "resident", "text": "sim", "duration_ms": 700}),
    ("14:20:31.000", "ERROR", "ERROR", {"error_type": "amqp", "message": "no route"}),
    ("14:20:40.000", "INFO", "CALL_ENDED", {"reason": "hangup", "total_duration_ms": 40000}),
]
PROTOTYPE_LOG = "".join(
    f"2025-05-03 {time} | {level} | {name} | {json.dumps(data)}\n" for time, level, name, data in PROTOTYPE_LINES
) + "2025-05-03 14:20:40.001 | INFO | CALL_EN"


def test_prototype_call_logs_are_read_and_their_stages_mapped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "4f2a-visit.log").write_text(PROTOTYPE_LOG, encoding="utf-8")
    report = build_report(load_events(logs))
    stages = report.stages
    assert report.calls == ["4f2a-visit"]
    assert stages["endpointing"]["gate"].max == 2000
    assert stages["stt"]["gate"].max == 800.5
    assert stages["stt"]["resident"].max == 700
    assert stages["understanding"]["all"].max == 3100  # the per-turn total, not its LLM steps too
    assert stages["llm_intent_type"]["all"].max == 1100
    assert stages["tts_first_audio"]["all"].max == 600
    assert stages["call"]["all"].max == 40000
    assert report.errors.errors == {"amqp: no route": 1}


@pytest.mark.parametrize(
    ("name", "stage"),
    [("vad_silence", "endpointing"), ("stt", "stt"), ("llm_intent", "understanding"), ("llm_name", "understanding"),
     ("llm_apartment", "understanding"), ("tts", "tts_first_audio"), ("amqp_call", "resident_ring")],
)
def test_prototype_stage_names_in_a_json_log(tmp_path: Path, name: str, stage: str) -> None:
    assert PROTOTYPE_STAGES[name] == stage
    lines = [{"call_id": "p1", "stage": name, "duration_ms": 250.0}, {"call_id": "p1", "event": name, "ms": 750}]
    path = write(tmp_path / "proto.jsonl", lines)
    stats = build_report(load_events(path)).stages[stage]["all"]
    assert (stats.count, stats.min, stats.max) == (2, 250, 750)


def test_understanding_adds_the_backend_and_the_dialog_and_other_timings_are_not_stages() -> None:
    events = [
        ev("c", "bridged", 0.1, ms=12.0),
        ev("c", "media_connected", 0.2, ms=15.0),
        ev("c", "understood", 1.0, ms=40.0, intent="entrega"),
        ev("c", "dialog_turn", 1.0, input="UtteranceHeard", ms=2.0),
        ev("c", "dialog_turn", 2.0, input="PlaybackFinished", ms=1.0),
        ev("c", "dialog_turn", 3.0, input="UtteranceHeard", ms=3.0),  # rules only, no backend event
    ]
    report = build_report(events)
    assert sorted(s.ms for s in collect(events) if s.stage == "understanding") == [3.0, 42.0]
    assert set(report.stages) == set(STAGES)


def test_a_resident_nobody_answers_is_not_ring_time_to_answer() -> None:
    events = [
        ev("c", "resident_dial", 1.0, leg="resident", endpoint="PJSIP/101", attempt=1),
        ev("c", "resident_unavailable", 31.0, leg="resident", reason="no_answer", ring_ms=30000),
        ev("c", "resident_dial", 32.0, leg="resident", endpoint="PJSIP/101", attempt=2),
        ev("c", "resident_answered", 35.0, leg="resident"),
    ]
    stages = build_report(events).stages
    assert stages["resident_no_answer"]["resident"].max == 30000
    assert stages["resident_ring"]["resident"].max == pytest.approx(3000)
