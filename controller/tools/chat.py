"""`python -m controller chat`: talk to the concierge in text, one visitor utterance per line on stdin.

Each reply the visitor would hear is printed on its own line. At the end of input one JSON line reports the
request: ``intent_type``, ``interlocutor_name``, ``apartment_number``, ``resident_name`` (as in the directory),
``valid_for_action`` (and ``block`` when the apartment has one).

Lines starting with ``#`` simulate the call instead of speech:

- ``#dtmf 101`` types digits on the keypad (ended with ``#`` unless the line already ends with one);
- ``#silencio`` lets the reprompt timer run out (the visitor said nothing);
- ``# anything else`` is a comment.

It runs the same :class:`~controller.conversation.Dialog` as real calls and needs no Asterisk settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

from controller.conversation import (
    Action,
    CallStarted,
    Dialog,
    DialogState,
    DtmfReceived,
    Event,
    Say,
    Timer,
    TimerFired,
    Understanding,
    UtteranceHeard,
    outcome,
)
from controller.conversation.directory import DirectoryError
from controller.conversation.reading import dialog_facts
from controller.records.directory_file import load_directory
from controller.records.store import ConversationStore
from controller.settings import SettingsError, load_settings
from controller.wiring import conversation_store, dialog_policy
from controller.wiring import understanding as build_understanding


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller chat", description=__doc__.split("\n")[0])
    parser.add_argument("--directory", type=Path, help="residents directory (default: PORTARIA_DIRECTORY)")
    parser.add_argument("--actions", action="store_true", help="also print every action on stderr")
    return parser


def events_for_line(line: str) -> list[Event]:
    """The events one input line stands for: speech, a `#` simulation, or nothing (comments, blank lines)."""
    line = line.strip()
    if not line:
        return []
    if not line.startswith("#"):
        return [UtteranceHeard(line)]
    command, _, argument = line[1:].strip().partition(" ")
    if command == "dtmf":
        keys = "".join(argument.split())
        return [DtmfReceived(key) for key in (keys if keys.endswith("#") else keys + "#")]
    if command in ("silencio", "silence"):
        return [TimerFired(Timer.SILENCE)]
    return []


class _Session:
    def __init__(self, dialog: Dialog, understanding: Understanding, store: ConversationStore, verbose: bool) -> None:
        self.dialog = dialog
        self.understanding = understanding
        self.store = store
        self.verbose = verbose

    async def feed(self, state: DialogState, event: Event) -> DialogState:
        if isinstance(event, UtteranceHeard) and event.understood is None:
            context = dialog_facts(self.dialog.context(state), state)
            heard = await self.understanding.understand(event.text, context)
            event = UtteranceHeard(event.text, heard)
        state, actions = self.dialog.handle(state, event)
        self._show(actions)
        await self.store.save(state)
        return state

    def _show(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Say):
                print(action.text, flush=True)
            if self.verbose:
                print(f"  -> {action}", file=sys.stderr)


async def _run(session: _Session) -> dict[str, object]:
    state = session.dialog.start(f"chat-{uuid.uuid4().hex[:12]}")
    try:
        state = await session.feed(state, CallStarted())
        for line in sys.stdin:
            for event in events_for_line(line):
                state = await session.feed(state, event)
        return outcome(state)
    finally:
        await session.store.delete(state.call_id)
        await session.store.aclose()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings() if args.directory is None else load_settings(directory=args.directory)
        directory = load_directory(settings.directory)
        understanding = build_understanding(settings)  # PORTARIA_UNDERSTANDING=llm imports CrewAI here
    except (SettingsError, DirectoryError) as error:
        print(f"chat: {error}", file=sys.stderr)
        return 2
    dialog = Dialog(directory, dialog_policy(settings))
    session = _Session(dialog, understanding, conversation_store(settings), args.actions)
    result = asyncio.run(_run(session))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0
