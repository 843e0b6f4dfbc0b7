"""MediaLeg on virtual time with a fake connection: turns, early results, DTMF, barge-in, protected prompts, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from audiosocket.endpointing import EndpointingConfig
from audiosocket.media_leg import (
    EarlyUtterance,
    LegClosed,
    LegEvent,
    MediaLeg,
    SpeechResumed,
    UtteranceEnded,
    UtteranceStarted,
)
from audiosocket.playout import PlaybackResult
from audiosocket.protocol import Audio, Decoder, Dtmf
from audiosocket.vad import SileroVad
from controller.settings import load_settings
from controller.wiring import leg_config, open_leg_vad

from .fakes import FakeClock, RecordingSink, settle

RATE = 8000
LOUD = (3000).to_bytes(2, "little", signed=True) * 160
QUIET = (5).to_bytes(2, "little", signed=True) * 160


class LoudnessVad:
    """A stand-in VAD: speech is anything loud."""

    sample_rate = RATE

    def is_speech(self, pcm: bytes) -> bool:
        return max(abs(int.from_bytes(pcm[i : i + 2], "little", signed=True)) for i in range(0, len(pcm), 2)) > 500

    def reset(self) -> None:
        return None


class _Inbound:
    """What the test pushes as Asterisk would: frames handed to the leg's receiver; None closes the connection."""

    def __init__(self, connection: FakeConnection) -> None:
        self._connection = connection
        self.waiting: list[Audio | Dtmf] = []

    def put_nowait(self, item: Audio | Dtmf | None) -> None:
        if item is None:
            self._connection.closed.set()
        elif self._connection.receiver is None:
            self.waiting.append(item)
        else:
            self._connection.receiver(item)


class FakeConnection:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.inbound = _Inbound(self)
        self.receiver: Callable[[Audio | Dtmf], None] | None = None
        self.written_at: list[float] = []
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._decoder = Decoder()

    def receive(self, receiver: Callable[[Audio | Dtmf], None]) -> None:
        for item in self.inbound.waiting:
            receiver(item)
        self.inbound.waiting.clear()
        self.receiver = receiver

    def write(self, data: bytes) -> None:
        for _ in self._decoder.feed(data):
            self.written_at.append(self.clock())

    def hang_up(self, reason: str) -> None:
        self.close_reason = reason
        self.closed.set()


class Harness:
    def __init__(self, config: EndpointingConfig | None = None, barge_in: bool = True, idle: bool = False) -> None:
        self.clock = FakeClock()
        self.conn = FakeConnection(self.clock)
        self.sink = RecordingSink()
        self.leg = MediaLeg(
            self.conn,
            RATE,
            vad=LoudnessVad(),
            endpointing=config,
            barge_in=barge_in,
            idle_silence=idle,
            events=self.sink,
            call_id="call-1",
            leg="gate",
            clock=self.clock,
            sleep=self.clock.sleep,
        )
        self.got: list[LegEvent] = []
        self._collector: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self.leg.start()

        async def collect() -> None:
            async for event in self.leg:
                self.got.append(event)

        self._collector = asyncio.ensure_future(collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.leg.aclose()
        if self._collector is not None:
            self._collector.cancel()

    async def send(self, frame: bytes, ms: int) -> None:
        """Frames arrive as their 20 ms of audio ends, as from Asterisk."""
        for _ in range(ms // 20):
            await self.clock.advance(0.02)
            self.conn.inbound.put_nowait(Audio(frame, RATE))
            await settle()

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.got]


async def test_an_utterance_ends_on_wall_clock_silence_without_frames() -> None:
    async with Harness() as h:
        await h.send(LOUD, 1000)
        last_voice = h.clock.now
        await h.clock.advance(1.5)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]
        started, early, ended = h.got
        assert isinstance(started, UtteranceStarted) and isinstance(early, EarlyUtterance)
        assert isinstance(ended, UtteranceEnded)
        assert ended.duration_ms == 1000
        assert ended.at == pytest.approx(last_voice + 0.7) and ended.delay_ms == 700
        assert early.at == pytest.approx(last_voice + EndpointingConfig().early_ms / 1000) and early.pcm == ended.pcm
        assert [e["event"] for e in h.sink.events] == ["speech_start", "speech_early_end", "speech_end"]
        assert h.sink.named("speech_end")[0]["endpointing_delay_ms"] == 700


async def test_speech_resumed_after_the_early_signal() -> None:
    async with Harness() as h:
        await h.send(LOUD, 500)
        await h.clock.advance(0.4)
        await h.send(LOUD, 300)
        await h.send(QUIET, 1000)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "SpeechResumed", "EarlyUtterance", "UtteranceEnded"]
        assert isinstance(h.got[2], SpeechResumed)


