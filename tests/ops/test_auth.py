"""The console's sessions, CSRF tokens and bad-login limit."""

from __future__ import annotations

import pytest

from controller.ops.auth import LoginGuard, SessionSigner, same_secret

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_cookie_proves_its_user_until_it_expires() -> None:
    clock = Clock()
    signer = SessionSigner(KEY, clock, max_age_s=60)
    cookie = signer.issue("operadora.ana")
    session = signer.verify(cookie)
    assert session is not None and session.user == "operadora.ana"
    clock.now += 61
    assert signer.verify(cookie) is None


@pytest.mark.parametrize("cookie", ["", "a.b.c", "a.b.c.d.e", "x.1.n.sig"])
def test_malformed_cookies_prove_nothing(cookie: str) -> None:
    assert SessionSigner(KEY, Clock()).verify(cookie) is None


def test_a_cookie_changed_or_signed_with_another_key_proves_nothing() -> None:
    clock = Clock()
    cookie = SessionSigner(KEY, clock).issue("ana")
    user, expires, nonce, signature = cookie.split(".")
    longer = f"{user}.{int(expires) + 10**6}.{nonce}.{signature}"
    assert SessionSigner(KEY, clock).verify(longer) is None
    assert SessionSigner(b"z" * 32, clock).verify(cookie) is None


def test_the_csrf_token_belongs_to_its_session() -> None:
    clock = Clock()
    signer = SessionSigner(KEY, clock)
    first, second = signer.verify(signer.issue("ana")), signer.verify(signer.issue("ana"))
    assert first is not None and second is not None
    assert signer.csrf_ok(first, signer.csrf(first))
    assert not signer.csrf_ok(first, signer.csrf(second))
    assert not signer.csrf_ok(first, "") and not signer.csrf_ok(first, None)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SessionSigner(b"short", Clock())


def test_bad_logins_are_limited_per_client_and_age_out() -> None:
    clock = Clock()
    guard = LoginGuard(clock, max_failures=3, window_s=60)
    for _ in range(3):
        assert guard.allowed("10.0.0.9")
        guard.failed("10.0.0.9")
    assert not guard.allowed("10.0.0.9")
    assert guard.allowed("10.0.0.10")  # another client is not locked out
    clock.now += 61
    assert guard.allowed("10.0.0.9")


def test_a_good_login_clears_the_count() -> None:
    guard = LoginGuard(Clock(), max_failures=2)
    guard.failed("c")
    guard.succeeded("c")
    guard.failed("c")
    assert guard.allowed("c")


def test_secrets_compare_by_value() -> None:
    assert same_secret("senha-longa-123", "senha-longa-123")
    assert not same_secret("senha-longa-123", "senha-longa-124") and not same_secret("", "x")
