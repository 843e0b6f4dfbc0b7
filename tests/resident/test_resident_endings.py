"""The resident phase driven with events: how it ends when someone leaves, asks for a person or breaks."""

from __future__ import annotations

from controller.conversation import (
    AuditWritten,
    CallStarted,
    CallTarget,
    CancelTimer,
    Conversation,
    Decision,
    DialogState,
    EndCall,
    ErrorOccurred,
    Fallback,
    FallbackReason,
    GateOpened,
    Hangup,
    How,
    Leg,
    LegHungUp,
    OpenGate,
    Phase,
    ResidentAnswered,
    ResidentRinging,
    Say,
    Timer,
    UtteranceHeard,
    WriteAudit,
)
from controller.conversation.ring_plan import distinct
from tests.resident.drive import RENATA, REQUEST, asking, calling, feed, of_type, record, said

CANCELLED = ("PJSIP/101:cancelled",)


def test_visitor_hangs_up_while_ringing_cancels_the_dial_and_records_abandoned(conversation: Conversation) -> None:
    state, _ = calling(conversation)
    state, actions = feed(conversation, state, ResidentRinging(RENATA, 1), LegHungUp(Leg.GATE))
    assert actions == [
        CancelTimer(Timer.REASSURE),
        CancelTimer(Timer.RESIDENT_SILENCE),
        WriteAudit(record(Decision.ABANDONED, How.NONE, rung=CANCELLED)),  # the dial was still ringing
        Hangup(Leg.RESIDENT),
        EndCall(),
    ]
    assert feed(conversation, state, ResidentAnswered(RENATA))[1] == []


def test_visitor_hangs_up_while_the_resident_talks(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    _, actions = feed(conversation, state, LegHungUp(Leg.GATE))
    assert actions[-3:] == [Say(Leg.RESIDENT, "O visitante desligou. Obrigado!"), Hangup(Leg.RESIDENT), EndCall()]
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.ABANDONED, How.NONE))]


def test_visitor_gone_before_the_audit_returns_means_no_opening(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim")
    state, actions = feed(conversation, state, LegHungUp(Leg.GATE))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.ABANDONED, How.NONE))]
    assert feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))[1] == []


def test_visitor_gone_while_opening_lets_the_try_finish_without_retry(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim", AuditWritten(True, Decision.AUTHORISED))
    state, actions = feed(conversation, state, LegHungUp(Leg.GATE))
    assert actions == []
    _, actions = feed(conversation, state, GateOpened(False))
    assert not of_type(actions, OpenGate) and Hangup(Leg.GATE) not in actions and EndCall() in actions


def test_resident_hangs_up_before_deciding_the_visitor_is_told(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    _, actions = feed(conversation, state, LegHungUp(Leg.RESIDENT))
    assert actions[2:] == [
        WriteAudit(record(Decision.RESIDENT_HUNG_UP, How.NONE)),
        Say(Leg.GATE, "A Renata desligou sem confirmar, então não posso liberar a entrada. Até logo.", protected=True),
        Hangup(Leg.GATE),
        EndCall(),
    ]


def test_resident_hangs_up_after_yes_the_gate_still_opens(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim", LegHungUp(Leg.RESIDENT))
    state, actions = feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))
    assert actions == [OpenGate(REQUEST, 1)]
    _, actions = feed(conversation, state, GateOpened(True))
    assert Hangup(Leg.RESIDENT) not in actions and said(actions) == ["A Renata liberou a entrada. Pode entrar."]


def test_visitor_asking_for_a_person_while_we_call(conversation: Conversation, alone: Conversation) -> None:
    state, _ = calling(conversation)
    _, actions = feed(conversation, state, UtteranceHeard("quero falar com o porteiro"))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.TRANSFERRED, How.NONE, rung=CANCELLED))]
    assert actions[-4:] == [
        Say(Leg.GATE, "Tudo bem, vou transferir para a portaria. Um momento.", protected=True),
        Hangup(Leg.RESIDENT),
        Fallback(FallbackReason.VISITOR_ASKED),
        EndCall(),
    ]
    state, _ = calling(alone)
    assert alone.handle(state, UtteranceHeard("quero falar com o porteiro")) == (state, [])
    state, _ = calling(conversation)
    assert conversation.handle(state, UtteranceHeard("abre o portão")) == (state, [])


def test_internal_error_in_either_phase(conversation: Conversation, alone: Conversation) -> None:
    state, _ = asking(conversation)
    state, actions = feed(conversation, state, ErrorOccurred("tts failed"))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.ERROR, How.NONE))]
    assert actions[-2:] == [Fallback(FallbackReason.INTERNAL_ERROR), EndCall()] and state.phase is Phase.FALLBACK
    state, _ = conversation.handle(conversation.start("c"), CallStarted())
    state, actions = conversation.handle(state, ErrorOccurred())
    assert actions[-2:] == [Fallback(FallbackReason.INTERNAL_ERROR), EndCall()]
    state, _ = alone.handle(alone.start("c"), CallStarted())
    state, actions = alone.handle(state, ErrorOccurred())
    assert actions[-3:] == [
        Say(Leg.GATE, "Desculpe, tive um problema. Por favor, tente de novo. Até logo.", protected=True),
        Hangup(Leg.GATE),
        EndCall(),
    ]


def test_every_ending_has_exactly_one_end_call(conversation: Conversation) -> None:
    state, actions = conversation.handle(conversation.start("c"), CallStarted())
    state, more = feed(conversation, state, "entrega", LegHungUp(Leg.GATE), "oi", LegHungUp(Leg.GATE))
    assert of_type(actions + more, EndCall) == [EndCall()] and state.phase is Phase.ENDED


def test_the_state_survives_the_store_codec(conversation: Conversation) -> None:
    from controller.records.store import decode_state, encode_state

    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim")
    assert decode_state(encode_state(state)) == state
    assert isinstance(decode_state(encode_state(state)), DialogState)


def test_distinct_keeps_the_first_of_each_endpoint() -> None:
    a, b, c = CallTarget("A", "PJSIP/1"), CallTarget("B", "PJSIP/1"), CallTarget("C", "PJSIP/2")
    assert distinct((a, b, c)) == (a, c)


def test_policy_from_settings() -> None:
    from controller.settings import load_settings
    from controller.wiring import dialog_policy

    policy = dialog_policy(load_settings(ring_timeout_s=30, call_attempts=3, reassure_every_s=5))
    assert (policy.ring_timeout_s, policy.call_attempts, policy.reassure_every_s) == (30.0, 3, 5.0)
    assert policy.concierge_available is False  # PORTARIA_CONCIERGE_ENDPOINT empty by default
    assert dialog_policy(load_settings(concierge_endpoint="PJSIP/concierge")).concierge_available
    assert not dialog_policy(load_settings(concierge_endpoint="x"), concierge_available=False).concierge_available
