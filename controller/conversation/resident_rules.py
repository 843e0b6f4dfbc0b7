"""What the resident's reply means: yes, no, wait, talk, leave it at the front desk, repeat, or unclear.

Deterministic and offline, like the visitor's rules. Reading order, first match wins:

1. requests to repeat ("como?", "quem?", "não entendi");
2. front desk ("deixa na portaria", "pode deixar com o porteiro"): for deliveries; otherwise unclear, never yes;
3. talk to the visitor ("quero falar com ele", "passa pra ela");
4. wait ("manda esperar", "pede pra aguardar", "já vou descer"): not now, the gate stays shut;
5. no: any negation ("não", "nunca", "negativo", "de jeito nenhum"), after removing the idioms in which
   "não" means yes ("não tem problema", "por que não"). Negation beats yes words, so "não pode subir" is no;
6. yes ("sim", "pode", "libera", "pode subir", "autorizo", "deixa subir", "claro"...);
7. anything else is unclear (the resident is asked again).

Fail safe: a reply is yes only when it has a yes word and nothing that could mean no.
"""

from __future__ import annotations

from enum import StrEnum

from controller.conversation.text import fold, has_phrase


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    WAIT = "wait"
    TALK = "talk"
    FRONT_DESK = "front_desk"
    REPEAT = "repeat"
    UNCLEAR = "unclear"


DTMF_ANSWERS = {"1": Answer.YES, "2": Answer.NO, "3": Answer.TALK}

_REPEAT_UTTERANCES = frozenset(
    {
        "como",
        "o que",
        "oi",
        "hein",
        "que",
        "quem",
        "quem e",
        "quem e ele",
        "quem e ela",
        "ahn",
        "ha",
        "ue",
        "alo",
        "repete",
        "repita",
        "pode repetir",
        "como e",
        "o que e",
        "qual o nome",
        "qual nome",
        "como e o nome",
    }
)
_REPEAT_PHRASES = ("repete", "repetir", "nao entendi", "nao ouvi", "fala de novo", "diz de novo", "nao escutei")
_FRONT_DESK_PLACES = (
    "portaria",
    "porteiro",
    "porteira",
    "recepcao",
    "guarita",
    "armario",
    "locker",
    "zelador",
    "zeladora",
    "la embaixo",
    "ai embaixo",
)
_FRONT_DESK_VERBS = ("deixa", "deixar", "deixe", "deixem", "larga", "entrega", "entregar", "entregue", "pode")
_TALK_PHRASES = (
    "falar com ele",
    "falar com ela",
    "falar com o",
    "falar com a",
    "quero falar",
    "deixa eu falar",
    "me deixa falar",
    "posso falar",
    "passa pra ele",
    "passa pra ela",
    "passa para ele",
    "passa para ela",
    "passa ele",
    "passa ela",
    "me passa",
    "coloca ele",
    "coloca ela",
    "poe ele",
    "poe ela",
    "conversar com",
    "falar com o visitante",
    "falar com a visitante",
    "falar com quem",
    "liga pra ele",
    "me conecta",
    "me coloca",
)
_WAIT_PHRASES = (
    "manda esperar",
    "manda aguardar",
    "pede pra esperar",
    "pede para esperar",
    "pede pra aguardar",
    "pede para aguardar",
    "fala pra esperar",
    "fala para esperar",
    "diz pra esperar",
    "diz para esperar",
    "pra esperar",
    "para esperar",
    "pra aguardar",
    "para aguardar",
    "ja vou descer",
    "vou descer",
    "ja desco",
    "to descendo",
    "estou descendo",
    "ja estou descendo",
    "ja vou ai",
    "ja estou indo",
    "vou buscar",
    "ja vou buscar",
    "eu desco",
)
# "não" that means yes: removed before looking for a negation.
_YES_IDIOMS = (
    "nao tem problema",
    "nao ha problema",
    "nao tem nenhum problema",
    "por que nao",
    "porque nao",
    "nao vejo problema",
    "nao precisa perguntar",
    "nao se preocupe",
    "tem problema nao",
    "problema nenhum",
)
_NO_WORDS = frozenset(
    {
        "nao",
        "nunca",
        "jamais",
        "negativo",
        "nego",
        "recuso",
        "recusa",
        "recusar",
        "proibido",
        "proibida",
        "nem",
        "ninguem",
        "nenhum",
        "nenhuma",
        "barra",
        "impede",
        "bloqueia",
    }
)
_NO_PHRASES = ("de jeito nenhum", "nem pensar", "manda embora", "pode mandar embora", "pede pra ir embora", "nope")
_YES_WORDS = frozenset(
    {
        "sim",
        "pode",
        "podem",
        "libera",
        "liberar",
        "libere",
        "liberado",
        "liberada",
        "autorizo",
        "autorizado",
        "autorizada",
        "autoriza",
        "claro",
        "abre",
        "abrir",
        "abra",
        "sobe",
        "subir",
        "entra",
        "entrar",
        "isso",
        "ok",
        "okay",
        "beleza",
        "positivo",
        "aham",
        "uhum",
        "ahan",
        "confirmo",
        "perfeito",
        "certo",
        "manda",
        "deixa",
    }
)
_YES_PHRASES = (
    "com certeza",
    "tudo bem",
    "ta bom",
    "esta bom",
    "ta certo",
    "estou esperando",
    "to esperando",
    "tava esperando",
    "estava esperando",
    "era esperado",
    "pode vir",
    "manda vir",
    "sem problema",
    "ta liberado",
    "esta liberado",
)
# Yes words that alone say too little: "deixa" (leave it? let them?), "manda" (send it?), "certo" (okay, and?).
_WEAK_YES = frozenset({"deixa", "manda", "certo", "isso"})
# "pode deixar" alone is "don't worry / leave it": neither a yes nor a place.
_AMBIGUOUS = frozenset({"pode deixar", "deixa", "deixa ai", "manda", "certo", "isso ai"})


def read_answer(text: str, *, delivery: bool) -> Answer:
    """The resident's reply to "Posso liberar a entrada?"; `delivery` enables the front-desk answer."""
    folded = fold(text)
    if not folded:
        return Answer.UNCLEAR
    padded = f" {folded} "
    words = folded.split()
    if folded in _REPEAT_UTTERANCES or has_phrase(padded, _REPEAT_PHRASES):
        return Answer.REPEAT
    if has_phrase(padded, _FRONT_DESK_PLACES) and any(verb in words for verb in _FRONT_DESK_VERBS):
        return Answer.FRONT_DESK if delivery else Answer.UNCLEAR  # "leave it at the desk" never lets anyone in
    if has_phrase(padded, _TALK_PHRASES):
        return Answer.TALK
    if has_phrase(padded, _WAIT_PHRASES):
        return Answer.WAIT
    cleared = padded
    for idiom in _YES_IDIOMS:
        cleared = cleared.replace(f" {idiom} ", " sem problema ")
    if any(word in _NO_WORDS for word in cleared.split()) or has_phrase(cleared, _NO_PHRASES):
        return Answer.NO
    if folded in _AMBIGUOUS:
        return Answer.UNCLEAR
    strong = [word for word in cleared.split() if word in _YES_WORDS and word not in _WEAK_YES]
    if strong or has_phrase(cleared, _YES_PHRASES):
        return Answer.YES
    return Answer.UNCLEAR
