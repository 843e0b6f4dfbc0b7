"""Synthesized clauses kept on disk and in memory, so a voice that takes ~0.5 s a clause says known ones at once.

:class:`CachedTTS` wraps an engine: it splits the text into clauses (:mod:`audiosocket.speech.clauses`) and
serves each from memory, then disk, and only then from the engine (storing what it made). "Certo, Marcos. Vou
chamar a Giovanna, do 702. Um momento." then costs the engine only the clauses it never said before.

Entries are keyed by the engine's `cache_id` (model, voice, speed, engine revision), the sample rate and the
normalized clause text; the file name is the key's sha256. A file carries a header (magic, rate, lengths,
CRC-32) and the key itself, and anything that does not check out (short, corrupt, unreadable, another key) is a
miss: logged, removed, and rewritten by the next synthesis. Writes go to a unique temporary name and are renamed
into place, so concurrent writers (two calls, two processes) never leave a torn file; the last rename wins and
both wrote the same audio. The directory is bounded by `max_bytes`: past it the least recently used entries go
(a hit refreshes a file's mtime). A cache that cannot be written only costs speed: synthesis never fails for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from audiosocket.speech.base import EngineError, TextToSpeech
from audiosocket.speech.clauses import normalize_text, pause_after, silence, split_clauses

log = logging.getLogger(__name__)

_MAGIC = b"PTTSPCM1"
_HEADER = struct.Struct("<8sIIII")  # magic, sample rate, key bytes, PCM bytes, CRC-32 of key + PCM
_SUFFIX = ".pcm"
_STALE_TMP_S = 3600.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # ~4 000 clauses at 8 kHz, ~2 000 at 16 kHz
DEFAULT_MEMORY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CacheKey:
    engine: str
    sample_rate: int
    text: str

    @staticmethod
    def of(engine: str, text: str, sample_rate: int) -> CacheKey:
        return CacheKey(engine, sample_rate, normalize_text(text))

    @property
    def encoded(self) -> bytes:
        return f"{self.engine}\n{self.sample_rate}\n{self.text}".encode()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.encoded).hexdigest()


class DiskCache:
    """One file per clause under `directory`. Blocking methods: call them off the event loop."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._writes = 0

    def path(self, key: CacheKey) -> Path:
        return self.directory / f"{key.digest}{_SUFFIX}"

    def contains(self, key: CacheKey) -> bool:
        return self.path(key).is_file()

    def get(self, key: CacheKey) -> bytes | None:
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("tts cache: cannot read %s: %s", path.name, error.strerror or error)
            return None
        problem = _check(data, key)
        if problem:
            log.warning("tts cache: discarding %s: %s", path.name, problem)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return None
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return data[_HEADER.size + len(key.encoded) :]

    def put(self, key: CacheKey, pcm: bytes) -> bool:
        """Store atomically; False (logged) when the directory cannot be written."""
        encoded = key.encoded
        header = _HEADER.pack(_MAGIC, key.sample_rate, len(encoded), len(pcm), zlib.crc32(encoded + pcm))
        path = self.path(key)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as out:
                out.write(header + encoded + pcm)
            os.replace(tmp, path)
        except OSError as error:
            log.warning("tts cache: cannot write %s: %s", path.name, error.strerror or error)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return False
        self._writes += 1
        if self._writes % 200 == 0:
            self.prune()
        return True

    def prune(self) -> int:
        """Delete least recently used entries until the directory is under 90% of `max_bytes`; returns how many."""
        entries = []
        now = time.time()
        try:
            listing = list(os.scandir(self.directory))
        except OSError:
            return 0
        for entry in listing:
            try:
                stat = entry.stat()
            except OSError:
                continue
            if entry.name.endswith(".tmp") and now - stat.st_mtime > _STALE_TMP_S:
                _unlink(entry.path)  # left by a killed writer
            elif entry.name.endswith(_SUFFIX):
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        if total <= self.max_bytes:
            return 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes * 0.9:
                break
            if _unlink(path):
                total -= size
                removed += 1
        log.info("tts cache: pruned %d entries, %d bytes left in %s", removed, total, self.directory)
        return removed


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def _check(data: bytes, key: CacheKey) -> str:
    """Why `data` is not a valid entry for `key` ("" when it is)."""
    if len(data) < _HEADER.size:
        return "shorter than a header"
    magic, rate, key_size, pcm_size, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        return "not a cache entry (bad magic)"
    if len(data) != _HEADER.size + key_size + pcm_size:
        return f"truncated ({len(data)} bytes, header says {_HEADER.size + key_size + pcm_size})"
    body = data[_HEADER.size :]
    if zlib.crc32(body) != crc:
        return "CRC mismatch"
    if rate != key.sample_rate or body[:key_size] != key.encoded or pcm_size % 2:
        return "holds another key"
    return ""


