"""Finding the resident a visitor means, from a name as heard and maybe an apartment (and block).

How a name is scored against a resident: the query's words, once honorifics ("dona", "seu") are dropped and
nicknames expanded ("zé" -> "josé"), must each match one of the resident's names or nicknames. A word matches
exactly, by edit similarity (rapidfuzz ratio), or by sounding alike (:func:`text.phonetic`); words of three
letters or fewer must match exactly, because "ana" and "ava" are different people. The resident's score is
the mean over the query's words; one word that matches nothing rules the resident out.

Never guess: every resident scoring within :data:`MARGIN` of the best is a candidate (only the exact ones when
the best is exact), and more than one candidate is reported as ambiguous for the dialog to ask about. The one
correction taken without asking: a resident named exactly, with an apartment the building lacks one digit from
theirs (a misheard number, see :func:`_misheard_home`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from controller.conversation.directory import Apartment, Directory
from controller.conversation.nicknames import expand
from controller.conversation.text import NAME_CONNECTORS, fold, phonetic

ACCEPT = 78.0  # below this a word does not match
CERTAIN = 90.0  # a resident found by name alone, without an apartment, is taken without asking from here
MARGIN = 8.0  # candidates this close to the best one are too close to choose between
_MAX_GLUED_QUERY = 5  # words; a longer "name" is a sentence, not a name split in pieces

HONORIFICS = frozenset(
    {
        "dona",
        "seu",
        "senhor",
        "senhora",
        "sr",
        "sra",
        "dr",
        "dra",
        "doutor",
        "doutora",
        "o",
        "a",
        "os",
        "as",
        "moradora",
        "morador",
        "familia",
        "professor",
        "professora",
        "tia",
        "tio",
    }
)


class Outcome(StrEnum):
    RESOLVED = "resolved"
    AMBIGUOUS = "ambiguous"
    NO_SUCH_APARTMENT = "no_such_apartment"
    BLOCK_NEEDED = "block_needed"
    NOT_IN_APARTMENT = "not_in_apartment"  # the name lives elsewhere (candidates) or nowhere (no candidates)
    NOT_FOUND = "not_found"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resident, or a whole apartment (`resident` None): the apartment is the key, a name only helps."""

    resident: str | None  # exactly as written in the directory
    apartment: str
    block: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    outcome: Outcome
    candidates: tuple[Candidate, ...] = ()
    certain: bool = False  # for RESOLVED: needs no confirmation from the visitor


@dataclass(frozen=True, slots=True)
class _Person:
    candidate: Candidate
    words: tuple[str, ...]  # folded words of the name, connectors dropped
    nicknames: tuple[str, ...]  # folded, whole ("ze", "zezinho")
    sounds: tuple[str, ...]


def query_words(query: str) -> tuple[str, ...]:
    return tuple(word for word in fold(query).split() if word not in HONORIFICS and word not in NAME_CONNECTORS)


@dataclass(frozen=True, slots=True)
class _Heard:
    """A query made ready once for scoring against every resident: each word's forms (itself and its nickname
    expansions) and neighbouring words glued, each with its sound key, so no resident recomputes them."""

    words: tuple[str, ...]
    forms: tuple[tuple[tuple[str, str], ...], ...]  # per word: (form, sound); a multi-word form has no sound
    pairs: tuple[tuple[str, str], ...]  # word i and i + 1 read as one, and its sound

    @classmethod
    def of(cls, words: tuple[str, ...]) -> _Heard:
        forms = tuple(tuple((form, "" if " " in form else phonetic(form)) for form in expand(word)) for word in words)
        glued = (a + b for a, b in zip(words, words[1:], strict=False))
        pairs = tuple((word, phonetic(word)) for word in glued) if len(words) <= _MAX_GLUED_QUERY else ()
        return cls(words, forms, pairs)


def _similarity(heard: str, heard_sound: str, name: str, name_sound: str) -> float:
    if heard == name:
        return 100.0
    if len(heard) <= 3 or len(name) <= 3:
        return 0.0
    spelled = fuzz.ratio(heard, name)
    sounded = fuzz.ratio(heard_sound, name_sound) - 5.0
    return max(spelled, sounded)


