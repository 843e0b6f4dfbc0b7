"""Fields read from typed ARI events: a hang-up's cause is there only on the events that carry one."""

from __future__ import annotations

import pytest

from controller.ari.events import hangup_cause, is_end, parse_event

CHANNEL = {"id": "gate-1", "state": "Up", "caller": {"number": "100"}}


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        ({"type": "ChannelHangupRequest", "cause": 17, "channel": CHANNEL}, 17),
        ({"type": "ChannelDestroyed", "cause": 16, "channel": CHANNEL}, 16),
        ({"type": "ChannelDestroyed", "channel": CHANNEL}, 0),
        ({"type": "StasisEnd", "channel": CHANNEL}, None),
        ({"type": "ChannelDtmfReceived", "digit": "1", "channel": CHANNEL}, None),
    ],
)
def test_a_hangup_cause_comes_only_from_events_that_carry_one(raw: dict[str, object], cause: int | None) -> None:
    event = parse_event(raw)
    assert hangup_cause(event) == cause
    assert is_end(event) == (raw["type"] != "ChannelDtmfReceived")
