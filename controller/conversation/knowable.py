"""Sentences the residents directory makes knowable before anyone calls: what to synthesize ahead of time.

A voice that takes half a second per clause (Kokoro) is only quick when the clause is already made. The
fixed prompts (:func:`prompts.fixed_phrases`) name no one; these name the directory's residents and apartments:
the announcement ("Vou chamar a Renata, do 101."), the resident's question without the visitor's name
("Entrega para a Renata. Posso liberar? ..."), and what the waiting visitor hears about each resident. The
speech layer caches clause by clause, so a sentence that also holds a visitor's name ("Entendi, Marcos. Vou chamar
a Renata, do 101.") still finds most of it made.
"""

from __future__ import annotations

from controller.conversation import prompts
from controller.conversation import resident_prompts as say
from controller.conversation.directory import Directory
from controller.conversation.events import VisitorRequest
from controller.conversation.matching import Candidate
from controller.conversation.state import DialogState, Target
from controller.conversation.understanding import Intent

_ERRANDS = (Intent.ENTREGA, Intent.VISITA, Intent.SERVICO)


def directory_phrases(directory: Directory) -> list[str]:
    """Every sentence above for every apartment and resident, without repeats, in directory order."""
    nobody = DialogState("prewarm")
    phrases: list[str] = []
    for unit in directory.apartments:
        people: tuple[str | None, ...] = (None, *unit.residents)
        for resident in people:
            phrases.append(prompts.calling(nobody, Target(Candidate(resident, unit.number, unit.block), True)))
            for intent in _ERRANDS:
                request = VisitorRequest("prewarm", intent, None, unit.number, unit.block, resident)
                phrases.append(say.question(request))
        for name in unit.residents:
            phrases += [say.answered(name), say.authorised(name), say.wait(name), say.talk(name)]
        request = VisitorRequest("prewarm", Intent.ENTREGA, None, unit.number, unit.block, None)
        phrases += [say.no_answer(request, concierge) for concierge in (False, True)]
    return list(dict.fromkeys(phrases))
