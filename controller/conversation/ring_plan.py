"""Whom to ring for a visitor, in which order and for how long: the apartment's ring list as call targets.

An apartment with ``phones`` in the directory is rung as the administrator wrote it: each phone once, for its
own ring time, in order (a remote concierge's "hierarquia de números"). Without it, the resident the visitor
asked for goes first, then the apartment's other residents, each on their own endpoint or the apartment's
phone, each dialled the policy's number of attempts. With ``ring_all`` every one of those phones rings at once,
as one step: the first to answer decides, the others stop.
"""

from __future__ import annotations

from controller.conversation.directory import Apartment
from controller.conversation.events import CallTarget


def ring_plan(apartment: Apartment, asked_for: str | None) -> tuple[CallTarget, ...]:
    """The steps of the resident phase for `apartment`, when the visitor asked for `asked_for` (or nobody)."""
    default_name = asked_for or apartment.residents[0]
    if apartment.phones:
        steps = tuple(
            CallTarget(phone.name or default_name, phone.endpoint, phone.ring_s, attempts=1)
            for phone in apartment.phones
        )
    else:
        first = () if asked_for is None else (asked_for,)
        residents = (*first, *(name for name in apartment.residents if name != asked_for))
        steps = tuple(CallTarget(name, apartment.endpoint_for(name)) for name in residents)
    if not apartment.ring_all or len(distinct(steps)) < 2:
        return steps  # the resident phase rings each endpoint once, however many residents share it
    steps = distinct(steps)
    rings = [step.ring_s for step in steps if step.ring_s is not None]
    together = CallTarget(
        default_name,
        steps[0].endpoint,
        max(rings) if rings else None,
        attempts=1 if apartment.phones else 0,
        also=tuple(step.endpoint for step in steps[1:]),
    )
    return (together,)


def distinct(targets: tuple[CallTarget, ...]) -> tuple[CallTarget, ...]:
    """One step per endpoint: residents sharing the apartment's phone are one call, not several."""
    seen: set[str] = set()
    kept = []
    for target in targets:
        if target.endpoint not in seen:
            seen.add(target.endpoint)
            kept.append(target)
    return tuple(kept)
