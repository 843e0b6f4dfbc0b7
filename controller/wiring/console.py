"""Settings -> the operator console: its login, its view of the calls and what its pages are given (the settings
as plain, masked rows: the console never sees Settings nor a secret)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from controller.calls.stasis import StasisApp
from controller.ops.auth import LoginGuard, SessionSigner
from controller.ops.console import Console, DirectoryFile
from controller.ops.live import LiveCalls
from controller.records.audit import AuditStore
from controller.records.call_log import read_events
from controller.records.passes_store import PassStore
from controller.settings import ENV_PREFIX, Settings
from controller.wiring.settings_pt import DESCRIPTIONS

MASK = "••••••"
# Settings whose name says they hold a secret, whatever their type.
SECRET_NAME = re.compile(r"password|passwd|secret|key|token|credential", re.IGNORECASE)


def shown_value(name: str, value: object) -> str:
    """How the console shows a setting's value: secrets masked (set or not: "" when unset), URLs without their
    user:password part, everything else as text."""
    if value is None:
        return ""
    if isinstance(value, SecretStr) or SECRET_NAME.search(name):
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return MASK if text else ""
    text = str(getattr(value, "value", value))
    return _without_credentials(text)


def _without_credentials(text: str) -> str:
    """A URL without what may authenticate: its user:password part, its query's values (an API key), and a path
    segment that looks like a token (a webhook's secret path: 16+ characters, letters and digits mixed)."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return MASK if "@" in text else text  # unparseable; with a user part, show nothing of it
    netloc = f"{MASK}@{host}" if parts.username is not None or parts.password is not None else parts.netloc
    path = "/".join(MASK if _TOKEN.fullmatch(segment) else segment for segment in parts.path.split("/"))
    query = (
        "&".join(f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair for pair in parts.query.split("&"))
        if parts.query
        else ""
    )
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query))


_TOKEN = re.compile(r"(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_\-.~%]{16,}")


def settings_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable name, value as shown, what it does in pt-BR) of every setting, in the model's order."""
    return [
        (f"{ENV_PREFIX}{name.upper()}", shown_value(name, getattr(settings, name)), DESCRIPTIONS.get(name, ""))
        for name in Settings.model_fields
    ]


def local_zone() -> tzinfo:
    """This machine's time zone (TZ, /etc/localtime): where the console shows times and where its days begin."""
    return datetime.now().astimezone().tzinfo or UTC


def operator_console(
    settings: Settings,
    subscribe: Callable[[Callable[[dict[str, Any]], None]], object],
    audit: AuditStore,
    calls: StasisApp,
    directory: DirectoryFile,
    passes: PassStore | None = None,
    sites: Callable[[], dict[str, DirectoryFile]] | None = None,
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
        settings=settings_rows(settings),
        history=lambda: logged_events(settings.events_file),
        clock=lambda: datetime.now(UTC),
        hands_over=bool(settings.concierge_endpoint),
        passes=passes,
        sites=sites,
    )


def logged_events(path: Path) -> list[dict[str, Any]]:
    """Every per-call event the service has logged (none before the first call)."""
    return read_events(path) if path.exists() else []
