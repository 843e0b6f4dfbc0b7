"""Pre-authorised visitors in the pure conversation: a pass stands for the resident's yes, and only a pass."""

from __future__ import annotations

import json

import pytest

from controller.conversation import (
    AuditWritten,
    CallStarted,
    Conversation,
    Decision,
    Dialog,
    DialResident,
    DtmfReceived,
    GateOpened,
    How,
    Leg,
    OpenGate,
    Say,
    WriteAudit,
)
from controller.conversation.directory import parse_directory
from controller.conversation.passes import Pass, pass_for_code, pass_for_name, same_person
from tests.resident.drive import POLICY, feed, of_type, said

DIRECTORY = parse_directory(
    json.dumps(
        [
            {"apartment_number": "1203", "residents": ["Kátia Regina"], "voip_number": "PJSIP/1203"},
            {"apartment_number": "101", "residents": ["Renata Souza"], "voip_number": "PJSIP/101"},
        ]
    )
)
ROSANGELA = Pass(
    "7",
    "1203",
    None,
    "Rosângela Alves",
    "Kátia Regina",
    "2026-12-01T10:00:00.000+00:00",
    "2026-12-04T08:00:00.000+00:00",
    "2026-12-04T18:00:00.000+00:00",
)
WITH_CODE = Pass(
    "8",
    "101",
    None,
    "Paulo Mendes",
    "Renata Souza",
    "2026-12-01T10:00:00.000+00:00",
    "2026-12-04T08:00:00.000+00:00",
    "2026-12-04T18:00:00.000+00:00",
    code="482913",
)


@pytest.mark.parametrize(
    ("said_name", "registered", "same"),
    [
        ("Rosângela", "Rosângela Alves", True),
        ("rosangela alves", "Rosângela Alves", True),
        ("Rozangela", "Rosângela Alves", True),  # a spelling slip of the recogniser
        ("Rosa", "Rosângela Alves", False),
        ("Rosângela Souza", "Rosângela Alves", False),  # another Rosângela
        ("Alves", "Rosângela Alves", False),  # a surname alone is not her
        ("Rosângela Maria Alves", "Rosângela Alves", False),
        ("", "Rosângela Alves", False),
    ],
)
def test_the_name_said_must_be_the_registered_person(said_name: str, registered: str, same: bool) -> None:
    assert same_person(said_name, registered) is same


def test_a_pass_is_valid_only_inside_its_window_and_for_its_apartment() -> None:
    assert ROSANGELA.valid_at("2026-12-04T12:00:00.000+00:00")
    assert not ROSANGELA.valid_at("2026-12-04T18:00:00.000+00:00")
    assert not ROSANGELA.valid_at("2026-12-04T07:59:59.999+00:00")
    assert pass_for_name((ROSANGELA,), "1203", None, "Rosângela") is ROSANGELA
    assert pass_for_name((ROSANGELA,), "101", None, "Rosângela") is None
    assert pass_for_name((WITH_CODE,), "101", None, "Paulo Mendes") is None, "a pass with a code needs the code"
    assert pass_for_code((ROSANGELA, WITH_CODE), "482913") is WITH_CODE
    assert pass_for_code((ROSANGELA, WITH_CODE), "482914") is None


def start(passes: tuple[Pass, ...]) -> tuple[Conversation, object]:
    conversation = Conversation(Dialog(DIRECTORY, POLICY, passes=passes))
    state, _ = conversation.handle(conversation.start("call-1"), CallStarted())
    return conversation, state


def test_the_registered_visitor_is_let_in_on_the_pass_recorded_as_such_and_nobody_is_rung() -> None:
    conversation, state = start((ROSANGELA,))
    state, actions = feed(conversation, state, "oi sou a rosângela diarista da kátia do mil duzentos e três")
    assert not of_type(actions, DialResident)
    [audit] = of_type(actions, WriteAudit)
    assert (audit.record.decision, audit.record.how, audit.record.resident) == (
        Decision.AUTHORISED,
        How.PREAUTHORISED,
        "Kátia Regina",
    )
    assert audit.record.preauthorisation == "#7 de Kátia Regina em 2026-12-01T10:00:00.000+00:00"
    assert said(actions) == ["Entendi, Rosângela. Um momento."]
    state, actions = feed(conversation, state, AuditWritten(True, Decision.AUTHORISED))
    [opening] = of_type(actions, OpenGate)
    assert opening.request.apartment == "1203"
    _, actions = feed(conversation, state, GateOpened(True))
    assert said(actions) == ["A Kátia já autorizou a sua entrada. Pode entrar."]
    assert not [a for a in actions if isinstance(a, Say) and a.leg is Leg.RESIDENT], "there is no resident leg"


def test_without_a_pass_or_for_someone_else_the_resident_is_rung() -> None:
    for passes, words in (
        ((), "sou a rosângela visita pra kátia do 1203"),
        ((ROSANGELA,), "sou a márcia visita pra kátia do 1203"),
    ):
        conversation, state = start(passes)
        _, actions = feed(conversation, state, words)
        assert of_type(actions, DialResident) and not of_type(actions, OpenGate), words
        assert not of_type(actions, WriteAudit)


def test_the_keypad_code_lets_the_visitor_in_and_a_wrong_one_is_an_apartment_number() -> None:
    conversation, state = start((WITH_CODE,))
    state, actions = feed(conversation, state, *(DtmfReceived(d) for d in "482913#"))
    [audit] = of_type(actions, WriteAudit)
    assert (audit.record.how, audit.record.resident, audit.record.apartment) == (
        How.PREAUTHORISED,
        "Renata Souza",
        "101",
    )
    assert audit.record.visitor_name == "Paulo Mendes"
    conversation, state = start((WITH_CODE,))
    _, actions = feed(conversation, state, *(DtmfReceived(d) for d in "482914#"))
    assert not of_type(actions, WriteAudit) and not of_type(actions, OpenGate)


def test_a_pass_whose_record_fails_never_opens_the_gate() -> None:
    conversation, state = start((ROSANGELA,))
    state, _ = feed(conversation, state, "sou a rosângela diarista da kátia do 1203")
    _, actions = feed(conversation, state, AuditWritten(False, Decision.AUTHORISED))
    assert not of_type(actions, OpenGate)
    assert said(actions)[0].startswith("Desculpe, tive um problema e não posso liberar a entrada agora.")
