"""Fixtures for the conversation tests: the two residents directories and a real redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.conversation.directory import Directory
from controller.records.directory_file import load_directory

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, without persistence; stopped after the session."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        pytest.fail("redis-server is not installed: the Redis store tests need it (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"redis-server did not start on port {port}: {output[-2000:]}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
