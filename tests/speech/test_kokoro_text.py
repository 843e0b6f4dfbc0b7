"""Kokoro's text front-end: numbers as words, clauses, espeak IPA -> Kokoro symbols (real espeak-ng)."""

from __future__ import annotations

import json

import pytest

from audiosocket.speech import install_model
from audiosocket.speech.base import EngineError
from audiosocket.speech.clauses import pause_after, split_clauses
from audiosocket.speech.numbers_pt import spell_number, spell_numbers
from audiosocket.speech.phonemes import EspeakPhonemizer, split_marks, to_kokoro

VOCAB = json.loads(install_model.find_kokoro_sources().vocab.read_text(encoding="utf-8"))["vocab"]


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (11, "onze"),
        (16, "dezesseis"),
        (21, "vinte e um"),
        (100, "cem"),
        (101, "cento e um"),
        (702, "setecentos e dois"),
        (1000, "mil"),
        (1100, "mil e cem"),
        (1203, "mil duzentos e três"),
        (2000, "dois mil"),
        (2050, "dois mil e cinquenta"),
        (101_101, "cento e um mil cento e um"),
        (1_000_001, "um milhão e um"),
        (2_300_000, "dois milhões e trezentos mil"),
    ],
)
def test_numbers_are_spelled_as_in_brazil(number: int, words: str) -> None:
    assert spell_number(number) == words


def test_numbers_in_text() -> None:
    assert spell_numbers("Giovanna, do 702.") == "Giovanna, do setecentos e dois."
    assert spell_numbers("bloco 3B, 1.203 e 1,5") == "bloco três B, mil duzentos e três e um vírgula cinco"
    assert spell_numbers("apto 0702") == "apto zero sete zero dois"  # a code: digit by digit
    assert spell_numbers("sem números") == "sem números"


def test_clauses_keep_their_marks_and_spare_numbers_and_titles() -> None:
    assert split_clauses("Certo, Marcos. Vou chamar a Giovanna, do 702. Um momento.") == [
        "Certo,", "Marcos.", "Vou chamar a Giovanna,", "do 702.", "Um momento.",
    ]
    assert split_clauses("O Sr. Marcos, do 1.203... chegou?!") == ["O Sr. Marcos,", "do 1.203...", "chegou?!"]
    assert split_clauses("  ") == [] and split_clauses("...") == [] and split_clauses("Olá") == ["Olá"]
    long = split_clauses("palavra " * 60)
    assert len(long) > 1 and all(len(clause) <= 120 for clause in long)
    assert pause_after("Certo,") < pause_after("Um momento.")


@pytest.mark.parametrize("tie", ["^", "\u0361"])
def test_tied_phonemes_become_kokoro_symbols(tie: str) -> None:
    pairs = {
        "a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O",
        "ə^ʊ": "Q", "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y",
    }
    for tied, single in pairs.items():
        assert to_kokoro("p" + tied.replace("^", tie) + "a", VOCAB) == f"p{single}a"
    assert to_kokoro(f"dˈo{tie}ɪs", VOCAB) == "dˈoɪs"  # no Kokoro symbol: the tie just goes
    assert to_kokoro("mˈaɾəkʊs", VOCAB) == "mˈaɾkʊs"  # espeak's schwa after a tap, before a consonant
    assert to_kokoro("pˈaɾæ  ☃x", VOCAB) == "pˈaɾæ x"  # outside the vocabulary: dropped; spaces collapsed


def test_marks_are_split_off_for_espeak_and_kept_for_kokoro() -> None:
    assert split_marks("Um momento.") == ("Um momento", ".")
    assert split_marks("chegou ?!") == ("chegou", "?!")
    assert split_marks("Olá") == ("Olá", "")


async def test_espeak_phonemes_of_a_clause() -> None:
    phonemizer = EspeakPhonemizer(VOCAB)
    phonemes = await phonemizer.phonemes("Boa tarde, do 702?")
    assert phonemes.endswith("?") and "^" not in phonemes and "\u0361" not in phonemes
    assert "ʤ" in phonemes  # tarde: the affricate as one symbol
    assert all(symbol in VOCAB for symbol in phonemes)
    assert "s" in phonemes and "dˈoɪs" in phonemes  # setecentos e dois, not digits
    assert await phonemizer.phonemes("...") == ""


async def test_missing_espeak_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="espeak-ng cannot run"):
        await EspeakPhonemizer(VOCAB, binary="/nonexistent/espeak-ng").phonemes("Olá.")
