"""Everything the visitor hears, in short pt-BR sentences. Pure functions of the state.

Each question has variants, and the first one not yet said in this call is used, so a visitor asked the same
thing again hears it differently, and a question whose content changed (a corrected summary) is said in full.
"""

from __future__ import annotations

from dataclasses import replace

from controller.conversation.matching import Candidate
from controller.conversation.state import DialogState, Line, Target
from controller.conversation.text import NAME_CONNECTORS, fold
from controller.conversation.understanding import Intent, Slot

_FEMININE = frozenset(
    {
        "beatriz",
        "alice",
        "isabel",
        "raquel",
        "ester",
        "ines",
        "ingrid",
        "carmen",
        "miriam",
        "ruth",
        "rute",
        "liz",
        "thais",
        "lais",
        "yasmin",
        "denise",
        "aline",
        "simone",
        "nicole",
        "michele",
        "gabriele",
        "rose",
        "ivete",
        "lourdes",
        "mercedes",
        "irene",
        "jaqueline",
        "cleide",
        "ivone",
        "elis",
        "luz",
        "mel",
        "sol",
        "vitoria",
    }
)
_MASCULINE_A = frozenset({"luca", "nicola", "joshua", "jonatha", "elia", "andrea"})
_MASCULINE = frozenset({"jose", "andre", "vicente", "alexandre", "rene", "noe", "jaime"})
_FEMININE_ENDINGS = ("a", "ine", "ane", "ene", "ele", "ice", "ete", "ide", "iz")
_MASCULINE_ENDINGS = (
    "o",
    "os",
    "us",
    "as",
    "or",
    "on",
    "el",
    "uel",
    "iel",
    "ael",
    "im",
    "ique",
    "ge",
    "pe",
    "es",
    "er",
)

# How the concierge takes what the visitor said before going on. It opens on a vowel: "Certo" opens on an /s/
# above a phone line's 4 kHz, which the caller heard ~110 ms after the reply started.
ACK = "Entendi"
_INTENT_WORDS = {Intent.VISITA: "visita", Intent.ENTREGA: "entrega", Intent.SERVICO: "serviço"}


def article(name: str) -> str:
    """'a ' for Renata, 'o ' for Carlos, '' when the first name does not tell."""
    first = next(iter(fold(name).split()), "")
    if first in _FEMININE or (first.endswith(_FEMININE_ENDINGS) and first not in _MASCULINE_A):
        return "a "
    if first.endswith(_MASCULINE_ENDINGS) or first in _MASCULINE_A or first in _MASCULINE:
        return "o "
    return ""


def first_name(name: str) -> str:
    """How to call a resident briefly: 'Renata' for Renata Souza, 'Ana Paula' for Ana Paula Ferreira."""
    words = name.split()
    if len(words) >= 3 and words[1].lower() not in NAME_CONNECTORS:
        return " ".join(words[:2])
    return words[0] if words else name


def address(apartment: str, block: str | None) -> str:
    """'101, bloco B'; just '101' where the building has no blocks."""
    return f"{apartment}, bloco {block}" if block else apartment


def _where(candidate: Candidate) -> str:
    return address(candidate.apartment, candidate.block)


def _pick(variants: tuple[str, ...], state: DialogState, slot: Slot) -> str:
    """The first variant the visitor has not heard yet in this call."""
    said = [line.text for line in state.transcript if line.speaker == "concierge"]
    for variant in variants:
        if not any(variant in line for line in said):
            return variant
    return variants[state.asked.count(slot) % len(variants)]


def ask_apartment(state: DialogState) -> str:
    first = {
        Intent.ENTREGA: "Para qual apartamento é a entrega?",
        Intent.VISITA: "Qual apartamento você vai visitar?",
        Intent.SERVICO: "Em qual apartamento é o serviço?",
        Intent.DESCONHECIDO: "Qual é o apartamento?",
    }[state.intent]
    variants = (first, "Qual é o número do apartamento? Se preferir, digite no teclado.", "Pode dizer só o número?")
    return _pick(variants, state, Slot.APARTMENT)


def ask_block(state: DialogState) -> str:
    variants = (
        "Qual é o bloco?",
        f"O {state.apartment} de qual bloco?",
        "Pode dizer só a letra ou o número do bloco?",
    )
    return _pick(variants, state, Slot.BLOCK)


def ask_resident(state: DialogState) -> str:
    where = f" no {state.apartment}" if state.apartment and Slot.APARTMENT not in state.unknown else ""
    first = {
        Intent.ENTREGA: "Para quem é a entrega?",
        Intent.VISITA: "Com quem você quer falar?",
        Intent.SERVICO: "Quem pediu o serviço?",
        Intent.DESCONHECIDO: "Qual é o nome do morador?",
    }[state.intent]
    variants = (first, f"Qual é o nome de quem mora{where}?", "Pode repetir o nome do morador, devagar?")
    return _pick(variants, state, Slot.RESIDENT)


def ask_visitor_name(state: DialogState) -> str:
    variants = ("Qual é o seu nome?", "Pode me dizer o seu nome, por favor?", "Como você se chama?")
    return _pick(variants, state, Slot.VISITOR_NAME)


def ask_intent(state: DialogState) -> str:
    variants = (
        "É visita, entrega ou serviço?",
        "Você veio visitar alguém, fazer uma entrega ou um serviço?",
        "Diga visita, entrega ou serviço, por favor.",
    )
    return _pick(variants, state, Slot.INTENT)


def whom(candidate: Candidate) -> str:
    """'a Giovanna' for a resident, 'o 101' (or 'o 101, bloco B') for a whole apartment."""
    if candidate.resident is None:
        return f"o {_where(candidate)}"
    return f"{article(candidate.resident)}{first_name(candidate.resident)}"


