"""The dialogue corpus, each dialogue through `chat`, checked against its expected final JSON.

Corpus files are JSON lines: ``{"id", "directory": "sample"|"condo", "turns": [...], "expect": {...}}``;
a turn is what the visitor says (ASR-style), or ``#dtmf 101`` / ``#silencio`` (see controller/chat.py).
Besides the final JSON every dialogue also checks the dialog policy's promises: the concierge never says the
same sentence twice, and keeps sentences short.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.tools import chat
from tests.conversation.conftest import DIRECTORY_PATHS, HERE, ROOT

CORPUS_FILES = sorted((HERE / "corpus").glob("*.jsonl"))
EXPECTED_KEYS = {"intent_type", "interlocutor_name", "apartment_number", "resident_name", "valid_for_action"}


def _load() -> list[dict[str, Any]]:
    dialogues = []
    for path in CORPUS_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                dialogue = json.loads(line)
                dialogue["where"] = f"{path.name}:{number}"
                dialogues.append(dialogue)
    return dialogues


CORPUS = _load()


def run_chat(
    turns: list[str], directory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    monkeypatch.delenv("PORTARIA_REDIS_URL", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(turn + "\n" for turn in turns)))
    assert chat.main(["--directory", str(directory)]) == 0
    return capsys.readouterr().out.splitlines()


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CORPUS) >= 150
    ids = [dialogue["id"] for dialogue in CORPUS]
    assert len(ids) == len(set(ids)), "duplicate dialogue ids"
    for dialogue in CORPUS:
        assert dialogue["directory"] in DIRECTORY_PATHS, dialogue["where"]
        assert dialogue["turns"] and all(isinstance(turn, str) for turn in dialogue["turns"]), dialogue["where"]
        assert EXPECTED_KEYS <= set(dialogue["expect"]) <= EXPECTED_KEYS | {"block"}, dialogue["where"]
    multi_turn = sum(len(dialogue["turns"]) > 1 for dialogue in CORPUS)
    assert multi_turn >= 50 and len(CORPUS) - multi_turn >= 30


@pytest.mark.parametrize("dialogue", CORPUS, ids=[dialogue["id"] for dialogue in CORPUS])
def test_dialogue(
    dialogue: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run_chat(dialogue["turns"], DIRECTORY_PATHS[dialogue["directory"]], monkeypatch, capsys)
    replies, final = lines[:-1], json.loads(lines[-1])
    assert final == dialogue["expect"], f"{dialogue['where']}\n" + "\n".join(replies)
    assert len(replies) == len(set(replies)), "the concierge repeated itself:\n" + "\n".join(replies)
    assert all(len(reply.split()) <= 22 for reply in replies), "\n".join(replies)


@pytest.mark.parametrize("dialogue_id", ["os-ifood-renata", "bl-ask-block", "dtmf-star-clears"])
def test_dialogue_through_the_real_command(dialogue_id: str) -> None:
    """A few dialogues through `python -m controller chat` in a subprocess, exactly as a person would run it."""
    dialogue = next(item for item in CORPUS if item["id"] == dialogue_id)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PORTARIA_")}
    completed = subprocess.run(
        [sys.executable, "-m", "controller", "chat", "--directory", str(DIRECTORY_PATHS[dialogue["directory"]])],
        input="".join(turn + "\n" for turn in dialogue["turns"]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.splitlines()[-1]) == dialogue["expect"]
