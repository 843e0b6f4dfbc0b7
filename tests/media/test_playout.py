"""Paced playout on virtual time: the grid, the queue, barge-in, protected prompts, streaming, underruns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from audiosocket.playout import FRAME_S, PlaybackResult, Playout
from audiosocket.protocol import Audio, Decoder

from .fakes import FakeClock, RecordingSink


class Wire:
    """Collects what Playout writes, with the virtual time of each write."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.times: list[float] = []
        self.frames: list[Audio] = []
        self._decoder = Decoder()

    def write(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            assert isinstance(frame, Audio)
            self.times.append(self.clock())
            self.frames.append(frame)

    def intervals(self) -> list[float]:
        return [round(b - a, 6) for a, b in zip(self.times, self.times[1:], strict=False)]


def pcm_ms(ms: int, rate: int = 8000, value: int = 1000) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (rate * ms // 1000)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wire(clock: FakeClock) -> Wire:
    return Wire(clock)


def make(wire: Wire, clock: FakeClock, rate: int = 8000, sink: RecordingSink | None = None) -> Playout:
    return Playout(wire.write, rate, clock=clock, sleep=clock.sleep, events=sink, call_id="c1", leg="gate")


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_frames_are_written_on_a_20ms_grid(clock: FakeClock, wire: Wire, rate: int) -> None:
    playout = make(wire, clock, rate)
    result = await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(1000, rate))))
    assert result == PlaybackResult(1000, False)
    assert len(wire.frames) == 50
    assert {len(f.pcm) for f in wire.frames} == {rate // 50 * 2}
    assert set(wire.intervals()) == {FRAME_S}


async def test_the_tail_is_zero_padded_and_played_ms_counts_real_audio(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    result = await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(50))))
    assert result.played_ms == 50
    assert len(wire.frames) == 3
    assert wire.frames[-1].pcm[160:] == bytes(160)


async def test_late_wakeups_do_not_accumulate_into_drift(clock: FakeClock, wire: Wire) -> None:
    async def late_sleep(delay: float) -> None:
        await clock.sleep(delay + 0.007)  # every wake-up 7 ms late

    playout = Playout(wire.write, 8000, clock=clock, sleep=late_sleep)
    await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(2000))))
    start = wire.times[0]
    offsets = [t - (start + n * FRAME_S) for n, t in enumerate(wire.times)]
    assert max(offsets) <= 0.0071  # bounded by one wake-up's lateness, not growing with n
    assert (wire.times[-1] - start) / (len(wire.times) - 1) == pytest.approx(FRAME_S, abs=1e-4)


async def test_prototype_style_sleep_after_write_drifts(clock: FakeClock) -> None:
    """What the absolute grid avoids: sleeping 20 ms after a 1 ms write makes every interval 21 ms."""
    times = []
    for _ in range(100):
        clock.now += 0.001  # the write + drain
        times.append(clock.now)
        clock.now += 0.020
    assert times[-1] - times[0] == pytest.approx(99 * 0.021)


async def test_a_stalled_loop_restarts_the_grid_instead_of_bursting(clock: FakeClock, wire: Wire) -> None:
    stalled = False

    async def stalling_sleep(delay: float) -> None:
        nonlocal stalled
        if len(wire.frames) == 10 and not stalled:
            stalled = True
            await clock.sleep(delay + 0.5)
        else:
            await clock.sleep(delay)

    playout = Playout(wire.write, 8000, clock=clock, sleep=stalling_sleep)
    await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(600))))
    intervals = wire.intervals()
    assert min(intervals) >= FRAME_S - 1e-9  # no burst after the stall
    assert playout.frame_clock.stats.reanchors == 1


async def test_interrupt_stops_at_the_next_frame(clock: FakeClock, wire: Wire) -> None:
    sink = RecordingSink()
    playout = make(wire, clock, sink=sink)
    task = asyncio.ensure_future(playout.play(pcm_ms(3000)))
    await clock.advance(0.5)
    assert playout.playing and playout.interruptible
    written = len(wire.frames)
    assert playout.interrupt() is True
    result = await clock.run_until(task)
    assert result.interrupted
    assert len(wire.frames) - written <= 1
    assert result.played_ms == len(wire.frames) * 20
    assert not playout.playing
    assert [e["event"] for e in sink.events] == ["playout_start", "playout_interrupted"]


async def test_barge_in_cannot_interrupt_a_protected_prompt_but_stop_can(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    task = asyncio.ensure_future(playout.play(pcm_ms(1000), protected=True))
    await clock.advance(0.2)
    assert playout.playing and not playout.interruptible
    assert playout.interrupt() is False
    await clock.advance(0.2)
    assert not task.done()
    assert playout.stop() is True
    result = await clock.run_until(task)
    assert result.interrupted and 380 <= result.played_ms <= 440


async def test_protected_prompt_plays_in_full_despite_barge_in(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    task = asyncio.ensure_future(playout.play(pcm_ms(400), protected=True))
    for _ in range(10):
        await clock.advance(0.03)
        playout.interrupt()
    assert await clock.run_until(task) == PlaybackResult(400, False)


async def test_prompts_play_one_after_another_on_one_grid(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    first = asyncio.ensure_future(playout.play(pcm_ms(200)))
    second = asyncio.ensure_future(playout.play(pcm_ms(200, value=-5)))
    await clock.run_until(asyncio.ensure_future(asyncio.gather(first, second)))
    assert first.result() == second.result() == PlaybackResult(200, False)
    assert set(wire.intervals()) == {FRAME_S}
    assert [f.pcm[:2] for f in wire.frames] == [pcm_ms(20)[:2]] * 10 + [pcm_ms(20, value=-5)[:2]] * 10


async def test_a_later_prompt_starts_a_new_grid(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(100))))
    await clock.advance(1.003)
    await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(100))))
    assert wire.intervals()[4] == pytest.approx(1.003, abs=1e-3)
    assert wire.intervals()[5:] == [FRAME_S] * 4


