"""Fail safe at the gate, checked over every event sequence (model check) and long random ones.

A monitor follows the trace, independently of the conversation's own state, and OpenGate must only ever come:

- after ResidentAnswered for the endpoint last dialled;
- after that, a yes on the resident leg (DTMF 1, or words the resident rules read as yes);
- after that, WriteAudit of an AUTHORISED record;
- after that, AuditWritten(ok=True, AUTHORISED), with no failed audit since;
- from AuditWritten (first try, visitor still there) or a failed GateOpened (second try), never from anything said
  or typed on the visitor's leg; and at most twice per call.

With pre-authorisations (passes.py) there is one other way: a pass's own AUTHORISED record, written only after
the visitor gave that pass's name (a pass without a code) or typed its code, and only once it is written.

The breadth-first search runs every sequence of the alphabet below up to `DEPTH` events from the moment the first
dial is out, merging identical (state, monitor) pairs; the random walks start at the greeting and go on longer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from controller.conversation import (
    Answer,
    AuditWritten,
    CallAction,
    CallStarted,
    CallTarget,
    Conversation,
    Decision,
    DialResident,
    DtmfReceived,
    ErrorOccurred,
    Event,
    GateOpened,
    Leg,
    LegHungUp,
    OpenGate,
    PlaybackFinished,
    ResidentAnswered,
    ResidentRinging,
    ResidentUnavailable,
    Timer,
    TimerFired,
    Unavailable,
    UtteranceHeard,
    WriteAudit,
    read_answer,
)
from controller.conversation.dialog import Dialog
from controller.conversation.events import How
from controller.conversation.passes import Pass
from tests.resident.drive import RENATA, calling

DEPTH = 10
OTHER = CallTarget("Carlos Souza", "PJSIP/999")

RESIDENT_EVENTS: tuple[Event, ...] = (
    ResidentRinging(RENATA, 1),
    ResidentAnswered(RENATA),
    ResidentAnswered(OTHER),
    ResidentUnavailable(RENATA, 1, Unavailable.NO_ANSWER),
    ResidentUnavailable(RENATA, 2, Unavailable.BUSY),
    UtteranceHeard("pode subir", leg=Leg.RESIDENT),
    UtteranceHeard("não pode subir", leg=Leg.RESIDENT),
    UtteranceHeard("quero falar com ele", leg=Leg.RESIDENT),
    UtteranceHeard("hmm", leg=Leg.RESIDENT),
    DtmfReceived("1", Leg.RESIDENT),
    DtmfReceived("2", Leg.RESIDENT),
    DtmfReceived("3", Leg.RESIDENT),
    PlaybackFinished(Leg.RESIDENT),
    TimerFired(Timer.RESIDENT_SILENCE),
    TimerFired(Timer.REASSURE),
    LegHungUp(Leg.RESIDENT),
)
VISITOR_EVENTS: tuple[Event, ...] = (
    UtteranceHeard("sim"),
    UtteranceHeard("pode abrir o portão, a Renata liberou"),
    UtteranceHeard("quero falar com o porteiro"),
    DtmfReceived("1"),
    DtmfReceived("#"),
    LegHungUp(Leg.GATE),
)
RESULTS: tuple[Event, ...] = (
    AuditWritten(True, Decision.AUTHORISED),
    AuditWritten(False, Decision.AUTHORISED),
    AuditWritten(True, Decision.DENIED),
    GateOpened(True),
    GateOpened(False),
    ErrorOccurred("boom"),
)
ALPHABET = RESIDENT_EVENTS + VISITOR_EVENTS + RESULTS


@dataclass(frozen=True, slots=True)
class Monitor:
    """What the trace so far has shown, by the safety rule's own definitions."""

    dialled: CallTarget | None = None
    answered: bool = False
    yes: bool = False
    audit_emitted: bool = False
    audit_ok: bool = False
    visitor_gone: bool = False
    opens: int = 0

    def step(self, event: Event, actions: list[CallAction]) -> Monitor:
        monitor = self.before(event)
        for action in actions:
            monitor = monitor.after(event, action)
        return monitor

    def before(self, event: Event) -> Monitor:
        match event:
            case ResidentAnswered(target=target) if target == self.dialled:
                return replace(self, answered=True)
            case DtmfReceived(digit="1", leg=Leg.RESIDENT) if self.answered:
                return replace(self, yes=True)
            case UtteranceHeard(text=text, leg=Leg.RESIDENT) if self.answered:
                return replace(self, yes=self.yes or read_answer(text, delivery=True) is Answer.YES)
            case AuditWritten(ok=True, decision=Decision.AUTHORISED) if self.audit_emitted:
                return replace(self, audit_ok=True)
            case AuditWritten(ok=False, decision=Decision.AUTHORISED) if self.audit_emitted and not self.audit_ok:
                return replace(self, audit_emitted=False)  # that record failed: a new yes and record are needed
            case LegHungUp(leg=Leg.GATE):
                return replace(self, visitor_gone=True)
        return self

    def after(self, event: Event, action: CallAction) -> Monitor:
        match action:
            case DialResident(target=target):
                return replace(self, dialled=target)
            case WriteAudit(record=record) if record.decision is Decision.AUTHORISED and self.yes:
                return replace(self, audit_emitted=True)
            case OpenGate():
                assert self.answered, "OpenGate before the resident answered"
                assert self.yes, "OpenGate without a resident yes"
                assert self.audit_emitted, "OpenGate without WriteAudit(AUTHORISED)"
                assert self.audit_ok, "OpenGate without AuditWritten(ok=True)"
                assert isinstance(event, (AuditWritten, GateOpened)), f"OpenGate from {event}"
                assert not (isinstance(event, AuditWritten) and self.visitor_gone), "OpenGate after the visitor left"
                assert self.opens < 2, "more than two tries to open"
                return replace(self, opens=self.opens + 1)
        return self


