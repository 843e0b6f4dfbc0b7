"""Session fixtures shared by all tests: the real Asterisk test bed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.support.bed_locks import Turns, TurnTimeout, take_turn
from tests.support.testbed import Testbed, read_env, run_testbed

LOCK_WAIT_S = 1800
PACED_RERUNS = 2


_LOCK_KEY = pytest.StashKey["IO[str]"]()
_STARTED_KEY = pytest.StashKey[bool]()  # the controlling process started the bed (and stops it at the end)


def _take_turn() -> IO[str]:
    try:
        return take_turn(LOCK_WAIT_S)
    except TurnTimeout as timeout:
        pytest.exit(str(timeout), returncode=3)


def _running() -> bool:
    try:
        run_testbed("status")
    except RuntimeError:
        return False
    return True


def _bring_up() -> bool:
    """Start the test bed, or reload its config if it runs already; True if it was not running."""
    was_running = _running()
    run_testbed("start")
    return not was_running


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
        # The workers run the bed's two groups at once, so the bed is brought up here, once, before either
        # places a call: a config reload by one worker would drop the other's calls.
        config.stash[_STARTED_KEY] = _bring_up()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, the test bed's tests run in two groups, each on one worker, in order: those
    marked `beside` (on Stasis apps no other group's test uses) and all the others (which share app names, one
    module after another). The rest run beside them."""
    for item in items:
        if item.get_closest_marker("paced"):
            # What these tests time is real audio on a shared host, where a VM's stolen CPU can stall a 20 ms
            # frame by 100 ms. A pacing bug fails every run; a stall fails one: an assertion is run again,
            # up to twice (reported as R), any other error is not.
            item.add_marker(pytest.mark.flaky(reruns=PACED_RERUNS, only_rerun=["AssertionError"]))
        if "testbed" in getattr(item, "fixturenames", ()):
            group = "testbed-beside" if item.get_closest_marker("beside") else "testbed"
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_place)


def _must_be_alone(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in ("paced", "restarts_asterisk"))


def _place(item: pytest.Item) -> int:
    """The tests that must be alone on the host go first, in one run: the other worker waits once, and
    then both share what is left. The sort is stable: each module's tests stay together and in order (one
    shared service per module), but for a restart taken out of its module."""
    if item.get_closest_marker("paced"):
        return 0
    return 1 if item.get_closest_marker("restarts_asterisk") else 2


_TURNS_KEY = pytest.StashKey[Turns]()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outside pytest-timeout's timer: waiting is not the test
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """On an xdist worker, each test takes its turn on the host (tests/support/bed_locks.py): shared, or
    alone for the tests that listen to real-time audio (so the other worker's CPU-bound tests do not starve
    them) and for those that stop Asterisk (so no call of the other worker's is up meanwhile)."""
    if not _xdist_worker(item.config):
        yield
        return
    turns = item.config.stash.setdefault(_TURNS_KEY, Turns())
    turns.before(_must_be_alone(item))
    try:
        yield
    finally:
        turns.after(None if nextitem is None else _must_be_alone(nextitem))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Sessions that will use the test bed take their turn here, before any test runs: a wait inside a
    fixture would count towards the first test's timeout (300 s) and fail it while another session runs.
    This runs after `-m`/`-k` deselection, so `pytest -m "not asterisk"` never waits for the test bed."""
    if _xdist_worker(session.config):
        return  # the controlling process holds the turn
    if any("testbed" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[_LOCK_KEY] = _take_turn()


def pytest_unconfigure(config: pytest.Config) -> None:
    turns = config.stash.get(_TURNS_KEY, None)
    if turns is not None:
        turns.release()
    if config.stash.get(_STARTED_KEY, False):
        run_testbed("stop")
    lock = config.stash.get(_LOCK_KEY, None)
    if lock is not None:
        lock.close()  # releases the flock


@pytest.fixture(scope="session")
def testbed(pytestconfig: pytest.Config) -> Iterator[Testbed]:
    """A running Asterisk 22 (provisioned on first use, reused after); stopped at the end if we started it.

    The test bed is one Asterisk. A second test session on the same machine would take its Stasis apps over
    mid-call, so sessions take turns on a lock (taken at collection time; here only if collection did not
    foresee this fixture). Under xdist the controlling process brought it up and stops it.
    """
    if _xdist_worker(pytestconfig):
        if not _running():
            run_testbed("start")  # not running: no call of the other worker's to reload under
        yield _testbed()
        return
    if _LOCK_KEY not in pytestconfig.stash:
        pytestconfig.stash[_LOCK_KEY] = _take_turn()
    started = _bring_up()
    yield _testbed()
    if started:
        run_testbed("stop")


def _testbed(instance: str = "") -> Testbed:
    env = read_env(instance)
    return Testbed(root=Path(env["PORTARIA_TESTBED_ROOT"]), env=env, instance=instance)


@pytest.fixture
def second_testbed(testbed: Testbed) -> Iterator[Testbed]:
    """A second Asterisk 22 beside the first (its own config, ports and state, in the same chroot), as a second
    server would be: started for the test and stopped after it."""
    run_testbed("start", instance="b")
    try:
        yield _testbed("b")
    finally:
        run_testbed("stop", instance="b")
