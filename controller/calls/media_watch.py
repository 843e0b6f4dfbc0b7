"""Silent media: Asterisk hears a caller talking, but none of their audio reaches our AudioSocket server.

A mixing bridge sends nothing while nobody talks, so a quiet connection alone proves nothing. Asterisk's own
talk detector (TALK_DETECT on the caller's channel) firing while the connection's frame count stands still
does: the media path is broken (asterisk/asterisk#2089, res_audiosocket leaving about one call in 3-5 silent)
and waiting longer would leave the caller talking to nobody.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SilenceWatch:
    """One leg's watch. `talking()` when Asterisk hears the caller; `due_in()` when the timer it asked for fires."""

    window_s: float
    _since: float | None = None
    _frames: int = 0

    def talking(self, at: float, frames_in: int) -> float | None:
        """Asterisk heard the caller. The seconds until a check is due, or None if one is already pending."""
        if self._since is not None:
            return None
        self._since, self._frames = at, frames_in
        return self.window_s

    def due_in(self, at: float, frames_in: int) -> float | None:
        """None: audio arrived since the talking began (nothing to watch until the next time); 0: silent for the
        whole window; otherwise the seconds left."""
        if self._since is None:
            return None
        if frames_in != self._frames:
            self._since = None
            return None
        return max(0.0, self._since + self.window_s - at)
