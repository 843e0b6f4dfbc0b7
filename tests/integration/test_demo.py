"""`python -m controller demo` (what `./portaria demo` runs after provisioning) against the real Asterisk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller.records.call_log import read_events
from controller.settings import Settings
from tests.integration.test_cli import _env
from tests.support.testbed import REPO, Testbed

pytestmark = pytest.mark.asterisk


def test_the_demo_runs_one_gate_call_end_to_end(testbed: Testbed, tmp_path: Path) -> None:
    env = _env(testbed, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "controller", "demo", "--max-seconds", "20"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    greeting = Settings.model_fields["greeting"].default
    assert f"Portaria: «{greeting}»" in out  # the greeting, as the visitor heard it
    heard = [line for line in out.splitlines() if "Visitante (reconhecido): «" in line]
    assert heard and any(not line.endswith("«»") for line in heard), out  # Whisper heard the visitor's sentence
    # The apartment typed on the keypad (101#) was taken: the concierge goes on to ask whom the delivery is for.
    # The digits and the recognised sentence race (the visitor keys 101# as recognition runs), so the question
    # may come alone or after "Não encontrei <name> no 101.": either way it is asked about 101.
    asked = [line for line in out.splitlines() if "Portaria: «" in line and "Para quem é a entrega?" in line]
    assert asked and all("no 101" in line or line.endswith("«Para quem é a entrega?»") for line in asked), out
    assert any(" call_end " in line for line in out.splitlines()), out

    events = read_events(tmp_path / "events.jsonl")
    names = [e["event"] for e in events]
    for expected in ("answered", "bridged", "media_connected", "speech_end", "transcript", "call_end"):
        assert expected in names, names
    assert "".join(e["digit"] for e in events if e["event"] == "dtmf" and e.get("via") == "ari") == "101#"
    assert len({e["call_id"] for e in events}) == 1  # one call, every event tied to it
    assert testbed.ari_password not in out + result.stderr
