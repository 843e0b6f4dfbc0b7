"""Streams for engines that hear whole utterances (Whisper): the utterance recognised at every pause, and a long
request recognised a piece at a time at the speaker's own pauses.

:class:`BufferedStream` starts recognising at every pause (`flush()`) and throws that result away when the
speaker goes on (`finish()` reuses it when nothing came after), so a 13 s request is heard whole after its last
word: 1.3-1.6 s on a 2-core EPYC, the p95 of the heard turn. :class:`PieceStream` keeps a pause's result when the
speaker goes on, and what follows is recognised after it, so only the rest is left at the end. A piece heard
alone loses its context ("O nome no pedido é Giovanna." alone came back "... é Silvana."), so a piece is kept
only when it is `min_bytes` or longer, and the last recognition always covers at least `tail_bytes`: the pieces
after the last boundary that leaves it that much are heard again with the rest (docs/speech.md,
`bench/bench_segments.py`: 3 s pieces and a 3.5 s tail kept the whole pass's residents and apartments and took
a quarter off the end-of-turn decode). A `BufferedStream` is a `PieceStream` that keeps no piece.

No word is cut: a piece ends where the endpointer saw a pause. A piece that failed makes the turn heard whole;
a caller that stops waiting (a cancelled `finish()` or judge) is never answered with a recognition instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from audiosocket.speech.base import EngineError, Transcript


@dataclass(frozen=True, slots=True)
class PieceSizes:
    min_bytes: int  # a pause's result is kept as a piece only if it covered this much
    tail_bytes: int  # the last recognition covers at least this much


@dataclass(slots=True)
class _Piece:
    start: int
    end: int
    heard: asyncio.Task[Transcript]


def joined(parts: list[Transcript], last: Transcript) -> Transcript:
    """The pieces' texts before `last`'s, its hypotheses behind the same prefix; the least sure part's confidence."""
    said = [part for part in parts if not part.empty]
    if not said:
        return last
    prefix = " ".join(part.text.strip() for part in said)
    floor = min(part.confidence for part in said)

    def whole(text: str) -> str:
        return f"{prefix} {text.strip()}".strip()

    return replace(
        last,
        text=whole(last.text),
        confidence=min(floor, last.confidence) if not last.empty else floor,
        alternatives=tuple(whole(text) for text in last.alternatives),
        alternative_confidences=tuple(min(floor, c) for c in last.alternative_confidences),
    )


class PieceStream:
    """A :class:`~audiosocket.speech.base.RecognitionStream` over `recognize(pcm)` that keeps long pauses' results
    (none when `sizes` is None)."""

    def __init__(self, recognize: Callable[[bytes], Awaitable[Transcript]], sizes: PieceSizes | None) -> None:
        self._recognize = recognize
        self._sizes = sizes
        self._buffer = bytearray()
        self._pieces: list[_Piece] = []  # contiguous from byte 0
        self._early: _Piece | None = None  # the last flush's recognition, from a piece boundary to its end
        self._closed = False

    def push_frame(self, pcm: bytes) -> None:
        if self._closed:
            raise EngineError("audio pushed to a finished recognition")
        self._buffer += pcm

    def flush(self) -> None:
        if self._closed or (self._early is not None and self._early.end == len(self._buffer)):
            return
        self._keep_early()
        start = self._start()
        self._early = _Piece(start, len(self._buffer), asyncio.ensure_future(self._recognize(self._audio(start))))

    async def early(self) -> Transcript | None:
        early = self._early
        if early is None:
            return None
        await asyncio.wait((early.heard,))  # a superseded flush is no reason to cancel the caller
        if early.heard.cancelled() or early.heard.exception() is not None:
            return None  # failed or superseded: nothing to judge the pause on
        try:
            return await self._joined(early.start, early.heard.result())
        except EngineError:  # a piece before it failed
            return None

    async def finish(self) -> Transcript:
        if self._closed:
            raise EngineError("recognition already finished")
        self._closed = True
        start = self._start()
        early, self._early = self._early, None
        if early is not None and (early.start, early.end) == (start, len(self._buffer)):
            last = await early.heard
        else:
            _cancel(early)
            last = await self._recognize(self._audio(start))
        try:
            return await self._joined(start, last)
        except EngineError:
            return await self._recognize(bytes(self._buffer))  # a piece failed: hear the turn whole

    async def aclose(self) -> None:
        self._closed = True
        _cancel(self._early)
        for piece in self._pieces:
            _cancel(piece)
        self._early = None
        self._pieces.clear()
        self._buffer.clear()

    def _keep_early(self) -> None:
        """The speaker went on after the last flush: keep its recognition as a piece if it was long enough."""
        early, self._early = self._early, None
        if early is None:
            return
        if self._sizes is None or early.end - early.start < self._sizes.min_bytes:
            _cancel(early)
            return
        kept = [piece for piece in self._pieces if piece.end <= early.start]
        for piece in self._pieces[len(kept) :]:  # heard again in `early`
            _cancel(piece)
        self._pieces = [*kept, early]

    def _start(self) -> int:
        """Where the next recognition begins: the last piece boundary leaving it `tail_bytes`, else 0."""
        for piece in reversed(self._pieces):  # pieces are only kept with sizes
            if self._sizes is not None and len(self._buffer) - piece.end >= self._sizes.tail_bytes:
                return piece.end
        return 0

    def _audio(self, start: int) -> bytes:
        return bytes(self._buffer[start:])

    async def _joined(self, start: int, last: Transcript) -> Transcript:
        """`last` behind the pieces before `start`; EngineError when one of them was not heard."""
        before = [piece.heard for piece in self._pieces if piece.end <= start]
        if before:
            await asyncio.wait(before)  # a cancellation of the caller propagates from here, never swallowed
        if any(heard.cancelled() or heard.exception() is not None for heard in before):
            raise EngineError("a piece of the turn was not heard")
        return joined([heard.result() for heard in before], last)


class BufferedStream(PieceStream):
    """The whole utterance at every pause: `flush()` starts recognising the buffer as it stands, and `finish()`
    reuses that result when no frame arrived since, so the recognition overlaps the end-of-turn silence wait."""

    def __init__(self, recognize: Callable[[bytes], Awaitable[Transcript]]) -> None:
        super().__init__(recognize, None)


def _cancel(piece: _Piece | None) -> None:
    """Stop waiting for a recognition: cancel it, or retrieve the error it ended with so asyncio does not warn."""
    if piece is None:
        return
    if piece.heard.done() and not piece.heard.cancelled():
        piece.heard.exception()
    piece.heard.cancel()
