"""The sentences the directory makes knowable are the ones calls then say (so synthesizing them ahead helps)."""

from __future__ import annotations

from controller.conversation import CallStarted, Conversation, Dialog, DialogPolicy, ResidentAnswered, Say
from controller.conversation.directory import Directory
from controller.conversation.events import UtteranceHeard
from controller.conversation.knowable import directory_phrases

POLICY = DialogPolicy(greeting="Condomínio Apoena, em que posso ajudar?")


def _said(conversation: Conversation, utterance: str) -> list[str]:
    state, actions = conversation.handle(conversation.start("c1"), CallStarted())
    state, more = conversation.handle(state, UtteranceHeard(utterance))
    actions += more
    assert state.call is not None
    state, more = conversation.handle(state, ResidentAnswered(state.call.target))
    return [action.text for action in [*actions, *more] if isinstance(action, Say)][1:]  # all but the greeting


def test_a_couriers_call_says_only_knowable_sentences(sample: Directory) -> None:
    known = set(directory_phrases(sample))
    said = _said(Conversation(Dialog(sample, POLICY)), "tenho uma entrega pro 101")
    assert said == [
        "Entendi. Vou chamar o apartamento 101. Um momento.",
        "Entrega para o 101. Posso liberar? Tecle 1 sim, 2 não.",
        "A Renata atendeu. Só um momento.",
    ]
    assert set(said) <= known


def test_every_apartment_and_resident_is_covered_once(sample: Directory) -> None:
    phrases = directory_phrases(sample)
    assert len(phrases) == len(set(phrases))
    for unit in sample.apartments:
        assert any(f"do {unit.number}." in phrase or f"apartamento {unit.number}." in phrase for phrase in phrases)
    assert "Entrega para a Fernanda. Posso liberar? Tecle 1 sim, 2 não." in phrases
    assert "A Fernanda liberou a entrada. Pode entrar." in phrases