async def test_silence_threshold_follows_the_config() -> None:
    async with Harness(EndpointingConfig(silence_ms=500, early_ms=0)) as h:
        await h.send(LOUD, 400)
        await h.clock.advance(0.48)
        assert h.kinds() == ["UtteranceStarted"]
        await h.clock.advance(0.03)
        assert h.kinds() == ["UtteranceStarted", "UtteranceEnded"]


def last_early(h: Harness) -> EarlyUtterance:
    early = [e for e in h.got if isinstance(e, EarlyUtterance)][-1]
    return early


async def test_a_pause_judged_complete_ends_the_turn_at_the_short_silence() -> None:
    async with Harness() as h:
        h.leg.expect_verdicts()
        await h.send(LOUD, 600)
        last_voice = h.clock.now
        await h.clock.advance(0.25)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance"]
        h.leg.judge_pause(last_early(h), True)  # "sim": what the early recognition heard answers the question
        await h.clock.advance(0.09)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance"]
        await h.clock.advance(0.02)
        ended = h.got[-1]
        assert isinstance(ended, UtteranceEnded) and ended.at == pytest.approx(last_voice + 0.35)
        assert h.sink.named("speech_end")[0]["endpointing_delay_ms"] == 350


async def test_a_leg_expecting_verdicts_waits_for_a_late_one() -> None:
    async with Harness() as h:
        h.leg.expect_verdicts()
        await h.send(LOUD, 600)
        last_voice = h.clock.now
        await h.clock.advance(0.9)  # the early recognition is slow: past silence_ms
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance"]
        h.leg.judge_pause(last_early(h), None)
        await settle()
        ended = h.got[-1]
        assert isinstance(ended, UtteranceEnded) and ended.at == pytest.approx(last_voice + 0.9)


async def test_a_pause_judged_mid_phrase_keeps_the_turn_open_past_the_silence() -> None:
    async with Harness() as h:
        h.leg.expect_verdicts()
        await h.send(LOUD, 600)
        await h.clock.advance(0.25)
        h.leg.judge_pause(last_early(h), False)  # "vim visitar a..."
        await h.clock.advance(1.0)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance"]
        await h.send(LOUD, 400)  # "... a Beatriz"
        await h.clock.advance(0.25)
        h.leg.judge_pause(last_early(h), None)
        await h.clock.advance(1.0)  # this caller pauses 1.25 s and goes on: waited for that long, and a margin
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "SpeechResumed", "EarlyUtterance"]
        await h.clock.advance(0.5)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "SpeechResumed", "EarlyUtterance", "UtteranceEnded"]
        ended = h.got[-1]
        assert isinstance(ended, UtteranceEnded) and ended.duration_ms == 600 + 1250 + 400
        assert ended.delay_ms == 1500


async def test_a_verdict_after_the_turn_ended_changes_nothing() -> None:
    async with Harness() as h:
        await h.send(LOUD, 400)
        await h.clock.advance(1.0)
        h.leg.judge_pause(last_early(h), True)
        await h.clock.advance(1.0)
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]


async def test_dtmf_frames_are_counted_not_reported() -> None:
    """Keypad digits reach the call through ARI; the copy the bridge forwards to the AudioSocket must not be a
    second report (the events log once had every digit twice)."""
    async with Harness() as h:
        for digit in "1234#":
            h.conn.inbound.put_nowait(Dtmf(digit))
        await h.send(LOUD, 400)
        await h.clock.advance(1.5)
        assert h.leg.dtmf_frames == 5
        assert h.kinds() == ["UtteranceStarted", "EarlyUtterance", "UtteranceEnded"]
        assert h.sink.named("dtmf") == []


async def test_barge_in_stops_a_prompt_within_200ms_and_keeps_the_whole_utterance() -> None:
    async with Harness() as h:
        prompt = asyncio.ensure_future(h.leg.say(bytes(RATE * 2 * 5)))
        await h.clock.advance(0.5)
        onset = h.clock.now
        await h.send(LOUD, 800)
        assert prompt.done() and prompt.result().interrupted
        assert h.conn.written_at[-1] - onset <= 0.2
        await h.clock.advance(1.0)
        ended = [e for e in h.got if isinstance(e, UtteranceEnded)]
        assert len(ended) == 1 and ended[0].duration_ms == 800 and ended[0].barged_in
        assert h.sink.named("barge_in") and h.sink.named("playout_interrupted")


async def test_short_echo_bursts_do_not_interrupt() -> None:
    async with Harness() as h:
        prompt = asyncio.ensure_future(h.leg.say(bytes(RATE * 2 * 2)))
        for _ in range(5):
            await h.send(LOUD, 80)
            await h.send(QUIET, 300)
        assert await h.clock.run_until(prompt) == PlaybackResult(2000, False)


