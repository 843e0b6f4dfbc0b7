"""What the latency report reads: our per-call JSONL events, or the prototype's call logs, as one event shape.

The prototype (AudioSocket-Simple) wrote either JSON lines with a ``stage`` or text lines
``YYYY-MM-DD HH:MM:SS.mmm | LEVEL | NAME | {json}``; both become events like ours (``call_id``, ``leg``, ``event``,
``mono``), marked ``"source": "prototype"``, and :data:`PROTOTYPE_STAGES` maps their names to our stages.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from controller.records.call_samples import PROTOTYPE_STAGES, Event

__all__ = ["PROTOTYPE_STAGES", "Event", "load_events"]

_PROTOTYPE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) \| (\w+) \| (\w+) \| (.*)$")
_PROTOTYPE_LEGS = {"visitor": "gate", "visitante": "gate", "resident": "resident", "morador": "resident"}


def load_events(path: Path) -> list[Event]:
    """Events from our JSONL file, a prototype call log, or a directory of either (``*.jsonl``, ``*.log``).

    Lines that do not parse (the last one of a crashed writer, say) are skipped.
    """
    if path.is_dir():
        files = sorted([*path.glob("*.jsonl"), *path.glob("*.log")])
        return [event for file in files for event in load_events(file)]
    events = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            event = _parse_line(line.strip(), default_call=path.stem)
            if event is not None:
                events.append(event)
    return events


def _parse_line(line: str, *, default_call: str) -> Event | None:
    if not line:
        return None
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(record, dict):
            return None
        if "event" not in record and "stage" in record:
            record["event"] = record["stage"]
            record["source"] = "prototype"
        if "event" not in record:
            return None
        record.setdefault("call_id", default_call)
        record.setdefault("leg", "gate")
        return record
    match = _PROTOTYPE_LINE.match(line)
    if match is None:
        return None
    stamp, _level, name, payload = match.groups()
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        data = {"message": payload}
    if not isinstance(data, dict):
        data = {"message": payload}
    source = str(data.get("source") or data.get("target") or data.get("role") or "visitor").lower()
    mono = data.get("elapsed_seconds")
    if not isinstance(mono, int | float):
        mono = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return {
        **data,
        "call_id": str(data.get("call_id") or default_call),
        "leg": _PROTOTYPE_LEGS.get(source, source),
        "event": name,
        "mono": float(mono),
        "source": "prototype",
    }
