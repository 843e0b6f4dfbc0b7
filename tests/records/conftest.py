"""A real PostgreSQL server for the stores' tests: one per test process, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    """A database of its own for one test, owned by the `portaria` user (as an installation has it)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # a name of ours
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"
