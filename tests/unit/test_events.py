from __future__ import annotations

import json
from pathlib import Path

from controller.records.call_log import JsonlEventLog, read_events


def test_each_event_is_one_json_line_with_ids_and_both_clocks(tmp_path: Path) -> None:
    ticks = iter([10.0, 10.5])
    log = JsonlEventLog(tmp_path / "sub" / "events.jsonl", mono=lambda: next(ticks), wall=lambda: 1_700_000_000.0)
    log.open()
    seen: list[dict[str, object]] = []
    log.subscribe(seen.append)
    log.emit("c1", "gate", "bridged", ms=3.2)
    log.emit("c1", "resident", "answered", text="Olá, João")
    log.close()
    lines = (tmp_path / "sub" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {
        "call_id": "c1",
        "leg": "gate",
        "event": "bridged",
        "mono": 10.0,
        "ts": "2023-11-14T22:13:20.000+00:00",
        "ms": 3.2,
    }
    assert "Olá, João" in lines[1]  # pt-BR text kept readable, not \\u-escaped
    assert [e["event"] for e in seen] == ["bridged", "answered"]


def test_reading_skips_a_line_cut_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"call_id": "a", "event": "x"}\n{"call_id": "b", "ev', encoding="utf-8")
    assert [e["call_id"] for e in read_events(path)] == ["a"]


def test_an_unwritable_sink_does_not_raise_into_the_call(tmp_path: Path) -> None:
    log = JsonlEventLog(tmp_path / "events.jsonl")
    log.open()
    assert log._file is not None
    log._file.close()
    log._file = open(tmp_path / "events.jsonl", encoding="utf-8")  # read-only handle: writes fail  # noqa: SIM115
    log.emit("c", "gate", "x")
    log.emit("c", "gate", "y")
