"""What the building makes likely to be heard next: the prompt a turn's recognition gets, and the choice among
the recogniser's hypotheses.

A porteiro hears "a Giovanna" because they know Giovanna lives in 702. Whisper can be told the same through its
previous-text prompt, but a prompt also pulls what it hears towards its words (a visitor's own "Joana" may come
back as resident "Giovanna") and makes noise sound like speech. So the prompt is built only for a question whose
answer should be in the directory (who the visitor came for, which apartment, the opening request), never for
the visitor's own name, a yes/no, or the resident's leg, and only from what fits the question: names for "para
quem?" (the known apartment's residents last, the part a long prompt keeps), apartment numbers in words for
"qual apartamento?". Among the hypotheses the recogniser returns, the first the directory agrees with is taken.
Those same turns are `checked`: what is heard there is checked against the directory, so the recogniser may be
quicker there (a shorter Whisper window); a yes/no and everything the resident says never are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from controller.conversation.directory import Directory
from controller.conversation.events import Leg
from controller.conversation.matching import Outcome, ResidentIndex
from controller.conversation.state import DialogState, Phase
from controller.conversation.understanding import Slot, Understood

ALTERNATIVES = 5  # hypotheses kept from the beam, for the directory to choose among
PROMPT_CHARS = 600  # about Whisper's 223 prompt tokens for pt-BR names; the end is what is kept, so it holds the best


class Expecting(StrEnum):
    RESIDENT = "resident"  # "Para quem é?"
    APARTMENT = "apartment"  # "Qual o apartamento?"
    REQUEST = "request"  # the opening request: anything of the directory
    OTHER = "other"  # the visitor's own name, a yes/no, a confirmation: no prompt


_UNITS = ("zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove")
_TEENS = ("dez", "onze", "doze", "treze", "catorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove")
_TENS = ("", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa")
_HUNDREDS = (
    "",
    "cento",
    "duzentos",
    "trezentos",
    "quatrocentos",
    "quinhentos",
    "seiscentos",
    "setecentos",
    "oitocentos",
    "novecentos",
)


@dataclass(frozen=True, slots=True)
class Hearing:
    """What a turn's recognition is told: `prompt` to expect, and how many `alternatives` to return; `phrases`
    are the prompt's entries one by one (the names, the apartments in words), for an engine that takes a list;
    `checked` says the directory checks the answer (module docstring)."""

    prompt: str = ""
    alternatives: int = 1
    phrases: tuple[str, ...] = ()
    checked: bool = False


def expecting_on(state: DialogState, leg: Leg) -> Expecting:
    """What the visitor's next words should be, as far as the directory goes (the resident leg: nothing)."""
    if leg is not Leg.GATE or state.call is not None or state.phase is not Phase.COLLECTING:
        return Expecting.OTHER
    match state.expecting:
        case None | Slot.INTENT:
            return Expecting.REQUEST
        case Slot.RESIDENT | Slot.CHOICE:
            return Expecting.RESIDENT
        case Slot.APARTMENT:
            return Expecting.APARTMENT
        case _:
            return Expecting.OTHER


def checks(expecting: Expecting) -> bool:
    """Whether the directory checks the answer to a turn expecting this (module docstring)."""
    return expecting is not Expecting.OTHER


def hearing_for(directory: Directory, expecting: Expecting, apartment: str | None = None) -> Hearing:
    heading, entries = _entries(directory, expecting, apartment)
    kept = _kept(heading, entries)
    checked = checks(expecting)
    return Hearing(_prompt(heading, kept), ALTERNATIVES, tuple(kept), checked) if kept else Hearing(checked=checked)


