"""What /readyz checks: each answers (ok, detail), and a plain "not ready" is an answer, not an exception."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from audiosocket.server import AudioSocketServer
from audiosocket.speech.factory import SpeechEngines
from controller.ari.client import AriClient
from controller.ops.http import Check


def readiness_checks(
    connected: asyncio.Event,
    ari: AriClient,
    media: AudioSocketServer,
    speech: SpeechEngines,
    *,
    audit_usable: Callable[[], bool],
) -> dict[str, Check]:
    async def asterisk() -> tuple[bool, str]:
        if not connected.is_set():
            return False, "events socket not connected"
        registered = await ari.get(f"applications/{ari.app}")
        return registered.get("name") == ari.app, "connected, app registered"

    async def audiosocket() -> tuple[bool, str]:
        return media.serving, f"listening on port {media.port}" if media.serving else "not listening"

    async def recognition_and_voice() -> tuple[bool, str]:
        loaded = speech.whisper is None or speech.whisper.loaded
        voice = "kokoro" if speech.kokoro is not None and speech.kokoro.loaded else "espeak"
        return loaded, f"recogniser {'loaded' if loaded else 'not loaded'}, voice {voice}"

    async def audit() -> tuple[bool, str]:
        usable = audit_usable()
        return usable, "open" if usable else "unusable: the gate cannot open"

    return {"ari": asterisk, "audiosocket": audiosocket, "speech": recognition_and_voice, "audit": audit}
