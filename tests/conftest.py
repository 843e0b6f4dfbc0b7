"""Session fixtures shared by all tests: the real Asterisk test bed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.testbed import Testbed, read_env, run_testbed


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    """A running Asterisk 22 (provisioned on first use, reused after); stopped at the end if we started it."""
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