def _word_score(word: str, forms: tuple[tuple[str, str], ...], person: _Person) -> float:
    best = 0.0
    for form, sound in forms:
        if " " in form:
            best = max(best, 100.0 if form == " ".join(person.words[: form.count(" ") + 1]) else 0.0)
            continue
        for name, name_sound in zip(person.words, person.sounds, strict=True):
            best = max(best, _similarity(form, sound, name, name_sound) - (0.0 if form == word else 1.0))
        if form in person.nicknames:
            best = 100.0
    return best


def _glued_score(heard: _Heard, scores: list[float], person: _Person) -> float:
    """The best mean when some neighbouring words are read as one: Whisper splits a name it does not know into
    words it does ("A José Angela Martins" for "A Rosângela Martins", "Agio Varna" for "A Giovanna"). Never
    certain: such a name is read back to the visitor before anyone is rung."""
    if not heard.pairs:
        return 0.0
    names = tuple(zip(person.words, person.sounds, strict=True))
    glued = [max(_similarity(pair, sound, name, known) for name, known in names) for pair, sound in heard.pairs]
    count = len(heard.words)

    def best(start: int) -> tuple[float, int] | None:  # (sum, groups) over words[start:], or None
        if start == count:
            return 0.0, 0
        options = []
        if scores[start] >= ACCEPT and (rest := best(start + 1)) is not None:
            options.append((scores[start] + rest[0], rest[1] + 1))
        if start + 1 < count and glued[start] >= ACCEPT and (rest := best(start + 2)) is not None:
            options.append((glued[start] + rest[0], rest[1] + 1))
        return max(options, key=lambda option: option[0] / option[1]) if options else None

    found = best(0)
    return 0.0 if found is None else min(found[0] / found[1], CERTAIN - 1.0)


def _misheard_home(apartment: str, block: str | None, found: list[tuple[float, Candidate]]) -> Candidate | None:
    """The home of the one resident named exactly, when the apartment heard is not in the building and is one
    digit away from it: "a Renata do cento e um" heard as "do centro Ion" (100). A porteiro would ring Renata,
    and the ring announces her apartment; an apartment that exists, or a name heard only nearly, is asked."""
    if len(found) != 1 or found[0][0] < 100.0:
        return None
    candidate = found[0][1]
    home = candidate.apartment
    if block is not None and block != candidate.block:
        return None
    near = len(home) == len(apartment) and sum(a != b for a, b in zip(home, apartment, strict=True)) == 1
    return candidate if near else None


def _home(unit: Apartment) -> Candidate:
    """The apartment itself; when one person lives there, that person (to greet and to name on the phone)."""
    only = unit.residents[0] if len(unit.residents) == 1 else None
    return Candidate(only, unit.number, unit.block)


