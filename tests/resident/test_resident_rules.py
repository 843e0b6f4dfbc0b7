"""The resident's reply read by the rules: a table of pt-BR phrases and what they mean."""

from __future__ import annotations

import pytest

from controller.conversation import Answer, read_answer

YES = [
    "sim",
    "Sim.",
    "pode",
    "pode sim",
    "libera",
    "libera aí",
    "pode liberar",
    "pode subir",
    "pode entrar",
    "autorizo",
    "autorizado",
    "deixa subir",
    "manda subir",
    "manda entrar",
    "claro",
    "claro, pode subir",
    "sim, é minha encomenda",
    "pode abrir",
    "abre o portão",
    "tá liberado",
    "ok, pode",
    "beleza, libera",
    "com certeza",
    "tudo bem",
    "tá bom",
    "pode vir",
    "estou esperando",
    "tava esperando sim",
    "uhum",
    "não tem problema, pode subir",
    "pode, não tem problema",
    "por que não",
    "sem problema",
]
NO = [
    "não",
    "Não!",
    "não conheço",
    "não conheço ninguém com esse nome",
    "não autorizo",
    "não pode",
    "não pode subir",
    "não pode entrar",
    "não estou esperando ninguém",
    "não libera",
    "negativo",
    "nunca",
    "de jeito nenhum",
    "nem pensar",
    "não, obrigado",
    "pode mandar embora",
    "sim não sei não",
    "não deixa subir",
    "não quero",
    "não, pode subir não",
]
WAIT = [
    "manda esperar",
    "pede pra esperar",
    "pede para aguardar um pouco",
    "fala pra esperar",
    "já vou descer",
    "estou descendo",
    "vou buscar",
]
TALK = [
    "quero falar com ele",
    "quero falar com ela",
    "passa pra ele",
    "me passa",
    "deixa eu falar com ela",
    "posso falar com o visitante",
    "não, quero falar com ele primeiro",
]
FRONT_DESK = [
    "deixa na portaria",
    "pode deixar na portaria",
    "deixa com o porteiro",
    "deixa na recepção",
    "não, deixa na portaria",
]
REPEAT = ["como?", "quem?", "quem é?", "o quê?", "não entendi", "pode repetir"]
UNCLEAR = ["", "hmm", "deixa", "pode deixar", "isso aí", "é o quê, uma pizza?", "espera aí", "só um momento", "alô"]


@pytest.mark.parametrize(
    ("text", "answer"),
    [(text, Answer.YES) for text in YES]
    + [(text, Answer.NO) for text in NO]
    + [(text, Answer.WAIT) for text in WAIT]
    + [(text, Answer.TALK) for text in TALK]
    + [(text, Answer.FRONT_DESK) for text in FRONT_DESK]
    + [(text, Answer.REPEAT) for text in REPEAT if text != "alô"],
)
def test_delivery_answers(text: str, answer: Answer) -> None:
    assert read_answer(text, delivery=True) is answer


@pytest.mark.parametrize("text", UNCLEAR)
def test_unclear(text: str) -> None:
    expected = Answer.REPEAT if text == "alô" else Answer.UNCLEAR
    assert read_answer(text, delivery=True) is expected


@pytest.mark.parametrize("text", ["deixa na portaria", "pode deixar na portaria"])
def test_front_desk_only_for_deliveries(text: str) -> None:
    assert read_answer(text, delivery=False) is not Answer.FRONT_DESK
    assert read_answer(text, delivery=False) is not Answer.YES


@pytest.mark.parametrize("yes", YES)
def test_any_negation_turns_yes_into_no(yes: str) -> None:
    """Negation beats yes words: the fail-safe reading."""
    if "não" in yes:
        return
    assert read_answer(f"não {yes}", delivery=False) is Answer.NO
    assert read_answer(f"{yes} não", delivery=False) is Answer.NO
