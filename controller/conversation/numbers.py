"""Numbers as people say apartment numbers in Brazilian Portuguese, read from folded tokens.

Two habits mix freely: composing ("cento e três" = 103, "mil e um" = 1001, "mil duzentos e três" = 1203) and
reading groups one after the other ("doze zero três" = 1203, "um zero zero um" = 1001, "um meia um" = 161,
"1 0 1" = 101). A run of number words is therefore cut into composed chunks, and the chunks are concatenated.

How a chunk grows: a word joins the chunk when it fills a place still empty in it (thousands, hundreds, tens,
units), with or without the "e" a recogniser often drops ("cento três" is 103); a word that cannot join starts
a new chunk ("doze" then "zero" then "três"). An "e" that cannot join two numbers ends the run ("um e dois").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {
    "zero": 0,
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "treis": 3,
    "tras": 3,  # "do centro e trás": Whisper's hearing of "do cento e três"
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "meia": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
}
TEENS = {
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "treze": 13,
    "quatorze": 14,
    "catorze": 14,
    "quinze": 15,
    "dezesseis": 16,
    "dezasseis": 16,
    "dezessete": 17,
    "dezoito": 18,
    "dezenove": 19,
}
TENS = {
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "cinquenta": 50,
    "sessenta": 60,
    "setenta": 70,
    "oitenta": 80,
    "noventa": 90,
}
HUNDREDS = {
    "cem": 100,
    "cento": 100,
    "sento": 100,  # how recognisers often write "cento"
    "centro": 100,  # ... and "centro" ("do centro e tres"): a number, never a name
    "duzentos": 200,
    "duzentas": 200,
    "trezentos": 300,
    "trezentas": 300,
    "quatrocentos": 400,
    "quatrocentas": 400,
    "quinhentos": 500,
    "quinhentas": 500,
    "seiscentos": 600,
    "seiscentas": 600,
    "setecentos": 700,
    "setecentas": 700,
    "oitocentos": 800,
    "oitocentas": 800,
    "novecentos": 900,
    "novecentas": 900,
    "trescentos": 300,  # "trêscentos": "trezentos" as a recogniser spells it by sound
}
# "sete cento e dois": a recogniser may cut a hundreds word in two; after a unit these multiply it.
SPLIT_HUNDREDS = frozenset({"cento", "centos", "sento", "sentos", "centro", "centros"})
THOUSAND = "mil"
# "e um" said as one syllable, [jũ]: Whisper writes it "ion" ("do centro ion") or glues it to the hundreds word
# ("Centurion", "Centuyon", "Centuíon" for "cento e um"); only after a number it can complete.
E_UM = frozenset({"ion", "yon", "iun", "yun"})
_CENTO_E_UM = re.compile(r"[cs]ent[a-z]{0,3}[iy](?:on|un)")
NUMBER_WORDS = frozenset(UNITS) | frozenset(TEENS) | frozenset(TENS) | frozenset(HUNDREDS) | {THOUSAND}


@dataclass(frozen=True, slots=True)
class NumberSpan:
    """A number found in tokens[start:end]; `value` is a digit string (leading zeros kept: "zero um" -> "01")."""

    start: int
    end: int
    value: str
    words: int  # how many number tokens (digits or words) it was made of

    @property
    def is_weak(self) -> bool:
        """One short number ("um", "dois", "15") is more often an article or a count than an apartment."""
        return self.words == 1 and len(self.value) <= 2


def _place(value: int) -> int:
    """The smallest decimal place a composed value has filled: 1000, 100, 10 or 1 (0 for zero)."""
    if value == 0:
        return 0
    for place in (1000, 100, 10):
        if value % place == 0:
            return place
    return 1


def _word_value(word: str) -> int | None:
    for table in (UNITS, TEENS, TENS, HUNDREDS):
        if word in table:
            return table[word]
    return 1000 if word == THOUSAND else None


def _joins(chunk: int, value: int | None) -> bool:
    """Can a part worth `value` fill a place still empty in the composed `chunk` ("cento" + "três", "mil" +
    "duzentos")? Thousands never join: "mil" multiplies instead."""
    if value is None or value == 0 or value >= 1000:
        return False
    place = _place(chunk)
    if place == 1000:
        return True  # "mil duzentos", and "mil 203" as recognisers write it
    if place == 100:
        return value < 100
    return place == 10 and chunk % 100 >= 20 and value < 10


@dataclass(slots=True)
class _Run:
    start: int
    end: int
    chunks: list[str]
    composed: int | None  # the chunk still open for composition, if any
    words: int

    def close(self) -> None:
        if self.composed is not None:
            self.chunks.append(str(self.composed))
            self.composed = None

    def span(self) -> NumberSpan:
        self.close()
        return NumberSpan(self.start, self.end, "".join(self.chunks), self.words)


def _heard_as_e(word: str, composed: int, following: str) -> bool:
    """ "sete centro de dois": after whole hundreds, Whisper sometimes writes the "e" before the units as "de"."""
    return word == "de" and composed >= 100 and composed % 100 == 0 and not following.isdecimal()


def find_numbers(folded: tuple[str, ...] | list[str], *, compose_digits: bool = False) -> list[NumberSpan]:
    """Every number in the folded tokens, in order.

    A digit token is a chunk as written ("1 0 1" = 101). With `compose_digits` it composes like the word it
    stands for ("cento e 1" = 101, "200 e 2" = 202), as recognisers write one number half in words, half in
    digits; one with a leading zero ("07") stays as written.
    """

    def value(word: str) -> int | None:
        if word.isdecimal():
            return int(word) if compose_digits and word[0] != "0" else None
        if word == "centos" and run is not None:
            return 100  # only ever the second half of a split hundreds word
        if word in E_UM:
            return 1 if run is not None and run.composed is not None and _joins(run.composed, 1) else None
        if _CENTO_E_UM.fullmatch(word):
            return 101
        return _word_value(word)

    spans: list[NumberSpan] = []
    run: _Run | None = None
    index = 0
    while index < len(folded):
        word = folded[index]
        worth = value(word)
        if worth is not None:
            if run is None:
                run = _Run(index, index, [], None, 0)
            if word == THOUSAND and run.composed is not None and run.composed < 1000:
                run.composed *= 1000
            elif word in SPLIT_HUNDREDS and run.composed is not None and 2 <= run.composed <= 9:
                run.composed *= 100
            elif run.composed is not None and _joins(run.composed, worth):
                run.composed += worth
            else:
                run.close()
                run.composed = worth
            run.words += 1
            run.end = index + 1
        elif word.isdigit():
            if run is None:
                run = _Run(index, index, [], None, 0)
            run.close()
            run.chunks.append(word)
            run.words += 1
            run.end = index + 1
        elif (
            run is not None
            and run.composed is not None
            and index + 1 < len(folded)
            and (word == "e" or _heard_as_e(word, run.composed, folded[index + 1]))
            and _joins(run.composed, value(folded[index + 1]))
        ):
            run.composed += value(folded[index + 1]) or 0
            run.words += 1
            run.end = index + 2
            index += 1
        elif run is not None:
            spans.append(run.span())
            run = None
        index += 1
    if run is not None:
        spans.append(run.span())
    return spans


def parse_number(folded_text: str) -> str | None:
    """The single number a whole (folded) phrase says, or None: 'cento e tres' -> '103'."""
    words = folded_text.split()
    spans = find_numbers(words)
    if len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(words):
        return spans[0].value
    return None
