"""Brazilian Portuguese numbers written as words, for synthesizers that read digits badly (Kokoro).

Kokoro is fed espeak's phonemes of the text, and espeak's digit reading comes out garbled through Kokoro, so
digits are spelled first: ``702`` -> ``setecentos e dois``. Cardinals only, masculine (apartments, blocks and
floors are counted in the masculine), up to 999 999 999; a longer run or one with a leading zero (a phone
number, a code) is read digit by digit, as a person would read it.

This is a media-layer module on purpose: ``audiosocket`` must not import ``controller`` (whose number reader
goes the other way, words to digits).
"""

from __future__ import annotations

import re

_UNITS = (
    "zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove",
    "dez", "onze", "doze", "treze", "catorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove",
)
_TENS = ("", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa")
_HUNDREDS = (
    "", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos",
    "seiscentos", "setecentos", "oitocentos", "novecentos",
)
_LARGEST = 999_999_999
# 1.203 (thousands dot) and 1,5 (decimal comma) as written in Brazil; a plain digit run otherwise.
_NUMBER = re.compile(r"\d{1,3}(?:\.\d{3})+(?!\d)|\d+(?:,\d+)?")
_SPACE_BEFORE_MARK = re.compile(r"\s+([.,;:?!…])")


def _below_thousand(number: int) -> str:
    if number < 20:
        return _UNITS[number]
    if number < 100:
        tens, units = divmod(number, 10)
        return _TENS[tens] + (f" e {_UNITS[units]}" if units else "")
    if number == 100:
        return "cem"
    hundreds, rest = divmod(number, 100)
    return _HUNDREDS[hundreds] + (f" e {_below_thousand(rest)}" if rest else "")


def _joined(head: str, rest: int) -> str:
    """`head` followed by the words of `rest` (< 1000 or < 1 000 000), with the "e" Portuguese puts there.

    The "e" goes before what is left when it is one group, below 100 or a round hundred ("mil e cem", "mil e
    cinquenta", "dois milhões e trezentos mil"), and is left out otherwise ("mil duzentos e três").
    """
    if not rest:
        return head
    groups = [group for group in _groups(rest) if group]
    glue = " e " if len(groups) == 1 and (groups[0] < 100 or groups[0] % 100 == 0) else " "
    return head + glue + spell_number(rest)


def _groups(number: int) -> list[int]:
    """Three-digit groups, lowest first (2 300 000 -> [0, 300, 2])."""
    groups = []
    while number:
        number, group = divmod(number, 1000)
        groups.append(group)
    return groups


def spell_number(number: int) -> str:
    """The cardinal in words: 0 -> "zero", 101 -> "cento e um", 2000 -> "dois mil"."""
    if number < 0:
        return "menos " + spell_number(-number)
    if number > _LARGEST:
        raise ValueError(f"{number} is too large to spell")
    if number < 1000:
        return _below_thousand(number)
    if number < 1_000_000:
        thousands, rest = divmod(number, 1000)
        head = "mil" if thousands == 1 else f"{_below_thousand(thousands)} mil"
        return _joined(head, rest)
    millions, rest = divmod(number, 1_000_000)
    head = "um milhão" if millions == 1 else f"{_below_thousand(millions)} milhões"
    return _joined(head, rest)


def spell_digits(digits: str) -> str:
    return " ".join(_UNITS[int(digit)] for digit in digits)


def _spell_match(match: re.Match[str]) -> str:
    written = match.group(0)
    integer, _, decimals = written.replace(".", "").partition(",")
    if len(integer) > 1 and integer.startswith("0") or int(integer) > _LARGEST:
        words = spell_digits(integer)
    else:
        words = spell_number(int(integer))
    if decimals:
        by_digit = decimals.startswith("0") or len(decimals) > 3
        words += " vírgula " + (spell_digits(decimals) if by_digit else spell_number(int(decimals)))
    # Spaces around, so "702B" or "3º" do not glue the word to a letter.
    return f" {words} "


def spell_numbers(text: str) -> str:
    """`text` with every digit run written as words ("do 702." -> "do setecentos e dois.")."""
    if not any(char.isdigit() for char in text):
        return text
    spelled = " ".join(_NUMBER.sub(_spell_match, text).split())
    return _SPACE_BEFORE_MARK.sub(r"\1", spelled)
