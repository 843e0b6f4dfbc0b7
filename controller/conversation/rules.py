"""Deterministic pt-BR understanding: keyword phrases, name cues and spoken numbers, no network, no model.

How one utterance is read, in order (each step marks the words it used, so no word is read twice):

1. block ("bloco b", "torre dois") and glued forms ("101b");
2. the apartment: a number after a cue ("apartamento", "no", "para o"), else one the directory knows, else a
   number long enough not to be an article or a count ("um pacote", "cinco minutos");
3. the visitor's name after "sou o", "meu nome é", "aqui é a"...;
4. the resident's name after "para a", "falar com o", "casa da", "dona"... and, without a cue, a word that is
   (or sounds like) a resident's name in the directory;
5. a bare answer fills the slot the dialog just asked for ("João" after "Qual é o seu nome?");
6. intent by weighted keyword phrases, requests for a person, yes/no, "não sei", "tanto faz", "como?".
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process

from controller.conversation.lexicon import (
    ANY_PHRASES,
    APARTMENT_CUES,
    BLOCK_CUES,
    BRANDS,
    COUNT_NOUNS,
    DONT_KNOW_PHRASES,
    HUMAN_PHRASES,
    INTENT_PHRASES,
    NO_PHRASES,
    NOT_APARTMENT_CUES,
    NOT_NAMES,
    ORDINALS,
    REPEAT_PHRASES,
    REPEAT_UTTERANCES,
    RESIDENT_CUES,
    SPELLED_LETTERS,
    START_ONLY_CUES,
    VISITOR_CUES,
    YES_PHRASES,
)
from controller.conversation.matching import HONORIFICS
from controller.conversation.nicknames import expand
from controller.conversation.numbers import NumberSpan, find_numbers, parse_number
from controller.conversation.text import NAME_CONNECTORS, Tokens, fold, has_phrase, phonetic, title_name, tokenize
from controller.conversation.understanding import Intent, Slot, UnderstandingContext, Understood

_GLUED = re.compile(r"(\d{1,5})([a-z])")
_INTENT_PRIORITY = {Intent.ENTREGA: 3, Intent.SERVICO: 2, Intent.VISITA: 1}
_VISITOR_CUES = tuple(tuple(cue.split()) for cue in VISITOR_CUES)
_RESIDENT_CUES = tuple(tuple(cue.split()) for cue in RESIDENT_CUES)
_MAX_NAME_WORDS = 3
_BARE_ANSWER_SLOTS = frozenset({Slot.RESIDENT, Slot.CHOICE})  # where an unknown bare name is still a name


def _is_namey(word: str) -> bool:
    return len(word) >= 2 and word.isalpha() and word not in NOT_NAMES


class RuleUnderstanding:
    """The default :class:`~controller.conversation.understanding.Understanding`, also usable synchronously."""

    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        return self.parse(text, context)

    def parse(self, text: str, context: UnderstandingContext) -> Understood:
        return _Reading(unglue(tokenize(text), context), context).result()


# Whisper writes a short cue and the name after it as one word ("Parasónia" for "para a Sônia", "Adoneloíza"
# for "a dona Heloísa", the second "a" swallowed). Folded glued form -> the words it stands for, longest first.
_GLUED_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("paraa", ("para", "a")),
    ("parao", ("para", "o")),
    ("adona", ("a", "dona")),
    ("para", ("para",)),
    ("praa", ("pra", "a")),
    ("prao", ("pra", "o")),
    ("adon", ("a", "dona")),
    ("dona", ("dona",)),
    ("oseu", ("o", "seu")),
    ("pra", ("pra",)),
    ("pro", ("pro",)),
    ("seu", ("seu",)),
)
_MIN_UNGLUED = 4  # letters left for the name: a shorter rest is too easily a name by chance


def unglue(tokens: Tokens, context: UnderstandingContext) -> Tokens:
    """Split a word that is a cue glued to a resident's name, when the word is not a name and the rest is."""
    original: list[str] = []
    folded: list[str] = []
    breaks: list[bool] = []
    for word, spelled, ends in zip(tokens.folded, tokens.original, tokens.breaks, strict=True):
        split = _split_glued(word, context)
        if split is not None and is_known(word, context):  # a name that merely starts like a cue stays whole
            split = None
        if split is None:
            original.append(spelled)
            folded.append(word)
            breaks.append(ends)
            continue
        cue, rest = split
        folded.extend((*cue, rest))
        original.extend((*cue, spelled[len(spelled) - len(rest) :] if fold(spelled).endswith(rest) else rest))
        breaks.extend((*(False for _ in cue), ends))
    return Tokens(tuple(original), tuple(folded), tuple(breaks))


