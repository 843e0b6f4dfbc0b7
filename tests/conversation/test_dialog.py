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


def test_complete_request_is_confirmed_then_the_resident_called(dialog: Dialog) -> None:
    state, actions = run(dialog, "sou o joao tenho uma entrega pra renata do cento e um")
    assert said(actions)[-1] == "Joao, entrega para a Renata Souza, no 101. Posso chamar?"
    assert state.expecting is Slot.CONFIRM and state.valid and state.phase is Phase.COLLECTING
    state, actions = dialog.handle(state, UtteranceHeard("pode"))
    assert state.phase is Phase.CALLING
    assert actions[-2:] == [
        Say(Leg.GATE, "Certo, vou chamar a Renata. Um momento."),
        CallResident(
            VisitorRequest("call-1", Intent.ENTREGA, "Joao", "101", None, "Renata Souza"),
            (CallTarget("Renata Souza", "PJSIP/101"), CallTarget("Carlos Souza", "PJSIP/101")),
        ),
    ]


def test_asks_one_missing_thing_at_a_time(dialog: Dialog) -> None:
    state, actions = run(dialog, "entrega")
    assert said(actions)[-1] == "Para qual apartamento é a entrega?"
    state, actions = dialog.handle(state, UtteranceHeard("cento e três"))
    assert said(actions) == ["Para quem é a entrega?"]
    state, actions = dialog.handle(state, UtteranceHeard("renata"))
    assert state.expecting is Slot.CHECK  # Renata lives in 101, not 103
    assert said(actions) == ["A Renata Souza mora no 101, não no 103. É para o 101?"]
    state, actions = dialog.handle(state, UtteranceHeard("não, é a ana paula"))
    assert said(actions) == ["Qual é o seu nome?"]
    state, actions = dialog.handle(state, UtteranceHeard("maria"))
    assert said(actions) == ["Maria, entrega para a Ana Paula Ferreira, no 103. Posso chamar?"]


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
    assert said(actions) == ["Para quem é a entrega?"]


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
    assert state.block is None and state.apartment == "1001" and state.expecting is Slot.RESIDENT
