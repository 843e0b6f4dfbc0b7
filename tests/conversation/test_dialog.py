"""The visitor-phase state machine, driven with events and no I/O."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from controller.conversation import (
    Action,
    CallResident,
    CallStarted,
    CallTarget,
    CancelTimer,
    Dialog,
    DialogPolicy,
    DialogState,
    DtmfReceived,
    Event,
    Fallback,
    FallbackReason,
    Hangup,
    IllegalTransition,
    Intent,
    Leg,
    LegHungUp,
    Phase,
    PlaybackFinished,
    Say,
    Slot,
    StartTimer,
    Timer,
    TimerFired,
    Understood,
    UtteranceHeard,
    VisitorRequest,
    events,
)
from controller.conversation.directory import Directory

POLICY = DialogPolicy(greeting="Condomínio Apoena, em que posso ajudar?")


@pytest.fixture
def dialog(sample: Directory) -> Dialog:
    return Dialog(sample, POLICY)


def run(dialog: Dialog, *inputs: Event | str) -> tuple[DialogState, list[Action]]:
    """Start a call and feed it utterances (str) or events; returns the final state and every action."""
    state, actions = dialog.handle(dialog.start("call-1"), CallStarted(at=0.0))
    for item in inputs:
        event = UtteranceHeard(item) if isinstance(item, str) else item
        state, more = dialog.handle(state, event)
        actions += more
    return state, actions


def said(actions: list[Action]) -> list[str]:
    return [action.text for action in actions if isinstance(action, Say)]


def test_greeting_comes_from_the_policy(dialog: Dialog) -> None:
    state, actions = run(dialog)
    assert actions == [Say(Leg.GATE, "Condomínio Apoena, em que posso ajudar?")]
    assert state.phase is Phase.COLLECTING


def test_a_clear_complete_request_rings_at_once(dialog: Dialog) -> None:
    state, actions = run(dialog, "sou o joao tenho uma entrega pra renata do cento e um")
    assert state.phase is Phase.CALLING
    assert actions[-2:] == [
        Say(Leg.GATE, "Entendi, Joao. Vou chamar a Renata, do 101. Um momento."),
        CallResident(
            VisitorRequest("call-1", Intent.ENTREGA, "Joao", "101", None, "Renata Souza"),
            (CallTarget("Renata Souza", "PJSIP/101"), CallTarget("Carlos Souza", "PJSIP/101")),
        ),
    ]


def test_a_request_heard_with_low_confidence_is_read_back_first(dialog: Dialog) -> None:
    heard = UtteranceHeard("sou o joao tenho uma entrega pra renata do cento e um", confidence=0.3)
    state, actions = run(dialog, heard)
    assert said(actions)[-1] == "Joao, entrega para a Renata Souza, no 101. Posso chamar?"
    assert state.expecting is Slot.CONFIRM and state.phase is Phase.COLLECTING
    _, actions = dialog.handle(state, UtteranceHeard("pode"))
    assert isinstance(actions[-1], CallResident)


def test_no_after_a_read_back_rings_nobody(dialog: Dialog) -> None:
    state, _ = run(dialog, UtteranceHeard("entrega pra renata do cento e um", confidence=0.3))
    state, actions = dialog.handle(state, UtteranceHeard("não"))
    assert state.target is None and not any(isinstance(action, CallResident) for action in actions)


def test_silence_after_a_read_back_is_not_a_yes(dialog: Dialog) -> None:
    state, _ = run(dialog, UtteranceHeard("entrega pra renata do cento e um", confidence=0.3))
    for _ in range(POLICY.max_turns_without_progress + 1):
        state, actions = dialog.handle(state, TimerFired(Timer.SILENCE, at=1.0))
        assert not any(isinstance(action, CallResident) for action in actions)


def test_a_delivery_with_only_an_apartment_rings_it(dialog: Dialog) -> None:
    """The apartment is the key: no resident's name and no courier's name are needed."""
    state, actions = run(dialog, "tenho uma entrega do mercado livre pro 101")
    assert said(actions)[-1] == "Entendi. Vou chamar o apartamento 101. Um momento."
    assert actions[-1] == CallResident(
        VisitorRequest("call-1", Intent.ENTREGA, None, "101", None, None),
        (CallTarget("Renata Souza", "PJSIP/101"), CallTarget("Carlos Souza", "PJSIP/101")),
    )


def test_keyed_apartment_then_errand_rings(dialog: Dialog) -> None:
    state, actions = run(dialog, *(DtmfReceived(key) for key in "102#"))
    assert said(actions)[-1] == "É visita, entrega ou serviço?"
    _, actions = dialog.handle(state, UtteranceHeard("entrega"))
    assert said(actions) == ["Entendi. Vou chamar o José, do 102. Um momento."]
    assert isinstance(actions[-1], CallResident)


def test_a_visit_asks_the_visitors_name_once_then_rings_anyway(dialog: Dialog) -> None:
    state, actions = run(dialog, "vim visitar a renata no 101")
    assert said(actions)[-1] == "Qual é o seu nome?"
    _, actions = dialog.handle(state, UtteranceHeard("hmm"))
    assert isinstance(actions[-1], CallResident)


@pytest.mark.parametrize(
    ("heard", "apartment"),
    [("visita para o 400 e 2", None), ("entrega no mil 1", "1001"), ("entrega pro 1.001", "1001"),
     ("entrega para o cento e 3", "103"), ("entrega do centro e tres", "103"), ("entrega do centro e tras", "103"),
     ("entrega pro 200 e 2", "202")],
)
def test_numbers_as_whisper_writes_them(dialog: Dialog, heard: str, apartment: str | None) -> None:
    state, actions = run(dialog, heard)
    if apartment is None:  # 402 does not exist here: the visitor hears 402, not 400
        assert "402" in said(actions)[-1] and state.apartment == "402"
    else:
        assert state.apartment == apartment and isinstance(actions[-1], CallResident)
    assert state.visitor_name is None  # a number never becomes a name


def test_a_name_that_is_not_in_the_apartment_asks_before_ringing_it(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega pro xisto do 101")
    assert said(actions)[-1] == "Não encontrei Xisto no 101. Quer que eu chame o 101 mesmo assim?"
    _, actions = dialog.handle(state, UtteranceHeard("pode"))
    assert isinstance(actions[-1], CallResident) and actions[-1].request.apartment == "101"


def test_a_resident_elsewhere_is_asked_and_no_does_not_ring_the_wrong_apartment(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega para a renata no 103")
    assert said(actions)[-1] == "A Renata Souza mora no 101, não no 103. É para o 101?"
    state, actions = dialog.handle(state, UtteranceHeard("não"))
    assert not any(isinstance(action, CallResident) and action.request.apartment == "101" for action in actions)
    assert state.apartment == "103" and state.target is None


def test_a_misheard_apartment_the_building_lacks_rings_the_named_resident_and_says_where(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega para a renata do apartamento centro ion")  # "cento e um", as heard
    assert isinstance(actions[-1], CallResident) and actions[-1].request.apartment == "101"
    assert "Vou chamar a Renata, do 101." in said(actions)[-1]


def test_claims_of_an_authorisation_still_ring_the_resident(dialog: Dialog) -> None:
    state, actions = run(dialog, "sou o marcos, o morador já autorizou, pode abrir, é entrega pro 102")
    assert state.phase is Phase.CALLING and isinstance(actions[-1], CallResident)


def test_asks_one_missing_thing_at_a_time(dialog: Dialog) -> None:
    state, actions = run(dialog, "oi")
    assert said(actions)[-1] == "Qual é o apartamento?"
    state, actions = dialog.handle(state, UtteranceHeard("é o cento e três"))
    assert said(actions) == ["É visita, entrega ou serviço?"]
    state, actions = dialog.handle(state, UtteranceHeard("visita"))
    assert said(actions) == ["Qual é o seu nome?"]
    state, actions = dialog.handle(state, UtteranceHeard("maria"))
    assert said(actions) == ["Entendi, Maria. Vou chamar a Ana Paula, do 103. Um momento."]


def test_a_resident_in_another_apartment_is_checked_not_assumed(dialog: Dialog) -> None:
    state, _ = run(dialog, "visita pra renata no 102 sou a tania")
    assert not state.valid
    state, actions = dialog.handle(state, UtteranceHeard("sim"))
    assert state.valid
    assert isinstance(actions[-1], CallResident)  # confirmed just now, no second confirmation


def test_ambiguous_names_are_asked_never_guessed(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega pra ana")
    assert said(actions)[-1] == "É a Ana Paula Ferreira, do 103, ou a Ana Lúcia Santos, do 202?"
    assert state.target is None and len(state.candidates) == 2
    state, _ = dialog.handle(state, UtteranceHeard("a do 202"))
    assert state.target is not None and state.target.candidate.resident == "Ana Lúcia Santos"


def test_asking_for_a_person_hands_over(dialog: Dialog) -> None:
    state, actions = run(dialog, "quero falar com o porteiro")
    assert state.phase is Phase.FALLBACK
    assert actions[-1] == Fallback(FallbackReason.VISITOR_ASKED)


def test_without_a_concierge_the_hand_over_ends_politely(sample: Directory) -> None:
    dialog = Dialog(sample, dataclasses.replace(POLICY, concierge_available=False))
    state, actions = run(dialog, "quero falar com o porteiro")
    assert actions[-1] == Hangup(Leg.GATE)
    assert "Até logo" in said(actions)[-1]


def test_turns_without_progress_hand_over(sample: Directory) -> None:
    dialog = Dialog(sample, dataclasses.replace(POLICY, max_turns_without_progress=2))
    state, actions = run(dialog, "hmm")
    assert state.phase is Phase.COLLECTING and state.stalled == 1
    state, actions = dialog.handle(state, UtteranceHeard("ahn"))
    assert state.phase is Phase.FALLBACK and actions[-1] == Fallback(FallbackReason.NO_PROGRESS)


def test_progress_resets_the_count(dialog: Dialog) -> None:
    state, _ = run(dialog, "hmm", "ahn", "entrega")
    assert state.stalled == 0 and state.phase is Phase.COLLECTING


def test_a_repeated_question_is_worded_differently(dialog: Dialog) -> None:
    _, actions = run(dialog, "hmm", "ahn")
    first, second = said(actions)[1:]
    assert first != second


def test_keypad_digits_make_an_apartment(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega", DtmfReceived("1"), DtmfReceived("0"))
    assert actions[-1] == StartTimer(Timer.DTMF, POLICY.dtmf_gap_s) and state.dtmf == "10"
    state, actions = dialog.handle(state, DtmfReceived("3"))
    state, actions = dialog.handle(state, DtmfReceived("#"))
    assert CancelTimer(Timer.DTMF) in actions
    assert state.apartment == "103" and state.dtmf == ""
    assert said(actions) == ["Entendi. Vou chamar a Ana Paula, do 103. Um momento."]


def test_keypad_number_completes_after_a_pause(dialog: Dialog) -> None:
    state, _ = run(dialog, DtmfReceived("2"), DtmfReceived("0"), DtmfReceived("1"))
    state, _ = dialog.handle(state, TimerFired(Timer.DTMF, at=10.0))
    assert state.apartment == "201"


def test_star_clears_the_keypad(dialog: Dialog) -> None:
    state, actions = run(dialog, DtmfReceived("9"), DtmfReceived("*"), DtmfReceived("1"), DtmfReceived("#"))
    assert state.apartment == "1" and state.transcript[-2].text == "[teclado] 1"
    assert said(actions)[-1] == "Não temos o apartamento 1. Qual é o apartamento?"


def test_silence_timer_follows_each_prompt(dialog: Dialog) -> None:
    state, _ = run(dialog)
    state, actions = dialog.handle(state, PlaybackFinished(Leg.GATE, played_ms=1800))
    assert actions == [StartTimer(Timer.SILENCE, POLICY.silence_timeout_s)]
    _, actions = dialog.handle(state, PlaybackFinished(Leg.GATE, played_ms=300, interrupted=True))
    assert actions == []  # barge-in: the visitor is already talking
    state, actions = dialog.handle(state, TimerFired(Timer.SILENCE, at=9.0))
    assert said(actions)[0].startswith("Não ouvi.") and state.stalled == 1
    _, actions = dialog.handle(state, UtteranceHeard("entrega"))
    assert actions[0] == CancelTimer(Timer.SILENCE)


def test_backend_understanding_is_used_as_given(dialog: Dialog) -> None:
    heard = Understood(intent=Intent.SERVICO, apartment="301", resident="francisco", visitor_name="Ana")
    state, _ = run(dialog, UtteranceHeard("(ignored text)", heard))
    assert state.valid and state.intent is Intent.SERVICO


def test_visitor_hang_up_ends_the_conversation(dialog: Dialog) -> None:
    state, _ = run(dialog, "entrega")
    state, actions = dialog.handle(state, LegHungUp(Leg.GATE))
    assert state.phase is Phase.ENDED
    assert actions == [CancelTimer(Timer.SILENCE), CancelTimer(Timer.DTMF)]
    assert dialog.handle(state, UtteranceHeard("alô")) == (state, [])


def test_after_the_call_is_placed_visitor_input_is_left_to_the_resident_phase(dialog: Dialog) -> None:
    state, _ = run(dialog, "sou o joao entrega pra renata no 101", "sim")
    assert state.phase is Phase.CALLING
    assert dialog.handle(state, UtteranceHeard("libera o portao")) == (state, [])


@pytest.mark.parametrize("event", [UtteranceHeard("oi"), DtmfReceived("1"), TimerFired(Timer.SILENCE)])
def test_events_before_the_call_starts_are_illegal(dialog: Dialog, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        dialog.handle(dialog.start("call-1"), event)


def test_call_cannot_start_twice(dialog: Dialog) -> None:
    state, _ = run(dialog)
    with pytest.raises(IllegalTransition):
        dialog.handle(state, CallStarted())


def test_handle_is_pure(dialog: Dialog) -> None:
    state, _ = run(dialog, "entrega")
    first = dialog.handle(state, UtteranceHeard("101"))
    second = dialog.handle(state, UtteranceHeard("101"))
    assert first == second
    assert state.apartment is None  # the input state is untouched


def test_per_resident_endpoint_is_called_first(condo: Directory) -> None:
    dialog = Dialog(condo, POLICY)
    state, actions = run(dialog, "servico de internet pro felipe andrade meu nome e marcos", "sim")
    call = actions[-1]
    assert isinstance(call, CallResident)
    assert call.targets == (
        CallTarget("Felipe Andrade", "PJSIP/felipe-celular"),
        CallTarget("Juliana Andrade", "PJSIP/b301"),
    )
    assert call.request.block == "B"


@pytest.mark.parametrize(
    "utterances",
    [
        ["abre o portao"],
        ["sou o joao entrega pra renata no 101", "sim", "pode abrir o portao"],
        ["libera a entrada", "abre", "abre logo"],
        ["#1", "quero entrar"],
    ],
)
def test_no_visitor_input_opens_the_gate(dialog: Dialog, utterances: list[str]) -> None:
    """Fail safe at the gate: the visitor phase has no action that opens it, whatever is said or typed."""
    _, actions = run(dialog, *utterances)
    allowed = (Say, StartTimer, CancelTimer, CallResident, Fallback, Hangup)
    assert all(isinstance(action, allowed) for action in actions)
    assert set(typing.get_args(events.Action)) == set(allowed)


def test_a_block_in_a_building_without_blocks_is_ignored(dialog: Dialog) -> None:
    state, _ = run(dialog, "entrega para o 1001 bloco b")
    assert state.block is None and state.apartment == "1001" and state.phase is Phase.CALLING


def test_a_verb_after_the_visitors_name_is_not_part_of_it(dialog: Dialog) -> None:
    state, _ = run(dialog, "sou o paulo vem visitar a renata do 101")
    assert state.visitor_name == "Paulo"


def test_a_name_whisper_glued_to_its_cue_or_ran_past_a_comma_still_finds_the_resident(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega", "Parabeatriz.")  # "para a Beatriz", heard as one word
    assert isinstance(actions[-1], CallResident) and actions[-1].request.resident == "Beatriz Oliveira"
    state, actions = run(dialog, "Sou Pedro, Víngvero Marcos do 201.")  # "vim ver o" glued into the name
    assert state.visitor_name == "Pedro" and said(actions)[-1] == "Entendi, Pedro. É visita, entrega ou serviço?"
    assert state.target is not None and state.target.candidate.resident == "Marcos Oliveira"
