"""Judging a pause: what the words before it say about the turn, given the question pending on that leg."""

from __future__ import annotations

import pytest

from controller.conversation import CallStarted, Conversation, Leg, Slot
from controller.conversation.pauses import Awaiting, awaiting, judge_pause
from tests.resident.drive import asking, calling, feed

APARTMENTS = frozenset({"101", "103", "201", "302"})


@pytest.mark.parametrize(
    "text",
    ["Sim.", "Pode.", "Pode subir.", "Não.", "Não, não conheço.", "Manda esperar.", "Quem é?", "Como?", "Libera."],
)
def test_an_answer_to_a_yes_no_question_is_complete(text: str) -> None:
    assert judge_pause(text, Awaiting.ANSWER) is True


@pytest.mark.parametrize(
    "text",
    ["Vim visitar a...", "Vim visitar a", "É o apartamento cento e", "Eu sou o", "Sim, mas", "Pode...", "Hum", "No"],
)
@pytest.mark.parametrize("waiting_for", [Awaiting.ANSWER, Awaiting.APARTMENT, Awaiting.WORDS])
def test_a_phrase_cut_mid_way_waits_whatever_was_asked(text: str, waiting_for: Awaiting) -> None:
    assert judge_pause(text, waiting_for, APARTMENTS) is False


@pytest.mark.parametrize("text", ["Cento e três.", "É o 302.", "Apartamento 201", "duzentos e um"])
def test_an_apartment_of_the_building_is_complete(text: str) -> None:
    assert judge_pause(text, Awaiting.APARTMENT, APARTMENTS) is True


@pytest.mark.parametrize("text", ["Um zero", "É o 10.", "Novecentos e nove", "Não sei"])
def test_a_number_that_is_no_apartment_here_or_no_number_has_no_verdict(text: str) -> None:
    """ "um zero" is the start of "um zero três": the usual silence decides."""
    assert judge_pause(text, Awaiting.APARTMENT, APARTMENTS) is None


@pytest.mark.parametrize("text", ["O Luiz Henrique.", "Eu sou o João, vim visitar a Renata.", "Hmmm ok talvez amanhã"])
def test_no_opinion_on_other_words(text: str) -> None:
    assert judge_pause(text, Awaiting.WORDS, APARTMENTS) is None


@pytest.mark.parametrize("text", ["Boa tarde.", "Oi, bom dia!", "Olá.", "É... boa tarde."])
def test_a_greeting_alone_is_the_start_of_a_request(conversation: Conversation, text: str) -> None:
    state, _ = conversation.handle(conversation.start("call-1"), CallStarted())
    assert conversation.judge_pause(state, Leg.GATE, text) is False
    assert judge_pause(text, Awaiting.WORDS) is None  # after "Qual é o seu nome?", "Olá." is no greeting


@pytest.mark.parametrize("text", ["Boa tarde, tenho uma entrega.", "Uma entrega.", "Oi, é o João."])
def test_a_request_has_no_verdict(text: str) -> None:
    assert judge_pause(text, Awaiting.REQUEST, APARTMENTS) is None


def test_an_unclear_reply_to_a_yes_no_question_has_no_verdict() -> None:
    assert judge_pause("Quem está falando aqui é a Renata", Awaiting.ANSWER) is None


@pytest.mark.parametrize("text", ["Sim.", "Vim visitar a", "", "  "])
def test_nothing_pending_or_no_words_is_no_verdict(text: str) -> None:
    assert judge_pause(text, Awaiting.NOTHING, APARTMENTS) is None
    assert judge_pause("", Awaiting.ANSWER, APARTMENTS) is None


def test_the_resident_leg_awaits_an_answer_only_while_asked(conversation: Conversation) -> None:
    dialling, _ = calling(conversation)
    assert awaiting(dialling, Leg.RESIDENT) is Awaiting.NOTHING  # still ringing
    asked, _ = asking(conversation)
    assert awaiting(asked, Leg.RESIDENT) is Awaiting.ANSWER
    assert conversation.judge_pause(asked, Leg.RESIDENT, "Sim, pode subir.") is True
    assert awaiting(asked, Leg.GATE) is Awaiting.NOTHING  # the visitor waits; their words are not an answer
    assert conversation.judge_pause(asked, Leg.GATE, "Sim.") is None


def test_the_gate_leg_follows_the_question_the_dialog_asked(conversation: Conversation) -> None:
    state, _ = conversation.handle(conversation.start("call-1"), CallStarted())
    assert awaiting(state, Leg.GATE) is Awaiting.REQUEST  # the greeting asked what they want
    state, _ = feed(conversation, state, "tenho uma entrega")
    assert state.expecting is Slot.APARTMENT
    assert awaiting(state, Leg.GATE) is Awaiting.APARTMENT
    assert conversation.judge_pause(state, Leg.GATE, "Cento e três.") is True  # 103 is in the sample directory
    assert conversation.judge_pause(state, Leg.GATE, "Novecentos.") is None
    assert conversation.judge_pause(state, Leg.GATE, "Do cento e") is False


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("É agudo. Boa tarde!", False),  # Whisper's hearing of a hesitant "É... boa tarde."
        ("Eu sou o João.", False),  # the name first; the errand comes next
        ("Tenho uma entrega para o cento e um.", True),
        ("Quero falar com o porteiro.", True),
        ("Uma entrega.", None),  # an errand without a target: the usual silence, then the dialog asks
        ("Vim visitar a Renata.", None),
        ("Entrega para o novecentos.", None),  # no such apartment here
    ],
)
def test_the_first_request_is_judged_by_what_the_rules_read_in_it(
    conversation: Conversation, text: str, verdict: bool | None
) -> None:
    state, _ = conversation.handle(conversation.start("call-1"), CallStarted())
    assert conversation.judge_pause(state, Leg.GATE, text) is verdict
