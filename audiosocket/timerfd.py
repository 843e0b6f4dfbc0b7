"""A periodic kernel timer (Linux ``timerfd`` on CLOCK_MONOTONIC) whose file descriptor the event loop watches.

Why not ``asyncio.sleep``: the loop waits in ``epoll_wait``, whose timeout is in whole milliseconds (rounded
up), so every wake-up lands 0-1 ms late, uniformly: that alone was the whole p99 grid deviation of a single leg
(1.0 ms, ``docs/media.md``). A timerfd fires on absolute nanosecond deadlines, keeps its own period (no
drift to correct) and counts the expirations nobody read, which tells the frame clock how many slots a
stalled loop missed. Python 3.13 has ``os.timerfd_create``; on 3.11 we call libc through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _timespec(seconds: float) -> _Timespec:
    ns = max(0, round(seconds * 1e9))
    return _Timespec(ns // 1_000_000_000, ns % 1_000_000_000)


class TimerFd:
    """One periodic CLOCK_MONOTONIC timer. ``arm(first, period)`` uses ``time.monotonic()`` seconds."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError("timerfd is Linux-only")
        self._libc = ctypes.CDLL(None, use_errno=True)
        fd = self._libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_create: {os.strerror(errno)}")
        self.fd: int = fd

    def arm(self, first: float, period: float) -> None:
        """Expire at monotonic time `first` (at once if past), then every `period` seconds."""
        spec = _Itimerspec(_timespec(period), _timespec(first))
        if first <= 0:  # an all-zero it_value would disarm it
            spec.it_value = _Timespec(0, 1)
        if self._libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_settime: {os.strerror(errno)}")

    def disarm(self) -> None:
        self._libc.timerfd_settime(self.fd, 0, ctypes.byref(_Itimerspec()), None)

    def expirations(self) -> int:
        """Expirations since the last call (0 if none: the descriptor is non-blocking)."""
        try:
            return int.from_bytes(os.read(self.fd, 8), sys.byteorder)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_timerfd() -> TimerFd | None:
    """A timer, or None where the platform has none (the frame clock then sleeps on the event loop)."""
    try:
        return TimerFd()
    except (OSError, AttributeError):
        return None
