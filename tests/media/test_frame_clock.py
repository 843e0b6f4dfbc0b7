"""The shared 20 ms frame clock on virtual time: one pass per slot, a fixed order, isolation between legs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest

from audiosocket.frame_clock import FRAME_S, FrameClock
from audiosocket.playout import PlaybackResult, Playout
from audiosocket.timerfd import open_timerfd

from .fakes import FakeClock, settle
from .test_playout import Wire, pcm_ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_clock(clock: FakeClock) -> FrameClock:
    return FrameClock(clock=clock, sleep=clock.sleep)


async def test_one_pass_per_slot_calls_every_listener_in_the_order_added(clock: FakeClock) -> None:
    frames = make_clock(clock)
    calls: list[tuple[str, float]] = []

    def recorder(name: str) -> Callable[[], None]:
        return lambda: calls.append((name, clock()))

    for name in "abc":
        frames.add(recorder(name))
    await clock.advance(0.1)
    names = [name for name, _ in calls]
    assert names == list("abc") * (len(names) // 3) and len(names) >= 15
    times = sorted({t for _, t in calls})
    assert [round(b - a, 6) for a, b in zip(times, times[1:], strict=False)] == [FRAME_S] * (len(times) - 1)
    assert frames.stats.passes == len(times)
    await frames.aclose()


async def test_a_failing_listener_is_removed_and_the_others_keep_their_slots(clock: FakeClock) -> None:
    frames = make_clock(clock)
    good: list[float] = []

    def bad() -> None:
        raise RuntimeError("broken leg")

    frames.add(bad)
    frames.add(lambda: good.append(clock()))
    await clock.advance(0.2)
    assert frames.stats.listener_errors == 1 and len(frames) == 1
    assert len(good) >= 10
    await frames.aclose()


async def test_the_clock_stops_without_listeners_and_a_quick_return_keeps_the_grid(clock: FakeClock) -> None:
    frames = make_clock(clock)
    times: list[float] = []

    def listener() -> None:
        times.append(clock())

    frames.add(listener)
    await clock.advance(0.05)
    frames.remove(listener)
    await settle()
    assert frames._task is not None and frames._task.done()  # nothing left sleeping on the loop
    last = times[-1]
    await clock.advance(0.005)  # back within half a frame of the next slot: the old grid goes on
    frames.add(listener)
    await clock.advance(0.05)
    assert times[len(times) - 3] == pytest.approx(last + FRAME_S)
    frames.remove(listener)
    await clock.advance(1.0)  # after a gap the grid restarts at once
    frames.add(listener)
    await settle()
    assert times[-1] == pytest.approx(clock())
    await frames.aclose()


async def test_remove_then_add_in_the_same_step_keeps_ticking(clock: FakeClock) -> None:
    frames = make_clock(clock)
    times: list[float] = []

    def listener() -> None:
        times.append(clock())

    frames.add(listener)
    await clock.advance(0.03)
    frames.remove(listener)
    frames.add(listener)
    before = len(times)
    await clock.advance(0.1)
    assert len(times) - before == 5
    await frames.aclose()


async def test_legs_sharing_a_clock_write_in_the_same_pass(clock: FakeClock) -> None:
    frames = make_clock(clock)
    wires = [Wire(clock) for _ in range(3)]
    playouts = [Playout(w.write, 8000, frame_clock=frames) for w in wires]
    tasks = [asyncio.ensure_future(p.play(pcm_ms(200))) for p in playouts]
    results = await clock.run_until(asyncio.ensure_future(asyncio.gather(*tasks)))
    assert results == [PlaybackResult(200, False)] * 3
    assert wires[0].times == wires[1].times == wires[2].times
    assert set(wires[0].intervals()) == {FRAME_S}


async def test_a_leg_whose_write_fails_stops_alone(clock: FakeClock) -> None:
    frames = make_clock(clock)
    good = Wire(clock)
    broken_writes = 0

    def broken(data: bytes) -> None:
        nonlocal broken_writes
        broken_writes += 1
        if broken_writes > 3:
            raise ConnectionResetError("peer gone")

    bad_leg = Playout(broken, 8000, frame_clock=frames)
    good_leg = Playout(good.write, 8000, frame_clock=frames)
    bad = asyncio.ensure_future(bad_leg.play(pcm_ms(400)))
    ok = asyncio.ensure_future(good_leg.play(pcm_ms(400)))
    assert await clock.run_until(bad) == PlaybackResult(60, True)
    assert await clock.run_until(ok) == PlaybackResult(400, False)
    assert set(good.intervals()) == {FRAME_S}
    assert await bad_leg.play(pcm_ms(100)) == PlaybackResult(0, True)  # the broken leg plays nothing more
    assert frames.stats.listener_errors == 0  # handled by the playout, not by the clock


async def test_cancelling_the_caller_removes_its_prompt_only(clock: FakeClock) -> None:
    wire = Wire(clock)
    playout = Playout(wire.write, 8000, clock=clock, sleep=clock.sleep)
    first = asyncio.ensure_future(playout.play(pcm_ms(400)))
    second = asyncio.ensure_future(playout.play(pcm_ms(100, value=-5)))
    await clock.advance(0.1)
    first.cancel()
    assert await clock.run_until(second) == PlaybackResult(100, False)
    assert first.cancelled()
    assert [f.pcm[:2] for f in wire.frames[-5:]] == [pcm_ms(20, value=-5)[:2]] * 5
    assert set(wire.intervals()) == {FRAME_S}


async def test_an_underrun_with_idle_silence_keeps_every_slot_filled(clock: FakeClock) -> None:
    wire = Wire(clock)
    playout = Playout(wire.write, 8000, clock=clock, sleep=clock.sleep)
    idle = asyncio.ensure_future(playout.keep_alive())

    async def slow() -> AsyncIterator[bytes]:
        yield pcm_ms(100)
        await clock.sleep(0.3)
        yield pcm_ms(100)

    result = await clock.run_until(asyncio.ensure_future(playout.play_stream(slow())))
    assert result == PlaybackResult(200, False, 1)
    assert set(wire.intervals()) == {FRAME_S}  # silence in the gap, not a hole
    assert playout.stats.idle_frames >= 10
    idle.cancel()
    await settle()
    assert len(playout.frame_clock) == 0


async def test_workers_run_after_every_writer_in_each_slot(clock: FakeClock) -> None:
    frames = make_clock(clock)
    order: list[str] = []
    frames.add(lambda: order.append("work"), after_writes=True)  # added first, still called last
    frames.add(lambda: order.append("a"))
    frames.add(lambda: order.append("b"))
    await clock.advance(0.05)
    assert len(order) >= 6 and order == ["a", "b", "work"] * (len(order) // 3)
    await frames.aclose()


# ------------------------------------------------------------------------ the kernel timer (real time, Linux)
async def test_timerfd_counts_the_slots_nobody_served() -> None:
    timer = open_timerfd()
    assert timer is not None
    try:
        timer.arm(time.monotonic() - 0.1, FRAME_S)  # 100 ms in the past: 0, 20, ..., 100 ms have expired
        assert 6 <= timer.expirations() <= 7
        assert timer.expirations() == 0  # read: nothing new yet
        timer.disarm()
    finally:
        timer.close()


async def test_the_default_clock_runs_on_a_kernel_timer_and_closes_it() -> None:
    frames = FrameClock()
    order: list[str] = []
    frames.add(lambda: order.append("write"))
    frames.add(lambda: order.append("work"), after_writes=True)
    await asyncio.sleep(0.2)
    assert frames.kernel_timer
    fd = frames._timer.fd if frames._timer is not None else -1
    writes = order.count("write")
    assert writes >= 3 and frames.stats.passes == writes
    assert order[0] == "write" and "work" in order  # inbound work follows the writes, in slices
    await frames.aclose()
    assert not frames.kernel_timer
    with pytest.raises(OSError):
        os.fstat(fd)  # the timer's descriptor was closed


async def test_a_stalled_loop_skips_the_missed_slots_on_the_kernel_timer() -> None:
    frames = FrameClock()
    times: list[float] = []
    frames.add(lambda: times.append(time.monotonic()))
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # noqa: ASYNC251 -- on purpose: the event loop is blocked for 15 slots
    stalled_at = len(times)
    await asyncio.sleep(0.1)
    await frames.aclose()
    assert frames.stats.reanchors == 1
    after = times[stalled_at:]
    assert len(after) >= 2 and after[1] - after[0] > FRAME_S / 2  # one frame, not a burst of 15