async def test_interrupt_flushes_queued_prompts_but_keeps_protected_ones(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    tasks = [
        asyncio.ensure_future(playout.play(pcm_ms(500))),
        asyncio.ensure_future(playout.play(pcm_ms(500))),
        asyncio.ensure_future(playout.play(pcm_ms(100), protected=True)),
    ]
    await clock.advance(0.1)
    playout.interrupt()
    results = await clock.run_until(asyncio.ensure_future(asyncio.gather(*tasks)))
    assert results[0].interrupted and results[0].played_ms <= 140
    assert results[1] == PlaybackResult(0, True)
    assert results[2] == PlaybackResult(100, False)


async def chunks(clock: FakeClock, sizes_and_gaps: list[tuple[int, float]]) -> AsyncIterator[bytes]:
    for size_ms, gap in sizes_and_gaps:
        if gap:
            await clock.sleep(gap)
        yield pcm_ms(size_ms)


async def test_stream_plays_chunks_as_they_arrive_without_underrun(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    source = chunks(clock, [(60, 0.0)] + [(50, 0.04)] * 10)  # faster than real time, odd sizes
    result = await clock.run_until(asyncio.ensure_future(playout.play_stream(source)))
    assert result == PlaybackResult(560, False, 0)
    assert set(wire.intervals()) == {FRAME_S}


async def test_stream_slower_than_real_time_counts_underruns(clock: FakeClock, wire: Wire) -> None:
    sink = RecordingSink()
    playout = make(wire, clock, sink=sink)
    source = chunks(clock, [(100, 0.0), (100, 0.25), (100, 0.25)])
    result = await clock.run_until(asyncio.ensure_future(playout.play_stream(source)))
    assert result.played_ms == 300 and not result.interrupted
    assert result.underruns == 2 == playout.stats.underruns
    assert len(sink.named("playout_underrun")) == 2
    assert len(wire.frames) == 15


async def test_first_chunk_latency_is_not_an_underrun(clock: FakeClock, wire: Wire) -> None:
    playout = make(wire, clock)
    result = await clock.run_until(asyncio.ensure_future(playout.play_stream(chunks(clock, [(100, 0.3)]))))
    assert result == PlaybackResult(100, False, 0)


async def test_interrupting_a_stream_closes_the_synthesiser(clock: FakeClock, wire: Wire) -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield pcm_ms(20)
                await clock.sleep(0.02)
        finally:
            closed.set()

    playout = make(wire, clock)
    task = asyncio.ensure_future(playout.play_stream(endless()))
    await clock.advance(0.3)
    playout.interrupt()
    result = await clock.run_until(task)
    assert result.interrupted and closed.is_set()


async def test_a_failing_synthesiser_plays_what_it_gave_then_raises(clock: FakeClock, wire: Wire) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield pcm_ms(100)
        raise RuntimeError("tts down")

    playout = make(wire, clock)
    task = asyncio.ensure_future(playout.play_stream(broken()))
    with pytest.raises(RuntimeError, match="tts down"):
        await clock.run_until(task)
    assert len(wire.frames) == 5


async def test_events_report_start_and_stop(clock: FakeClock, wire: Wire) -> None:
    sink = RecordingSink()
    playout = make(wire, clock, sink=sink)
    await clock.run_until(asyncio.ensure_future(playout.play(pcm_ms(100), protected=True)))
    assert sink.events == [
        {"call_id": "c1", "leg": "gate", "event": "playout_start", "protected": True, "queued_ms": 100},
        {"call_id": "c1", "leg": "gate", "event": "playout_stop", "played_ms": 100, "protected": True, "underruns": 0},
    ]


async def test_real_clock_smoke() -> None:
    """The default clock and sleep work (structure only, no timing assertion)."""
    frames: list[bytes] = []
    result = await Playout(frames.append, 8000).play(pcm_ms(60))
    assert result == PlaybackResult(60, False) and len(frames) == 3


async def test_back_to_back_prompts_with_late_wakeups_stay_on_one_grid(clock: FakeClock, wire: Wire) -> None:
    async def late_sleep(delay: float) -> None:
        await clock.sleep(delay + 0.003)

    playout = Playout(wire.write, 8000, clock=clock, sleep=late_sleep)

    async def prompts() -> None:
        for _ in range(20):
            await playout.play(pcm_ms(100))

    await clock.run_until(asyncio.ensure_future(prompts()))
    start = wire.times[0]
    offsets = [t - (start + n * FRAME_S) for n, t in enumerate(wire.times)]
    assert len(wire.times) == 100 and max(offsets) <= 0.0031 and playout.frame_clock.stats.reanchors == 0
