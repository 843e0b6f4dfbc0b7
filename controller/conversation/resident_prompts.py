"""What the resident and the waiting visitor hear during the resident phase, in short pt-BR sentences.

The resident hears who is at the gate and why, then the keys; the visitor hears that we are calling, who
answered, and the outcome. A denial is told to the visitor without naming who denied it.
"""

from __future__ import annotations

from controller.conversation.events import DeliveryPolicy, VisitorRequest
from controller.conversation.prompts import address, article, first_name, transfer
from controller.conversation.understanding import Intent

KEYS = "Tecle 1 sim, 2 não."
MORE_KEYS = "Tecle 1 para liberar, 2 para recusar ou 3 para falar com o visitante."
_KEYS_AGAIN = f"Por favor, {MORE_KEYS[0].lower()}{MORE_KEYS[1:]}"
# Sentence ends that follow a name or an apartment: fixed_phrases() makes them at start-up, so they are named once.
_ASK = f"Posso liberar? {KEYS}"
_ASK_BY_VOICE = "Posso liberar? Diga sim ou não."
_ONE_MORE_MOMENT = "Só mais um momento, por favor."
_NOT_OPENING = "então não posso liberar a entrada."
_TRY_LATER = "Por favor, tente mais tarde. Até logo."


def who(name: str) -> str:
    """'a Renata', 'o Carlos', 'Ariel'."""
    return f"{article(name)}{first_name(name)}"


def _who_cap(name: str) -> str:
    text = who(name)
    return text[:1].upper() + text[1:]


def _visitor(request: VisitorRequest) -> str | None:
    words = (request.visitor_name or "").split()
    return words[0] if words else None


def _for_whom(request: VisitorRequest) -> str:
    """'a Renata', or 'o 101' when the visitor asked for the apartment and named no one."""
    if request.resident:
        return who(request.resident)
    return f"o {address(request.apartment, request.block)}"


# To the resident ---------------------------------------------------------------------------------------------


def _facts(request: VisitorRequest) -> str:
    """Who is at the gate and for whom, in a few words: the resident decides on these."""
    visitor, whom = _visitor(request), _for_whom(request)
    match request.intent:
        case Intent.ENTREGA:
            return f"Entrega para {whom}."
        case Intent.SERVICO:
            return f"{visitor}, serviço para {whom}." if visitor else f"Um serviço para {whom}."
        case Intent.VISITA:
            return f"{visitor} quer visitar {whom}." if visitor else f"Visita para {whom}."
    return f"{visitor} procura {whom}." if visitor else f"Tem alguém no portão para {whom}."


def question(request: VisitorRequest) -> str:
    """The first thing the resident hears: one short breath (under 6 s with espeak), the facts first, then the
    keys; the phone already shows "Portaria" as the caller. Voice and keys both interrupt it; "quem é?" repeats it."""
    return f"{_facts(request)} {_ASK}"


def ask_again(request: VisitorRequest, asks: int) -> str:
    variants = (
        f"Não entendi. {_facts(request)} {_ASK_BY_VOICE}",
        _KEYS_AGAIN,
    )
    return variants[(asks - 1) % len(variants)]


def resident_opened() -> str:
    return "Pronto, entrada liberada. Obrigado!"


def resident_denied() -> str:
    return "Certo, não vou liberar. Obrigado!"


def resident_wait() -> str:
    return "Certo, vou pedir para aguardar. Obrigado!"


def resident_front_desk() -> str:
    return "Certo, vou pedir para deixar na portaria. Obrigado!"


def resident_talk() -> str:
    return "Certo, vou colocar você na linha com o visitante."


def resident_no_decision() -> str:
    return "Não consegui entender, então não vou liberar a entrada agora. Até logo."


def resident_audit_failed() -> str:
    return "Desculpe, não consegui registrar a autorização, então não liberei a entrada. Vou avisar o visitante."


def resident_gate_failed() -> str:
    return "Desculpe, não consegui abrir o portão. Vou avisar o visitante."


def resident_visitor_left() -> str:
    return "O visitante desligou. Obrigado!"


def resident_transferred() -> str:
    return "O visitante pediu para falar com a portaria. Obrigado!"


def resident_error() -> str:
    return "Desculpe, tive um problema aqui. Até logo."


# To the visitor ----------------------------------------------------------------------------------------------

_RINGING = ("Ainda estou chamando, só um momento.", "Continuo chamando, aguarde um instante.", "Só mais um momento.")


