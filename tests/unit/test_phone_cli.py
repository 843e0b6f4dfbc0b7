"""The test phone's command line: arguments, one-line errors, exit codes (no Asterisk needed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from controller.settings import load_settings
from controller.tools.phone import PhoneOptions, Press, Say, parse_options, run_phone
from tests.support.testbed import REPO

HELLO = str(REPO / "tests" / "fixtures" / "audio" / "visitor-hello.wav")


def test_steps_keep_the_order_of_the_command_line() -> None:
    options, mic = parse_options(["--dtmf", "1", "--say", HELLO, "--dtmf", "101#", "--linger", "2"])
    assert [type(s) for s in options.steps] == [Press, Say, Press]
    assert options.steps[0] == Press("1") and options.steps[2] == Press("101#")
    assert isinstance(options.steps[1], Say) and options.steps[1].name == "visitor-hello.wav"
    assert options.linger_s == 2 and not mic


def test_defaults_listen_on_loopback_and_go_through_a_local_channel() -> None:
    options, _ = parse_options([])
    assert options == PhoneOptions()
    assert options.listen == ("127.0.0.1", 0) and options.via == "local" and options.context == "from-gate"
    assert parse_options(["--listen", "[::1]:4573"])[0].listen == ("::1", 4573)


async def test_a_missing_wav_is_a_one_line_error_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.wav"
    assert await run_phone(["--say", str(missing)], interactive=False) == 2
    err = capsys.readouterr().err
    assert err == f"phone: {missing}: no such file\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dtmf", "12x"], "DTMF digits are 0-9"),
        (["--listen", "localhost"], "expected host:port"),
        (["--via", "sip"], "invalid choice"),
        (["--max-seconds", "0"], "--max-seconds must be positive"),
        (["--via", "direct", "--dtmf", "1"], "--dtmf needs --via local"),
    ],
)
async def test_bad_arguments_exit_with_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_phone(argv, interactive=False) == 2
    assert message in capsys.readouterr().err


async def test_without_an_ari_password_it_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(ari_password="")
    assert await run_phone([], settings=settings, interactive=False) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PORTARIA_ARI_PASSWORD is not set" in err


async def test_mic_without_sounddevice_explains_how_to_install_it(capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("sounddevice") is not None:
        pytest.skip("sounddevice is installed here")
    assert await run_phone(["--mic"], settings=load_settings(ari_password="x"), interactive=False) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install sounddevice" in err


def test_python_m_controller_phone_dispatches_to_the_phone(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "phone", "--say", str(tmp_path / "gone.wav")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"phone: {tmp_path / 'gone.wav'}: no such file\n"
    help_text = subprocess.run(
        [sys.executable, "-m", "controller", "phone", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "--say FILE.wav" in help_text.stdout
