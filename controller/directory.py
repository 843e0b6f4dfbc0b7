"""Residents directory: loading and validation of `data/apartamentos.json`.

The prototype's format is a JSON list of apartments::

    [{"apartment_number": "101", "residents": ["Renata Souza", "Carlos Souza"], "voip_number": "PJSIP/101"}]

Validation names the entry and field at fault, so an administrator can fix the file without reading code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DirectoryError(Exception):
    """The directory file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Apartment:
    number: str
    residents: tuple[str, ...]
    voip_number: str


@dataclass(frozen=True, slots=True)
class Directory:
    apartments: tuple[Apartment, ...]

    def find(self, number: str) -> Apartment | None:
        for apartment in self.apartments:
            if apartment.number == number:
                return apartment
        return None


def _apartment(index: int, raw: Any) -> Apartment:
    where = f"entry {index}"
    if not isinstance(raw, dict):
        raise DirectoryError(f"{where}: must be an object, got {type(raw).__name__}")
    number = raw.get("apartment_number")
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    if not isinstance(number, str) or not number.strip():
        raise DirectoryError(f"{where}: field 'apartment_number' is missing or empty")
    where = f"entry {index} (apartment {number})"
    residents = raw.get("residents")
    if not isinstance(residents, list) or not residents:
        raise DirectoryError(f"{where}: field 'residents' must be a non-empty list of names")
    for position, name in enumerate(residents):
        if not isinstance(name, str) or not name.strip():
            raise DirectoryError(f"{where}: residents[{position}] must be a non-empty name")
    voip = raw.get("voip_number")
    if isinstance(voip, int) and not isinstance(voip, bool):
        voip = str(voip)
    if not isinstance(voip, str) or not voip.strip():
        raise DirectoryError(f"{where}: field 'voip_number' is missing or empty")
    return Apartment(number.strip(), tuple(name.strip() for name in residents), voip.strip())


def parse_directory(text: str, source: str = "directory") -> Directory:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise DirectoryError(f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    if not isinstance(raw, list):
        raise DirectoryError(f"{source}: must be a JSON list of apartments")
    apartments = tuple(_apartment(index, item) for index, item in enumerate(raw))
    seen: set[str] = set()
    for apartment in apartments:
        if apartment.number in seen:
            raise DirectoryError(f"{source}: apartment {apartment.number} appears more than once")
        seen.add(apartment.number)
    return Directory(apartments)


def load_directory(path: Path) -> Directory:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DirectoryError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise DirectoryError(f"{path}: is not UTF-8 text") from None
    try:
        return parse_directory(text, str(path))
    except DirectoryError as error:
        if str(error).startswith(str(path)):
            raise
        raise DirectoryError(f"{path}: {error}") from None
