"""One 20 ms clock for every call leg in the process: a single wake-up writes each leg's next frame.

Asterisk plays AudioSocket audio as it arrives, so we are the clock, and the caller hears any unevenness in
our write times. The first design gave each leg its own timer task; at 200 legs on 2 cores those 200 wake-ups
per 20 ms slot were served one after another in a varying order, and a leg's frame landed up to 7 ms off its
grid (p99; ``docs/media.md``). Here one wake-up per slot calls every listener in a fixed order, so a leg's
position in the pass, hence its offset from the grid, stays the same from slot to slot.

Each slot has two phases. First the writers (each leg's playout) write one frame each. Then the workers (each
leg's inbound processing: VAD, endpointing) run, WORK_DELAY_S later, in slices, and never so close to the next
slot that they could delay its writes (the constants below say why). With all of this, 200 legs on 2 cores
stay within 1.05 ms of their grid (p99, as Asterisk's side receives them; ``bench/bench_media.py``).

Deadlines are absolute (``t0 + n * 20 ms``, never "write, then sleep 20 ms", which drifts). A pass that wakes
late by less than `max_lag` is followed at once by the slots it owes (the mean rate stays exact); a stall longer
than that (the event loop was blocked) sends one frame and restarts the grid from it instead of bursting frames
at the far end.

The slots come from a Linux timerfd watched by the event loop (``audiosocket/timerfd.py``): ``asyncio.sleep``
wakes through ``epoll_wait``, whose millisecond timeout adds 0-1 ms of jitter to every slot. Where there is no
timerfd, or when a test injects `clock`/`sleep` to run on virtual time, a task sleeps on the loop instead.

The clock runs only while somebody listens. When the last listener leaves it stops, and a listener that comes
back within half a frame of the next slot continues the old grid (back-to-back prompts never come closer than
20 ms); after a longer gap the grid restarts at once (a prompt on a quiet leg does not wait for a slot).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from audiosocket.timerfd import TimerFd, open_timerfd

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_S = FRAME_MS / 1000
# A slot missed by more than this (the loop stalled) restarts the grid instead of sending a burst of frames.
MAX_LAG_S = 0.1
# Inbound work (VAD, endpointing) starts this long after the frames are written, and yields to the loop after
# each WORK_SLICE_S of it. Asterisk on the same host reads our frames on the CPU that wrote them (the kernel
# wakes the reader there): working straight after the writes delayed that read, and hence every frame as the
# far end saw it, by up to the whole work time (grid p99 0.05 ms as sent but 0.46 ms as received at one leg,
# 3.8 ms at 200). In slices, the next slot's writes never wait behind more than one slice.
WORK_DELAY_S = 0.002
WORK_SLICE_S = 0.001
# ... and none starts this close to the next slot: those writes go first.
WORK_GUARD_S = 0.001

Listener = Callable[[], None]


@dataclass(slots=True)
class FrameClockStats:
    passes: int = 0
    reanchors: int = 0
    listener_errors: int = 0


class FrameClock:
    """Calls every listener once per 20 ms slot, in the order they were added, from one place.

    Listeners are synchronous and quick (take a frame, write it); one that raises is logged and removed, the
    others still get their frame. Pass another `clock` and `sleep` to run on virtual time (tests); on the real
    ones the slots come from a kernel timer when the platform has one (``use_timerfd=False`` forces the
    loop-sleep timer).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_lag: float = MAX_LAG_S,
        use_timerfd: bool | None = None,
    ) -> None:
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        real_time = self._clock is time.monotonic and self._sleep is asyncio.sleep
        self._kernel = use_timerfd if use_timerfd is not None else real_time
        self._max_lag = max_lag
        self._listeners: dict[Listener, None] = {}  # insertion-ordered set: a fixed order every slot
        self._workers: dict[Listener, None] = {}  # called after every listener has written
        self._task: asyncio.Task[None] | None = None
        self._timer: TimerFd | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0  # kernel timer: the oldest slot not yet served
        self._in_pass = False
        self._working = False
        self._next_deadline: float | None = None
        self.stats = FrameClockStats()

    def __len__(self) -> int:
        return len(self._listeners) + len(self._workers)

    @property
    def kernel_timer(self) -> bool:
        """True while slots come from a timerfd (False: loop sleeps, or not running)."""
        return self._timer is not None

    def add(self, listener: Listener, *, after_writes: bool = False) -> None:
        """Start calling `listener` every slot (from the next slot on; at once if the clock was stopped).

        ``after_writes=True`` listeners (inbound audio processing: VAD, endpointing) are called once every
        plain listener has written its frame, so their work never delays a frame."""
        group = self._workers if after_writes else self._listeners
        if listener in group:
            return
        group[listener] = None
        if self._timer is not None:
            return
        task = self._task
        if task is None or task.done() or task.cancelling():  # cancelling: the last listener just left
            if not (self._kernel and self._start_timer()):
                self._task = asyncio.get_running_loop().create_task(self._run(), name="frame-clock")

    def remove(self, listener: Listener) -> None:
        self._listeners.pop(listener, None)
        self._workers.pop(listener, None)
        if not self and not self._in_pass:
            self._stop()

    async def aclose(self) -> None:
        self._listeners.clear()
        self._workers.clear()
        self._stop()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _stop(self) -> None:
        if self._timer is not None:
            self._stop_timer()
        elif self._task is not None and not self._task.done():
            self._task.cancel()  # it sleeps until the next slot: nobody needs that slot any more

    def _start_deadline(self) -> float:
        now = self._clock()
        if self._next_deadline is not None and now < self._next_deadline + FRAME_S / 2:
            return self._next_deadline
        return now

    # ------------------------------------------------------------------------------- kernel timer (timerfd)
    def _start_timer(self) -> bool:
        timer = open_timerfd()
        if timer is None:
            self._kernel = False
            return False
        self._deadline = self._start_deadline()
        timer.arm(self._deadline, FRAME_S)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(timer.fd, self._on_expired)
        self._timer = timer
        return True

    def _stop_timer(self) -> None:
        self._working = False
        timer, self._timer = self._timer, None
        if timer is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(timer.fd)
        timer.close()
        self._next_deadline = self._deadline

    def _on_expired(self) -> None:
        if self._timer is None:
            return
        expired = self._timer.expirations()
        if not expired:
            return
        now = self._clock()
        next_deadline = self._deadline + expired * FRAME_S
        passes = expired
        if now - self._deadline > self._max_lag:
            # The loop stalled: one frame now and the grid restarts from it, rather than a burst of the missed.
            self.stats.reanchors += 1
            passes = 1
            next_deadline = now + FRAME_S
            self._timer.arm(next_deadline, FRAME_S)
        for _ in range(passes):
            self._pass()
            if not self:
                break
        self._deadline = next_deadline
        if self._workers and not self._working and self._loop is not None:
            self._working = True  # a round still running when the next slot comes covers it too
            self._loop.call_later(WORK_DELAY_S, self._work_slice, list(self._workers), 0)
        if not self:
            self._stop_timer()

    # ------------------------------------------------------------------------------- loop timer (a task)
    async def _run(self) -> None:
        deadline = self._start_deadline()
        try:
            while self:
                delay = deadline - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                now = self._clock()
                if now - deadline > self._max_lag:
                    self.stats.reanchors += 1
                    deadline = now
                self._pass()
                self._work(list(self._workers))  # virtual time: no other process to make room for
                deadline += FRAME_S
        finally:
            self._next_deadline = deadline

    def _pass(self) -> None:
        """Every writer, in order."""
        self.stats.passes += 1
        self._in_pass = True
        try:
            for listener in list(self._listeners):
                self._call(self._listeners, listener)
        finally:
            self._in_pass = False

    def _work(self, workers: list[Listener]) -> None:
        for worker in workers:
            self._call(self._workers, worker)

    def _work_slice(self, workers: list[Listener], start: int) -> None:
        """Workers from `start` on, WORK_SLICE_S at a time with the loop running in between; the rest waits
        for the next slot's writes if that slot is less than WORK_GUARD_S away."""
        loop = self._loop
        assert loop is not None  # scheduled by _on_expired, which runs on this loop
        slice_end = self._clock() + WORK_SLICE_S
        for index in range(start, len(workers)):
            now = self._clock()
            if self._timer is not None and now > self._deadline - WORK_GUARD_S:
                loop.call_later(self._deadline + WORK_DELAY_S - now, self._work_slice, workers, index)
                return
            if index > start and now > slice_end:
                loop.call_soon(self._work_slice, workers, index)
                return
            self._call(self._workers, workers[index])
        self._working = False

    def _call(self, group: dict[Listener, None], listener: Listener) -> None:
        if listener not in group:
            return  # removed since the pass began
        try:
            listener()
        except Exception:
            self.stats.listener_errors += 1
            group.pop(listener, None)
            log.exception("frame clock listener %r failed; removed", listener)
