"""A delivery nobody answers for: the courier is told the site's policy, and the apartment gets a note."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.conversation import (
    Conversation,
    Decision,
    DeliveryPolicy,
    Dialog,
    EndCall,
    Fallback,
    Hangup,
    Leg,
    NotifyResident,
    ResidentUnavailable,
    Unavailable,
    WriteAudit,
)
from controller.conversation.directory import Directory
from tests.resident.drive import POLICY, REQUEST, VISIT, calling, feed, of_type, said

TOLD = {
    DeliveryPolicy.CARETAKER: "Por favor, deixe a encomenda com o zelador.",
    DeliveryPolicy.LATER: "Por favor, volte mais tarde.",
    DeliveryPolicy.LOCKER: "Por favor, deixe a encomenda no armário de entregas.",
}


def nobody_home(sample: Directory, policy: DeliveryPolicy, notify: bool, *visitor: str) -> list[object]:
    conversation = Conversation(
        Dialog(sample, replace(POLICY, delivery=policy, notify_residents=notify, call_attempts=1))
    )
    state, actions = calling(conversation, *visitor)
    assert state.call is not None
    for target in state.call.targets:  # every phone of the apartment rings out
        state, actions = feed(conversation, state, ResidentUnavailable(target, 1, Unavailable.NO_ANSWER))
    return list(actions)


@pytest.mark.parametrize("policy", list(TOLD))
def test_the_courier_is_told_the_site_s_policy_and_the_apartment_gets_a_note(
    sample: Directory, policy: DeliveryPolicy
) -> None:
    actions = nobody_home(sample, policy, True)
    assert said(actions) == [
        f"Ninguém atendeu no 101. {TOLD[policy]} O morador vai receber um aviso. Obrigado, até logo."
    ]
    assert of_type(actions, NotifyResident) == [NotifyResident(REQUEST, policy)]
    [audit] = of_type(actions, WriteAudit)
    assert audit.record.decision is Decision.NO_ANSWER
    assert not of_type(actions, Fallback), "the courier knows what to do: no hand-over"
    assert actions[-2:] == [Hangup(Leg.GATE), EndCall()]


def test_without_somewhere_to_send_it_no_note_is_promised(sample: Directory) -> None:
    actions = nobody_home(sample, DeliveryPolicy.CARETAKER, False)
    assert said(actions) == ["Ninguém atendeu no 101. Por favor, deixe a encomenda com o zelador. Obrigado, até logo."]
    assert not of_type(actions, NotifyResident)


def test_the_concierge_policy_hands_over_and_still_sends_the_note(sample: Directory) -> None:
    actions = nobody_home(sample, DeliveryPolicy.CONCIERGE, True)
    assert of_type(actions, Fallback) and of_type(actions, NotifyResident) == [
        NotifyResident(REQUEST, DeliveryPolicy.CONCIERGE)
    ]


def test_a_visit_nobody_answers_for_is_not_a_delivery(sample: Directory) -> None:
    actions = nobody_home(sample, DeliveryPolicy.CARETAKER, True, *VISIT)
    assert not of_type(actions, NotifyResident) and of_type(actions, Fallback)
    assert "zelador" not in " ".join(said(actions))