async def test_protected_prompts_play_in_full_while_the_caller_talks() -> None:
    async with Harness() as h:
        prompt = asyncio.ensure_future(h.leg.say(bytes(RATE * 2 * 2), protected=True))
        await h.send(LOUD, 1000)
        assert await h.clock.run_until(prompt) == PlaybackResult(2000, False)
        await h.clock.advance(1.0)
        assert "UtteranceEnded" in h.kinds()
        assert not h.sink.named("barge_in")


async def test_barge_in_can_be_switched_off() -> None:
    async with Harness(barge_in=False) as h:
        prompt = asyncio.ensure_future(h.leg.say(bytes(RATE * 2)))
        await h.send(LOUD, 600)
        assert not (await h.clock.run_until(prompt)).interrupted


async def test_streamed_prompt_through_say() -> None:
    async def tts() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield bytes(800)

    async with Harness() as h:
        result = await h.clock.run_until(asyncio.ensure_future(h.leg.say(tts())))
        assert result == PlaybackResult(500, False)
        assert len(h.conn.written_at) == 25


async def test_hangup_ends_the_leg_and_stops_playout() -> None:
    async with Harness() as h:
        prompt = asyncio.ensure_future(h.leg.say(bytes(RATE * 2 * 3), protected=True))
        await h.clock.advance(0.3)
        h.conn.hang_up("peer sent hangup")
        result = await h.clock.run_until(prompt)
        assert result.interrupted
        assert isinstance(h.got[-1], LegClosed) and h.got[-1].reason == "peer sent hangup"
        assert isinstance(await h.leg.next_event(), LegClosed)
        assert h.leg.closed
        assert await h.leg.say(bytes(320)) == PlaybackResult(0, True)


async def test_frames_at_another_rate_are_ignored() -> None:
    async with Harness() as h:
        for _ in range(50):
            h.conn.inbound.put_nowait(Audio(LOUD * 2, 16000))
        await h.clock.advance(1.0)
        assert h.got == [] and h.leg.foreign_frames == 50


async def test_from_settings_builds_the_configured_leg() -> None:
    settings = load_settings(media_format="slin16", silence_ms=550, vad_engine="silero", barge_in_min_ms=100)
    clock = FakeClock()
    vad = await open_leg_vad(settings)
    leg = MediaLeg.configured(
        FakeConnection(clock), leg_config(settings), vad=vad, events=RecordingSink(), call_id="c", leg="gate"
    )
    assert leg.sample_rate == 16000
    assert isinstance(leg._vad, SileroVad)
    assert leg._endpointer.config.silence_ms == 550 and leg._endpointer.config.barge_in_min_ms == 100


async def test_idle_silence_fills_the_grid_between_prompts() -> None:
    async with Harness(idle=True) as h:
        await h.clock.advance(0.2)
        idle_before = len(h.conn.written_at)
        await h.clock.run_until(asyncio.ensure_future(h.leg.say(LOUD * 10)))
        await h.clock.advance(0.2)
        times = h.conn.written_at
        assert idle_before >= 9
        assert h.leg.playout.stats.idle_frames == len(times) - 10
        assert {round(b - a, 6) for a, b in zip(times, times[1:], strict=False)} == {0.02}
        h.conn.hang_up("gone")
        await h.clock.advance(0.1)
        written = len(h.conn.written_at)
        await h.clock.advance(0.2)
        assert len(h.conn.written_at) == written


class BrokenVad(LoudnessVad):
    def is_speech(self, pcm: bytes) -> bool:
        raise RuntimeError("onnx session died")


async def test_a_failing_vad_ends_its_leg_with_the_reason_and_spares_the_others() -> None:
    async with Harness() as h, Harness() as other:
        h.leg._vad = BrokenVad()
        await h.send(LOUD, 100)
        await other.send(LOUD, 100)
        await h.clock.advance(0.1)
        assert isinstance(h.got[-1], LegClosed) and "onnx session died" in h.got[-1].reason
        assert h.leg.closed and h.sink.named("leg_closed")[0]["reason"].startswith("media processing failed")
        await other.send(LOUD, 400)
        await other.clock.advance(1.0)
        assert "UtteranceEnded" in other.kinds() and not other.leg.closed


async def test_inbound_frames_are_processed_after_the_outbound_frame_of_the_slot() -> None:
    order: list[str] = []
    async with Harness(idle=True) as h:
        write = h.conn.write
        vad_is_speech = h.leg._vad.is_speech

        def traced_write(data: bytes) -> None:
            order.append("write")
            write(data)

        def traced_vad(pcm: bytes) -> bool:
            order.append("vad")
            return vad_is_speech(pcm)

        h.leg.playout._write = traced_write
        h.leg._vad.is_speech = traced_vad  # type: ignore[method-assign]
        await h.send(LOUD, 200)
        await h.clock.advance(0.02)  # the last frame waits for the next slot
        assert order.count("vad") == 10
        assert all(order[i - 1] == "write" for i, step in enumerate(order) if step == "vad")
