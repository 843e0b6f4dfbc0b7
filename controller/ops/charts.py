"""What the charts page draws, from the per-call events (pure): turn latency p50/p95 and calls per hour over the
last `HOURS` hours, outcomes per day over the last `DAYS` days, in the zone the console shows times in.

A call is a ``stasis_start``; it counts in the hour and the day it began. Its outcome is the decision of its last
``audit_written`` (an opening that failed twice ends as ``gate_failed``), else ``transferred`` if it was handed
to the concierge (``fallback``), else ``none`` once it ended; a call still going has none yet. Latencies are the
``turn`` samples of :func:`controller.records.call_samples.collect`, placed in the hour of their reply.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from controller.records.call_samples import Event, Sample, collect, percentile

HOURS = 48
DAYS = 30
NO_DECISION = "none"


@dataclass(frozen=True, slots=True)
class LatencyBucket:
    start: datetime  # the hour's start, in the zone
    count: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class CountBucket:
    start: datetime
    count: int


@dataclass(frozen=True, slots=True)
class OutcomeBucket:
    day: date
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> calls


@dataclass(frozen=True, slots=True)
class Charts:
    latency: list[LatencyBucket]
    calls: list[CountBucket]
    outcomes: list[OutcomeBucket]

    @property
    def empty(self) -> bool:
        """Nothing at all to draw: no call and no turn in the windows."""
        return (
            not any(b.count for b in self.calls)
            and not any(b.count for b in self.latency)
            and not any(b.counts for b in self.outcomes)
        )


def moment(ts: object) -> datetime | None:
    """An event's wall time (ISO 8601; without a zone, UTC), or None when it has none that parses."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        parsed = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def hour_of(at: datetime, zone: tzinfo) -> datetime:
    return at.astimezone(zone).replace(minute=0, second=0, microsecond=0)


def last_hours(now: datetime, zone: tzinfo, count: int = HOURS) -> list[datetime]:
    """The starts of the `count` hours up to `now`'s, oldest first (stepped in UTC: a zone's jumps leave no gap)."""
    last = hour_of(now, zone).astimezone(UTC)
    return [(last - timedelta(hours=back)).astimezone(zone) for back in range(count - 1, -1, -1)]


def last_days(now: datetime, zone: tzinfo, count: int = DAYS) -> list[date]:
    today = now.astimezone(zone).date()
    return [today - timedelta(days=back) for back in range(count - 1, -1, -1)]


def turn_latency_by_hour(samples: Iterable[Sample], hours: Sequence[datetime], zone: tzinfo) -> list[LatencyBucket]:
    by_hour: dict[datetime, list[float]] = defaultdict(list)
    for sample in samples:
        at = moment(sample.ts)
        if sample.stage == "turn" and at is not None:
            by_hour[hour_of(at, zone)].append(sample.ms)
    buckets = []
    for start in hours:
        values = sorted(by_hour.get(start, ()))
        if values:
            buckets.append(LatencyBucket(start, len(values), percentile(values, 50), percentile(values, 95)))
        else:
            buckets.append(LatencyBucket(start, 0, None, None))
    return buckets


def call_starts(events: Iterable[Event]) -> dict[str, datetime]:
    """When each call began (its ``stasis_start``)."""
    starts: dict[str, datetime] = {}
    for event in events:
        at = moment(event.get("ts"))
        if event.get("event") == "stasis_start" and at is not None:
            starts.setdefault(str(event.get("call_id", "")), at)
    return starts


def call_outcomes(events: Iterable[Event]) -> dict[str, str]:
    """Each call's outcome so far; calls still going (nothing decided, not ended) are left out."""
    decided: dict[str, str] = {}
    handed: set[str] = set()
    ended: set[str] = set()
    for event in events:
        call, name = str(event.get("call_id", "")), event.get("event")
        if name == "audit_written" and event.get("decision"):
            decided[call] = str(event["decision"])
        elif name == "fallback":
            handed.add(call)
        elif name == "call_end":
            ended.add(call)
    outcomes = {call: "transferred" for call in handed}
    outcomes.update({call: NO_DECISION for call in ended - handed})
    outcomes.update(decided)
    return outcomes


def calls_by_hour(starts: dict[str, datetime], hours: Sequence[datetime], zone: tzinfo) -> list[CountBucket]:
    counted = Counter(hour_of(at, zone) for at in starts.values())
    return [CountBucket(start, counted.get(start, 0)) for start in hours]


def outcomes_by_day(
    starts: dict[str, datetime], outcomes: dict[str, str], days: Sequence[date], zone: tzinfo
) -> list[OutcomeBucket]:
    by_day: dict[date, Counter[str]] = defaultdict(Counter)
    for call, outcome in outcomes.items():
        if call in starts:
            by_day[starts[call].astimezone(zone).date()][outcome] += 1
    return [OutcomeBucket(day, dict(by_day.get(day, {}))) for day in days]


def build_charts(events: Iterable[Event], *, now: datetime, zone: tzinfo) -> Charts:
    hours, days = last_hours(now, zone), last_days(now, zone)
    window = min(hours[0], datetime.combine(days[0], datetime.min.time(), tzinfo=zone))
    recent = [e for e in events if (at := moment(e.get("ts"))) is not None and at >= window]
    starts = call_starts(recent)
    in_hours = {call: at for call, at in starts.items() if at >= hours[0]}
    return Charts(
        latency=turn_latency_by_hour(collect(recent), hours, zone),
        calls=calls_by_hour(in_hours, hours, zone),
        outcomes=outcomes_by_day(starts, call_outcomes(recent), days, zone),
    )
