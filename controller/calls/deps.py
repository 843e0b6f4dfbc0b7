"""What a gate call is given: its plain config (from the composition root) and the long-lived parts it uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from audiosocket.events import EventSink
from audiosocket.frame_clock import FrameClock
from audiosocket.media_leg import LegConfig
from audiosocket.server import AudioSocketServer
from audiosocket.speech.factory import SpeechEngines
from audiosocket.vad_pool import VadPool
from controller.ari.asterisk import AsteriskOps
from controller.calls.runner import CallRunner
from controller.conversation.dialog import DialogPolicy
from controller.conversation.understanding import Understanding
from controller.records.audit import AuditLog
from controller.records.directory_file import LiveDirectory
from controller.records.gate_opener import GateOpener
from controller.records.notifier import Notifier
from controller.records.passes_store import PassBook
from controller.records.resource_journal import ResourceJournal
from controller.records.store import ConversationStore

FALLBACK_CONTEXT = "portaria-fallback"  # the dialplan context that hands a visitor to a person
CONCIERGE_VARIABLE = "PORTARIA_CONCIERGE"  # whom that context dials (asterisk-conf/extensions.conf)


async def to_the_fallback(ari: AsteriskOps, channel_id: str, *, concierge: str, context: str) -> None:
    """Send a caller in our app to the dialplan's fallback `context`, which dials `concierge` when one is set
    (its own default otherwise)."""
    if concierge:
        await ari.set_variable(channel_id, CONCIERGE_VARIABLE, concierge)
    await ari.continue_in_dialplan(channel_id, context)


@dataclass(frozen=True, slots=True)
class CallConfig:
    app: str
    media_address: str
    media_format: str
    leg: LegConfig
    policy: DialogPolicy
    endpoint_template: str = ""
    caller_id: str = "Portaria"
    concierge_endpoint: str = ""  # empty: a hand-over ends the call politely instead
    setup_timeout_s: float = 5.0
    fallback_context: str = FALLBACK_CONTEXT
    end_grace_s: float = 20.0  # after the visitor hangs up, time left to tell the resident and end
    media_silence_s: float = 0.0  # a caller heard talking with no audio reaching us: the leg is broken (0: off)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDeps:
    ari: AsteriskOps
    media: AudioSocketServer
    events: EventSink
    config: CallConfig
    speech: SpeechEngines
    directory: LiveDirectory
    store: ConversationStore
    vads: VadPool
    understanding: Understanding
    audit: AuditLog
    opener: GateOpener
    frame_clock: FrameClock
    passes: PassBook | None = None  # pre-authorisations (None: none are looked up)
    notifier: Notifier | None = None  # the site's notes to residents (None: it has nowhere to send them)
    site: str = ""  # the condominium the call's gate belongs to (sites file; "default" without one)
    gate: str = ""  # the gate's key, as the dialplan gave it
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # which passes are valid
    runner: type[CallRunner] = CallRunner  # what runs the conversation (a test may script the media instead)
    journal: ResourceJournal | None = None  # what this call makes in Asterisk, for a restart after a crash