def reassure(resident: str, answered: bool, count: int) -> str:
    if answered:
        talking = (f"Estou falando com {who(resident)}, só um momento.", _ONE_MORE_MOMENT)
        return talking[count % len(talking)]
    return _RINGING[count % len(_RINGING)]


def answered(resident: str) -> str:
    return f"{_who_cap(resident)} atendeu. Só um momento."


def try_again() -> str:
    return "Vou tentar de novo, só um momento."


def next_resident(previous: str, following: str) -> str:
    return f"{_who_cap(previous)} não atendeu. Vou chamar {who(following)}."


def authorised(resident: str) -> str:
    return f"{_who_cap(resident)} liberou a entrada. Pode entrar."


def preauthorised(granted_by: str) -> str:
    """A pass stood for the resident: who gave it, so the visitor knows whose yes let them in."""
    return f"{_who_cap(granted_by)} já autorizou a sua entrada. Pode entrar."


def denied() -> str:
    return "Desculpe, a entrada não foi autorizada. Até logo."


def wait(resident: str) -> str:
    return f"{_who_cap(resident)} pediu para você aguardar um pouco aí, por favor."


def front_desk(resident: str) -> str:
    return f"{_who_cap(resident)} pediu para deixar a entrega na portaria. Obrigado!"


def talk(resident: str) -> str:
    return f"{_who_cap(resident)} vai falar com você."


def _then(concierge: bool, otherwise: str) -> str:
    return transfer(asked=False) if concierge else otherwise


def no_decision(resident: str, concierge: bool) -> str:
    return f"{_who_cap(resident)} não conseguiu confirmar, {_NOT_OPENING} " + _then(
        concierge, "Até logo."
    )


def resident_hung_up(resident: str) -> str:
    return f"{_who_cap(resident)} desligou sem confirmar, {_NOT_OPENING} Até logo."


def no_answer(request: VisitorRequest, concierge: bool) -> str:
    where = address(request.apartment, request.block)
    return f"Ninguém atendeu no {where}. " + _then(concierge, _TRY_LATER)


_DELIVERY = {
    DeliveryPolicy.CARETAKER: "Por favor, deixe a encomenda com o zelador.",
    DeliveryPolicy.LATER: "Por favor, volte mais tarde.",
    DeliveryPolicy.LOCKER: "Por favor, deixe a encomenda no armário de entregas.",
}


def delivery_nobody_home(request: VisitorRequest, policy: DeliveryPolicy, notified: bool) -> str:
    """What a courier does with a delivery nobody answered for, as the site decided."""
    where = address(request.apartment, request.block)
    told = " O morador vai receber um aviso." if notified else ""
    return f"Ninguém atendeu no {where}. {_DELIVERY[policy]}{told} Obrigado, até logo."


def audit_failed(concierge: bool) -> str:
    return "Desculpe, tive um problema e não posso liberar a entrada agora. " + _then(concierge, "Até logo.")


def gate_failed(resident: str, concierge: bool) -> str:
    return "Não consegui abrir o portão. " + (
        "Vou chamar o porteiro. Um momento." if concierge else f"Por favor, avise {who(resident)}. Até logo."
    )


def error(concierge: bool) -> str:
    return "Desculpe, tive um problema. " + _then(concierge, "Por favor, tente de novo. Até logo.")


def fixed_phrases() -> list[str]:
    """The resident phase's sentences (and the fixed ends of the others) that name no one and no apartment:
    cached at start-up with the dialog's own, so a resident asked again under load, or a visitor told the
    outcome, hears them from memory. (A clause the synthesizer is too slow for is abandoned, not cached: it
    would be slow again every time.)"""
    phrases = [
        _ASK,
        _ASK_BY_VOICE,
        _KEYS_AGAIN,
        resident_opened(),
        resident_denied(),
        resident_wait(),
        resident_front_desk(),
        resident_talk(),
        resident_no_decision(),
        resident_audit_failed(),
        resident_gate_failed(),
        resident_visitor_left(),
        resident_transferred(),
        resident_error(),
        *_RINGING,
        _ONE_MORE_MOMENT,
        try_again(),
        denied(),
        f"{_NOT_OPENING} Até logo.",
        _TRY_LATER,
        *(f"{text} Obrigado, até logo." for text in _DELIVERY.values()),
        *(audit_failed(concierge) for concierge in (False, True)),
        *(error(concierge) for concierge in (False, True)),
        gate_failed("", concierge=True),  # names no one when there is a porteiro to call
    ]
    return list(dict.fromkeys(phrases))
