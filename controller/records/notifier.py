"""Notes to residents: a JSON POST to the webhook a site configures, so any app or WhatsApp gateway can take it.

Sent in the background: a slow or failing receiver never holds up a call, and a note still goes out after the
courier's call has ended (the notifier, not the call, owns the request; the service waits for the last ones at
shutdown). Each note is one try with a timeout; its outcome goes to the `report` callback (the call's events).
The token is sent as ``Authorization: Bearer`` and never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

log = logging.getLogger(__name__)

Report = Callable[[bool, str], None]  # (delivered, what happened: "HTTP 200", "timed out after 5 s", ...)


class Notifier(Protocol):
    def send(self, note: dict[str, Any], report: Report) -> None:
        """Send `note` in the background; `report` hears how it went."""

    async def aclose(self) -> None: ...


class WebhookNotifier:
    def __init__(self, url: str, *, token: str = "", timeout_s: float = 5.0) -> None:
        self._url = url
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def where(self) -> str:
        """The URL without its query (a token may be put there by a careless receiver)."""
        return self._url.split("?", 1)[0]

    def send(self, note: dict[str, Any], report: Report) -> None:
        task = asyncio.create_task(self._post(note, report), name="resident-note")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _post(self, note: dict[str, Any], report: Report) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        body = json.dumps(note, ensure_ascii=False)
        try:
            async with self._session.post(self._url, data=body.encode(), headers=headers) as response:
                await response.read()
                report(response.status < 300, f"HTTP {response.status} from {self.where}")
        except TimeoutError:
            report(False, f"no answer from {self.where} within {self._timeout.total:g} s")
        except aiohttp.ClientError as error:
            report(False, f"request to {self.where} failed ({type(error).__name__})")

    async def aclose(self, wait_s: float = 5.0) -> None:
        """Let the notes on their way finish (up to `wait_s`), then close."""
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=wait_s)
        for task in list(self._sending):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
