"""Fixtures for the resident phase tests: the sample directory and conversations built on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.conversation import Conversation, Dialog
from controller.conversation.directory import Directory
from controller.records.directory_file import load_directory
from tests.resident.drive import NO_CONCIERGE, POLICY

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings from defaults and the test's overrides only: no PORTARIA_* variable, no .env file."""
    for name in os.environ:
        if name.startswith("PORTARIA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sample() -> Directory:
    """The prototype's sample directory: Renata and Carlos share PJSIP/101."""
    return load_directory(ROOT / "data" / "apartamentos.json")


@pytest.fixture(scope="session")
def condo() -> Directory:
    """Blocks, and residents with their own endpoints (Felipe Andrade: PJSIP/felipe-celular, then PJSIP/b301)."""
    return load_directory(ROOT / "tests" / "conversation" / "condominio.json")


@pytest.fixture
def conversation(sample: Directory) -> Conversation:
    return Conversation(Dialog(sample, POLICY))


@pytest.fixture
def alone(sample: Directory) -> Conversation:
    """No concierge configured: hand-overs end politely."""
    return Conversation(Dialog(sample, NO_CONCIERGE))