def _whom_fully(candidate: Candidate) -> str:
    """'a Renata Souza, no 101'; 'o 101' alone for a whole apartment."""
    if candidate.resident is None:
        return f"o {_where(candidate)}"
    return f"{article(candidate.resident)}{candidate.resident}, no {_where(candidate)}"


def ask_check(state: DialogState, target: Target) -> str:
    where = _where(target.candidate)
    who = target.candidate.resident
    if who is None:  # the apartment exists, the name heard is not in it: ring it anyway only if they say so
        heard = (state.resident or "").title()
        variants = (
            f"Não encontrei {heard} no {where}. Quer que eu chame o {where} mesmo assim?",
            f"Posso chamar o apartamento {where}? Diga sim ou não.",
        )
    elif target.stated_apartment:
        variants = (
            f"{article(who).capitalize()}{who} mora no {where}, não no {target.stated_apartment}. É para o {where}?",
            f"É para {article(who)}{first_name(who)}, do {where}? Diga sim ou não.",
        )
    else:
        variants = (
            f"{article(who).capitalize()}{who} mora no {where}, é isso?",
            f"Você procura {article(who)}{who}, do {where}? Diga sim ou não.",
        )
    return _pick(variants, state, Slot.CHECK)


def ask_choice(state: DialogState) -> str:
    options = state.candidates
    named = [option.resident or "" for option in options]
    if len(options) == 2:
        one, two = options
        if (one.apartment, one.block) == (two.apartment, two.block):
            first = f"É para {article(named[0])}{named[0]} ou para {article(named[1])}{named[1]}?"
        else:
            first = (
                f"É {article(named[0])}{named[0]}, do {_where(one)}, "
                f"ou {article(named[1])}{named[1]}, do {_where(two)}?"
            )
    else:
        first = f"Temos {len(options)} moradores com esse nome. Qual é o apartamento?"
    variants = (first, "Pode dizer o nome completo ou o número do apartamento?")
    return _pick(variants, state, Slot.CHOICE)


def ask_confirm(state: DialogState) -> str:
    """Asked only on doubt (the request was heard with low confidence): the whole request, then yes or no."""
    assert state.target is not None
    candidate = state.target.candidate
    errand = _INTENT_WORDS.get(state.intent, "visita")
    visitor = f"{state.visitor_name.split()[0]}, " if state.visitor_name else ""
    variants: tuple[str, ...] = (
        f"{visitor}{errand} para {_whom_fully(candidate)}. Posso chamar?",
        f"Posso chamar {whom(candidate)}, do {_where(candidate)}? Diga sim ou não.",
        f"Confirma: {errand} para {whom(candidate)}, no {_where(candidate)}?",
    )
    if candidate.resident is None:
        variants = (f"{visitor}{errand} para o {_where(candidate)}. Posso chamar?", *variants[2:])
    return _pick(variants, state, Slot.CONFIRM)


def let_in(visitor_name: str | None) -> str:
    """Said while a pass's yes is recorded, before the gate opens."""
    return f"{ACK}, {visitor_name.split()[0]}. Um momento." if visitor_name else f"{ACK}. Um momento."


def calling(state: DialogState, target: Target) -> str:
    """'Entendi, Marcos. Vou chamar a Giovanna, do 702. Um momento.': said as the ring starts, never a question."""
    thanks = f"{ACK}, {state.visitor_name.split()[0]}." if state.visitor_name else f"{ACK}."
    candidate = target.candidate
    if candidate.resident is None:
        return f"{thanks} Vou chamar o apartamento {_where(candidate)}. Um momento."
    return f"{thanks} Vou chamar {whom(candidate)}, do {_where(candidate)}. Um momento."


def acknowledge(name: str) -> str:
    return f"{ACK}, {name.split()[0]}."


def no_such_apartment(apartment: str, block: str | None) -> str:
    return f"Não temos o {apartment} no bloco {block}." if block else f"Não temos o apartamento {apartment}."


def not_in_apartment(resident: str, apartment: str) -> str:
    return f"Não encontrei {resident.title()} no {apartment}."


def not_found(resident: str) -> str:
    return f"Não encontrei ninguém chamado {resident.title()}."


def rejected() -> str:
    return "Desculpe."


def still_there() -> str:
    return "Não ouvi."


def transfer(asked: bool) -> str:
    """Said before a hand-over to the concierge, in either phase; "Tudo bem" when the visitor asked for it."""
    if asked:
        return "Tudo bem, vou transferir para a portaria. Um momento."
    return "Vou transferir para a portaria. Um momento."


def fallback(asked: bool, concierge: bool) -> str:
    if not concierge:
        return "Desculpe, não consegui ajudar por aqui. Por favor, ligue para o morador. Até logo."
    if asked:
        return transfer(asked=True)
    return f"Não estou conseguindo entender. {transfer(asked=False)}"


def fixed_phrases() -> list[str]:
    """The dialog's sentences that name no one and no number, every variant: cached at start-up like the greeting,
    so a reply that is one of them starts from memory instead of waiting for the synthesizer."""
    questions = (ask_apartment, ask_block, ask_resident, ask_visitor_name, ask_intent)
    phrases = [rejected(), still_there(), f"{ACK},"]  # the clause before a visitor's name
    phrases += [fallback(asked, concierge) for asked in (False, True) for concierge in (False, True)]
    for intent in Intent:
        for question in questions:
            state = DialogState("precache", intent=intent)
            for _ in range(3):  # each question has up to three variants, the next one once a variant was said
                text = question(state)
                phrases.append(text)
                state = replace(state, transcript=(*state.transcript, Line("concierge", text)))
    return [phrase for phrase in dict.fromkeys(phrases) if "None" not in phrase]
