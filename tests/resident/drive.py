"""Drive a whole gate call through :class:`Conversation` with events, no I/O."""

from __future__ import annotations

from controller.conversation import (
    AuditRecord,
    CallAction,
    CallStarted,
    CallTarget,
    Conversation,
    Decision,
    DialogPolicy,
    DialogState,
    Event,
    How,
    Intent,
    Leg,
    ResidentAnswered,
    Say,
    UtteranceHeard,
    VisitorRequest,
)

POLICY = DialogPolicy(greeting="Condomínio Apoena, em que posso ajudar?", concierge_available=True)
NO_CONCIERGE = DialogPolicy(greeting="Condomínio Apoena, em que posso ajudar?", concierge_available=False)

RENATA = CallTarget("Renata Souza", "PJSIP/101")
DELIVERY = ("sou o joao tenho uma entrega pra renata do cento e um",)
VISIT = ("meu nome e joao vim visitar o francisco do 301",)
REQUEST = VisitorRequest("call-1", Intent.ENTREGA, "Joao", "101", None, "Renata Souza")


ANSWERED = ("PJSIP/101:answered",)


def record(
    decision: Decision, how: How, resident: str = "Renata Souza", rung: tuple[str, ...] = ANSWERED
) -> AuditRecord:
    """The audit row the DELIVERY call writes; by default Renata's phone answered at the first dial."""
    return AuditRecord("call-1", decision, how, "Joao", Intent.ENTREGA, "101", None, resident, rung)


def feed(conversation: Conversation, state: DialogState, *inputs: Event | str) -> tuple[DialogState, list[CallAction]]:
    """Feed events; a str is the resident's words once the resident phase runs, else the visitor's."""
    actions: list[CallAction] = []
    for item in inputs:
        if isinstance(item, str):
            item = UtteranceHeard(item, leg=Leg.RESIDENT if state.call is not None else Leg.GATE)
        state, more = conversation.handle(state, item)
        actions += more
    return state, actions


def calling(conversation: Conversation, *visitor: str) -> tuple[DialogState, list[CallAction]]:
    """A call whose visitor phase is done (a delivery for Renata by default): the first dial is out."""
    state, actions = conversation.handle(conversation.start("call-1"), CallStarted())
    state, more = feed(conversation, state, *(visitor or DELIVERY))
    return state, actions + more


def asking(conversation: Conversation, *visitor: str) -> tuple[DialogState, list[CallAction]]:
    """The first resident answered and heard the question."""
    state, _ = calling(conversation, *visitor)
    assert state.call is not None
    return conversation.handle(state, ResidentAnswered(state.call.target))


def said(actions: list[CallAction], leg: Leg | None = None) -> list[str]:
    return [action.text for action in actions if isinstance(action, Say) and (leg is None or action.leg is leg)]


def of_type(actions: list[CallAction], kind: type) -> list[CallAction]:
    return [action for action in actions if isinstance(action, kind)]
