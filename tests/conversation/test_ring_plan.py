"""The apartment's ring list in the directory, and the resident phase's steps it becomes."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from controller.conversation import Conversation, Decision, Dialog, DialResident, How, WriteAudit
from controller.conversation.directory import Directory, DirectoryError, Phone, parse_directory
from controller.conversation.events import CallTarget, ResidentAnswered, ResidentUnavailable, Unavailable
from controller.conversation.ring_plan import ring_plan
from tests.resident.drive import POLICY, calling, feed, of_type, record

RENATA, CARLOS = "Renata Souza", "Carlos Souza"


def apartment(**extra: Any) -> dict[str, Any]:
    return {"apartment_number": "101", "residents": [RENATA, CARLOS], "voip_number": "PJSIP/101", **extra}


def directory_with(**extra: Any) -> Directory:
    return parse_directory(json.dumps([apartment(**extra)]))


PHONES = [
    {"endpoint": "PJSIP/101", "ring_s": 15},
    "PJSIP/portaria-bloco",
    {"endpoint": "PJSIP/renata-celular", "ring_s": 30, "name": RENATA},
]


def test_phones_are_read_in_order_with_their_ring_time_and_name() -> None:
    unit = directory_with(phones=PHONES, ring_all=False).apartments[0]
    assert unit.phones == (
        Phone("PJSIP/101", 15.0),
        Phone("PJSIP/portaria-bloco"),
        Phone("PJSIP/renata-celular", 30.0, RENATA),
    )
    assert not unit.ring_all and directory_with().apartments[0].phones == ()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"phones": []}, "field 'phones' must be a non-empty list of phones"),
        ({"phones": "PJSIP/101"}, "field 'phones' must be a non-empty list of phones"),
        ({"phones": [{"ring_s": 10}]}, "phones[0] must be a dial string or an object with 'endpoint'"),
        ({"phones": [7]}, "phones[0] must be a dial string or an object with 'endpoint'"),
        ({"phones": ["PJSIP/1", {"endpoint": "PJSIP/2", "ring_s": 0}]}, "phones[1]: field 'ring_s' must be"),
        ({"phones": [{"endpoint": "PJSIP/2", "ring_s": True}]}, "phones[0]: field 'ring_s' must be"),
        ({"phones": [{"endpoint": "PJSIP/2", "ring": 10}]}, "phones[0]: unknown field(s) ring"),
        ({"phones": [{"endpoint": "PJSIP/2", "name": ""}]}, "phones[0]: field 'name' must be a non-empty string"),
        ({"ring_all": "yes"}, "field 'ring_all' must be true or false"),
    ],
)
def test_a_bad_ring_list_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(DirectoryError) as caught:
        directory_with(**extra)
    assert str(caught.value).startswith("entry 0 (apartment 101): ") and message in str(caught.value)


def test_a_ring_list_is_rung_as_written_each_phone_once_for_its_own_time() -> None:
    unit = directory_with(phones=PHONES).apartments[0]
    assert ring_plan(unit, CARLOS) == (
        CallTarget(CARLOS, "PJSIP/101", 15.0, attempts=1),  # whom the visitor asked for, on the apartment's phone
        CallTarget(CARLOS, "PJSIP/portaria-bloco", None, attempts=1),
        CallTarget(RENATA, "PJSIP/renata-celular", 30.0, attempts=1),
    )
    assert ring_plan(unit, None)[0].resident == RENATA, "nobody asked for: the apartment's first resident"


def test_without_a_ring_list_the_resident_asked_for_goes_first() -> None:
    unit = parse_directory(json.dumps([apartment(residents=[RENATA, {"name": CARLOS, "endpoint": "PJSIP/c"}])]))
    assert ring_plan(unit.apartments[0], CARLOS) == (CallTarget(CARLOS, "PJSIP/c"), CallTarget(RENATA, "PJSIP/101"))


def test_ring_all_is_one_step_with_every_distinct_phone_for_the_longest_ring_time() -> None:
    unit = directory_with(phones=PHONES, ring_all=True).apartments[0]
    assert ring_plan(unit, None) == (
        CallTarget(RENATA, "PJSIP/101", 30.0, attempts=1, also=("PJSIP/portaria-bloco", "PJSIP/renata-celular")),
    )
    shared = directory_with(ring_all=True).apartments[0]  # both residents on the apartment's one phone
    assert ring_plan(shared, CARLOS) == (CallTarget(CARLOS, "PJSIP/101"), CallTarget(RENATA, "PJSIP/101"))
    own = parse_directory(json.dumps([apartment(residents=[RENATA, {"name": CARLOS, "endpoint": "PJSIP/c"}])]))
    assert ring_plan(replace(own.apartments[0], ring_all=True), None) == (
        CallTarget(RENATA, "PJSIP/101", None, attempts=0, also=("PJSIP/c",)),  # the policy's ring time and tries
    )


def test_the_resident_phase_follows_the_list_and_the_audit_row_names_every_dial() -> None:
    conversation = Conversation(Dialog(directory_with(phones=PHONES), POLICY))
    state, actions = calling(conversation)
    first, second, third = ring_plan(directory_with(phones=PHONES).apartments[0], RENATA)
    assert of_type(actions, DialResident) == [DialResident(first, 1, 15.0)]
    state, actions = feed(conversation, state, ResidentUnavailable(first, 1, Unavailable.NO_ANSWER))
    assert of_type(actions, DialResident) == [DialResident(second, 1, POLICY.ring_timeout_s)], "once, then on"
    state, actions = feed(conversation, state, ResidentUnavailable(second, 1, Unavailable.BUSY))
    assert of_type(actions, DialResident) == [DialResident(third, 1, 30.0)]
    state, _ = feed(conversation, state, ResidentAnswered(third))
    _, actions = feed(conversation, state, "pode liberar")
    rung = ("PJSIP/101:no_answer", "PJSIP/portaria-bloco:busy", "PJSIP/renata-celular:answered")
    assert of_type(actions, WriteAudit) == [WriteAudit(record(Decision.AUTHORISED, How.VOICE, rung=rung))]


def test_a_ring_all_step_records_which_phone_answered_and_ends_in_no_answer_when_none_does() -> None:
    conversation = Conversation(Dialog(directory_with(phones=PHONES, ring_all=True), POLICY))
    state, actions = calling(conversation)
    [dial] = of_type(actions, DialResident)
    assert dial.target.endpoints == ("PJSIP/101", "PJSIP/portaria-bloco", "PJSIP/renata-celular")
    answered, _ = feed(conversation, state, ResidentAnswered(dial.target, "PJSIP/renata-celular"))
    _, actions = feed(conversation, answered, "pode liberar")
    assert of_type(actions, WriteAudit)[0].record.rung == ("PJSIP/renata-celular:answered",)
    _, actions = feed(conversation, state, ResidentUnavailable(dial.target, 1, Unavailable.NO_ANSWER))
    [audit] = of_type(actions, WriteAudit)
    assert audit.record.decision is Decision.NO_ANSWER and not of_type(actions, DialResident)
    assert audit.record.rung == ("PJSIP/101+PJSIP/portaria-bloco+PJSIP/renata-celular:no_answer",)
