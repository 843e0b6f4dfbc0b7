"""A long turn heard a piece at a time at the speaker's pauses (audiosocket/speech/pieces.py), over a recogniser
that names the audio it was given, so every test sees exactly what was recognised when."""

from __future__ import annotations

import asyncio

import pytest

from audiosocket.speech.base import EngineError, Transcript
from audiosocket.speech.pieces import PieceSizes, PieceStream

SECOND = 16000  # bytes of 8 kHz slin
SIZES = PieceSizes(min_bytes=3 * SECOND, tail_bytes=7 * SECOND // 2)


def audio(tag: int, seconds: float) -> bytes:
    """`seconds` of samples all equal to `tag`, so a recognition can say which pieces it was given."""
    return tag.to_bytes(2, "little") * int(seconds * SECOND // 2)


def pause_after(stream: PieceStream, *said: tuple[int, float]) -> None:
    """The speaker says each (tag, seconds) in turn and pauses after each: the leg flushes at every pause."""
    for tag, seconds in said:
        stream.push_frame(audio(tag, seconds))
        stream.flush()


class Ear:
    """Hears each run of equal samples as its tag and its length in seconds: b"\\x01\\x00" * 4 s -> '1:4.0'."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.fail: set[str] = set()
        self.alternatives = 0

    async def __call__(self, pcm: bytes) -> Transcript:
        await asyncio.sleep(0)
        words, start = [], 0
        for end in range(2, len(pcm) + 2, 2):
            if end == len(pcm) or pcm[end : end + 2] != pcm[start : start + 2]:
                words.append(f"{pcm[start]}:{(end - start) / SECOND:.1f}")
                start = end
        text = " ".join(words)
        self.heard.append(text)
        if text in self.fail:
            raise EngineError(f"could not hear {text}")
        others = tuple(f"{text} (or {n})" for n in range(1, self.alternatives + 1))
        return Transcript(text, 0.9 if len(pcm) > SECOND else 0.5, "pt", others, tuple(0.4 for _ in others))


async def test_a_turn_without_pauses_is_heard_whole() -> None:
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    stream.push_frame(audio(1, 5))
    assert (await stream.finish()).text == "1:5.0"
    assert ear.heard == ["1:5.0"]


async def test_what_came_before_a_long_pause_is_kept_and_only_the_rest_is_heard_at_the_end() -> None:
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 4), (2, 4))  # a pause after 4 s, then 4 s more
    early = await stream.early()
    assert early is not None and early.text == "1:4.0 2:4.0"  # the pause is judged on everything said
    heard = await stream.finish()
    assert heard.text == "1:4.0 2:4.0" and heard.confidence == 0.9
    assert ear.heard == ["1:4.0", "2:4.0"]
    assert "1:4.0 2:4.0" not in ear.heard  # the whole turn was never recognised again


async def test_a_piece_shorter_than_the_minimum_is_heard_again_with_what_follows() -> None:
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 2))
    stream.push_frame(audio(2, 4))
    assert (await stream.finish()).text == "1:2.0 2:4.0"
    assert ear.heard[-1] == "1:2.0 2:4.0"


async def test_a_short_rest_is_heard_with_the_piece_before_it() -> None:
    """'O nome no pedido é Giovanna.' heard alone lost the name: the end is never shorter than the tail size."""
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 4), (2, 4), (3, 1))  # a last second after the second pause
    heard = await stream.finish()
    assert heard.text == "1:4.0 2:4.0 3:1.0"
    assert ear.heard[-1] == "2:4.0 3:1.0"  # from the boundary that leaves 3.5 s or more


async def test_hypotheses_keep_the_pieces_before_them_and_the_least_sure_confidence() -> None:
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 4))
    ear.alternatives = 2
    stream.push_frame(audio(2, 4))
    heard = await stream.finish()
    assert heard.alternatives == ("1:4.0 2:4.0 (or 1)", "1:4.0 2:4.0 (or 2)")
    assert heard.alternative_confidences == (0.4, 0.4)


async def test_a_piece_that_failed_makes_the_turn_heard_whole() -> None:
    ear = Ear()
    ear.fail = {"1:4.0"}
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 4), (2, 4))
    assert await stream.early() is None  # nothing to judge the pause on
    assert (await stream.finish()).text == "1:4.0 2:4.0"
    assert ear.heard[-1] == "1:4.0 2:4.0"


async def test_the_end_reuses_the_last_pause_when_nothing_came_after_it_and_a_closed_stream_refuses_audio() -> None:
    ear = Ear()
    stream = PieceStream(ear, SIZES)
    pause_after(stream, (1, 4), (2, 4))
    await stream.finish()
    assert ear.heard == ["1:4.0", "2:4.0"]
    with pytest.raises(EngineError):
        stream.push_frame(audio(3, 1))
    with pytest.raises(EngineError):
        await stream.finish()


async def test_closing_abandons_what_is_still_being_recognised() -> None:
    started = asyncio.Event()

    async def slow(pcm: bytes) -> Transcript:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("not cancelled")

    stream = PieceStream(slow, SIZES)
    pause_after(stream, (1, 4))
    await started.wait()
    await stream.aclose()
    assert await stream.early() is None


async def test_a_caller_that_stops_waiting_is_not_answered_with_the_whole_turn() -> None:
    """The guard's deadline cancels finish() while a piece is still being heard: the cancellation goes through,
    it is not taken for a failed piece (which would start the whole turn's recognition past the deadline)."""
    ear = Ear()
    first_piece = asyncio.Event()

    async def hears_the_first_piece_slowly(pcm: bytes) -> Transcript:
        if len(pcm) == 4 * SECOND:
            first_piece.set()
            await asyncio.sleep(3600)
        return await ear(pcm)

    stream = PieceStream(hears_the_first_piece_slowly, SIZES)
    pause_after(stream, (1, 4), (2, 5))
    await first_piece.wait()
    finishing = asyncio.ensure_future(stream.finish())
    await asyncio.sleep(0.01)
    assert ear.heard == ["2:5.0"] and not finishing.done()  # the rest is heard; the first piece is awaited
    finishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await finishing
    assert ear.heard == ["2:5.0"]
    await stream.aclose()
