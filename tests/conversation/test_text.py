"""Folding and the pt-BR phonetic key."""

from __future__ import annotations

import pytest

from controller.conversation.text import fold, phonetic, title_name, tokenize


def test_fold_strips_case_accents_and_punctuation() -> None:
    assert fold("  Olá, JOÃO! Tudo bem? Apto. 101-B ") == "ola joao tudo bem apto 101 b"


def test_tokens_keep_the_original_spelling_beside_the_folded_one() -> None:
    tokens = tokenize("Sou o João, da Luíza.")
    assert tokens.folded == ("sou", "o", "joao", "da", "luiza")
    assert tokens.original == ("sou", "o", "joão", "da", "luíza")
    assert tokens.breaks == (False, False, True, False, True)  # a punctuation mark after "João" and "Luíza"
    assert tokenize("snake_case 1.001").folded == ("snake", "case", "1", "001")


def test_title_name_keeps_connectors_lowercase() -> None:
    assert title_name(["joão", "da", "silva"]) == "João da Silva"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Luíza", "Luisa"),
        ("Tereza", "Teresa"),
        ("Thiago", "Tiago"),
        ("Raquel", "Rakel"),
        ("Souza", "Sousa"),
        ("Francisco", "Fransisco"),
        ("Felipe", "Phelipe"),
        ("Almeida", "Almeyda"),
        ("Luís", "Luiz"),
    ],
)
def test_names_that_sound_alike_share_a_key(one: str, other: str) -> None:
    assert phonetic(one) == phonetic(other)


@pytest.mark.parametrize(("one", "other"), [("Renata", "Renato"), ("Ana", "Anna Paula"), ("Pereira", "Ferreira")])
def test_different_names_keep_different_keys(one: str, other: str) -> None:
    assert phonetic(one) != phonetic(other)
