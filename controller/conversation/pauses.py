"""Is the caller done? What the words before a pause say, given what the concierge just asked.

The media leg ends a turn after a fixed silence (700 ms by default). A "sim" to "Posso liberar a entrada?" or
the apartment's number after "Para qual apartamento?" needs no such wait; "vim visitar a..." needs more, or a
hesitant visitor gets two answers to one sentence. :func:`judge_pause` reads the early recognition (the audio up
to the pause) and returns True (complete: end after a short silence), False (stopped mid-phrase: wait longer)
or None (no opinion: the usual silence).

A wrong verdict costs little and is bounded: "complete" still needs a short silence, and speech that resumes
within it is the same turn, judged again. It never decides anything else: the words go through the same
understanding as ever.
"""

from __future__ import annotations

from enum import StrEnum

from controller.conversation.events import Leg
from controller.conversation.numbers import find_numbers
from controller.conversation.resident_rules import Answer, read_answer
from controller.conversation.state import DialogState, Phase, Stage
from controller.conversation.text import fold, tokenize
from controller.conversation.understanding import Intent, Slot, Understood


class Awaiting(StrEnum):
    """What the concierge waits for on a leg."""

    ANSWER = "answer"  # a yes or a no: the resident was asked to authorise, the visitor to confirm
    APARTMENT = "apartment"
    REQUEST = "request"  # the greeting's open question: judged on what the rules read in it
    WORDS = "words"  # a name, a block, a choice: only a phrase cut mid-way is judged
    NOTHING = "nothing"  # no question pending on that leg (dialling, bridged, over): no verdict


# Words a pt-BR phrase does not end on: articles, prepositions, conjunctions, possessives, hesitations, and the
# verbs whose object is the point ("vim visitar...", "eu me chamo..."). Compared casefolded with accents, so
# "é" (is) is not "e" (and): "quem é?" is a whole question. "Ahn?" and "hã?" are not here: they ask to repeat.
_DANGLING = frozenset(
    {
        "a",
        "o",
        "as",
        "os",
        "ao",
        "aos",
        "à",
        "do",
        "da",
        "dos",
        "das",
        "de",
        "pro",
        "pra",
        "pros",
        "pras",
        "para",
        "pelo",
        "pela",
        "no",
        "na",
        "nos",
        "nas",
        "em",
        "num",
        "numa",
        "um",
        "uma",
        "e",
        "ou",
        "mas",
        "se",
        "porque",
        "com",
        "por",
        "que",
        "meu",
        "minha",
        "seu",
        "sua",
        "tipo",
        "hum",
        "hmm",
        "éh",
        "eh",
        "visitar",
        "falar",
        "entregar",
        "procurando",
        "procuro",
        "chamo",
        "sou",
        "apartamento",
        "bloco",
    }
)


def awaiting(state: DialogState, leg: Leg) -> Awaiting:
    """What the last question on `leg` waits for, as the conversation's state says."""
    if leg is Leg.RESIDENT:
        call = state.call
        return Awaiting.ANSWER if call is not None and call.stage is Stage.ASKING else Awaiting.NOTHING
    if state.phase is not Phase.COLLECTING:
        return Awaiting.NOTHING
    match state.expecting:
        case Slot.CONFIRM | Slot.CHECK:
            return Awaiting.ANSWER
        case Slot.APARTMENT:
            return Awaiting.APARTMENT
        case None | Slot.INTENT:
            return Awaiting.REQUEST
        case _:
            return Awaiting.WORDS


def judge_pause(
    text: str, waiting_for: Awaiting, apartments: frozenset[str] = frozenset(), heard: Understood | None = None
) -> bool | None:
    """True: `text` already answers; False: it stops mid-phrase; None: no opinion.

    An apartment is complete only when it is one of `apartments`: "um zero..." (10) is the start of "um zero
    três" in a building whose flats have three digits. `heard` is the rules' reading of `text`, which judges a
    first request (:func:`request_verdict`); without it a request gets no opinion beyond the mid-phrase test.
    """
    if waiting_for is Awaiting.NOTHING or not fold(text):
        return None
    stripped = text.rstrip()
    if stripped.endswith(("...", "…", ",", "-")):  # Whisper marks a trailing-off voice this way
        return False
    tokens = tokenize(text)
    numbers = find_numbers(tokens.folded)
    # Before the mid-phrase test: "duzentos e um" ends on "um", here a number, not an article.
    on_apartment = bool(numbers) and numbers[-1].end == len(tokens) and numbers[-1].value in apartments
    if on_apartment and waiting_for is Awaiting.APARTMENT:
        return True
    if not on_apartment and tokens.original[-1] in _DANGLING:
        return False
    if waiting_for is Awaiting.REQUEST and heard is not None:
        return request_verdict(heard, apartments)
    if waiting_for is Awaiting.ANSWER and read_answer(text, delivery=True) is not Answer.UNCLEAR:
        return True
    return None


def request_verdict(heard: Understood, apartments: frozenset[str]) -> bool | None:
    """The first request, as the rules read it: an errand for an apartment of the building (or a request for a
    person) is complete; words that give the concierge nothing to go on yet (a greeting, a filler Whisper heard
    as "é agudo", only the visitor's own name) are the start of one; anything else, no opinion."""
    errand = heard.intent not in (None, Intent.DESCONHECIDO)
    if heard.asks_for_human or (errand and heard.apartment in apartments):
        return True
    target = heard.apartment or heard.resident or heard.block
    answered = heard.affirmation is not None or heard.dont_know or heard.repeat
    if not errand and not target and not answered:
        return False
    return None
