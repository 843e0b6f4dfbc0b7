"""What a caller hears, timed on the caller's side: prompts, turn latency, barge-in cut and pacing.

Pure functions over the test phone's frame log (`Heard`: each 20 ms frame Asterisk sent the phone, with its
arrival time and whether it was voiced). A *prompt* is a run of voiced frames with no silence of `hold_s` or more
inside (Kokoro's pauses between clauses are shorter; the dialog's turns are longer apart). Times are monotonic
seconds; a frame that arrives at `t` is heard from `t` to `t + FRAME_S`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.tools.phone_audio import FRAME_S, dbfs

VOICED_DBFS = -45.0  # the test bed's noise and our idle frames are far below; speech far above
HOLD_S = 0.6
ON_TIME_S = 0.010  # a frame within 10 ms of the 20 ms beat counts as on time


def voiced(pcm: bytes, threshold_dbfs: float = VOICED_DBFS) -> bool:
    return dbfs(pcm) > threshold_dbfs


@dataclass(frozen=True, slots=True)
class Heard:
    at: float
    voiced: bool


@dataclass(frozen=True, slots=True)
class Prompt:
    start: float  # arrival of its first voiced frame
    end: float  # end of its last voiced frame
    arrivals: tuple[float, ...]  # every frame that arrived from start to the last voiced one

    @property
    def seconds(self) -> float:
        return self.end - self.start


def prompts(frames: Sequence[Heard], hold_s: float = HOLD_S) -> list[Prompt]:
    """The prompts in arrival order; silence shorter than `hold_s` stays inside a prompt."""
    found: list[Prompt] = []
    arrivals: list[float] = []
    last_voiced = -1  # index in `arrivals` of the current prompt's last voiced frame
    for frame in frames:
        if arrivals and frame.at - arrivals[last_voiced] - FRAME_S >= hold_s:
            found.append(_prompt(arrivals[: last_voiced + 1]))
            arrivals, last_voiced = [], -1
        if frame.voiced:
            arrivals.append(frame.at)
            last_voiced = len(arrivals) - 1
        elif arrivals:
            arrivals.append(frame.at)
    if arrivals:
        found.append(_prompt(arrivals[: last_voiced + 1]))
    return found


def _prompt(arrivals: list[float]) -> Prompt:
    return Prompt(arrivals[0], arrivals[-1] + FRAME_S, tuple(arrivals))


def speech_span(sent: Sequence[Heard]) -> tuple[float, float] | None:
    """(start, end) of what the caller said: its first voiced frame sent to the end of its last one."""
    times = [frame.at for frame in sent if frame.voiced]
    return (times[0], times[-1] + FRAME_S) if times else None


def reply_after(moment: float, heard: Sequence[Prompt]) -> Prompt | None:
    """The first prompt that starts after `moment` (the end of the caller's speech)."""
    return next((prompt for prompt in heard if prompt.start > moment), None)


def talked_over(span: tuple[float, float], heard: Sequence[Prompt]) -> list[Prompt]:
    """Prompts that started while the caller was still talking (a turn split by the caller's pauses)."""
    start, end = span
    return [prompt for prompt in heard if start < prompt.start < end]


def barge_in_cut(speech_start: float, heard: Sequence[Prompt]) -> float | None:
    """Seconds from the caller's first word to the end of the prompt it talked over (None: nothing playing)."""
    playing = next((p for p in heard if p.start < speech_start < p.end), None)
    return None if playing is None else playing.end - speech_start


@dataclass(frozen=True, slots=True)
class Pacing:
    frames: int
    on_time: float  # share of intervals within ON_TIME_S of the 20 ms beat
    delivered: float  # audio delivered / wall-clock time it took (1.0: real time)
    worst_gap_s: float  # longest interval between two frames inside the prompt


def pacing(prompt: Prompt) -> Pacing:
    arrivals = prompt.arrivals
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    wall = arrivals[-1] - arrivals[0] + FRAME_S
    return Pacing(
        frames=len(arrivals),
        on_time=sum(1 for gap in gaps if abs(gap - FRAME_S) <= ON_TIME_S) / len(gaps) if gaps else 1.0,
        delivered=len(arrivals) * FRAME_S / wall,
        worst_gap_s=max(gaps, default=FRAME_S),
    )
