"""Spoken pt-BR numbers, as recognisers write them, to digit strings."""

from __future__ import annotations

import pytest

from controller.conversation.numbers import find_numbers, parse_number
from controller.conversation.text import fold


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("cento e três", "103"),
        ("cento e um", "101"),
        ("cento tres", "103"),  # the recogniser dropped the "e"
        ("cem", "100"),
        ("duzentos e dois", "202"),
        ("trezentos e um", "301"),
        ("cento e vinte e três", "123"),
        ("vinte e dois", "22"),
        ("mil e um", "1001"),
        ("mil um", "1001"),
        ("mil duzentos e três", "1203"),
        ("dois mil e dez", "2010"),
        ("doze zero três", "1203"),
        ("dez zero um", "1001"),
        ("um zero zero um", "1001"),
        ("um zero um", "101"),
        ("um meia um", "161"),  # "meia" is six when reading digits
        ("1 0 1", "101"),
        ("101", "101"),
        ("zero um", "01"),
        ("quatorze", "14"),
        ("catorze", "14"),
        ("dezesseis zero dois", "1602"),
        ("novecentas e duas", "902"),
        ("sete cento e dois", "702"),  # the hundreds word cut in two by the recogniser
        ("sete centro de dois", "702"),  # ... heard as "centro", and the "e" as "de"
        ("cento de dois", "102"),
        ("quatro centos e um", "401"),
        ("trêscentos e três", "303"),
        ("cento e dois cento e três", "102103"),  # two numbers read one after the other stay two chunks
        ("centro ion", "101"),  # "cento e um", its "e um" said as one syllable
        ("Centurion", "101"),  # ... and glued to the hundreds word
        ("Centuyon", "101"),
        ("Centuíon", "101"),
        ("mil e centurion", "1101"),
    ],
)
def test_spoken_numbers(spoken: str, digits: str) -> None:
    assert parse_number(fold(spoken)) == digits


@pytest.mark.parametrize(
    "text", ["", "bloco", "um e dois", "entrega", "dois de tres", "duzentos de 3", "ion", "sentido"]
)
def test_not_a_single_number(text: str) -> None:
    assert parse_number(fold(text)) is None


def test_numbers_are_found_with_their_positions() -> None:
    words = fold("pedido 4532 para o cento e um bloco dois").split()
    assert [(span.start, span.end, span.value) for span in find_numbers(words)] == [
        (1, 2, "4532"),
        (4, 7, "101"),
        (8, 9, "2"),
    ]


def test_a_lone_small_number_is_weak() -> None:
    spans = find_numbers(fold("um pacote para o 15 e o cento e um").split())
    assert [span.is_weak for span in spans] == [True, True, False]


@pytest.mark.parametrize(
    ("written", "composed", "as_written"),
    [
        ("cento e 1", ["101"], ["100", "1"]),
        ("200 e 2", ["202"], ["200", "2"]),
        ("1 0 1", ["101"], ["101"]),
        ("zero 07", ["007"], ["007"]),
    ],
)
def test_digits_compose_with_number_words_only_when_asked(
    written: str, composed: list[str], as_written: list[str]
) -> None:
    words = fold(written).split()
    assert [span.value for span in find_numbers(words, compose_digits=True)] == composed
    assert [span.value for span in find_numbers(words)] == as_written
