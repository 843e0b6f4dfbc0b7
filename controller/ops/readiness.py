"""What /readyz checks: each answers (ok, detail), and a plain "not ready" is an answer, not an exception."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from audiosocket.server import AudioSocketServer
from audiosocket.speech.factory import SpeechEngines
from controller.ari.client import AriClient
from controller.ops.http import Check
from controller.records.audit import AuditError


def readiness_checks(
    connected: asyncio.Event,
    ari: AriClient,
    media: AudioSocketServer,
    speech: SpeechEngines,
    *,
    audit_usable: Callable[[], bool],
    audit_writable: Callable[[], Awaitable[None]],
) -> dict[str, Check]:
    """`audit_usable`: the audit log opened at start-up; `audit_writable` raises AuditError when a decision could
    not be written now (locked, read-only, its last write failed)."""

    async def asterisk() -> tuple[bool, str]:
        if not connected.is_set():
            return False, "events socket not connected"
        registered = await ari.get(f"applications/{ari.app}")
        return registered.get("name") == ari.app, "connected, app registered"

    async def audiosocket() -> tuple[bool, str]:
        return media.serving, f"listening on port {media.port}" if media.serving else "not listening"

    async def recognition_and_voice() -> tuple[bool, str]:
        loaded = speech.whisper is None or speech.whisper.loaded
        if speech.kokoro is None:
            voice = "espeak"
        else:  # calls still speak through the fallback voice: ready, and said
            voice = "kokoro" if speech.kokoro.loaded else "espeak (kokoro configured, not loaded: fallback voice)"
        return loaded, f"recogniser {'loaded' if loaded else 'not loaded'}, voice {voice}"

    async def audit() -> tuple[bool, str]:
        if not audit_usable():
            return False, "unusable since start-up: the gate cannot open"
        try:
            await audit_writable()
        except AuditError as error:
            return False, f"not writable, the gate cannot open: {error}"
        return True, "writable"

    return {"ari": asterisk, "audiosocket": audiosocket, "speech": recognition_and_voice, "audit": audit}
