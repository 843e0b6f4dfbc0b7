"""Which of a call's channels is the resident's: the phones a ring-all step rings, and the one that answered.

A gate call rings a resident's phones once per dial (``portaria-resident-<call>-<n>``, ``-2``, ``-3`` for the
other phones of the same step). Every channel it creates is the call's own until it is gone, so teardown hangs up
whatever is left; only the channel that answered is the resident's leg, whose end the conversation hears.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.calls import dialling


@dataclass(eq=False)
class ResidentChannels:
    """The resident side of one call. `owned` is the call's set of channels it must hang up at teardown."""

    call_id: str
    owned: set[str]
    channel: str | None = None  # the one being rung first, then the one that answered
    also_ringing: tuple[str, ...] = ()  # the other phones of a ring-all step, while it rings
    answered: bool = False
    _dials: int = field(default=0, repr=False)

    def ring(self, endpoints: list[str]) -> list[tuple[str, str]]:
        """A new ring-all step: a (channel id, endpoint) per phone, all owned by the call from now on."""
        self._dials += 1
        base = f"portaria-resident-{self.call_id}-{self._dials}"
        dials = [(base if index == 0 else f"{base}-{index + 1}", e) for index, e in enumerate(endpoints)]
        for channel, endpoint in dials:
            other_half = dialling.local_other_half(channel, endpoint)
            self.owned.update(c for c in (channel, other_half) if c is not None)
        self.channel, self.also_ringing = base, tuple(channel for channel, _ in dials[1:])
        self.answered = False  # a phone ringing is nobody's leg yet, whoever answered an earlier dial
        return dials

    def rung(self) -> None:
        """The step is over (answered or not): nothing else rings."""
        self.also_ringing = ()

    def picked_up(self, channel: str, dials: list[tuple[str, str]]) -> None:
        """`channel` answered: the step's other phones are gone, and it is the resident's leg."""
        for other, _ in dials:
            if other != channel:
                self.forget(other)
        self.channel, self.answered = channel, True

    def dropped(self) -> None:
        """The answered channel never became a leg (its media failed): its end is ours, not the resident's."""
        self.channel, self.answered = None, False

    def forget(self, channel: str) -> None:
        """`channel` has ended: teardown has nothing left to hang up there."""
        self.owned.discard(channel)
        self.owned.discard(f"{channel};2")
        if self.channel == channel:
            self.channel = None

    def is_leg(self, channel_id: str | None) -> bool:
        """Whether `channel_id` is the resident leg: the channel that answered."""
        return channel_id is not None and channel_id == self.channel and self.answered