class ResidentIndex:
    """The directory prepared for name lookups; build once per directory version."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        people: list[_Person] = []
        for apartment in directory.apartments:
            for person in apartment.people:
                words = tuple(word for word in fold(person.name).split() if word not in NAME_CONNECTORS)
                nicknames = tuple(fold(nick) for nick in person.nicknames)
                people.append(
                    _Person(
                        Candidate(person.name, apartment.number, apartment.block),
                        words,
                        nicknames,
                        tuple(phonetic(word) for word in words),
                    )
                )
        self._people = tuple(people)
        self.apartments = frozenset(apartment.number for apartment in directory.apartments)
        self.name_words = frozenset(
            word for person in people for word in (*person.words, *(w for n in person.nicknames for w in n.split()))
        )
        self.name_sounds = frozenset(phonetic(word) for word in self.name_words)

    def units(self, apartment: str, block: str | None = None) -> tuple[Apartment, ...]:
        """The apartments with this number (in that block, if one is given)."""
        return tuple(u for u in self.directory.units(apartment) if block is None or u.block == block)

    def apartment(self, candidate: Candidate) -> Apartment | None:
        return self.directory.find(candidate.apartment, candidate.block)

    def score(self, query: str, candidate: Candidate) -> float:
        for person in self._people:
            if person.candidate == candidate:
                return self._score(_Heard.of(query_words(query)), person)
        return 0.0

    def _score(self, heard: _Heard, person: _Person) -> float:
        if not heard.words:
            return 0.0
        if " ".join(heard.words) in person.nicknames:
            return 100.0
        scores = [_word_score(word, forms, person) for word, forms in zip(heard.words, heard.forms, strict=True)]
        if all(score >= ACCEPT for score in scores):
            return sum(scores) / len(scores)
        return _glued_score(heard, scores, person)

    def search(self, query: str, within: tuple[Apartment, ...] | None = None) -> list[tuple[float, Candidate]]:
        """Residents matching `query` (best first), all within MARGIN of the best; optionally in some apartments."""
        heard = _Heard.of(query_words(query))
        allowed = None if within is None else {(unit.block, unit.number) for unit in within}
        scored = [
            (score, person.candidate)
            for person in self._people
            if allowed is None or (person.candidate.block, person.candidate.apartment) in allowed
            if (score := self._score(heard, person)) >= ACCEPT
        ]
        scored.sort(key=lambda item: -item[0])
        if not scored:
            return []
        best = scored[0][0]
        if best == 100.0:  # an exact name beats near-misses ("Fernanda" is not "Fernando")
            return [item for item in scored if item[0] == 100.0]
        return [item for item in scored if item[0] >= best - MARGIN]

    def resolve(self, query: str | None, apartment: str | None, block: str | None = None) -> Resolution:
        """What the directory says about this request; see :class:`Outcome`."""
        units: tuple[Apartment, ...] | None = None
        if apartment is not None:
            units = self.units(apartment, block)
            if not units:
                elsewhere = self.search(query) if query and query_words(query) else []
                if (home := _misheard_home(apartment, block, elsewhere)) is not None:
                    return Resolution(Outcome.RESOLVED, (home,), certain=True)
                if elsewhere:
                    return Resolution(Outcome.NOT_IN_APARTMENT, tuple(candidate for _, candidate in elsewhere))
                return Resolution(Outcome.NO_SUCH_APARTMENT)
        if not query or not query_words(query):
            if units is None:
                return Resolution(Outcome.NOTHING)
            if len(units) > 1:
                return Resolution(Outcome.BLOCK_NEEDED)
            return Resolution(Outcome.RESOLVED, (_home(units[0]),), certain=True)
        found = self.search(query, units)
        if units is not None and not found:
            elsewhere = self.search(query)
            return Resolution(Outcome.NOT_IN_APARTMENT, tuple(candidate for _, candidate in elsewhere))
        if not found:
            return Resolution(Outcome.NOT_FOUND)
        homes = {(candidate.apartment, candidate.block) for _, candidate in found}
        if len(found) > 1 and len(homes) == 1:  # "a família Tanaka", "o Souza do 101": they live together
            home = found[0][1]
            certain = units is not None or found[0][0] >= CERTAIN
            return Resolution(Outcome.RESOLVED, (Candidate(None, home.apartment, home.block),), certain=certain)
        if len(found) > 1:
            return Resolution(Outcome.AMBIGUOUS, tuple(candidate for _, candidate in found))
        score, candidate = found[0]
        return Resolution(Outcome.RESOLVED, (candidate,), certain=units is not None or score >= CERTAIN)

    def pick(
        self, candidates: tuple[Candidate, ...], query: str | None, apartment: str | None, block: str | None
    ) -> Candidate | None:
        """The one candidate a visitor's answer points at ("a Ana Paula", "a do 103"), or None."""
        remaining = tuple(
            c
            for c in candidates
            if (apartment is None or c.apartment == apartment) and (block is None or c.block == block)
        )
        if query and query_words(query):
            scored = sorted(((self.score(query, c), c) for c in remaining), key=lambda item: -item[0])
            scored = [item for item in scored if item[0] >= ACCEPT]
            if scored and (len(scored) == 1 or scored[0][0] - scored[1][0] >= MARGIN / 2):
                return scored[0][1]
            return None
        narrowed = apartment is not None or block is not None
        return remaining[0] if narrowed and len(remaining) == 1 else None
