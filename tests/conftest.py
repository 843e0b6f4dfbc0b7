"""Session fixtures shared by all tests: the real Asterisk test bed."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.support.testbed import Testbed, read_env, run_testbed

LOCK = Path("/var/cache/portaria/testbed.lock")
LOCK_WAIT_S = 1800


_LOCK_KEY = pytest.StashKey["IO[str]"]()


def _take_turn() -> IO[str]:
    """Wait (up to LOCK_WAIT_S) for the other test sessions on this machine to finish with the test bed."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = LOCK.open("w")
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                pytest.exit(f"another test session held {LOCK} for {LOCK_WAIT_S} s", returncode=3)
            time.sleep(1)


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_controller(config: pytest.Config) -> bool:
    return not _xdist_worker(config) and bool(config.getoption("numprocesses", None, skip=False) or 0)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With pytest-xdist (`-n`), the controlling process takes the turn for its workers: it collects nothing,
    so it cannot know whether a test bed test was selected, and only `-m "not asterisk"` is taken to mean no."""
    config = session.config
    if _xdist_controller(config) and "not asterisk" not in (config.getoption("markexpr", "") or ""):
        config.stash[_LOCK_KEY] = _take_turn()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, every test bed test runs on one worker: the bed has one Stasis app per name,
    and some tests stop Asterisk; the other worker runs the rest beside it."""
    for item in items:
        if "testbed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("testbed"))
    # The tests that listen for gaps in real-time audio go last: by then the other worker has finished its
    # CPU-bound tests (a few minutes of the test bed's), so they hear the service as it runs on a quiet host.
    # The sort is stable, so each module's tests stay together and in order (one shared service per module).
    items.sort(key=lambda item: item.get_closest_marker("paced") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Sessions that will use the test bed take their turn here, before any test runs: a wait inside a
    fixture would count towards the first test's timeout (300 s) and fail it while another session runs.
    This runs after `-m`/`-k` deselection, so `pytest -m "not asterisk"` never waits for the test bed."""
    if _xdist_worker(session.config):
        return  # the controlling process holds the turn
    if any("testbed" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[_LOCK_KEY] = _take_turn()


def pytest_unconfigure(config: pytest.Config) -> None:
    lock = config.stash.get(_LOCK_KEY, None)
    if lock is not None:
        lock.close()  # releases the flock


@pytest.fixture(scope="session")
def testbed(pytestconfig: pytest.Config) -> Iterator[Testbed]:
    """A running Asterisk 22 (provisioned on first use, reused after); stopped at the end if we started it.

    The test bed is one Asterisk with one Stasis app name ("portaria", as in the sample dialplan). A second
    test session on the same machine would take the app over mid-call, so sessions take turns on a lock
    (taken at collection time; here only if collection did not foresee this fixture).
    """
    if _LOCK_KEY not in pytestconfig.stash and not _xdist_worker(pytestconfig):
        pytestconfig.stash[_LOCK_KEY] = _take_turn()
    already_running = True
    try:
        run_testbed("status")
    except RuntimeError:
        already_running = False
    run_testbed("start")
    env = read_env()
    yield Testbed(root=Path(env["PORTARIA_TESTBED_ROOT"]), env=env)
    if not already_running:
        run_testbed("stop")
