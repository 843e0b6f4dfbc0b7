"""The resident phase driven with events: dialling, asking, deciding, recording, opening, ending."""

from __future__ import annotations

import pytest

from controller.conversation import (
    AuditRecord,
    AuditWritten,
    BridgeVisitorAndResident,
    CallResident,
    CallTarget,
    CancelTimer,
    Conversation,
    Decision,
    Dialog,
    DialResident,
    DtmfReceived,
    EndCall,
    Fallback,
    FallbackReason,
    GateOpened,
    Hangup,
    How,
    Intent,
    Leg,
    LegHungUp,
    OpenGate,
    Phase,
    PlaybackFinished,
    ResidentAnswered,
    ResidentRinging,
    ResidentUnavailable,
    Say,
    Stage,
    StartTimer,
    Timer,
    TimerFired,
    Unavailable,
    WriteAudit,
    resident_prompts,
)
from controller.conversation.directory import Directory
from tests.resident.drive import POLICY, RENATA, REQUEST, VISIT, asking, calling, feed, of_type, record, said


def test_the_visitor_phase_ends_with_the_first_dial_and_the_reassurance_timer(conversation: Conversation) -> None:
    state, actions = calling(conversation)
    assert actions[-4:] == [
        Say(Leg.GATE, "Entendi, Joao. Vou chamar a Renata, do 101. Um momento."),
        CallResident(REQUEST, (RENATA, CallTarget("Carlos Souza", "PJSIP/101"))),
        DialResident(RENATA, 1, POLICY.ring_timeout_s),
        StartTimer(Timer.REASSURE, POLICY.reassure_every_s),
    ]
    assert state.phase is Phase.CALLING and state.call is not None and state.call.stage is Stage.DIALING
    assert state.call.targets == (RENATA,)  # Carlos shares the apartment's phone: one endpoint, one call


def test_residents_with_their_own_phones_are_called_in_turn(condo: Directory) -> None:
    conversation = Conversation(Dialog(condo, POLICY))
    state, actions = calling(conversation, "servico de internet pro felipe andrade meu nome e marcos")
    felipe, juliana = CallTarget("Felipe Andrade", "PJSIP/felipe-celular"), CallTarget("Juliana Andrade", "PJSIP/b301")
    assert of_type(actions, DialResident) == [DialResident(felipe, 1, 25.0)]
    state, actions = feed(conversation, state, ResidentUnavailable(felipe, 1, Unavailable.NO_ANSWER))
    assert of_type(actions, DialResident) == [DialResident(felipe, 2, 25.0)]
    state, actions = feed(conversation, state, ResidentUnavailable(felipe, 2, Unavailable.BUSY))
    assert of_type(actions, DialResident) == [DialResident(juliana, 1, 25.0)]
    assert said(actions, Leg.GATE) == ["O Felipe não atendeu. Vou chamar a Juliana."]
    state, actions = feed(conversation, state, ResidentAnswered(juliana))
    assert said(actions, Leg.RESIDENT) == ["Marcos, serviço para o Felipe. Posso liberar? Tecle 1 sim, 2 não."]
    state, actions = feed(conversation, state, "pode subir")
    assert of_type(actions, WriteAudit)[0] == WriteAudit(
        AuditRecord(
            "call-1",
            Decision.AUTHORISED,
            How.VOICE,
            "Marcos",
            Intent.SERVICO,
            "301",
            "B",
            "Juliana Andrade",
            ("PJSIP/felipe-celular:no_answer", "PJSIP/felipe-celular:busy", "PJSIP/b301:answered"),
        )
    )


def test_a_rejected_call_is_not_rung_again(condo: Directory) -> None:
    conversation = Conversation(Dialog(condo, POLICY))
    state, _ = calling(conversation, "servico de internet pro felipe andrade meu nome e marcos")
    felipe = CallTarget("Felipe Andrade", "PJSIP/felipe-celular")
    _, actions = feed(conversation, state, ResidentUnavailable(felipe, 1, Unavailable.REJECTED))
    assert of_type(actions, DialResident) == [DialResident(CallTarget("Juliana Andrade", "PJSIP/b301"), 1, 25.0)]