def agrees(heard: Understood, expecting: Expecting, index: ResidentIndex) -> bool:
    """Whether the directory knows what `heard` answers: a resident for "para quem?", one of its apartments
    for "qual apartamento?", either for a request."""
    apartment = heard.apartment is not None and heard.apartment in index.apartments
    resident = False
    if heard.resident is not None and expecting in (Expecting.RESIDENT, Expecting.REQUEST):
        resolution = index.resolve(heard.resident, heard.apartment if apartment else None)
        resident = resolution.outcome is Outcome.RESOLVED
    if expecting is Expecting.RESIDENT:
        return resident
    if expecting is Expecting.APARTMENT:
        return apartment
    return expecting is Expecting.REQUEST and (resident or apartment)


def choose(
    texts: tuple[str, ...], expecting: Expecting, read: Callable[[str], Understood], index: ResidentIndex
) -> str:
    """The first of the recogniser's hypotheses (best first) that the directory agrees with, else the best.

    The directory only chooses among what the recogniser itself heard as likely, so a visitor who says a name
    nobody in the building has is still heard as that name when no hypothesis says otherwise."""
    if expecting is Expecting.OTHER or len(texts) < 2:
        return texts[0]
    for text in texts:
        if agrees(read(text), expecting, index):
            return text
    return texts[0]


def spell_apartment(number: str) -> str:
    """'702' -> 'setecentos e dois', as a visitor says it (written with accents, as Whisper writes words);
    a label that is not a number below 10000 stays as it is."""
    if not number.isdigit() or int(number) >= 10000:
        return number
    value = int(number)
    if value == 0:
        return _UNITS[0]
    thousands, rest = divmod(value, 1000)
    head = "" if not thousands else "mil" if thousands == 1 else f"{_UNITS[thousands]} mil"
    if not rest:
        return head
    tail = _below_thousand(rest)
    if not head:
        return tail
    return f"{head} e {tail}" if rest < 100 or rest % 100 == 0 else f"{head} {tail}"


def _below_thousand(rest: int) -> str:
    parts = []
    hundreds, below = divmod(rest, 100)
    if hundreds:
        parts.append("cem" if rest == 100 else _HUNDREDS[hundreds])
    if below:
        tens, units = divmod(below, 10)
        if below < 10:
            parts.append(_UNITS[below])
        elif below < 20:
            parts.append(_TEENS[below - 10])
        else:
            parts.append(_TENS[tens] + (f" e {_UNITS[units]}" if units else ""))
    return " e ".join(parts)


def directory_prompt(directory: Directory, expecting: Expecting, apartment: str | None = None) -> str:
    """The prompt for a turn that expects `expecting`; '' when the turn should be heard unbiased."""
    heading, entries = _entries(directory, expecting, apartment)
    return _prompt(heading, _kept(heading, entries))


def _entries(directory: Directory, expecting: Expecting, apartment: str | None) -> tuple[str, list[str]]:
    if expecting is Expecting.OTHER:
        return "", []
    names = _names(directory, apartment)
    numbers = [spell_apartment(unit.number) for unit in directory.apartments]
    if expecting is Expecting.RESIDENT:
        return "Moradores: ", names
    if expecting is Expecting.APARTMENT:
        return "Apartamentos: ", numbers
    return ("Moradores: ", names) if len(names) > len(numbers) else ("Moradores: ", [*numbers, *names])


def _names(directory: Directory, apartment: str | None) -> list[str]:
    """Every resident (each name once), the given apartment's last: the end of a long prompt is what is kept."""
    here = [p.name for unit in directory.apartments if unit.number == apartment for p in unit.people]
    others = [p.name for unit in directory.apartments if unit.number != apartment for p in unit.people]
    return list(dict.fromkeys([*others, *here]))


def _kept(heading: str, entries: list[str]) -> list[str]:
    """As many of the last `entries` as fit PROMPT_CHARS after `heading`."""
    kept: list[str] = []
    size = len(heading) + 1
    for entry in reversed(entries):
        if size + len(entry) + 2 > PROMPT_CHARS:
            break
        kept.insert(0, entry)
        size += len(entry) + 2
    return kept


def _prompt(heading: str, kept: list[str]) -> str:
    return f"{heading}{', '.join(kept)}." if kept else ""
