"""The note a delivery nobody answered for sends to the apartment (controller/records/notifier.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.conversation.events import NotifyResident
from controller.records.notifier import Notifier


def send_delivery_note(
    notifier: Notifier | None, action: NotifyResident, *, site: str, gate: str, call_id: str, emit: Callable[..., None]
) -> None:
    """Hand the note to the site's notifier (none: nothing to do); its outcome becomes a call event."""
    if notifier is None:
        return
    request = action.request
    note: dict[str, Any] = {
        "event": "delivery_nobody_home",
        "site": site,
        "gate": gate,
        "call_id": call_id,
        "apartment": request.apartment,
        "block": request.block,
        "resident": request.resident,
        "visitor_name": request.visitor_name,
        "policy": str(action.policy),
    }
    emit("resident_note", policy=str(action.policy))

    def report(delivered: bool, detail: str) -> None:
        emit("resident_note_sent" if delivered else "resident_note_failed", detail=detail)

    notifier.send(note, report)