class CachedTTS:
    """A TextToSpeech serving clauses from memory, then disk (`disk` None: memory only), then `tts`.

    `background` is the engine's low-priority view, used by :meth:`prewarm`; without one prewarming uses `tts`.
    """

    def __init__(
        self,
        tts: TextToSpeech,
        engine_id: str,
        disk: DiskCache | None,
        *,
        background: TextToSpeech | None = None,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        self._tts = tts
        self._engine_id = engine_id
        self.disk = disk
        self._background = background or tts
        self._memory: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._memory_bytes = memory_bytes
        self._memory_used = 0
        self._prewarm_lock = asyncio.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, clause: str, sample_rate: int) -> CacheKey:
        return CacheKey.of(self._engine_id, clause, sample_rate)

    async def synthesize(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        previous = ""
        for clause in split_clauses(text):
            gap = silence(pause_after(previous), sample_rate) if previous else b""
            key = self.key(clause, sample_rate)
            cached = await self.lookup(key)
            if cached is not None:
                self.hits += 1
                if cached:
                    yield gap + cached
                    previous = clause
                continue
            self.misses += 1
            made = bytearray()
            async for chunk in self._tts.synthesize(clause, sample_rate):
                made += chunk
                yield gap + chunk if gap else chunk
                gap = b""
            await self._store(key, bytes(made))
            if made:
                previous = clause

    async def lookup(self, key: CacheKey) -> bytes | None:
        cached = self._memory.get(key)
        if cached is not None:
            self._memory.move_to_end(key)
            return cached
        if self.disk is None:
            return None
        cached = await asyncio.to_thread(self.disk.get, key)
        if cached is not None:
            self._remember(key, cached)
        return cached

    async def _store(self, key: CacheKey, pcm: bytes, *, memory: bool = True) -> None:
        if memory:
            self._remember(key, pcm)
        if self.disk is not None:
            await asyncio.to_thread(self.disk.put, key, pcm)

    def _remember(self, key: CacheKey, pcm: bytes) -> None:
        if len(pcm) > self._memory_bytes:
            return
        old = self._memory.pop(key, None)
        self._memory_used += len(pcm) - (len(old) if old is not None else 0)
        self._memory[key] = pcm
        while self._memory_used > self._memory_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_used -= len(evicted)

    async def prewarm(self, phrases: Iterable[str], sample_rates: Iterable[int]) -> int:
        """Synthesize into the cache every clause of `phrases` it lacks, one at a time, at low priority.

        Returns how many clauses were synthesized. Prewarmed audio goes to disk only (with no disk, to memory),
        so a long list does not evict what live calls are using. A clause that fails is logged and skipped.
        """
        rates = sorted(set(sample_rates))
        made = 0
        async with self._prewarm_lock:
            for phrase in dict.fromkeys(phrases):
                for clause in split_clauses(phrase):
                    for rate in rates:
                        key = self.key(clause, rate)
                        if key in self._memory or (
                            self.disk is not None and await asyncio.to_thread(self.disk.contains, key)
                        ):
                            continue
                        try:
                            pcm = b"".join([chunk async for chunk in self._background.synthesize(clause, rate)])
                        except EngineError as error:
                            log.warning("tts cache: cannot prewarm a %d-character clause: %s", len(clause), error)
                            continue
                        await self._store(key, pcm, memory=self.disk is None)
                        made += 1
                        await asyncio.sleep(0)  # between clauses the loop serves everyone else
        return made
