"""Prometheus metrics, computed from the per-call events: no per-call or per-person labels (LGPD). A
condominium's site id is no person: the `portaria_site_*` counters repeat the outcomes by site (sites file).

:class:`CallMetrics` subscribes to the service's event log and keeps one registry of its own (no module-level
state: two services in one process, as in the tests, never mix their numbers). Values that already live
somewhere (refused AudioSocket connections, ARI reconnections) are read at scrape time through `gauges`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 8.0)
_RING_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)


class CallMetrics:
    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]] | None = None) -> None:
        """`gauges`: name -> (help, a function read at each scrape)."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.active = Gauge("portaria_calls_active", "Gate calls in progress.", registry=r)
        self.calls = Counter("portaria_calls", "Gate calls that ended.", registry=r)
        self.decisions = Counter("portaria_decisions", "Recorded decisions, by kind.", ["decision"], registry=r)
        self.turn = Histogram(
            "portaria_turn_latency_seconds",
            "End of a caller's speech (as Asterisk sent it) to the reply's playout starting.",
            ["leg"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stt = Histogram(
            "portaria_stt_seconds",
            "Speech recognition time, from when it was asked for (the early end of speech, "
            "or the turn's end) to its result.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tts = Histogram(
            "portaria_tts_first_audio_seconds",
            "Synthesis time to the first audio (phrases not already cached).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tts_cached = Counter("portaria_tts_cached", "Phrases said from the prompt cache.", registry=r)
        self.ring = Histogram(
            "portaria_resident_ring_seconds", "Resident dialled to answered.", buckets=_RING_BUCKETS, registry=r
        )
        self.underruns = Counter("portaria_playout_underruns", "Prompts that ran dry while playing.", registry=r)
        self.audit_failures = Counter("portaria_audit_failures", "Decisions that could not be recorded.", registry=r)
        self.gate_failures = Counter("portaria_gate_open_failures", "Gate opening tries that failed.", registry=r)
        self.gates = Counter("portaria_gate_openings", "Gate openings that succeeded.", registry=r)
        self.handovers = Counter(
            "portaria_handovers",
            "Visitors handed to the concierge (or sent off politely when none), by reason.",
            ["reason"],
            registry=r,
        )
        self.queued = Counter(
            "portaria_calls_queued", "Visitors who had to wait for a conversation place, by outcome.", ["outcome"],
            registry=r,
        )
        self.errors = Counter("portaria_call_errors", "Errors reported by calls, by stage.", ["stage"], registry=r)
        self.site_calls = Counter("portaria_site_calls", "Gate calls that ended, by site.", ["site"], registry=r)
        self.site_decisions = Counter(
            "portaria_site_decisions", "Recorded decisions, by site and kind.", ["site", "decision"], registry=r
        )
        self.site_openings = Counter(
            "portaria_site_gate_openings", "Gate openings that succeeded, by site.", ["site"], registry=r
        )
        self._sites: dict[str, str] = {}  # call -> its site, from its stasis_start to its call_end
        for name, (text, read) in (gauges or {}).items():
            Gauge(name, text, registry=r).set_function(read)
        self._speech_end: dict[tuple[str, str], float] = {}  # (call, leg) -> when the caller stopped talking

    def observe(self, event: dict[str, Any]) -> None:
        """One per-call event (an EventSink listener); unknown events are ignored."""
        name, call, leg = event.get("event"), str(event.get("call_id")), str(event.get("leg"))
        match name:
            case "stasis_start":
                self.active.inc()
                self._sites[call] = str(event.get("site") or "default")
            case "call_end":
                self.active.dec()
                self.calls.inc()
                self.site_calls.labels(self._sites.pop(call, "default")).inc()
                for key in [key for key in self._speech_end if key[0] == call]:
                    del self._speech_end[key]
            case "speech_end":
                delay = float(event.get("endpointing_delay_ms", 0)) / 1000
                self._speech_end[(call, leg)] = float(event["mono"]) - delay
            case "playout_start":
                ended = self._speech_end.pop((call, leg), None)
                if ended is not None:
                    self.turn.labels(leg).observe(max(0.0, float(event["mono"]) - ended))
            case "stt_done" if "latency_ms" in event:
                self.stt.observe(float(event["latency_ms"]) / 1000)
            case "tts_first_audio" if event.get("cached"):
                self.tts_cached.inc()
            case "tts_first_audio" if "latency_ms" in event:
                self.tts.observe(float(event["latency_ms"]) / 1000)
            case "queue_left":
                self.queued.labels(str(event.get("outcome", "unknown"))).inc()
            case "fallback":
                self.handovers.labels(str(event.get("reason", "unknown"))).inc()
            case "resident_answered" if event.get("ring_ms") is not None:
                self.ring.observe(float(event["ring_ms"]) / 1000)
            case "audit_written":
                self.decisions.labels(str(event.get("decision"))).inc()
                self.site_decisions.labels(self._sites.get(call, "default"), str(event.get("decision"))).inc()
            case "audit_failed":
                self.audit_failures.inc()
            case "gate_opened":
                self.gates.inc()
                self.site_openings.labels(self._sites.get(call, "default")).inc()
            case "gate_open_failed":
                self.gate_failures.inc()
            case "playout_underrun":
                self.underruns.inc()
            case "error":
                self.errors.labels(str(event.get("stage", "unknown"))).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