def test_yes_is_recorded_before_the_gate_opens_then_both_told_and_ended(conversation: Conversation) -> None:
    state, actions = asking(conversation)
    assert said(actions, Leg.RESIDENT) == ["Entrega para a Renata. Posso liberar? Tecle 1 sim, 2 não."]
    assert said(actions, Leg.GATE) == ["A Renata atendeu. Só um momento."]
    state, actions = feed(conversation, state, "pode subir")
    assert actions == [CancelTimer(Timer.RESIDENT_SILENCE), WriteAudit(record(Decision.AUTHORISED, How.VOICE))]
    assert not of_type(actions, OpenGate)
    state, actions = feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))
    assert actions == [OpenGate(REQUEST, 1)]
    state, actions = feed(conversation, state, GateOpened(True))
    assert actions == [
        CancelTimer(Timer.REASSURE),
        CancelTimer(Timer.RESIDENT_SILENCE),
        Say(Leg.RESIDENT, "Pronto, entrada liberada. Obrigado!"),
        Say(Leg.GATE, "A Renata liberou a entrada. Pode entrar.", protected=True),  # at once, not after the other
        Hangup(Leg.RESIDENT),
        Hangup(Leg.GATE),
        EndCall(),
    ]
    assert state.phase is Phase.ENDED and state.call is not None and state.call.stage is Stage.DONE
    assert feed(conversation, state, GateOpened(True), "sim", DtmfReceived("1", Leg.RESIDENT)) == (state, [])


def test_dtmf_1_authorises_2_denies(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    _, actions = feed(conversation, state, DtmfReceived("1", Leg.RESIDENT))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.AUTHORISED, How.DTMF))]
    state, _ = asking(conversation)
    state, actions = feed(conversation, state, DtmfReceived("2", Leg.RESIDENT))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.DENIED, How.DTMF))]
    assert not of_type(actions, OpenGate)
    assert Say(Leg.GATE, "Desculpe, a entrada não foi autorizada. Até logo.", protected=True) in actions
    assert actions[-4:] == [
        Say(Leg.GATE, "Desculpe, a entrada não foi autorizada. Até logo.", protected=True),
        Hangup(Leg.RESIDENT),
        Hangup(Leg.GATE),
        EndCall(),
    ]


@pytest.mark.parametrize(
    ("reply", "decision", "visitor_hears"),
    [
        ("não conheço", Decision.DENIED, "Desculpe, a entrada não foi autorizada. Até logo."),
        ("não pode subir", Decision.DENIED, "Desculpe, a entrada não foi autorizada. Até logo."),
        ("manda esperar", Decision.WAIT, "A Renata pediu para você aguardar um pouco aí, por favor."),
        ("pode deixar na portaria", Decision.FRONT_DESK, "A Renata pediu para deixar a entrega na portaria. Obrigado!"),
    ],
)
def test_answers_that_keep_the_gate_shut(
    conversation: Conversation, reply: str, decision: Decision, visitor_hears: str
) -> None:
    state, _ = asking(conversation)
    state, actions = feed(conversation, state, reply)
    assert of_type(actions, WriteAudit) == [WriteAudit(record(decision, How.VOICE))]
    assert Say(Leg.GATE, visitor_hears, protected=True) in actions
    assert Hangup(Leg.RESIDENT) in actions and actions[-2:] == [Hangup(Leg.GATE), EndCall()]
    assert not of_type(actions, OpenGate)
    assert feed(conversation, state, AuditWritten(True, decision), AuditWritten(True, Decision.AUTHORISED))[1] == []


def test_front_desk_is_not_an_answer_for_a_visit(conversation: Conversation) -> None:
    state, _ = asking(conversation, *VISIT)
    state, actions = feed(conversation, state, "deixa na portaria")
    assert not of_type(actions, WriteAudit) and said(actions, Leg.RESIDENT)[0].startswith("Não entendi.")


