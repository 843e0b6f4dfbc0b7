"""The rules understanding, table-driven: intent, visitor name, apartment, block, resident and short answers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from controller.conversation.directory import Directory
from controller.conversation.matching import ResidentIndex
from controller.conversation.rules import RuleUnderstanding
from controller.conversation.understanding import (
    Intent,
    Slot,
    UnderstandingContext,
    Understood,
)
from controller.understanding.fallback import WithFallback

RULES = RuleUnderstanding()


@pytest.fixture(scope="module")
def context(sample: Directory) -> UnderstandingContext:
    index = ResidentIndex(sample)
    return UnderstandingContext(None, index.apartments, index.name_words, index.name_sounds)


def read(text: str, context: UnderstandingContext, expecting: Slot | None = None) -> Understood:
    return RULES.parse(text, dataclasses.replace(context, expecting=expecting))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("tenho uma entrega", Intent.ENTREGA),
        ("e o ifood", Intent.ENTREGA),
        ("pedido do mercado livre", Intent.ENTREGA),
        ("correios", Intent.ENTREGA),
        ("encomenda da shopee", Intent.ENTREGA),
        ("delivery", Intent.ENTREGA),
        ("vim deixar um documento", Intent.ENTREGA),
        ("sou o tecnico da internet", Intent.SERVICO),
        ("vim fazer a faxina", Intent.SERVICO),
        ("eletricista", Intent.SERVICO),
        ("vim ver o vazamento", Intent.SERVICO),  # a service noun beats "vim ver"
        ("vim trabalhar", Intent.SERVICO),
        ("visita", Intent.VISITA),
        ("vim ver a renata", Intent.VISITA),
        ("sou amigo do pedro", Intent.VISITA),
        ("vim buscar a luiza", Intent.VISITA),
        ("vim buscar a encomenda", Intent.ENTREGA),
        ("boa tarde", None),
        ("", None),
    ],
)
def test_intent(text: str, intent: Intent | None, context: UnderstandingContext) -> None:
    assert read(text, context).intent is intent


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("sou o joao", "Joao"),
        ("sou a maria da silva", "Maria da Silva"),
        ("meu nome é João Pedro", "João Pedro"),
        ("aqui e o carlos da net", "Carlos"),
        ("aqui quem fala e a sonia", "Sonia"),
        ("me chamo osvaldo e vim consertar", "Osvaldo"),
        ("sou o pedro do ifood", "Pedro"),
        ("sou do ifood", None),
        ("sou entregador", None),
        ("sou amiga da luiza", None),
        ("e o joao do ifood", "Joao"),  # "é o ..." first thing, or answering "qual é o seu nome?"
        ("entrega e o joao", None),
        ("Sou Marcos, Víngvero Thiago do 201.", "Marcos"),  # Whisper's comma ends the name
    ],
)
def test_visitor_name(text: str, name: str | None, context: UnderstandingContext) -> None:
    assert read(text, context).visitor_name == name


def test_bare_name_when_asked(context: UnderstandingContext) -> None:
    assert read("e o joao", context, Slot.VISITOR_NAME).visitor_name == "Joao"
    repeated = read("luisa costa", context, Slot.VISITOR_NAME)  # the resident's full name said again
    assert (repeated.visitor_name, repeated.resident) == (None, "luisa costa")
    assert read("carlos eduardo", context, Slot.VISITOR_NAME).visitor_name == "Carlos Eduardo"
    assert read("carlos", context, Slot.VISITOR_NAME).resident is None  # a resident's name, but it was the answer


@pytest.mark.parametrize(
    ("text", "apartment"),
    [
        ("apartamento 101", "101"),
        ("para o cento e tres", "103"),
        ("no mil e um", "1001"),
        ("apto doze zero tres", "1203"),
        ("pro um zero zero um", "1001"),
        ("renata 302", "302"),
        ("pedido 4532 para o 101", "101"),  # an order number is not the apartment
        ("tenho dois pacotes", None),  # a count
        ("tenho um pacote", None),  # an article
        ("cinco minutos", None),
        ("telefone 99887766", None),
    ],
)
def test_apartment(text: str, apartment: str | None, context: UnderstandingContext) -> None:
    assert read(text, context).apartment == apartment


def test_small_bare_number_counts_when_the_apartment_was_asked(context: UnderstandingContext) -> None:
    assert read("cinco", context).apartment is None
    assert read("cinco", context, Slot.APARTMENT).apartment == "5"


@pytest.mark.parametrize(
    ("text", "expecting", "block", "apartment"),
    [
        ("bloco b apartamento 101", None, "B", "101"),
        ("torre dois cento e um", None, "2", "101"),
        ("bloco be", None, "B", None),
        ("101b", None, "B", "101"),
        ("b", Slot.BLOCK, "B", None),
        ("e o a", Slot.BLOCK, "A", None),
        ("dois", Slot.BLOCK, "2", None),
    ],
)
def test_block(
    text: str, expecting: Slot | None, block: str, apartment: str | None, context: UnderstandingContext
) -> None:
    heard = read(text, context, expecting)
    assert (heard.block, heard.apartment) == (block, apartment)


@pytest.mark.parametrize(
    ("text", "resident"),
    [
        ("entrega para a renata", "renata"),
        ("falar com o seu jose", "jose"),
        ("casa da dona luiza", "luiza"),
        ("encomenda em nome de ana paula ferreira", "ana paula ferreira"),
        ("pra renata do 101", "renata"),
        ("entrega renata souza 101", "renata souza"),  # no cue, but a resident's name
        ("entrega renatta 101", "renatta"),  # no cue, sounds like one
        ("para o 101", None),
        ("sou o carlos", None),  # the visitor, not the resident
        ("Sou Pedro, Víngvero Marcos do 201.", "marcos"),  # past the visitor's comma: "vim ver o" glued
        ("Parabeatriz.", "beatriz"),  # "para a Beatriz" as one word
        ("Adonaluíza.", "luíza"),  # "a dona Luíza"
        ("Pararenatta", "renatta"),  # the rest only has to sound like a resident
        ("Parapatrícia.", None),  # not a resident: the word stays whole, and without a cue it is nobody
        ("Paraná", None),  # the rest is too short to be a name
    ],
)
def test_resident(text: str, resident: str | None, context: UnderstandingContext) -> None:
    assert read(text, context).resident == resident


def test_unknown_bare_name_only_when_the_resident_was_asked(context: UnderstandingContext) -> None:
    assert read("roberto", context).resident is None
    assert read("roberto", context, Slot.RESIDENT).resident == "roberto"
    assert read("Parapatrícia,", context, Slot.RESIDENT).resident == "parapatrícia"  # an outsider, whole


def test_an_unknown_name_is_read_to_its_end_a_known_one_only_with_known_words(context: UnderstandingContext) -> None:
    assert read("Agio Varna,", context, Slot.RESIDENT).resident == "agio varna"  # Whisper's pieces, for matching
    assert read("para a renata obrigada", context, Slot.RESIDENT).resident == "renata"
    assert read("para o xisto silva", context, Slot.RESIDENT).resident == "xisto silva"


def test_a_glued_cue_is_split_only_from_a_residents_name(context: UnderstandingContext) -> None:
    glued = read("Paraoseujosé, do 102.", context)  # "para o seu José"
    assert (glued.resident, glued.apartment) == ("josé", "102")
    assert read("Seumarcos", context, Slot.RESIDENT).resident == "marcos"
    assert read("Dona Renata", context, Slot.RESIDENT).resident == "renata"  # already apart: unchanged


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("sim", "affirmation", True),
        ("isso mesmo", "affirmation", True),
        ("pode chamar", "affirmation", True),
        ("nao", "affirmation", False),
        ("não é isso", "affirmation", False),
        ("nao sei", "affirmation", None),
        ("nao sei", "dont_know", True),
        ("tanto faz", "any_choice", True),
        ("a segunda", "ordinal", 1),
        ("como", "repeat", True),
        ("nao entendi", "repeat", True),
        ("quero falar com o porteiro", "asks_for_human", True),
        ("chama o sindico", "asks_for_human", True),
        ("quero falar com a renata", "asks_for_human", False),
    ],
)
def test_short_answers(text: str, field: str, value: object, context: UnderstandingContext) -> None:
    assert getattr(read(text, context), field) == value


class _Slow:
    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        await asyncio.sleep(10)
        return Understood(intent=Intent.VISITA)


class _Broken:
    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        raise RuntimeError("model unavailable")


class _Quick:
    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        return Understood(intent=Intent.SERVICO)


@pytest.mark.parametrize(
    ("primary", "intent"), [(_Slow(), Intent.ENTREGA), (_Broken(), Intent.ENTREGA), (_Quick(), Intent.SERVICO)]
)
async def test_rules_take_over_when_the_backend_is_late_or_broken(
    primary: _Slow | _Broken | _Quick, intent: Intent, context: UnderstandingContext
) -> None:
    understanding = WithFallback(primary, RULES, timeout_s=0.05)
    assert (await understanding.understand("tenho uma entrega", context)).intent is intent
