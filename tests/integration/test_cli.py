"""`python -m controller check` and `python -m controller` run as a user would, against the real Asterisk."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from controller.ari.client import AriClient
from controller.records.call_log import read_events
from controller.tools.simulator import SimulatedVisitor, call_gate
from tests.integration.conftest import TEST_STT_TIMEOUT_S, TEST_TTS_TIMEOUT_S
from tests.support.poll import eventually
from tests.support.testbed import REPO, Testbed

pytestmark = pytest.mark.asterisk


def _env(testbed: Testbed, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTARIA_")}
    env.update(
        PORTARIA_ARI_URL=testbed.ari_url,
        PORTARIA_ARI_PASSWORD=testbed.ari_password,
        PORTARIA_DIRECTORY=str(REPO / "data" / "apartamentos.json"),
        PORTARIA_AUDIOSOCKET_BIND="127.0.0.1:0",
        PORTARIA_EVENTS_FILE=str(tmp_path / "events.jsonl"),
        PORTARIA_STT_TIMEOUT_S=str(TEST_STT_TIMEOUT_S),  # why: tests/integration/conftest.py
        PORTARIA_TTS_TIMEOUT_S=str(TEST_TTS_TIMEOUT_S),
    )
    env.update(extra)
    return env


def _check(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", "check"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def _failures(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("FAIL")]


def test_check_passes_with_the_right_settings(testbed: Testbed, tmp_path: Path) -> None:
    result = _check(_env(testbed, tmp_path), REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Asterisk 22" in result.stdout
    assert testbed.ari_password not in result.stdout + result.stderr


def test_check_reports_a_wrong_ari_password_in_one_line(testbed: Testbed, tmp_path: Path) -> None:
    result = _check(_env(testbed, tmp_path, PORTARIA_ARI_PASSWORD="wrong-password"), REPO)
    assert result.returncode == 1
    (failure,) = _failures(result)
    assert "refused user 'portaria'" in failure
    assert "wrong-password" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [None, "{ not json", '[{"apartment_number": "101", "residents": []}]'])
def test_check_reports_a_broken_or_unreadable_directory(testbed: Testbed, tmp_path: Path, content: str | None) -> None:
    directory = tmp_path / "apartamentos.json"
    if content is not None:
        directory.write_text(content, encoding="utf-8")
    result = _check(_env(testbed, tmp_path, PORTARIA_DIRECTORY=str(directory)), REPO)
    assert result.returncode == 1
    (failure,) = _failures(result)
    assert str(directory) in failure
    expected = {None: "cannot be read", "{ not json": "not valid JSON"}.get(content, "residents")
    assert expected in failure


def test_check_reports_unreachable_asterisk_and_missing_password(testbed: Testbed, tmp_path: Path) -> None:
    result = _check(_env(testbed, tmp_path, PORTARIA_ARI_URL="http://127.0.0.1:1"), REPO)
    assert result.returncode == 1
    assert "cannot reach ARI at http://127.0.0.1:1" in _failures(result)[0]
    env = _env(testbed, tmp_path)
    del env["PORTARIA_ARI_PASSWORD"]
    result = _check(env, tmp_path)  # a cwd without .env
    assert result.returncode == 1
    assert _failures(result) == [
        "FAIL settings: PORTARIA_ARI_PASSWORD is not set (the password of the ARI user in ari.conf)"
    ]


def test_run_with_a_bad_setting_prints_one_line_not_a_traceback(testbed: Testbed, tmp_path: Path) -> None:
    env = _env(testbed, tmp_path, PORTARIA_MEDIA_FORMAT="mp3")
    result = subprocess.run([sys.executable, "-m", "controller"], env=env, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "PORTARIA_MEDIA_FORMAT" in result.stderr


async def test_sigterm_returns_the_caller_to_the_dialplan_and_removes_what_we_created(
    testbed: Testbed, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        env=_env(testbed, tmp_path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    async with AriClient(testbed.ari_url, "portaria", testbed.ari_password, "portaria-test") as ari:
        async with asyncio.timeout(20):
            while b"ARI events connected" not in await process.stdout.readline():
                pass
        visitor = SimulatedVisitor("none", f"t-{uuid.uuid4().hex[:8]}")
        channel = await call_gate(ari, visitor)
        async def bridged() -> bool:
            path = tmp_path / "events.jsonl"
            return path.exists() and any(e["event"] == "media_connected" for e in read_events(path))  # noqa: ASYNC240

        await eventually(bridged, within=10)
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.stdout.read(), 20)).decode()
        assert await process.wait() == 0, output
        assert "Traceback" not in output
        events = read_events(tmp_path / "events.jsonl")
        (call_id,) = {e["call_id"] for e in events if e["event"] == "stasis_start"}
        assert [b["id"] for b in await ari.get("bridges") if call_id in b["id"]] == []
        assert [c["id"] for c in await ari.get("channels") if call_id in c["id"]] == []
        # The caller went back to the dialplan (whose fallback dials the concierge), not hung up by us.
        assert any(e["event"] == "returned_to_dialplan" and e["call_id"] == call_id for e in events)
        await ari.delete_quietly(f"channels/{channel['id']}")


def test_check_reports_missing_azure_credentials_without_a_traceback(testbed: Testbed, tmp_path: Path) -> None:
    result = _check(_env(testbed, tmp_path, PORTARIA_STT_ENGINE="azure", PORTARIA_TTS_ENGINE="azure"), REPO)
    assert result.returncode == 1
    failures = _failures(result)
    assert any("PORTARIA_AZURE_SPEECH_KEY is not set" in line for line in failures), failures
    assert any("PORTARIA_AZURE_SPEECH_REGION is not set" in line for line in failures), failures
    assert "Traceback" not in result.stderr