def test_talk_bridges_and_dtmf_1_still_opens_without_words_on_the_bridge(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, actions = feed(conversation, state, "quero falar com ele")
    assert actions[-4:] == [
        CancelTimer(Timer.REASSURE),
        Say(Leg.RESIDENT, "Certo, vou colocar você na linha com o visitante."),
        Say(Leg.GATE, "A Renata vai falar com você."),
        BridgeVisitorAndResident(),
    ]
    assert state.call is not None and state.call.stage is Stage.TALKING
    assert feed(conversation, state, "sim", DtmfReceived("1", Leg.GATE))[1] == []  # speech is not heard, visitor keys
    state, actions = feed(conversation, state, DtmfReceived("1", Leg.RESIDENT))
    assert actions == [WriteAudit(record(Decision.AUTHORISED, How.DTMF))]
    state, actions = feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))
    assert actions == [OpenGate(REQUEST, 1)]
    state, actions = feed(conversation, state, GateOpened(True))
    assert actions == [] and state.call is not None and state.call.stage is Stage.TALKING
    state, actions = feed(conversation, state, LegHungUp(Leg.RESIDENT))
    assert actions == [CancelTimer(Timer.REASSURE), CancelTimer(Timer.RESIDENT_SILENCE), Hangup(Leg.GATE), EndCall()]


def test_a_talk_that_ends_without_1_is_recorded_as_talked(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, DtmfReceived("3", Leg.RESIDENT))
    state, actions = conversation.handle(state, LegHungUp(Leg.GATE))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.TALKED, How.NONE))]
    assert Hangup(Leg.RESIDENT) in actions and Hangup(Leg.GATE) not in actions and actions[-1] == EndCall()
    assert not said(actions)  # nothing can be said on the bridge
    assert conversation.handle(state, LegHungUp(Leg.RESIDENT)) == (state, [])


def test_unclear_answers_are_asked_again_then_no_decision(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, actions = feed(conversation, state, "hmm deixa eu ver")
    assert said(actions) == ["Não entendi. Entrega para a Renata. Posso liberar? Diga sim ou não."]
    state, actions = feed(conversation, state, PlaybackFinished(Leg.RESIDENT))
    assert actions == [StartTimer(Timer.RESIDENT_SILENCE, POLICY.resident_silence_s)]
    state, actions = feed(conversation, state, TimerFired(Timer.RESIDENT_SILENCE))
    assert said(actions) == ["Por favor, tecle 1 para liberar, 2 para recusar ou 3 para falar com o visitante."]
    state, actions = feed(conversation, state, DtmfReceived("9", Leg.RESIDENT))
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.NO_DECISION, How.NONE))]
    assert said(actions, Leg.GATE) == [
        "A Renata não conseguiu confirmar, então não posso liberar a entrada. "
        "Vou transferir para a portaria. Um momento."
    ]
    assert actions[-2:] == [Fallback(FallbackReason.NO_DECISION), EndCall()] and state.phase is Phase.FALLBACK


def test_what_a_resident_asked_again_hears_and_is_told_at_the_end_is_cached_at_start_up(
    conversation: Conversation,
) -> None:
    """The soak (docs/reliability.md) found the second ask synthesized afresh under load, past the 3 s guard,
    every time: a clause abandoned that way is never cached. Sentences that name no one are made at start-up."""
    cached = set(resident_prompts.fixed_phrases())
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "hmm deixa eu ver")
    state, _ = feed(conversation, state, PlaybackFinished(Leg.RESIDENT))
    state, actions = feed(conversation, state, TimerFired(Timer.RESIDENT_SILENCE))
    assert said(actions) and set(said(actions)) <= cached
    state, actions = feed(conversation, state, DtmfReceived("9", Leg.RESIDENT))
    to_resident = said(actions, Leg.RESIDENT)
    assert to_resident and set(to_resident) <= cached, to_resident
    assert all("None" not in phrase and "Renata" not in phrase for phrase in cached)


def test_a_repeat_request_hears_the_question_again(conversation: Conversation) -> None:
    state, first = asking(conversation)
    _, actions = feed(conversation, state, "quem?")
    assert said(actions) == [said(first, Leg.RESIDENT)[0]]


