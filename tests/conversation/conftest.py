"""Fixtures for the conversation tests: the two residents directories and a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.conversation.directory import Directory
from controller.records.directory_file import load_directory
from tests.support.redis_server import RedisServer

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SAMPLE_PATH = ROOT / "data" / "apartamentos.json"
CONDO_PATH = HERE / "condominio.json"
DIRECTORY_PATHS = {"sample": SAMPLE_PATH, "condo": CONDO_PATH}


@pytest.fixture(scope="session")
def sample() -> Directory:
    """The prototype's sample directory (two Anas, a household of Oliveiras, no blocks)."""
    return load_directory(SAMPLE_PATH)


@pytest.fixture(scope="session")
def condo() -> Directory:
    """Blocks A and B, nicknames, per-resident endpoints, near-identical names (Renata/Renato, Souza/Sousa)."""
    return load_directory(CONDO_PATH)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, without persistence; stopped after the session."""
    try:
        server = RedisServer()
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server.url
    finally:
        server.stop()
