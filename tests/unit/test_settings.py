from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.settings import MediaFormat, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("PORTARIA_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_listen_on_loopback_and_use_the_prototype_greeting() -> None:
    settings = load_settings()
    assert settings.bind_host_port == ("127.0.0.1", 9092)
    assert settings.advertise_address == "127.0.0.1:9092"
    assert settings.greeting == "Condomínio Apoena, em que posso ajudar?"
    assert settings.media_format is MediaFormat.SLIN


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORTARIA_ARI_APP=gatekeeper\nPORTARIA_MEDIA_FORMAT=slin16\n")
    monkeypatch.setenv("PORTARIA_AUDIOSOCKET_BIND", "0.0.0.0:9000")
    settings = load_settings()
    assert settings.ari_app == "gatekeeper"
    assert settings.media_format.sample_rate == 16000
    # A wildcard bind cannot be dialled: Asterisk is told to dial loopback unless ADVERTISE says otherwise.
    assert settings.advertise_address == "127.0.0.1:9000"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("PORTARIA_AUDIOSOCKET_BIND", "9092", "PORTARIA_AUDIOSOCKET_BIND"),
        ("PORTARIA_AUDIOSOCKET_ADVERTISE", "host:99999", "PORTARIA_AUDIOSOCKET_ADVERTISE"),
        ("PORTARIA_ARI_URL", "not a url", "PORTARIA_ARI_URL"),
        ("PORTARIA_MEDIA_FORMAT", "ulaw", "PORTARIA_MEDIA_FORMAT"),
        ("PORTARIA_ARI_APP", "has spaces", "PORTARIA_ARI_APP"),
    ],
)
def test_a_wrong_value_names_its_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_password_is_reported_only_when_ari_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(SettingsError, match="PORTARIA_ARI_PASSWORD is not set"):
        settings.require_ari()
    monkeypatch.setenv("PORTARIA_ARI_PASSWORD", "s3cret-value")
    assert load_settings().require_ari().get_secret_value() == "s3cret-value"


def test_secrets_never_appear_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTARIA_ARI_PASSWORD", "s3cret-value")
    assert "s3cret-value" not in repr(load_settings())
    monkeypatch.setenv("PORTARIA_ARI_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "s3cret-value" not in str(raised.value)
    assert "PORTARIA_ARI_TIMEOUT_S" in str(raised.value)


def test_a_short_console_password_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(console_password="curta-123")
    assert "PORTARIA_CONSOLE_PASSWORD" in str(raised.value) and "12 characters" in str(raised.value)
    assert "curta-123" not in str(raised.value)
    assert load_settings(console_password="").console_password is None  # empty: the console is off