def test_model_check_every_sequence_from_the_first_dial(conversation: Conversation) -> None:
    start, actions = calling(conversation)
    frontier = {(start, Monitor().step(CallStarted(), actions))}
    seen = set(frontier)
    opened = 0
    for _ in range(DEPTH):
        following = set()
        for state, monitor in frontier:
            for event in ALPHABET:
                new_state, new_actions = conversation.handle(state, event)
                new_monitor = monitor.step(event, new_actions)
                opened += any(isinstance(action, OpenGate) for action in new_actions)
                pair = (new_state, new_monitor)
                if pair not in seen:
                    seen.add(pair)
                    following.add(pair)
        frontier = following
    assert opened > 0  # the search does reach the opening, so the assertions above were exercised
    assert len(seen) > 500, len(seen)


def _walk(conversation: Conversation, rng: random.Random, steps: int) -> Iterator[tuple[Event, list[CallAction]]]:
    state, actions = conversation.handle(conversation.start("walk"), CallStarted())
    yield CallStarted(), actions
    story: list[Event] = [
        UtteranceHeard("sou o joao tenho uma entrega pra renata do cento e um"),
        UtteranceHeard("sim"),
    ]
    for _ in range(steps):
        event = story.pop(0) if story and rng.random() < 0.9 else rng.choice(ALPHABET)
        state, actions = conversation.handle(state, event)
        yield event, actions


def test_random_walks_from_the_greeting(conversation: Conversation) -> None:
    rng = random.Random(20261125)
    opened = 0
    for _ in range(3000):
        monitor = Monitor()
        for event, actions in _walk(conversation, rng, 40):
            monitor = monitor.step(event, actions)
            opened += any(isinstance(action, OpenGate) for action in actions)
    assert opened > 0


def test_visitor_input_alone_never_opens(conversation: Conversation) -> None:
    """Everything the visitor can say or type, in any order, with the results a runner could invent."""
    rng = random.Random(7)
    visitor_only = VISITOR_EVENTS[:-1] + RESULTS + (TimerFired(Timer.REASSURE), ResidentRinging(RENATA, 1))
    for _ in range(2000):
        state, _ = calling(conversation)
        for _ in range(20):
            state, actions = conversation.handle(state, rng.choice(visitor_only))
            assert not any(isinstance(action, OpenGate) for action in actions)


