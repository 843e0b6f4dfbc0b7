"""Settings -> the operator console: its login, its view of the calls and what its pages are given."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from controller.calls.stasis import StasisApp
from controller.ops.auth import LoginGuard, SessionSigner
from controller.ops.console import Console, DirectoryFile
from controller.ops.live import LiveCalls
from controller.records.audit import SqliteAuditLog
from controller.settings import Settings


def local_zone() -> tzinfo:
    """This machine's time zone (TZ, /etc/localtime): where the console shows times and where its days begin."""
    return datetime.now().astimezone().tzinfo or UTC


def operator_console(
    settings: Settings,
    subscribe: Callable[[Callable[[dict[str, Any]], None]], object],
    audit: SqliteAuditLog,
    calls: StasisApp,
    directory: DirectoryFile,
) -> Console | None:
    """The console at /console, when a password is set; only then does its view of the calls follow the events."""
    if settings.console_password is None:
        return None
    live = LiveCalls()
    subscribe(live.on_event)
    secret = settings.console_session_secret
    key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
    return Console(
        user=settings.console_user,
        password=settings.console_password.get_secret_value(),
        signer=SessionSigner(key, time.time),
        guard=LoginGuard(time.monotonic),
        live=live,
        audit=audit.search,
        actions=calls,
        zone=local_zone(),
        directory=directory,
    )
