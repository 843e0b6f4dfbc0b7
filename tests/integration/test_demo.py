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


def test_the_demo_runs_one_gate_call_and_ends_with_the_gate_opened(testbed: Testbed, tmp_path: Path) -> None:
    env = _env(testbed, tmp_path, PORTARIA_AUDIT_DB=str(tmp_path / "audit.sqlite3"))
    result = subprocess.run(
        [sys.executable, "-m", "controller", "demo"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    greeting = Settings.model_fields["greeting"].default
    assert f"Portaria: «{greeting}»" in out  # the greeting, as the visitor heard it
    heard = [line for line in out.splitlines() if "Visitante (reconhecido): «" in line]
    assert heard and any("renata" in line.lower() for line in heard), out  # Whisper heard the request
    assert any("Vou chamar a Renata, do 101" in line for line in out.splitlines()), out  # rung, not read back
    assert "Portão aberto pelo webhook da demonstração" in out, out
    assert "Do fim do pedido até chamar o morador:" in out and "Da saudação ao portão aberto:" in out, out
    assert "Registro de auditoria" in out and "authorised" in out, out

    events = read_events(tmp_path / "events.jsonl")
    names = [e["event"] for e in events]
    for expected in ("answered", "transcript", "resident_dial", "resident_answered", "audit_written", "gate_opened",
                     "call_end"):
        assert expected in names, names
    assert names.index("audit_written") < names.index("gate_opened")
    assert len({e["call_id"] for e in events}) == 1  # one call, every event tied to it
    assert testbed.ari_password not in out + result.stderr
