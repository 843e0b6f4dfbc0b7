"""Who may use the test bed's one Asterisk, and the host, and when (flocks under /var/cache/portaria).

- A test session takes its turn on the bed as a whole (:func:`take_turn`): a second session on the same machine
  would take the Stasis apps over mid-call.
- Inside a session, xdist workers run tests at once (two groups of bed tests on Stasis apps of their own, and
  the rest). Some tests need the host to themselves (:class:`Turns`): those that listen for gaps in real-time
  audio, and those that stop Asterisk. Every other test holds a shared turn while it runs; a test that waits to
  be alone goes first (once it waits, no new test starts beside it), and a run of such tests keeps the host.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

STATE = Path("/var/cache/portaria")
SESSION_LOCK = STATE / "testbed.lock"
HOST_LOCK = STATE / "testbed-host.lock"  # shared: tests beside each other; exclusive: one test alone
TURNSTILE = STATE / "testbed-turnstile.lock"  # held by a test waiting to be alone


class TurnTimeout(Exception):
    """Another test session held the test bed for longer than we would wait."""


def take_turn(wait_s: float) -> IO[str]:
    """Wait (up to `wait_s`) for the other test sessions on this machine to finish with the test bed; the
    returned file holds the turn until it is closed."""
    STATE.mkdir(parents=True, exist_ok=True)
    lock = SESSION_LOCK.open("w")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                raise TurnTimeout(f"another test session held {SESSION_LOCK} for {wait_s:.0f} s") from None
            time.sleep(1)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[IO[str]]:
    STATE.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        yield handle  # closing the file releases the flock


@contextmanager
def beside_others() -> Iterator[None]:
    """A shared turn: other tests may run at once, none that must be alone."""
    with _locked(TURNSTILE, fcntl.LOCK_EX):
        pass  # a test waiting to be alone holds the turnstile: wait behind it
    with _locked(HOST_LOCK, fcntl.LOCK_SH):
        yield


@contextmanager
def alone() -> Iterator[None]:
    """Nothing else of this session runs meanwhile (on any worker)."""
    with _locked(TURNSTILE, fcntl.LOCK_EX) as turnstile, _locked(HOST_LOCK, fcntl.LOCK_EX):
        fcntl.flock(turnstile, fcntl.LOCK_UN)  # the host is ours now; the others wait on it
        yield


class Turns:
    """One worker's turns: shared for one test at a time, exclusive through a run of tests that must be alone
    (so the other worker does not slip a test in between them)."""

    def __init__(self) -> None:
        self._held: ExitStack | None = None
        self._alone = False

    def before(self, must_be_alone: bool) -> None:
        if self._held is not None and self._alone and must_be_alone:
            return  # the run goes on
        self.release()
        held = ExitStack()
        held.enter_context(alone() if must_be_alone else beside_others())
        self._held, self._alone = held, must_be_alone

    def after(self, next_must_be_alone: bool | None) -> None:
        """`next_must_be_alone`: what the worker's next test needs, None if it has none yet."""
        if not (self._alone and next_must_be_alone):
            self.release()

    def release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
