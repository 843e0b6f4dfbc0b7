"""The console's login: signed session cookies, CSRF tokens and a limit on bad logins (no I/O here).

A session cookie is ``<user>.<expiry>.<nonce>.<signature>``: HMAC-SHA256 with the console's secret over the
rest, so the server keeps no session table and a restart with a new random secret logs everyone out. The CSRF
token of a session is an HMAC of its nonce: every form of a page carries it and every action checks it, so a
page of another site cannot act with the operator's cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    expires: int
    nonce: str


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so the time taken tells nothing about the expected value."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class SessionSigner:
    def __init__(self, secret: bytes, clock: Callable[[], float], max_age_s: int = 8 * 3600) -> None:
        if len(secret) < 16:
            raise ValueError("the console's session secret must be at least 16 bytes")
        self._secret = secret
        self._clock = clock
        self.max_age_s = max_age_s

    def issue(self, user: str) -> str:
        body = f"{_b64(user.encode())}.{int(self._clock()) + self.max_age_s}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign('session', body)}"

    def verify(self, cookie: str | None) -> Session | None:
        """The session a cookie proves, or None (absent, tampered with, malformed or expired)."""
        if not cookie or cookie.count(".") != 3:
            return None
        body, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        user, expires, nonce = body.split(".")
        try:
            name, until = _unb64(user).decode(), int(expires)
        except (ValueError, UnicodeDecodeError):
            return None
        if until <= self._clock():
            return None
        return Session(name, until, nonce)

    def csrf(self, session: Session) -> str:
        return self._sign("csrf", session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))

    def _sign(self, purpose: str, text: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
        return _b64(digest)


@dataclass
class LoginGuard:
    """At most `max_failures` bad logins per client address within `window_s`; then refused until they age out."""

    clock: Callable[[], float]
    max_failures: int = 5
    window_s: float = 300.0
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def allowed(self, client: str) -> bool:
        return len(self._recent(client)) < self.max_failures

    def failed(self, client: str) -> None:
        self._failures[client] = [*self._recent(client), self.clock()]

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> list[float]:
        now = self.clock()
        recent = [at for at in self._failures.get(client, []) if now - at < self.window_s]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        return recent


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
