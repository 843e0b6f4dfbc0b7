"""systemd's notify protocol (sd_notify(3)) without libsystemd: under a unit with ``Type=notify`` the service says
READY=1 once it takes calls, and with ``WatchdogSec=`` it says WATCHDOG=1 while its event loop runs, so systemd
restarts a process that hangs (a stuck loop plays no audio and answers no call) and not only one that exits.

Outside systemd (no ``NOTIFY_SOCKET``) every method does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # "@name" is a socket in the abstract namespace: its first byte is NUL on the wire.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())  # a watchdog set up for another process is not ours to feed
        self.watchdog_s = int(usec) / 1e6 if self._address and usec.isdigit() and int(usec) > 0 and mine else None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, message: str) -> bool:
        """Send one state line ("READY=1", "WATCHDOG=1", "STOPPING=1"); False when it could not be sent."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the event loop: a receiver that stops reading fills its queue, and a blocking send
                # would then stall every call; a dropped ping is what the watchdog is there to notice.
                sock.setblocking(False)
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as error:
            if not self._warned:  # once: a watchdog ping every few seconds must not flood the log
                log.warning("systemd notification %r not sent: %s", message, error)
                self._warned = True
            return False
        return True

    async def keep_alive(self) -> None:
        """WATCHDOG=1 three times per watchdog period until cancelled; each ping needs the event loop to run."""
        if self.watchdog_s is None:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 3)