def _split_glued(word: str, context: UnderstandingContext, depth: int = 2) -> tuple[tuple[str, ...], str] | None:
    """(cue words, name) for "parasonia"; two cues deep at most ("paraoseujose": "para o" + "seu" + "jose")."""
    for glued, cue in _GLUED_CUES:
        rest = word[len(glued) :]
        if not word.startswith(glued) or len(rest) < _MIN_UNGLUED or not rest.isalpha():
            continue
        if is_known(rest, context):
            return cue, rest
        deeper = _split_glued(rest, context, depth - 1) if depth > 1 else None
        if deeper is not None:
            return (*cue, *deeper[0]), deeper[1]
    return None


def is_known(word: str, context: UnderstandingContext) -> bool:
    """Is this folded word (or does it sound like) a word of a resident's name or nickname?"""
    names = context.names
    if any(form in names for form in expand(word)) or (len(word) >= 4 and phonetic(word) in context.sounds):
        return True
    return len(word) >= 5 and process.extractOne(word, names, scorer=fuzz.ratio, score_cutoff=85) is not None


class _Reading:
    """One pass over one utterance; `used[i]` is True once word i has been given a meaning."""

    def __init__(self, tokens: Tokens, context: UnderstandingContext) -> None:
        self.words = tokens.folded
        self.original = tokens.original
        self.breaks = tokens.breaks
        self.context = context
        self.used = [False] * len(tokens)
        self.padded = f" {' '.join(self.words)} "

    def result(self) -> Understood:
        expecting = self.context.expecting
        self._brands()
        block = self._block()
        apartment, glued_block = self._apartment()
        visitor = self._after_cue(_VISITOR_CUES, resident=False)
        resident = self._after_cue(_RESIDENT_CUES, resident=True)
        if visitor is None and expecting is Slot.VISITOR_NAME:
            visitor = self._first_name(known_only=False, resident=False)
            known = visitor is not None and all(self._is_known(fold(word)) for word in visitor)
            spoken_of = bool(self.words) and self.words[0] in {"a", "o"}  # "a Renata": someone else, not me
            if visitor is not None and known and (len(visitor) > 1 or spoken_of):
                visitor, resident = None, resident or visitor  # the resident's name again, not the visitor's
        if resident is None and expecting is not Slot.VISITOR_NAME:
            resident = self._first_name(known_only=expecting not in _BARE_ANSWER_SLOTS, resident=True)
        if block is None and expecting is Slot.BLOCK:
            block = self._bare_block()
        dont_know = has_phrase(self.padded, DONT_KNOW_PHRASES)
        negated = has_phrase(self.padded, NO_PHRASES) and not (dont_know and self.padded.count(" nao ") <= 1)
        affirmation = False if negated else True if has_phrase(self.padded, YES_PHRASES) else None
        joined = " ".join(self.words)
        return Understood(
            intent=self._intent(),
            visitor_name=title_name(visitor) if visitor else None,
            apartment=apartment,
            block=block or glued_block,
            resident=" ".join(resident) if resident else None,
            asks_for_human=has_phrase(self.padded, HUMAN_PHRASES),
            affirmation=affirmation,
            dont_know=dont_know,
            any_choice=has_phrase(self.padded, ANY_PHRASES),
            ordinal=next((ORDINALS[word] for word in self.words if word in ORDINALS), None),
            repeat=joined in REPEAT_UTTERANCES or has_phrase(self.padded, REPEAT_PHRASES),
        )

    def _mark(self, start: int, end: int) -> None:
        for index in range(start, end):
            self.used[index] = True

    def _block(self) -> str | None:
        for index, word in enumerate(self.words[:-1]):
            if word not in BLOCK_CUES:
                continue
            following = self.words[index + 1]
            number = parse_number(following)  # one word only: "torre dois cento e um" is tower 2, apartment 101
            if number is not None:
                self._mark(index, index + 2)
                return number.lstrip("0") or "0"
            letter = SPELLED_LETTERS.get(following)
            if letter is not None:
                self._mark(index, index + 2)
                return letter
        return None

    def _bare_block(self) -> str | None:
        rest = [word for index, word in enumerate(self.words) if not self.used[index] and word not in {"e", "o"}]
        if len(rest) == 1:
            if rest[0] in SPELLED_LETTERS:
                return SPELLED_LETTERS[rest[0]]
            return parse_number(rest[0])
        if len(rest) == 0 and self.words[-1:] in (("e",), ("o",)):
            return self.words[-1].upper()
        return None

    def _apartment(self) -> tuple[str | None, str | None]:
        for index, word in enumerate(self.words):
            glued = _GLUED.fullmatch(word)
            if glued and not self.used[index]:
                self.used[index] = True
                return glued.group(1), glued.group(2).upper()
        best: tuple[int, NumberSpan] | None = None
        unread = [word if not used else "" for word, used in zip(self.words, self.used, strict=True)]
        for span in find_numbers(unread, compose_digits=True):  # Whisper writes "400 e 2"
            score = self._apartment_score(span)
            if score > 0 and (best is None or score > best[0]):
                best = (score, span)
        if best is None:
            return None, None
        self._mark(best[1].start, best[1].end)
        return best[1].value, None

    def _apartment_score(self, span: NumberSpan) -> int:
        """How much a number looks like the apartment: 0 = not at all; a cue and a known number count most."""
        words = self.words
        if any(self.used[span.start : span.end]):
            return 0
        if span.end < len(words) and words[span.end] in COUNT_NOUNS:
            return 0
        before = words[max(0, span.start - 2) : span.start]
        if any(word in NOT_APARTMENT_CUES for word in before):
            return 0
        cued = bool(before) and before[-1] in APARTMENT_CUES
        if len(before) == 2 and before[1] in {"o", "a"}:  # "para o 101", "é o 102"
            cued = cued or before[0] in APARTMENT_CUES or before[0] == "e"
        article = span.is_weak and words[span.start] in {"um", "uma"}
        known = span.value in self.context.apartments and not article
        asked = self.context.expecting is Slot.APARTMENT and (not article or len(words) <= 2)
        if not (cued or known or asked or not span.is_weak):
            return 0
        return 1 + 2 * cued + 2 * known + (not span.is_weak)

    def _brands(self) -> None:
        """Company names are not people: "Zé Delivery", "Magazine Luiza"."""
        for brand in BRANDS:
            length = len(brand)
            for start in range(len(self.words) - length + 1):
                if self.words[start : start + length] == brand:
                    self._mark(start, start + length)

    def _take_name(self, start: int, skip_honorifics: bool, resident: bool) -> list[int]:
        """Name words from `start`; a resident's name goes on only with words the directory knows."""
        words, used = self.words, self.used
        index = start
        while skip_honorifics and index < len(words) and words[index] in HONORIFICS and not used[index]:
            index += 1
        taken: list[int] = []
        names = 0
        while index < len(words) and names < _MAX_NAME_WORDS and not used[index]:
            word = words[index]
            # A resident's name goes on with words the directory knows; one that started unknown goes on to
            # its end, as Whisper may have split it ("Agio Varna"): matching reads the pieces together.
            if _is_namey(word) and not (
                resident and taken and not self._is_known(word) and self._is_known(words[taken[0]])
            ):
                taken.append(index)
                names += 1
                if self.breaks[index]:
                    break
            elif (
                word in NAME_CONNECTORS
                and word != "e"
                and taken
                and index + 1 < len(words)
                and not used[index + 1]
                and _is_namey(words[index + 1])
            ):
                taken.append(index)
            else:
                break
            index += 1
        return taken

    def _claim(self, taken: list[int]) -> list[str]:
        self._mark(taken[0], taken[-1] + 1)
        return [self.original[index] for index in taken]

    def _after_cue(self, cues: tuple[tuple[str, ...], ...], resident: bool) -> list[str] | None:
        """The name after the first cue; for residents, the first one the directory knows, if any is."""
        words = self.words
        hits: list[tuple[int, int, list[int]]] = []
        for start in range(len(words)):
            if self.used[start]:
                continue
            for cue in cues:
                end = start + len(cue)
                if words[start:end] != cue or any(self.used[start:end]):
                    continue
                at_start = start == 0 and self.context.expecting in (None, Slot.VISITOR_NAME)
                if " ".join(cue) in START_ONLY_CUES and not at_start:
                    continue
                taken = self._take_name(end, skip_honorifics=resident, resident=resident)
                if taken:
                    hits.append((start, end, taken))
                    break
        if not hits:
            return None
        known = [hit for hit in hits if self._is_known(words[hit[2][0]])]
        start, end, taken = (known or hits)[0] if resident else hits[0]
        self._mark(start, end)
        return self._claim(taken)

    def _is_known(self, word: str) -> bool:
        return is_known(word, self.context)

    def _first_name(self, known_only: bool, resident: bool) -> list[str] | None:
        for index, word in enumerate(self.words):
            if self.used[index] or not _is_namey(word) or (known_only and not self._is_known(word)):
                continue
            taken = self._take_name(index, skip_honorifics=False, resident=resident)
            if taken:
                return self._claim(taken)
        return None

    def _intent(self) -> Intent | None:
        scores: dict[Intent, int] = {}
        for phrase, intent, weight in INTENT_PHRASES:
            if has_phrase(self.padded, (phrase,)):
                scores[intent] = scores.get(intent, 0) + weight
        if not scores:
            return None
        return max(scores, key=lambda intent: (scores[intent], _INTENT_PRIORITY[intent]))