# Pre-authorised visitors: the other way a yes reaches the gate ------------------------------------------------

JOAO = Pass("1", "101", None, "João Silva", RENATA.resident, "t0", "2026-12-04T08:00", "2026-12-04T18:00")
PAULO = Pass("2", "101", None, "Paulo Mendes", RENATA.resident, "t0", "2026-12-04T08:00", "2026-12-04T18:00", "482913")
AUTHORISED = Decision.AUTHORISED
PASS_VISITOR: tuple[Event, ...] = (
    UtteranceHeard("sou o joao tenho uma entrega pra renata do cento e um"),
    UtteranceHeard("sou o pedro tenho uma entrega pra renata do cento e um"),
    UtteranceHeard("sou o paulo mendes visita pra renata do 101"),
    *(DtmfReceived(digit) for digit in "4829137*#"),
    TimerFired(Timer.DTMF),
)


@dataclass(frozen=True, slots=True)
class PassMonitor:
    """A pass may stand for the resident's yes only if the visitor gave its (code-less) pass's name, or typed its
    code; then only its own record, written, opens. Anything else must meet the resident rules (Monitor)."""

    base: Monitor = Monitor()
    named: bool = False
    typed: str = ""
    granted: bool = False  # WriteAudit of a pass's AUTHORISED record
    granted_ok: bool = False

    def step(self, event: Event, actions: list[CallAction]) -> PassMonitor:
        monitor = self
        match event:
            case UtteranceHeard(text=text, leg=Leg.GATE) if "joao" in text:
                monitor = replace(monitor, named=True)
            case DtmfReceived(digit=digit, leg=Leg.GATE):
                monitor = replace(monitor, typed="" if digit == "*" else monitor.typed + digit)
            case AuditWritten(ok=ok, decision=Decision.AUTHORISED) if monitor.granted and not monitor.granted_ok:
                monitor = replace(monitor, granted_ok=ok, granted=ok)  # a failed record needs a new one
        base = monitor.base.before(event)
        for action in actions:
            match action:
                case WriteAudit(record=record) if record.how is How.PREAUTHORISED and record.decision is AUTHORISED:
                    by_name = record.preauthorisation == JOAO.describe() and monitor.named
                    by_code = record.preauthorisation == PAULO.describe() and PAULO.code in monitor.typed
                    assert by_name or by_code, f"a pass's yes without its name or code: {record}"
                    monitor = replace(monitor, granted=True)
                case OpenGate() if monitor.granted_ok:
                    assert isinstance(event, (AuditWritten, GateOpened)), f"OpenGate from {event}"
                case _:
                    base = base.after(event, action)
        return replace(monitor, base=base)


def test_random_walks_with_passes_open_only_on_a_pass_given_or_a_resident_yes(condo_passes: Conversation) -> None:
    rng = random.Random(20261204)
    alphabet = ALPHABET + PASS_VISITOR
    by_pass = 0
    for _ in range(3000):
        state, actions = condo_passes.handle(condo_passes.start("walk"), CallStarted())
        monitor = PassMonitor().step(CallStarted(), actions)
        for _ in range(30):
            event = rng.choice(PASS_VISITOR) if rng.random() < 0.5 else rng.choice(alphabet)
            state, actions = condo_passes.handle(state, event)
            monitor = monitor.step(event, actions)
            by_pass += monitor.granted_ok and any(isinstance(action, OpenGate) for action in actions)
    assert by_pass > 0, "the walks do reach an opening on a pass"


@pytest.fixture
def condo_passes(conversation: Conversation) -> Conversation:
    dialog = conversation.dialog
    return Conversation(Dialog(dialog.index.directory, dialog.policy, passes=(JOAO, PAULO)))
