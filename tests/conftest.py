"""Session fixtures shared by all tests: the real Asterisk test bed."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.testbed import Testbed, read_env, run_testbed

LOCK = Path("/var/cache/portaria/testbed.lock")
LOCK_WAIT_S = 1800


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    """A running Asterisk 22 (provisioned on first use, reused after); stopped at the end if we started it.

    The test bed is one Asterisk with one Stasis app name ("portaria", as in the sample dialplan). A second
    test session on the same machine would take the app over mid-call, so sessions take turns on a lock.
    """
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {LOCK} for {LOCK_WAIT_S} s")
                time.sleep(1)
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
