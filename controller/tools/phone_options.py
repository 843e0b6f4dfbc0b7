"""What the test phone is asked to do (its steps and options) and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from controller.tools.phone_audio import RATE

CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class Say:
    name: str
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


@dataclass(frozen=True, slots=True)
class Press:
    digits: str


Step = Say | Press


@dataclass(frozen=True)
class PhoneOptions:
    steps: tuple[Step, ...] = ()
    listen: tuple[str, int] = ("127.0.0.1", 0)
    advertise: str = ""
    """Host Asterisk dials to reach the phone; by default the listen host (loopback for a wildcard)."""
    via: str = "local"
    context: str = "from-gate"
    extension: str = "s"
    caller_id: str = "Telefone de teste <2000>"
    gap_s: float = 8.0
    max_seconds: float = 60.0
    linger_s: float | None = None
    """Hang up this long after the last step; None keeps listening until max_seconds."""
    record: Path | None = None


@dataclass
class PhoneReport:
    connected: bool = False
    ended_by: str = ""
    seconds: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0
    steps: list[tuple[float, str]] = field(default_factory=list)
    """(seconds since the phone started, what it did)."""
