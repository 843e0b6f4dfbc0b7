"""The recognition prompt a turn gets from the directory: only for questions whose answer lives there."""

from __future__ import annotations

import pytest

from controller.conversation.directory import parse_directory
from controller.conversation.events import Leg
from controller.conversation.hearing import (
    PROMPT_CHARS,
    Expecting,
    choose,
    directory_prompt,
    expecting_on,
    hearing_for,
    spell_apartment,
)
from controller.conversation.matching import ResidentIndex
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.state import DialogState, Phase
from controller.conversation.understanding import Slot, UnderstandingContext, Understood

DIRECTORY = parse_directory(
    '[{"apartment_number": "702", "residents": ["Giovanna Prado"], "voip_number": "PJSIP/702"},'
    ' {"apartment_number": "102", "residents": ["Luiz Henrique Barbosa", "Sônia Barbosa"], "voip_number": "PJSIP/102"}]'
)


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("101", "cento e um"),
        ("702", "setecentos e dois"),
        ("100", "cem"),
        ("1001", "mil e um"),
        ("1203", "mil duzentos e três"),
        ("2000", "dois mil"),
        ("15", "quinze"),
        ("B12", "B12"),
    ],
)
def test_apartments_are_spelled_as_visitors_say_them(number: str, words: str) -> None:
    assert spell_apartment(number) == words


def test_a_name_question_gets_the_residents_and_the_known_apartments_own_last() -> None:
    prompt = directory_prompt(DIRECTORY, Expecting.RESIDENT, apartment="702")
    assert prompt == "Moradores: Luiz Henrique Barbosa, Sônia Barbosa, Giovanna Prado."


def test_an_apartment_question_gets_the_apartments_in_words() -> None:
    assert directory_prompt(DIRECTORY, Expecting.APARTMENT) == "Apartamentos: setecentos e dois, cento e dois."


def test_the_visitors_own_name_and_yes_no_answers_get_no_prompt() -> None:
    assert directory_prompt(DIRECTORY, Expecting.OTHER) == ""


def test_a_large_building_keeps_within_whispers_prompt_budget_and_keeps_the_known_apartment() -> None:
    units = [
        f'{{"apartment_number": "{n}", "residents": ["Morador Número {n} Sobrenome"], "voip_number": "PJSIP/{n}"}}'
        for n in range(100, 700)
    ]
    big = parse_directory("[" + ",".join(units) + "]")
    prompt = directory_prompt(big, Expecting.RESIDENT, apartment="150")
    assert len(prompt) <= PROMPT_CHARS
    assert prompt.endswith("Morador Número 150 Sobrenome.")


@pytest.mark.parametrize(
    ("phase", "slot", "leg", "expecting"),
    [
        (Phase.COLLECTING, None, Leg.GATE, Expecting.REQUEST),  # the first request
        (Phase.COLLECTING, Slot.INTENT, Leg.GATE, Expecting.REQUEST),
        (Phase.COLLECTING, Slot.RESIDENT, Leg.GATE, Expecting.RESIDENT),  # "Para quem é?"
        (Phase.COLLECTING, Slot.CHOICE, Leg.GATE, Expecting.RESIDENT),  # "A Ana Paula ou a Ana Lúcia?"
        (Phase.COLLECTING, Slot.APARTMENT, Leg.GATE, Expecting.APARTMENT),
        (Phase.COLLECTING, Slot.VISITOR_NAME, Leg.GATE, Expecting.OTHER),  # their own name: never biased
        (Phase.COLLECTING, Slot.CONFIRM, Leg.GATE, Expecting.OTHER),  # a yes or no
        (Phase.COLLECTING, Slot.RESIDENT, Leg.RESIDENT, Expecting.OTHER),  # the resident's leg: never
        (Phase.NEW, None, Leg.GATE, Expecting.OTHER),
    ],
)
def test_what_a_turn_expects_follows_the_question_asked(
    phase: Phase, slot: Slot | None, leg: Leg, expecting: Expecting
) -> None:
    assert expecting_on(DialogState("c1", phase=phase, expecting=slot), leg) is expecting


@pytest.mark.parametrize("expecting", list(Expecting))
def test_only_answers_the_directory_checks_may_be_heard_the_quicker_way(expecting: Expecting) -> None:
    """`checked` lets the recogniser shorten its window: for the request, who and which apartment; never for the
    visitor's own name or a yes/no (nor the resident's leg, which always expects OTHER, above). An empty
    directory gives no prompt but the answer is still checked."""
    checked = expecting is not Expecting.OTHER
    assert hearing_for(DIRECTORY, expecting).checked is checked
    assert hearing_for(parse_directory("[]"), expecting).checked is checked


INDEX = ResidentIndex(DIRECTORY)


def _read(text: str) -> Understood:
    context = UnderstandingContext(
        expecting=Slot.RESIDENT, apartments=INDEX.apartments, names=INDEX.name_words, sounds=INDEX.name_sounds
    )
    return RuleUnderstanding().parse(text, context)


def test_the_directory_chooses_the_hypothesis_it_knows() -> None:
    texts = ("A Adiobona.", "A Giovanna.", "A Joana.")
    assert choose(texts, Expecting.RESIDENT, _read, INDEX) == "A Giovanna."


def test_with_no_hypothesis_the_directory_knows_the_best_one_stands() -> None:
    """Someone who does not live there is heard as the recogniser heard them."""
    texts = ("É para a Juliana.", "É para a Juliane.")
    assert choose(texts, Expecting.RESIDENT, _read, INDEX) == "É para a Juliana."


def test_a_question_the_directory_cannot_answer_keeps_the_best_hypothesis() -> None:
    assert choose(("Sou a Joana.", "Sou a Giovanna."), Expecting.OTHER, _read, INDEX) == "Sou a Joana."
