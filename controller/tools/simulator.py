"""Drives simulated phones in the test bed's dialplan (tests/asterisk/extensions-test.conf).

Used by the demo and the integration tests: a simulated visitor is a Local channel whose `;2` half runs the
`visitor-sim` context (says a committed WAV, records what it hears) and whose `;1` half enters `from-gate`,
exactly as a call from the gate intercom would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.ari.client import AriClient

RECORDINGS = Path("var/spool/asterisk/portaria")


@dataclass(frozen=True, slots=True)
class SimulatedVisitor:
    utterance: str
    """Name of a WAV in tests/fixtures/audio (without .wav), or "none" to stay silent."""
    recording_id: str
    lead_s: int = 0
    """Seconds of (noise) listening before speaking."""
    dtmf: str = ""
    """Digits pressed after speaking."""

    @property
    def endpoint(self) -> str:
        extension = f"{self.utterance}+{self.recording_id}+{self.lead_s}"
        if self.dtmf:
            extension += f"+{self.dtmf}"
        return f"Local/{extension}@visitor-sim/n"


async def call_gate(
    ari: AriClient,
    visitor: SimulatedVisitor,
    *,
    caller_id: str = "Interfone <1000>",
    context: str = "from-gate",
    endpoint: str | None = None,
) -> dict[str, Any]:
    """Start a gate call from a simulated visitor; returns the channel that enters our Stasis app.

    `context` is where the call enters (the benchmark's ``from-gate-bench`` uses its own Stasis app);
    `endpoint` replaces the visitor's own (the benchmark's multi-utterance ``visitor-bench`` phone).
    """
    channel: dict[str, Any] = await ari.post(
        "channels",
        endpoint=endpoint or visitor.endpoint,
        extension="s",
        context=context,
        priority=1,
        callerId=caller_id,
        timeout=30,
    )
    return channel


def recording(testbed_root: Path, recording_id: str, kind: str = "heard") -> Path:
    """Path of a simulated phone's recording: kind "heard" (what it heard), "said", or "mix"."""
    return testbed_root / RECORDINGS / f"{recording_id}-{kind}.wav"