def test_no_answer_on_every_attempt_hands_over_or_ends(conversation: Conversation, alone: Conversation) -> None:
    state, _ = calling(conversation)
    state, actions = feed(
        conversation, state, ResidentRinging(RENATA, 1), ResidentUnavailable(RENATA, 1, Unavailable.NO_ANSWER)
    )
    assert of_type(actions, DialResident) == [DialResident(RENATA, 2, 25.0)]
    assert said(actions) == ["Vou tentar de novo, só um momento."]
    state, actions = feed(conversation, state, ResidentUnavailable(RENATA, 2, Unavailable.NO_ANSWER))
    assert actions == [
        CancelTimer(Timer.REASSURE),
        CancelTimer(Timer.RESIDENT_SILENCE),
        WriteAudit(record(Decision.NO_ANSWER, How.NONE, rung=("PJSIP/101:no_answer",) * 2)),
        Say(Leg.GATE, "Ninguém atendeu no 101. Vou transferir para a portaria. Um momento.", protected=True),
        Fallback(FallbackReason.NO_ANSWER),
        EndCall(),
    ]
    state, _ = calling(alone)
    _, actions = feed(alone, state, *(ResidentUnavailable(RENATA, n, Unavailable.FAILED) for n in (1, 2)))
    assert said(actions)[-1] == "Ninguém atendeu no 101. Por favor, tente mais tarde. Até logo."
    assert actions[-2:] == [Hangup(Leg.GATE), EndCall()]


def test_stale_dial_results_are_ignored(conversation: Conversation) -> None:
    state, _ = calling(conversation)
    other = CallTarget("Carlos Souza", "PJSIP/999")
    for event in (
        ResidentUnavailable(RENATA, 2, Unavailable.NO_ANSWER),
        ResidentAnswered(other),
        ResidentUnavailable(other, 1, Unavailable.BUSY),
        LegHungUp(Leg.RESIDENT),
    ):
        assert conversation.handle(state, event) == (state, [])


def test_the_waiting_visitor_is_reassured_on_every_timer(conversation: Conversation) -> None:
    state, _ = calling(conversation)
    texts = []
    for _ in range(4):
        state, actions = conversation.handle(state, TimerFired(Timer.REASSURE))
        assert actions[-1] == StartTimer(Timer.REASSURE, POLICY.reassure_every_s)
        texts += said(actions, Leg.GATE)
    assert texts[0] == "Ainda estou chamando, só um momento." and len(set(texts)) == 3
    state, _ = feed(conversation, state, ResidentAnswered(RENATA))
    _, actions = conversation.handle(state, TimerFired(Timer.REASSURE))
    assert said(actions) == ["Estou falando com a Renata, só um momento."]


def test_audit_failure_keeps_the_gate_shut_and_tells_both(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim")
    state, actions = feed(conversation, state, AuditWritten(False, Decision.AUTHORISED))
    assert not of_type(actions, OpenGate)
    assert said(actions, Leg.RESIDENT) == [
        "Desculpe, não consegui registrar a autorização, então não liberei a entrada. Vou avisar o visitante."
    ]
    assert (
        Say(
            Leg.GATE,
            "Desculpe, tive um problema e não posso liberar a entrada agora. Vou transferir para a "
            "portaria. Um momento.",
            protected=True,
        )
        in actions
    )
    assert actions[-2:] == [Fallback(FallbackReason.AUDIT_FAILED), EndCall()]
    assert feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))[1] == []


def test_an_audit_result_for_another_record_does_not_open(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "sim")
    assert conversation.handle(state, AuditWritten(True, Decision.DENIED)) == (state, [])


def test_a_failed_opening_is_tried_once_more_then_told_recorded_and_handed_over(conversation: Conversation) -> None:
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "libera", AuditWritten(True, Decision.AUTHORISED))
    state, actions = feed(conversation, state, GateOpened(False))
    assert actions == [OpenGate(REQUEST, 2)]
    state, actions = feed(conversation, state, GateOpened(False))
    assert actions[0] == WriteAudit(record(Decision.GATE_FAILED, How.VOICE))
    assert said(actions, Leg.GATE) == ["Não consegui abrir o portão. Vou chamar o porteiro. Um momento."]
    assert said(actions, Leg.RESIDENT) == ["Desculpe, não consegui abrir o portão. Vou avisar o visitante."]
    assert actions[-2:] == [Fallback(FallbackReason.GATE_FAILED), EndCall()]
    state, _ = asking(conversation)
    state, _ = feed(conversation, state, "libera", AuditWritten(True, Decision.AUTHORISED), GateOpened(False))
    _, actions = feed(conversation, state, GateOpened(True))
    assert said(actions, Leg.GATE) == ["A Renata liberou a entrada. Pode entrar."]
