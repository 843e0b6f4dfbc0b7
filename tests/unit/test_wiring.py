"""The composition root builds what the settings ask for, and explains what it cannot build."""

from __future__ import annotations

import sys

import pytest

from controller.conversation.rules import RuleUnderstanding
from controller.settings import SettingsError, load_settings
from controller.wiring import understanding as build_understanding

API_KEY = "sk-test-9f8e7d6c5b4a-never-log-me"


def test_rules_are_the_default() -> None:
    assert isinstance(build_understanding(load_settings()), RuleUnderstanding)


def test_a_missing_extra_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "crewai", None)  # what `import crewai` sees without the llm extra
    with pytest.raises(SettingsError, match=r"UNDERSTANDING=llm needs the optional 'llm' extra \(CrewAI\)"):
        build_understanding(load_settings(understanding="llm", llm_api_key=API_KEY))


def test_a_model_crewai_cannot_use_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="PORTARIA_LLM_MODEL='nosuchprovider/x'") as raised:
        build_understanding(load_settings(understanding="llm", llm_model="nosuchprovider/x", llm_api_key=API_KEY))
    assert API_KEY not in str(raised.value)


def test_settings_never_show_the_key() -> None:
    settings = load_settings(understanding="llm", llm_api_key=API_KEY)
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())
