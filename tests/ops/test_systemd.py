"""The systemd notifications, received on a real Unix datagram socket as systemd would receive them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.ops.systemd import SystemdNotifier


@contextlib.contextmanager
def listening(address: str) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + address[1:] if address.startswith("@") else address)
    sock.settimeout(5)
    try:
        yield sock
    finally:
        sock.close()


def test_ready_reaches_the_socket_named_in_the_environment(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with listening(path) as sock:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
        assert notifier.enabled and notifier.watchdog_s is None
        assert notifier.notify("READY=1")
        assert sock.recv(100) == b"READY=1"


def test_an_abstract_socket_is_reached_too() -> None:
    address = f"@portaria-test-{uuid.uuid4().hex}"
    with listening(address) as sock:
        assert SystemdNotifier({"NOTIFY_SOCKET": address}).notify("STOPPING=1")
        assert sock.recv(100) == b"STOPPING=1"


async def test_the_watchdog_is_fed_while_the_loop_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with listening(path) as sock:
        sock.setblocking(False)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000", "WATCHDOG_PID": str(os.getpid())})
        assert notifier.watchdog_s == 0.03
        feeding = asyncio.create_task(notifier.keep_alive())
        pings: list[bytes] = []
        async with asyncio.timeout(10):
            while len(pings) < 3:
                await asyncio.sleep(0.01)
                with contextlib.suppress(BlockingIOError):
                    pings.append(sock.recv(100))
        feeding.cancel()
        assert set(pings) == {b"WATCHDOG=1"}


def test_outside_systemd_or_for_another_process_nothing_is_sent(tmp_path: Path) -> None:
    assert not SystemdNotifier({}).enabled and not SystemdNotifier({}).notify("READY=1")
    other = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None  # systemd watches pid 1 there, not us
    assert SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "junk"}).watchdog_s is None


def test_a_socket_that_is_gone_is_a_warning_once_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING):
        assert not notifier.notify("WATCHDOG=1")
        assert not notifier.notify("WATCHDOG=1")
    assert caplog.text.count("not sent") == 1


def test_a_receiver_that_stops_reading_never_blocks_the_sender(tmp_path: Path) -> None:
    # A datagram queue that is full makes a blocking send wait forever, and with it every call on the event loop.
    address = str(tmp_path / "notify")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address})
    with listening(address) as receiver:
        sent = [notifier.notify("WATCHDOG=1") for _ in range(1000)]
        assert sent[0] and not sent[-1]  # the first ones queued, the later ones dropped instead of waiting
        assert receiver.recv(100) == b"WATCHDOG=1"
